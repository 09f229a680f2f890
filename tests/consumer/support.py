"""Helpers for the consumer group's tests: produce articles, run ``python -m consumer`` as a real process
group, wait for the sink to catch up, and compute the expected counts independently of the consumer code.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unicodedata
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from common.article import Article
from common.sinks.base import EntityCountingKey, SinkUnavailable, View
from consumer.aliases import AliasTable, alias_article, shipped_alias_table
from consumer.entities import ArticleEntity
from tests.sinks.support import SinkSpec, Store, open_store

REPO = Path(__file__).resolve().parents[2]
DEFAULT_EXCLUDED = {"CARDINAL", "DATE", "TIME", "MONEY", "ORDINAL", "PERCENT", "QUANTITY"}
NER_CHUNK_CHARS = 10_000
"""The default ``NER_CHUNK_CHARS``, written down again (tests/consumer/test_settings.py checks they agree)."""
FIXED_TIMESTAMP_MS = int(time.time()) // 60 * 60_000
"""Kafka timestamp given to every produced record, so windows of articles without a date are known. It is
recent on purpose: records older than the topic's retention (7 days by default) are deleted by the broker's
retention check, which then silently removes a test's data between producing and consuming it."""
STORE_ENV = {"COUNTS_NAMESPACE": "counts"}
"""The counts namespace of the tests' consumer groups (whatever their group id), in their environment."""


def group_store(spec: SinkSpec) -> Store:
    """The store a test's consumer group writes (:func:`group_env` settings, :data:`STORE_ENV` namespace)."""
    return open_store(spec, counts_namespace=STORE_ENV["COUNTS_NAMESPACE"], window="1d")


# --- producing ---


def produce(
    bootstrap: str,
    topic: str,
    values: Iterable[tuple[bytes | None, bytes | None]],
    headers: list[tuple[str, str | bytes | None]] | None = None,
) -> dict[int, int]:
    """Produce (key, value) records in order with :data:`FIXED_TIMESTAMP_MS`; the end offset per partition."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    ends: dict[int, int] = {}
    errors: list[str] = []

    def delivered(error: Any, message: Any) -> None:
        if error is not None:
            errors.append(str(error))
        else:
            ends[message.partition()] = max(ends.get(message.partition(), 0), message.offset() + 1)

    for key, value in values:
        producer.produce(
            topic, key=key, value=value, headers=headers, timestamp=FIXED_TIMESTAMP_MS, on_delivery=delivered
        )
        producer.poll(0)
    assert producer.flush(30) == 0 and not errors, errors
    return ends


def article_records(articles: Iterable[Mapping[str, Any]]) -> list[tuple[bytes | None, bytes | None]]:
    """Records as the HTTP producer sends them: key = article id, value = the JSON object."""
    records: list[tuple[bytes | None, bytes | None]] = []
    for raw in articles:
        key = Article.model_validate(raw).article_id.encode()
        records.append((key, json.dumps(raw).encode()))
    return records


def merge_ends(*ends: dict[int, int]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for one in ends:
        for partition, end in one.items():
            merged[partition] = max(merged.get(partition, 0), end)
    return merged


# --- running the consumer group ---


@dataclass
class ConsumerGroupRun:
    """``python -m consumer`` in its own session (so teardown can kill every worker), its log collected."""

    env: dict[str, str]
    process: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def start(self) -> "ConsumerGroupRun":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "consumer"],
            env=self.env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def events(self, name: str) -> list[dict[str, str]]:
        """The ``key=value`` fields of every log line with ``event=name`` (plus ``worker`` when present)."""
        found = []
        for line in list(self.lines):
            fields = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line))
            if fields.get("event") == name:
                found.append({key: value.strip('"') for key, value in fields.items()})
        return found

    def wait_for_event(self, name: str, count: int = 1, timeout: float = 120) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout
        while len(found := self.events(name)) < count:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"consumer group exited ({self.process.returncode}):\n" + self.log_tail())
            if time.monotonic() > deadline:
                raise AssertionError(f"no {count}x event={name} within {timeout}s:\n" + self.log_tail())
            time.sleep(0.2)
        return found

    def worker_pids(self) -> dict[int, int]:
        """Current pid of each worker index (the latest start)."""
        return {int(fields["worker"]): int(fields["pid"]) for fields in self.events("worker_started")}

    def stop(self, timeout: float = 120) -> int:
        """SIGTERM the supervisor; its exit code once every worker has flushed and exited."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        finally:
            self.kill()
        if self._reader is not None:
            self._reader.join(5)
        return code

    def kill(self) -> None:
        """Make sure nothing of this run is left (the supervisor and every worker share its session)."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.lines[-lines:])


@contextmanager
def consumer_group(env: dict[str, str]) -> Iterator[ConsumerGroupRun]:
    """A running consumer group; killed (whole session) at the end whatever happened."""
    run = ConsumerGroupRun(env).start()
    try:
        yield run
    finally:
        run.kill()


FAULT_INJECTION = REPO / "tests" / "fault_injection"
"""A folder whose ``sitecustomize`` wraps the consumer's sink in every process started with it on PYTHONPATH."""
CRASH_FILE_VARIABLE = "NEWSCOUNTS_TEST_CRASH_FILE"


