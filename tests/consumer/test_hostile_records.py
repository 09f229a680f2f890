"""Hostile and careless Kafka records against the real consumer group (issue 14, consumer side).

Any record a worker cannot turn into counts is dead-lettered and its partition moves on; no record, whatever
its size or timestamp, stops a worker (``event=worker_died`` never appears). Each test produces its records
with a raw producer between known articles of the same partition, runs ``python -m consumer`` on the real
broker (and the Firestore emulator where the sink matters), and checks exact outcomes: the known articles'
counts (computed independently with spaCy, tests/consumer/support.py), the dead-letter topic record by
record (tests/consumer/records.py says what a dead letter carries), and the offsets stored in the sink and
committed to Kafka.
"""

import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.article import derive_article_id
from common.sinks.base import OffsetLease, SinkFlushTooLarge
from consumer.entities import article_entities
from consumer.pending import PendingPartition
from consumer.settings import DEFAULT_EXCLUDED_LABELS
from tests.chaos.support import cached_entities, committed_offsets, expected_for, stored_offsets
from tests.consumer.records import (
    LONGEST_TIMESTAMP_AHEAD_MS,
    KafkaRecord,
    RawRecord,
    by_source,
    create_topic,
    dead_letter_problems,
    largest_fitting,
    letter_cut,
    max_message_bytes,
    produce_each,
    read_dead_letters,
    read_topic,
)
from tests.consumer.support import (
    FIXED_TIMESTAMP_MS,
    ConsumerGroupRun,
    assert_counts_equal,
    consumer_group,
    group_env,
    group_store,
    sink_counts,
    sink_under_test,
    wait_until_flushed,
)
from tests.sinks.support import Store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY = 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


EARLIEST_TIMESTAMP_MS = epoch_ms(datetime(1000, 1, 1, tzinfo=UTC))
LATEST_TIMESTAMP_MS = epoch_ms(datetime(9000, 1, 1, tzinfo=UTC))
"""An undated article is counted in the window of its record timestamp when it lies in [EARLIEST, LATEST)."""
BEFORE_YEAR_1_MS = epoch_ms(datetime(1, 1, 1, tzinfo=UTC)) - 1
"""One millisecond before 0001-01-01: no Python datetime holds it."""
AFTER_YEAR_9999_MS = epoch_ms(datetime(9999, 12, 31, tzinfo=UTC)) + DAY * 1000  # a day later
"""10000-01-01: no Python datetime holds it either."""


