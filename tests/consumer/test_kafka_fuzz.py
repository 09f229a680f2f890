"""A Kafka-side fuzz test of the consumer group (issue 14): a few hundred records built at random, produced with
a raw producer between known articles over 4 partitions, against ``python -m consumer`` (2 workers, SQLite).

Keys: none, empty, binary, up to ~1 MB. Headers: none, a few with odd or binary names and values, thousands,
one huge, names that imitate ours (``error``, ``source-offset``). Values: random bytes, JSON that is not an
object, objects with wrong types, missing or blank fields, over-long names, ids and content, broken UTF-8 and
escapes, raw control characters, 5,000-deep nesting, and valid articles with odd publication names,
control characters, nested extra fields, huge titles, dates at the edges of years 1000-8999, or no date.
Record timestamps from the whole int64 range (the topic accepts any, as topics made before Kafka 4 do).
Sizes up to the broker's limit (some records grown to within 300 bytes of it, so that their dead letters
must be cut); only what the broker acknowledged counts.

Each record's fate is decided here by construction, with the rules docs/consumer.md states: a valid article
is counted in the window of its date, or, undated, of its record timestamp when that lies in [year 1000,
year 9000); anything else is a dead letter. Checked: no worker ever died or restarted; the sink holds exactly
the counts of the counted articles (spaCy run directly, tests/consumer/support.py); the dead-letter topic holds
exactly one letter per record that is not counted, each right (tests/consumer/records.py); the offsets stored
in the sink and committed to Kafka are at the end of every partition.

``FUZZ_SEED`` (default fixed, printed) replays a run; ``FUZZ_RECORDS`` sets how many random records (300).
"""