def crash_after_sink_write(env: dict[str, str], crash_file: Path) -> dict[str, str]:
    """``env`` with test-only fault injection (tests/fault_injection): while ``crash_file`` exists, the first
    worker to complete a sink write deletes it, logs ``event=injected_crash`` and exits 137 before it commits."""
    return {**env, "PYTHONPATH": str(FAULT_INJECTION), CRASH_FILE_VARIABLE: str(crash_file)}


def group_env(
    bootstrap: str,
    topic: str,
    group: str,
    sink: dict[str, str],
    **settings: str | int,
) -> dict[str, str]:
    """The environment of ``python -m consumer`` for a test: quick flushes, quick failover, DLQ per topic."""
    env = {key: value for key, value in os.environ.items() if key not in (CRASH_FILE_VARIABLE, "PYTHONPATH")}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        KAFKA_TOPIC=topic,
        KAFKA_DLQ_TOPIC=f"{topic}.dlq",
        KAFKA_GROUP_ID=group,
        COUNTS_NAMESPACE=STORE_ENV["COUNTS_NAMESPACE"],
        WINDOW="1d",
        FLUSH_INTERVAL="1s",
        SESSION_TIMEOUT="6s",
        CONSUME_TIMEOUT="200ms",
        RESTART_BACKOFF_INITIAL="500ms",
        STATS_INTERVAL="10s",
        LOG_LEVEL="info",
    )
    env.update(sink)
    env.update({key.upper(): str(value) for key, value in settings.items()})
    return env


def wait_until_flushed(
    sink: Store,
    group: str,
    topic: str,
    ends: Mapping[int, int],
    run: ConsumerGroupRun,
    timeout: float = 900,
    stall: float = 120,
) -> None:
    """Until the sink's offset of every partition is its end offset: everything produced was counted.

    Fails after ``timeout`` seconds, or sooner when the stored offsets make no progress for ``stall``
    seconds (so a slow machine only slows it down). A sink that cannot be read counts as no progress."""
    started = progress_at = time.monotonic()
    progress = -1
    while True:
        try:
            stored = {partition: sink.read_offset(group, topic, partition).next_offset for partition in ends}
        except SinkUnavailable:
            stored = {}
        if stored == dict(ends):
            return
        assert run.process is not None
        if run.process.poll() is not None:
            raise AssertionError(f"consumer group exited ({run.process.returncode}):\n" + run.log_tail())
        now, total = time.monotonic(), sum(offset or 0 for offset in stored.values())
        if total > progress:
            progress, progress_at = total, now
        if now - progress_at > stall or now - started > timeout:
            behind = {p: (stored.get(p), end) for p, end in ends.items() if stored.get(p) != end}
            raise AssertionError(
                f"not flushed: no progress for {now - progress_at:.0f}s, {now - started:.0f}s in all; "
                f"(stored, end) {behind}\n" + run.log_tail(200)
            )
        time.sleep(0.5)