@pytest.fixture
def short(sample_articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The 40 shortest of the first 300 sample articles (their entities are quick to compute, and cached)."""
    return sorted(sample_articles[:300], key=lambda article: len(article["content"]))[:40]


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[tuple[dict[str, str], Store]]:
    with sink_under_test("sqlite", tmp_path) as sink:
        yield sink


@pytest.fixture(params=["sqlite", "firestore"])
def any_sink(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Store]]:
    emulator = request.getfixturevalue("firestore_emulator") if request.param == "firestore" else None
    with sink_under_test(request.param, tmp_path, emulator) as (env, sink):
        yield request.param, env, sink


def undated(article: dict[str, Any], article_id: str) -> dict[str, Any]:
    """``article`` without its date (it falls in the window of its record timestamp), with an explicit id."""
    copy = {key: value for key, value in article.items() if key != "published_at"}
    return {**copy, "id": article_id}


def article_record(article: dict[str, Any], partition: int = 0, timestamp: int = FIXED_TIMESTAMP_MS) -> RawRecord:
    key = article.get("id") or derive_article_id(article["publication"], article.get("url"), article["content"])
    return RawRecord(partition, key.encode(), json.dumps(article).encode(), timestamp=timestamp)


@dataclass(frozen=True)
class Expected:
    """What must become of one record: counted as ``article``, or a dead letter whose ``error`` header starts
    with ``error`` and whose ``dead-letter-cut`` lists ``cut`` (None: a letter that was not cut)."""

    article: dict[str, Any] | None = None
    error: str | None = None
    cut: str | None = None


@dataclass
class Outcome:
    """A finished run: where each produced record landed, the records as the group read them, the log."""

    topic: str
    positions: list[tuple[int, int]]
    records: dict[tuple[int, int], KafkaRecord]
    run: ConsumerGroupRun


def run_group_over(
    kafka_bootstrap: str,
    topic: str,
    sink: tuple[dict[str, str], Store],
    produced: list[RawRecord],
    **settings: str | int,
) -> Outcome:
    """Produce the records (each must be acknowledged), run one worker until the sink's offsets reach the end
    of every partition, stop it; check that nothing died and the offsets stored in the sink and in Kafka."""
    env, store = sink
    acknowledged = produce_each(kafka_bootstrap, topic, produced)
    refused = [(index, result) for index, result in enumerate(acknowledged) if isinstance(result, str)]
    assert not refused, f"the broker must accept every record for the test to make sense: {refused}"
    positions = [result for result in acknowledged if not isinstance(result, str)]
    ends: dict[int, int] = {}
    for partition, offset in positions:
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    group = f"g-{topic}"
    options: dict[str, str | int] = {"consumer_processes": 1, **settings}
    with consumer_group(group_env(kafka_bootstrap, topic, group, env, **options)) as run:
        wait_until_flushed(store, group, topic, ends, run, timeout=480, stall=240)
        assert run.stop() == 0, run.log_tail()
    assert not run.events("worker_died"), run.log_tail()
    assert stored_offsets(store, group, topic, list(ends)) == ends
    assert committed_offsets(kafka_bootstrap, group, topic, list(ends)) == ends
    return Outcome(topic, positions, read_topic(kafka_bootstrap, topic, ends), run)


def check_counts_and_dead_letters(
    kafka_bootstrap: str, outcome: Outcome, store: Store, expected: list[Expected]
) -> None:
    """The counted articles' counts exactly, and exactly one right dead letter per record that is not counted
    (``expected``: one per produced record, in order)."""
    planned = dict(zip(outcome.positions, expected, strict=True))
    counted = [(outcome.records[at], wanted.article) for at, wanted in planned.items() if wanted.article]
    articles = [article for _, article in counted if article is not None]
    timestamps = [record.timestamp or 0 for record, _ in counted]
    assert_counts_equal(sink_counts(store), expected_for(articles, DAY, timestamps_ms=timestamps))
    dead = {at: wanted for at, wanted in planned.items() if wanted.article is None}
    letters = by_source(read_dead_letters(kafka_bootstrap, f"{outcome.topic}.dlq", len(dead)))
    assert {at: len(found) for at, found in letters.items()} == dict.fromkeys(dead, 1)
    problems = []
    for at, wanted in dead.items():
        letter = letters[at][0]
        found = dead_letter_problems(letter, outcome.records[at], outcome.topic)
        error = (letter.header("error") or b"").decode()
        if wanted.error is not None and not error.startswith(wanted.error):
            found.append(f"error {error!r} does not start with {wanted.error!r}")
        cut = letter_cut(letter)
        if wanted.cut is None and cut is not None:
            found.append(f"cut {cut}, but it fits the dead-letter topic whole")
        if wanted.cut is not None and (cut is None or wanted.cut not in cut):
            found.append(f"dead-letter-cut is {cut}, must list {wanted.cut}")
        problems += [f"record at {at}: {problem}" for problem in found]
    assert not problems, "\n".join(problems)


def run_and_check(
    kafka_bootstrap: str,
    topic: str,
    sink: tuple[dict[str, str], Store],
    planned: list[tuple[RawRecord, Expected]],
    **settings: str | int,
) -> Outcome:
    outcome = run_group_over(kafka_bootstrap, topic, sink, [record for record, _ in planned], **settings)
    check_counts_and_dead_letters(kafka_bootstrap, outcome, sink[1], [wanted for _, wanted in planned])
    return outcome


# --- records too large to be dead-lettered whole, and record timestamps no datetime holds ---

NOT_AN_ARTICLE = b"not an article"


def _big_key(limit: int, _: Callable[[str], dict[str, Any]]) -> list[tuple[RawRecord, Expected]]:
    noise = random.Random(14).randbytes(limit)
    record = largest_fitting(lambda n: RawRecord(0, noise[:n], NOT_AN_ARTICLE), limit)
    return [(record, Expected(error="not JSON", cut="key"))]


def _many_headers(limit: int, _: Callable[[str], dict[str, Any]]) -> list[tuple[RawRecord, Expected]]:
    def build(size: int) -> RawRecord:
        headers: list[tuple[str, bytes | None]] = [(f"h-{i:05d}", b"v" * 100) for i in range(size // 108)]
        return RawRecord(0, b"many-headers", NOT_AN_ARTICLE, [*headers, ("fill", b"f" * (size % 108))])

    return [(largest_fitting(build, limit), Expected(error="not JSON", cut="headers"))]


def _one_huge_header(limit: int, _: Callable[[str], dict[str, Any]]) -> list[tuple[RawRecord, Expected]]:
    record = largest_fitting(lambda n: RawRecord(0, b"huge-header", NOT_AN_ARTICLE, [("huge", b"h" * n)]), limit)
    return [(record, Expected(error="not JSON", cut="headers"))]


def _big_value(limit: int, _: Callable[[str], dict[str, Any]]) -> list[tuple[RawRecord, Expected]]:
    def build(size: int) -> RawRecord:
        return RawRecord(0, b"big-value", b'{"publication": "P", "content": "' + b"x" * size + b'"}')

    return [(largest_fitting(build, limit), Expected(error="content: must be at most", cut="value"))]


def _before_year_1(_: int, article: Callable[[str], dict[str, Any]]) -> list[tuple[RawRecord, Expected]]:
    undated_article = article("before-year-1")
    record = article_record(undated_article, timestamp=BEFORE_YEAR_1_MS)
    return [(record, Expected(error="timestamp out of range"))]


def _timestamp_bounds(_: int, article: Callable[[str], dict[str, Any]]) -> list[tuple[RawRecord, Expected]]:
    """Undated articles on both sides of [year 1000, year 9000), past year 9999, and a dated article whose
    record timestamp lies before year 1 (its own date decides: it is counted)."""
    out_of_range = Expected(error="timestamp out of range")
    planned = []
    for name, timestamp, counted in (
        ("year-1000-less-1ms", EARLIEST_TIMESTAMP_MS - 1, False),
        ("year-1000", EARLIEST_TIMESTAMP_MS, True),
        ("year-9000-less-1ms", LATEST_TIMESTAMP_MS - 1, True),
        ("year-9000", LATEST_TIMESTAMP_MS, False),
        ("year-10000", AFTER_YEAR_9999_MS, False),
    ):
        undated_article = article(name)
        planned.append(
            (
                article_record(undated_article, timestamp=timestamp),
                Expected(undated_article) if counted else out_of_range,
            )
        )
    dated = {**article("dated"), "published_at": "2020-07-20"}
    planned.append((article_record(dated, timestamp=BEFORE_YEAR_1_MS), Expected(dated)))
    return planned


HOSTILE: dict[str, Callable[[int, Callable[[str], dict[str, Any]]], list[tuple[RawRecord, Expected]]]] = {
    "1MB-key": _big_key,
    "1MB-of-many-headers": _many_headers,
    "one-1MB-header": _one_huge_header,
    "1MB-value-not-an-article": _big_value,
    "timestamp-before-year-1": _before_year_1,
    "timestamp-bounds": _timestamp_bounds,
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_record_is_dead_lettered_and_its_partition_moves_on(
    kafka_bootstrap: str, kind: str, sqlite: tuple[dict[str, str], Store], short: list[dict[str, Any]]
) -> None:
    """Records as large as the broker accepts (its own limit, read from the topic: ~1 MB), whose dead letter
    cannot hold them whole, and undated articles whose record timestamp no window can hold, between known
    articles of one partition. The topic accepts any record timestamp (as topics made before Kafka 4 do)."""
    topic = create_topic(kafka_bootstrap, "hostile", 2, {"message.timestamp.after.max.ms": LONGEST_TIMESTAMP_AHEAD_MS})
    limit = max_message_bytes(kafka_bootstrap, topic)
    fresh = iter(short[4:])

    def article(name: str) -> dict[str, Any]:
        return undated(next(fresh), f"{kind}-{name}")

    known = [dict(short[0]), undated(short[1], "known-1"), dict(short[2]), undated(short[3], "known-3")]
    planned = [(article_record(a), Expected(a)) for a in known[:2]]
    planned += HOSTILE[kind](limit, article)
    planned += [(article_record(a), Expected(a)) for a in known[2:]]
    run_and_check(kafka_bootstrap, topic, sqlite, planned)


# --- one article whose counts do not fit one sink write ---

BIG_ARTICLE_LINES = 3_600


def crowded_article(lines: int = BIG_ARTICLE_LINES, seed: int = 14) -> dict[str, Any]:
    """An article of ~380 KB (under MAX_ARTICLE_BYTES) naming ~10,000 distinct invented people and companies:
    one line per meeting, so spaCy reads it in pieces at line breaks like any long article."""
    rng = random.Random(seed)
    onsets = ["B", "D", "G", "K", "L", "M", "N", "P", "R", "S", "T", "V", "Z", "Br", "Dr", "Gr", "Kr", "St", "Tr"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ei", "ou"]
    codas = ["n", "r", "l", "s", "th", "m", "nd", "rk", "sk", "v"]

    def name(syllables: int) -> str:
        parts = [rng.choice(onsets) + rng.choice(vowels) for _ in range(syllables)]
        return ("".join(parts) + rng.choice(codas)).capitalize()

    content = "\n".join(
        f"On Monday, {name(2)} {name(3)} met {name(2)} {name(2)}, the chief executive of {name(3)} Industries, "
        "in London."
        for _ in range(lines)
    )
    return {"publication": "The Crowded Gazette", "content": content, "id": f"crowded-{seed}-{lines}"}


def firestore_refuses_alone(article: dict[str, Any], emulator: str) -> None:
    """The premise, checked with the sink itself: the article's counts alone are one flush too large for a
    Firestore commit (a scratch project; nothing is committed)."""
    from devservices.firestore import clear_emulator

    found = article_entities(cached_entities([article])[0], DEFAULT_EXCLUDED_LABELS)
    print(f"crowded article: {len(article['content'].encode())} bytes, {len(found)} distinct entities")
    pending = PendingPartition(0, (), 0)
    pending.add_article(0, article["publication"], 0, found)
    project = f"premise-{uuid.uuid4().hex[:8]}"
    sink = group_store(("firestore", project))
    try:
        with pytest.raises(SinkFlushTooLarge):
            sink.write(pending.to_flush("premise", "premise", 0, DAY), OffsetLease(None, None))
    finally:
        sink.close()
        clear_emulator(emulator, project)


def test_an_article_too_large_for_one_sink_write_is_dead_lettered_on_firestore_and_counted_on_sqlite(
    kafka_bootstrap: str,
    any_sink: tuple[str, dict[str, str], Store],
    short: list[dict[str, Any]],
    firestore_emulator: str,
) -> None:
    """Firestore refuses commits over ~3.75 MiB; SQLite has no such bound. Articles before and after it in the
    same partition are counted exactly, and the partition's later flushes hold several articles again (the
    flush size bound recovered: with a bound of 1 every article would be a flush of its own)."""
    kind, env, store = any_sink
    big = crowded_article()
    assert len(big["content"].encode()) <= 1_000_000
    firestore_refuses_alone(big, firestore_emulator)
    topic = create_topic(kafka_bootstrap, "crowded", 1)
    before, after = short[:4], short[4:16]
    planned = [(article_record(a), Expected(a)) for a in before]
    on_firestore = Expected(error="too large for one sink write")
    planned.append((article_record(big), on_firestore if kind == "firestore" else Expected(big)))
    planned += [(article_record(a), Expected(a)) for a in after]
    outcome = run_and_check(kafka_bootstrap, topic, (env, store), planned, flush_interval="5s")
    big_offset = len(before)
    later = [f for f in outcome.run.events("flushed") if int(f["next_offset"]) > big_offset + 1]
    assert max(int(f["articles"]) for f in later) >= 2, [f["articles"] for f in later]


# --- deduplication by (publication, id) ---


def test_deduplication_is_per_publication_so_one_producer_cannot_suppress_another_publications_article(
    kafka_bootstrap: str, sqlite: tuple[dict[str, str], Store], short: list[dict[str, Any]]
) -> None:
    """Same Kafka key, same partition, same article id, different publications: both counted. The same
    (publication, id) again, before or after a restart (the remembered ids travel with the offset in the
    sink): counted once. An article of publication A given the id that B's article derives (A can compute
    it: it is a hash of B's name and url) does not make B's article a duplicate."""
    store = sqlite[1]
    topic = create_topic(kafka_bootstrap, "dedup", 1)
    gamma = {**dict(short[3]), "publication": "Gamma", "url": "https://gamma.example/a"}
    gamma.pop("id", None)
    gamma_id = derive_article_id("Gamma", gamma["url"], gamma["content"])
    alpha = {**dict(short[0]), "publication": "Alpha", "id": "shared-1"}
    beta = {**dict(short[1]), "publication": "Beta", "id": "shared-1"}
    spoof = {**dict(short[2]), "publication": "Alpha", "id": gamma_id}
    delta = {**dict(short[4]), "publication": "Delta", "id": "shared-1"}
    first = [(alpha, True), (beta, True), (alpha, False), (spoof, True), (gamma, True)]
    second = [(beta, False), (delta, True), (gamma, False), (alpha, False)]
    for phase in (first, second):  # a restart in between: the second phase's worker reads the ids from the sink
        run_group_over(kafka_bootstrap, topic, sqlite, [article_record(article) for article, _ in phase])
    counted = [article for article, new in first + second if new]
    assert_counts_equal(sink_counts(store), expected_for(counted, DAY))
    assert read_dead_letters(kafka_bootstrap, f"{topic}.dlq", 0, timeout=5) == []