import json
import os
import random
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.support import committed_offsets, expected_for, stored_offsets
from tests.consumer.records import (
    LONGEST_TIMESTAMP_AHEAD_MS,
    Headers,
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
    assert_counts_equal,
    consumer_group,
    group_env,
    sink_counts,
    sink_under_test,
    wait_until_flushed,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED = int(os.environ.get("FUZZ_SEED", "20261201"))
RECORDS = int(os.environ.get("FUZZ_RECORDS", "300"))
PARTITIONS = 4
KNOWN_EVERY = 8
"""A known article after every this many random records of a partition (and first and last in each)."""
DAY = 86_400
MAX_ARTICLE_BYTES = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(year: int) -> int:
    return (datetime(year, 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)


EARLIEST_MS, LATEST_MS = _ms(1000), _ms(9000)
"""An undated article is counted when its record timestamp lies in [EARLIEST_MS, LATEST_MS)."""
YEAR_10000_MS = _ms(9999) + 365 * DAY * 1000
EDGE_TIMESTAMPS = [EARLIEST_MS - 1, EARLIEST_MS, LATEST_MS - 1, LATEST_MS, _ms(1) - 1, _ms(1), YEAR_10000_MS]
EDGE_TIMESTAMPS += [-(2**63), 2**63 - 1, 0, -2]
"""Around the counted range and what a Python datetime holds, int64's ends, 0 (to librdkafka: "now")."""

VALID_PUBLICATIONS = [
    "Reuters",
    "  The\tDaily\n  Planet  ",
    "The Daily Planet",
    "Ünïcödé Nëws",
    "新闻 日报",
    "../offsets",
    "publications/x/entities",
    "Robert'); DROP TABLE publications;--",
    "emoji 📰🗞️",
    "__name__",
    "p" * 200,
    " " * 7 + "q" * 200 + "\n" * 3,
    " ".join(["w"] * 100),
]
"""Publication names a producer may send: 1 to 200 characters once trimmed and inner whitespace collapsed, and no
control, format (bidi, zero-width), surrogate, private-use or unassigned character (docs/api.md)."""
INVALID_PUBLICATIONS = ["", "   ", "\t\n\r", "\u3000\u2003", "p" * 201, " ".join(["w"] * 101)]
INVALID_PUBLICATIONS += ["\u0000nul\u0000", "bell\u0007 and escape \u001b[31m", "right-to-left \u202eedcba"]
INVALID_PUBLICATIONS += ["zero\u200bwidth", "private \ue000 use"]

VALID_DATES = [
    "1000-01-01",
    "8999-12-31",
    "1000-01-01T00:00:00Z",
    "8999-12-31T23:59:59.999999Z",
    "0999-12-31T23:30:00-01:00",
    "2020-07-20T12:34:56+05:30",
    "2020-07-20T23:59:59",
    "1969-12-31T23:59:59Z",
]
"""``published_at`` values inside [1000-01-01, 9000-01-01) UTC (a zone moves some of them across the edges)."""
INVALID_DATES: list[Any] = [
    "0999-12-31",
    "9000-01-01",
    "1000-01-01T00:00:00+01:00",
    "8999-12-31T23:30:00-01:00",
    "0001-01-01",
    "9999-12-31",
    "2020-02-30",
    "2020-13-01",
    "yesterday",
    "",
    True,
    [],
    {},
]
WRONG_TYPES: dict[str, list[Any]] = {
    "publication": [5, [], {}, True, None, 1e300],
    "content": [5, [], {"x": 1}, True, None, 10**30],
    "title": [5, [], {}, False],
    "url": [5, [], True, {"u": 1}],
    "id": [5, [], True, {}, 0.5],
    "published_at": INVALID_DATES,
}
"""A value of the wrong type (or an invalid one) per field; ``null`` is allowed for the optional fields."""
JSON_NOT_AN_OBJECT = [b"null", b"true", b"42", b"-0.0", b"1e400", b"9" * 5000, b'"an \\u0007 article"', b"[]"]
NOT_JSON_START = bytes(byte for byte in range(256) if byte not in b' \t\r\n{["-0123456789tfn')
"""First bytes with which no value can be a JSON object (so random bytes are surely not an article)."""


@dataclass(frozen=True)
class Planned:
    """A record to produce, and the article it holds when its value is a valid article (else None)."""

    record: RawRecord
    article: dict[str, Any] | None
    kind: str


class Fuzzer:
    """Builds random records; which are valid articles is known by construction."""

    def __init__(self, rng: random.Random, contents: list[str], limit: int) -> None:
        self._rng = rng
        self._contents = contents
        self._limit = limit
        self._serial = 0

    def record(self, partition: int) -> Planned:
        rng = self._rng
        kind = rng.choices(
            ["valid", "wrong-type", "missing", "too-long", "not-an-object", "random-bytes", "broken", "empty"],
            weights=[30, 14, 4, 6, 7, 14, 15, 5],
        )[0]
        value, article = self._value(kind)
        undated = article is not None and not article.get("published_at")
        timestamp = self._timestamp()
        if undated and timestamp == -1:
            timestamp = -2  # Kafka's "no timestamp": left out of the rules tested here (see the report)
        record = RawRecord(partition, self._key(), value, self._headers(), timestamp)
        if rng.random() < 0.15:
            record = self._to_the_limit(record, kind)
        return Planned(record, article, kind)

    def _to_the_limit(self, record: RawRecord, kind: str) -> RawRecord:
        """``record`` grown to within 300 bytes of the broker's limit, by its key, an extra header or (random
        bytes only: the value's validity must not change) its value: its dead letter cannot hold it whole."""
        rng = self._rng
        filler = rng.randbytes(self._limit)
        part = rng.choice(["key", "headers", "value"] if kind == "random-bytes" else ["key", "headers"])

        def grown(size: int) -> RawRecord:
            if part == "key":
                return replace(record, key=filler[:size])
            if part == "headers":
                return replace(record, headers=[*record.headers, ("pad", filler[:size])])
            return replace(record, value=(record.value or b"\xff")[:1] + filler[:size])

        return largest_fitting(grown, self._limit - rng.randrange(0, 300))

    # --- values ---

    def _value(self, kind: str) -> tuple[bytes | None, dict[str, Any] | None]:
        rng = self._rng
        if kind == "valid":
            article = self._article()
            return self._encode(article), article
        if kind == "wrong-type":
            article = self._article()
            field = rng.choice(list(WRONG_TYPES))
            article[field] = rng.choice(WRONG_TYPES[field])
            return self._encode(article), None
        if kind == "missing":
            article = self._article()
            del article[rng.choice(["publication", "content"])]
            return self._encode(article), None
        if kind == "too-long":
            return self._encode(self._too_long()), None
        if kind == "not-an-object":
            return rng.choice(JSON_NOT_AN_OBJECT), None
        if kind == "random-bytes":
            size = rng.choice([rng.randrange(0, 200), rng.randrange(0, 20_000), rng.randrange(0, self._limit)])
            return bytes([rng.choice(NOT_JSON_START)]) + rng.randbytes(size), None
        if kind == "broken":
            return self._broken(), None
        return rng.choice([None, b"", b" \n\t "]), None

    def _article(self) -> dict[str, Any]:
        rng = self._rng
        self._serial += 1
        article: dict[str, Any] = {"publication": rng.choice(VALID_PUBLICATIONS), "content": rng.choice(self._contents)}
        if rng.random() < 0.5:
            article["id"] = rng.choice([f"fuzz-{SEED}-{self._serial}", f"\u0000id {self._serial} \u202e"])
        else:
            article["url"] = f"https://fuzz.example/{SEED}/{self._serial}"
        dates: list[Any] = [None, *VALID_DATES, f"{rng.randrange(1000, 9000):04d}-{rng.randrange(1, 13):02d}-15"]
        choice = rng.choice(["absent", "absent", *dates])
        if choice != "absent":
            article["published_at"] = choice
        if rng.random() < 0.2:
            article["title"] = rng.choice(["t", "tab\there \u0000 nul", "huge"])
            if article["title"] == "huge":
                article["title"] = "x" * rng.randrange(1, self._limit // 2)
        if rng.random() < 0.1:
            article["extra"] = self._nested(rng.randrange(1, 20))
        return article

    def _nested(self, depth: int) -> Any:
        value: Any = self._rng.choice([1, "s", None, True, 2.5])
        for _ in range(depth):
            value = self._rng.choice([[value], {"k": value}])
        return value

    def _too_long(self) -> dict[str, Any]:
        article = self._article()
        field = self._rng.choice(["publication", "id", "content-ascii", "content-utf8"])
        if field == "publication":
            article["publication"] = self._rng.choice(INVALID_PUBLICATIONS)
        elif field == "id":
            article["id"] = "i" * 201
        elif field == "content-ascii":
            article["content"] = "x" * (MAX_ARTICLE_BYTES + 1)
        else:
            article["content"] = "é" * (MAX_ARTICLE_BYTES // 2 + 1)  # 500,001 characters, 1,000,002 bytes
        return article

    def _broken(self) -> bytes:
        text = json.dumps(self._article())
        cut = self._rng.randrange(1, len(text) - 1)
        return self._rng.choice(
            [
                b"\xef\xbb\xbf" + text.encode(),  # a byte-order mark
                text.encode() + b" trailing",
                text.encode()[:cut],  # truncated
                text.replace('"content": "', '"content": "\xc3\x28', 1).encode("latin-1", "replace"),
                text.encode().replace(b'"content": "', b'"content": "\xed\xa0\x80', 1),  # an encoded surrogate
                text.replace('"content": "', '"content": "\\ud800 ', 1).encode(),  # a lone surrogate escape
                text.replace('"content": "', '"content": "\x01 raw ', 1).encode(),  # a raw control character
                text.encode()[:-1] + b', "deep": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            ]
        )

    def _encode(self, article: dict[str, Any]) -> bytes:
        text = json.dumps(article, ensure_ascii=self._rng.random() < 0.5)
        return (self._rng.choice(["", " ", "\n\t "]) + text + self._rng.choice(["", "\n", "  "])).encode()

    # --- keys, headers, timestamps ---

    def _key(self) -> bytes | None:
        rng = self._rng
        shape = rng.choice(["none", "empty", "binary", "text", "big"])
        if shape == "binary":
            return rng.randbytes(rng.randrange(1, 64))
        if shape == "text":
            return f"key-{rng.random()}".encode()
        if shape == "big":
            return self._big(10_000)
        return None if shape == "none" else b""

    def _big(self, least: int) -> bytes:
        return self._rng.randbytes(self._rng.randrange(least, self._limit))

    def _headers(self) -> Headers:
        rng = self._rng
        shape = rng.choices(["none", "few", "many", "huge", "spoofed"], weights=[40, 30, 10, 10, 10])[0]
        if shape == "few":
            names = ["origin", "ünï", "tab\tname", "\u202e", "", "x" * 300, "nul\u0000after"]
            values: list[bytes | None] = [None, b"", b"\x00\xff binary", rng.randbytes(rng.randrange(1, 100))]
            return [(rng.choice(names), rng.choice(values)) for _ in range(rng.randrange(1, 6))]
        if shape == "many":
            return [(f"h{i}", rng.randbytes(rng.randrange(0, 40))) for i in range(rng.randrange(100, 5000))]
        if shape == "huge":
            return [("huge", self._big(100_000))]
        if shape == "spoofed":
            return [("error", b"fake"), ("source-offset", b"-5"), ("source-topic", b"elsewhere")]
        return []

    def _timestamp(self) -> int:
        rng = self._rng
        shape = rng.choices(["now", "in-range", "edge", "int64"], weights=[40, 25, 15, 20])[0]
        if shape == "now":
            return FIXED_TIMESTAMP_MS - rng.randrange(0, 10**7)
        if shape == "in-range":
            return rng.randrange(EARLIEST_MS, LATEST_MS)
        if shape == "edge":
            return rng.choice(EDGE_TIMESTAMPS)
        return rng.randrange(-(2**63), 2**63)


def counted_by_the_rules(planned: Planned, read: KafkaRecord) -> bool:
    """A valid article is counted when it has a date, or its record timestamp lies in [year 1000, year 9000)."""
    if planned.article is None:
        return False
    if planned.article.get("published_at"):
        return True
    return read.timestamp is not None and EARLIEST_MS <= read.timestamp < LATEST_MS


def control_character_variants(contents: list[str]) -> list[str]:
    """Contents with control, format and odd space characters in them (their entities are computed too)."""
    return [
        "\u0000" + contents[0],
        contents[1].replace(" ", "\u00a0", 20),
        contents[2] + " \u001b[31m\u0007",
        "\u202e" + contents[3].replace("\n", "\r\n"),
        contents[4].replace(". ", ".\u000b ", 5),
        contents[5].replace(" ", "\u200b ", 10),
    ]


def known_articles(articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The known articles: each with its own id, every other one without its date."""
    known = []
    for index, article in enumerate(articles):
        copy = {**article, "id": f"known-{SEED}-{index}"}
        if index % 2 == 0:
            del copy["published_at"]
        known.append(copy)
    return known


def test_random_records_are_counted_or_dead_lettered_exactly_and_no_worker_dies(
    kafka_bootstrap: str, tmp_path: Path, sample_articles: list[dict[str, Any]]
) -> None:
    print(f"\nFUZZ_SEED={SEED} FUZZ_RECORDS={RECORDS}")
    rng = random.Random(SEED)
    topic = create_topic(
        kafka_bootstrap, "fuzz", PARTITIONS, {"message.timestamp.after.max.ms": LONGEST_TIMESTAMP_AHEAD_MS}
    )
    limit = max_message_bytes(kafka_bootstrap, topic)
    short = sorted(sample_articles[:300], key=lambda article: len(article["content"]))[:60]
    contents = [article["content"] for article in short[:40]]
    fuzzer = Fuzzer(rng, contents + control_character_variants(contents), limit)
    known = iter(known_articles(short * 10))

    def known_record(partition: int) -> Planned:
        article = next(known)
        record = RawRecord(partition, article["id"].encode(), json.dumps(article).encode(), [], FIXED_TIMESTAMP_MS)
        return Planned(record, article, "known")

    planned: list[Planned] = [known_record(partition) for partition in range(PARTITIONS)]
    since_known = Counter[int]()
    for _ in range(RECORDS):
        partition = rng.randrange(PARTITIONS)
        planned.append(fuzzer.record(partition))
        since_known[partition] += 1
        if since_known[partition] == KNOWN_EVERY:
            planned.append(known_record(partition))
            since_known[partition] = 0
    planned += [known_record(partition) for partition in range(PARTITIONS)]

    results = produce_each(kafka_bootstrap, topic, [plan.record for plan in planned])
    acknowledged = {result: plan for plan, result in zip(planned, results, strict=True) if not isinstance(result, str)}
    refused = Counter(result.split(",")[0] for result in results if isinstance(result, str))
    assert all(plan.kind != "known" or at in acknowledged for plan, at in zip(planned, results, strict=True))
    ends = {partition: 1 + max(o for p, o in acknowledged if p == partition) for partition in range(PARTITIONS)}
    records = read_topic(kafka_bootstrap, topic, ends)
    assert all(record.timestamp is not None for record in records.values())
    counted = {at: plan for at, plan in acknowledged.items() if counted_by_the_rules(plan, records[at])}
    dead = {at: plan for at, plan in acknowledged.items() if at not in counted}
    kinds = Counter(plan.kind for plan in planned)
    print(
        f"records: {len(planned)} produced {dict(kinds)}; {len(acknowledged)} acknowledged, refused {dict(refused)}; "
        f"{len(counted)} to be counted, {len(dead)} to be dead-lettered"
    )

    group = f"g-{topic}"
    with sink_under_test("sqlite", tmp_path) as (env, store):
        with consumer_group(group_env(kafka_bootstrap, topic, group, env, consumer_processes=2)) as run:
            wait_until_flushed(store, group, topic, ends, run, timeout=400, stall=90)
            assert run.stop() == 0, run.log_tail()
        assert not run.events("worker_died"), run.log_tail(200)
        assert len(run.events("worker_started")) == 2
        assert stored_offsets(store, group, topic, list(ends)) == ends
        articles = [plan.article for plan in counted.values() if plan.article is not None]
        timestamps = [records[at].timestamp or 0 for at in counted]
        assert_counts_equal(sink_counts(store), expected_for(articles, DAY, timestamps_ms=timestamps))
    assert committed_offsets(kafka_bootstrap, group, topic, list(ends)) == ends

    letters = by_source(read_dead_letters(kafka_bootstrap, f"{topic}.dlq", len(dead), timeout=120))
    assert set(letters) == set(dead), (sorted(set(dead) - set(letters))[:20], sorted(set(letters) - set(dead))[:20])
    problems = [f"{at}: {len(found)} letters" for at, found in letters.items() if len(found) != 1]
    for at, plan in dead.items():
        letter, original = letters[at][0], records[at]
        problems += [f"{at} ({plan.kind}): {problem}" for problem in dead_letter_problems(letter, original, topic)]
        error = (letter.header("error") or b"").decode()
        if plan.article is not None and not error.startswith("timestamp out of range"):
            problems.append(f"{at}: a valid article at timestamp {original.timestamp} dead-lettered for {error!r}")
    cut = Counter(",".join(letter_cut(found[0]) or ["none"]) for found in letters.values())
    print(f"dead letters: {sum(map(len, letters.values()))}, cut: {dict(cut)}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