@contextmanager
def sink_under_test(kind: str, folder: Path, emulator: str | None = None) -> Iterator[tuple[dict[str, str], Store]]:
    """A fresh, empty store of ``kind`` (``sqlite``: a file in ``folder``; ``firestore``: a project of its own on
    the emulator at ``emulator``, cleared afterwards) and the environment that points a consumer group at it."""
    if kind == "sqlite":
        path = folder / "counts.sqlite3"
        sqlite = group_store(("sqlite", str(path)))
        try:
            yield {"SINK": "sqlite", "SQLITE_PATH": str(path), **STORE_ENV}, sqlite
        finally:
            sqlite.close()
        return
    from devservices.firestore import clear_emulator

    assert kind == "firestore" and emulator is not None, kind
    project = f"sink-{uuid.uuid4().hex[:10]}"
    firestore = group_store(("firestore", project))
    env = {"SINK": "firestore", "FIRESTORE_PROJECT": project, "FIRESTORE_EMULATOR_HOST": emulator, **STORE_ENV}
    try:
        yield env, firestore
    finally:
        firestore.close()
        clear_emulator(emulator, project)


# --- the expected counts, computed independently of the consumer's code ---


def reference_normalize(text: str) -> str:
    """The normalization rules written a second way (regular expressions), to cross-check the consumer's."""
    while True:
        step = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()
        step = re.sub(r"^[Tt][Hh][Ee] ", "", step)
        step = re.sub(r"['’]s$", "", step).strip()
        if step == text:
            return step
        text = step


def reference_entities(
    model: str, articles: Sequence[Mapping[str, Any]], processes: int = 2
) -> list[list[tuple[str, str]]]:
    """spaCy run directly: each article's (text, label) entities, the articles dealt round-robin over
    ``processes`` fresh processes (the model with only tok2vec and ner, as the workers load it), each content
    read whole, ``nlp(content)``: what the workers' NER in pieces promises to equal."""
    contents = [article["content"] for article in articles]
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        shares = list(pool.map(_entities_of, [model] * processes, [contents[i::processes] for i in range(processes)]))
    found: list[list[tuple[str, str]]] = [[] for _ in contents]
    for start, share in enumerate(shares):
        found[start::processes] = share
    return found


def _entities_of(model: str, contents: list[str]) -> list[list[tuple[str, str]]]:
    from consumer.nlp import load_ner

    nlp = load_ner(model)
    return [[(ent.text, ent.label_) for ent in nlp(content).ents] for content in contents]


@dataclass
class Counts:
    """Everything the sink holds for a set of publications, keyed by what is counted (no display text)."""

    publications: dict[str, int] = field(default_factory=dict)
    undated: dict[str, int] = field(default_factory=dict)
    """Publication -> its articles without ``published_at``, all time."""
    entities: dict[tuple[str, str, str], tuple[int, int]] = field(default_factory=dict)
    """(publication, case-folded text, label) -> (mentions, articles), all time."""
    windows: dict[tuple[str, int], int] = field(default_factory=dict)
    window_entities: dict[tuple[str, int, str, str], tuple[int, int]] = field(default_factory=dict)
    merged: dict[tuple[str, str, str], dict[EntityCountingKey, int]] = field(default_factory=dict)
    """The aliased view: (publication, case-folded text, label) of each row that merged raw rows of other keys ->
    those raw rows and its own, by counting key, with their mentions, all time."""


def reference_article_entities(
    found: Iterable[tuple[str, str]], excluded: set[str]
) -> dict[EntityCountingKey, ArticleEntity]:
    """One article's entities by counting key, with the reference normalization (what the consumer counts)."""
    entities: dict[EntityCountingKey, ArticleEntity] = {}
    for text, label in found:
        if label not in excluded and (normalized := reference_normalize(text)):
            entity = entities.setdefault((normalized.casefold(), label), ArticleEntity(label))
            entity.mentions += 1
            entity.surfaces[normalized] += 1
    return entities


def expected_counts(
    articles: Sequence[Mapping[str, Any]],
    entities: Sequence[list[tuple[str, str]]],
    window_seconds: int,
    excluded: set[str] = DEFAULT_EXCLUDED,
    timestamp_ms: int = FIXED_TIMESTAMP_MS,
    timestamps_ms: Sequence[int] | None = None,
    view: View = View.RAW,
    aliases: AliasTable | None = None,
) -> Counts:
    """The counting rules applied with plain Counters to the articles and their spaCy entities; in the aliased
    view, each article's entities aliased by :func:`consumer.aliases.alias_article` (``aliases``: the table,
    default the shipped one) before they are counted.

    An article without ``published_at`` falls in the window of its Kafka record timestamp: ``timestamps_ms``
    (one per article) when given, else ``timestamp_ms`` for all."""
    publications: Counter[str] = Counter()
    undated: dict[str, int] = {}
    windows: Counter[tuple[str, int]] = Counter()
    mentions: Counter[tuple[str, int, str, str]] = Counter()
    mentioned_in: Counter[tuple[str, int, str, str]] = Counter()
    merged: defaultdict[tuple[str, str, str], Counter[EntityCountingKey]] = defaultdict(Counter)
    record_times = [timestamp_ms] * len(articles) if timestamps_ms is None else list(timestamps_ms)
    for raw, found, record_ms in zip(articles, entities, record_times, strict=True):
        publication = " ".join(raw["publication"].split())
        published = raw.get("published_at")
        seconds = event_seconds(published) if published else record_ms // 1000
        window = seconds - seconds % window_seconds
        publications[publication] += 1
        undated[publication] = undated.get(publication, 0) + (0 if published else 1)
        windows[publication, window] += 1
        counted = reference_article_entities(found, excluded)
        if view is View.ALIASED:
            aliased = alias_article(counted, aliases or shipped_alias_table())
            for key, sources in aliased.sources.items():
                merged[publication, key[0], key[1]].update(sources)
            counted = aliased.entities
        for key, entity in counted.items():
            mentions[publication, window, key[0], key[1]] += entity.mentions
            mentioned_in[publication, window, key[0], key[1]] += 1
    counts = Counts(publications=dict(publications), undated=undated, windows=dict(windows))
    counts.merged = {row: dict(sources) for row, sources in merged.items() if set(sources) != {(row[1], row[2])}}
    all_time: defaultdict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for where, count in mentions.items():
        counts.window_entities[where] = (count, mentioned_in[where])
        total = all_time[where[0], where[2], where[3]]
        total[0] += count
        total[1] += mentioned_in[where]
    counts.entities = {key: (m, a) for key, (m, a) in all_time.items()}
    return counts


def event_seconds(published_at: str) -> int:
    """Seconds since the UTC epoch (floored) of an ISO 8601 date or date-time: a date means its midnight, no
    zone means UTC (Python's own ISO parser, not the consumer's)."""
    if len(published_at) == 10:
        moment = datetime.combine(date.fromisoformat(published_at), datetime.min.time(), UTC)
    else:
        moment = datetime.fromisoformat(published_at)
        moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)


def sink_counts(sink: Store, view: View = View.RAW) -> Counts:
    """Read everything back through the sink's read API (all time, and per window with every entity), in
    ``view``."""
    counts = Counts()
    for summary in sink.publications():
        name = summary.publication
        counts.publications[name] = summary.articles
        counts.undated[name] = summary.undated_articles
        found = sink.entities(name, limit=0, view=view)
        assert found is not None
        for entity in found.entities:
            assert entity.text == reference_normalize(entity.text) and entity.text, entity
            key = (name, entity.text.casefold(), entity.label)
            assert key not in counts.entities, f"two all-time rows for {key}"
            counts.entities[key] = (entity.mentions, entity.articles)
            assert (entity.merged is None) == (view is View.RAW), entity
            if entity.merged:
                counts.merged[key] = {(form.text.casefold(), form.label): form.mentions for form in entity.merged}
        windows = sink.windows(name, limit=0, view=view)
        assert windows is not None
        for window in windows:
            start = int(window.start.timestamp())
            counts.windows[name, start] = window.articles
            for entity in window.entities:
                counts.window_entities[name, start, entity.text.casefold(), entity.label] = (
                    entity.mentions,
                    entity.articles,
                )
    return counts


def assert_counts_equal(actual: Counts, expected: Counts) -> None:
    """Exact equality, with a readable first difference."""
    for part in ("publications", "undated", "windows", "entities", "window_entities", "merged"):
        got, want = getattr(actual, part), getattr(expected, part)
        if got != want:
            missing = {k: v for k, v in want.items() if got.get(k) != v}
            extra = {k: v for k, v in got.items() if k not in want}
            sample = dict(list(missing.items())[:5])
            raise AssertionError(
                f"{part} differ: {len(missing)} wrong or missing (e.g. {sample} got "
                f"{ {k: got.get(k) for k in sample} }), {len(extra)} unexpected (e.g. {dict(list(extra.items())[:5])})"
            )


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """High watermarks of the non-empty partitions of ``topic``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        ends = {}
        for partition in range(partitions):
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high:
                ends[partition] = high
        return ends
    finally:
        consumer.close()


def poll_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)
