"""The fault suite: break things on purpose during real runs and prove the counts stay exact.

Each scenario produces real sample articles, runs the real consumer group (``python -m consumer``, a
process tree per supervisor), injects its fault, waits until the sink holds the end offset of every
partition, and compares everything the sink holds (per publication: articles; per entity: mentions and
articles; all time and per window) with counts computed in the test from spaCy run directly (cached, see
:mod:`tests.chaos.support`). Exact equality, nothing less. Run with ``make chaos`` (``pytest -m chaos``);
docs/reliability.md describes each scenario and the last results.
"""

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from consumer.settings import default_ner_processes
from consumer.worker import BUSY_REQUESTS_PER_PROCESS
from devservices.firestore import FirestoreEmulator, clear_emulator
from devservices.kafka import KafkaBroker, create_topics, temporary_broker
from devservices.process import free_port
from tests.chaos.support import (
    RssSampler,
    TcpProxy,
    alive,
    committed_offsets,
    expected_for,
    flushing_workers,
    log_fields,
    outcome,
    owned_partitions,
    producer_service,
    seeded_random,
    stored_offsets,
    wait_for_progress,
)
from tests.consumer.records import RawRecord, produce_each
from tests.consumer.support import (
    FIXED_TIMESTAMP_MS,
    STORE_ENV,
    ConsumerGroupRun,
    article_records,
    assert_counts_equal,
    consumer_group,
    crash_after_sink_write,
    end_offsets,
    group_env,
    group_store,
    merge_ends,
    poll_until,
    produce,
    sink_counts,
    wait_until_flushed,
)
from tests.producer.support import API_KEY, read_back
from tests.sinks.support import Store

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(2400)]

DAY = 86_400
PARTITIONS = list(range(16))
CONSUME_BATCH_SIZE = 8
"""Smaller than the default (16) so that a SIGTERM or a kill lands between batches often."""
MIB = 1024 * 1024

SinkUnderTest = tuple[dict[str, str], Store]


@pytest.fixture
def topic(fresh_topic: Callable[..., str]) -> str:
    """A fresh 16-partition articles topic on the shared broker, and its dead-letter topic."""
    return fresh_topic("chaos", dlq=True)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[SinkUnderTest]:
    path = tmp_path / "counts.sqlite3"
    sink = group_store(("sqlite", str(path)))
    yield {"SINK": "sqlite", "SQLITE_PATH": str(path), **STORE_ENV}, sink
    sink.close()


@pytest.fixture
def firestore(firestore_emulator: str) -> Iterator[SinkUnderTest]:
    """A Firestore project of its own on the shared emulator."""
    project = f"chaos-{uuid.uuid4().hex[:10]}"
    sink = group_store(("firestore", project))
    env = {"SINK": "firestore", "FIRESTORE_PROJECT": project, "FIRESTORE_EMULATOR_HOST": firestore_emulator}
    yield {**env, **STORE_ENV}, sink
    sink.close()
    clear_emulator(firestore_emulator, project)


@pytest.fixture
def private_broker() -> Iterator[KafkaBroker]:
    """A broker of this test alone (the scenario stops it), on free ports, removed afterwards."""
    with temporary_broker(f"kafka-chaos-{uuid.uuid4().hex[:8]}") as broker:
        yield broker


def chaos_env(bootstrap: str, topic: str, group: str, sink: dict[str, str], **settings: str | int) -> dict[str, str]:
    """The consumer group's environment: quick flushes (1 s) and failover (6 s session), small batches."""
    defaults: dict[str, str | int] = {"consume_batch_size": CONSUME_BATCH_SIZE, "crash_loop_restarts": 50}
    return group_env(bootstrap, topic, group, sink, **{**defaults, **settings})


def finish(
    run: ConsumerGroupRun, sink: Store, group: str, topic: str, ends: dict[int, int], timeout: float = 1200
) -> None:
    """Wait until every record produced is counted, then stop the group cleanly."""
    wait_until_flushed(sink, group, topic, ends, run, timeout=timeout)
    assert run.stop() == 0, run.log_tail()


def live_worker_pids(run: ConsumerGroupRun) -> dict[int, int]:
    return {index: pid for index, pid in run.worker_pids().items() if alive(pid)}


# --- kill -9 ---


def test_kill_9_of_random_workers_five_times_during_a_1000_article_run(
    kafka_bootstrap: str, topic: str, firestore: SinkUnderTest, sample_articles: list[dict[str, Any]], tmp_path: Path
) -> None:
    """4 workers on Firestore; the first flush dies between the sink write and the Kafka commit
    (tests/fault_injection), then a random flushing worker gets SIGKILL at 15%, 30%, 45%, 60% and 75%."""
    env, sink = firestore
    articles = sample_articles[:1000]
    expected = expected_for(articles, DAY)
    ends = produce(kafka_bootstrap, topic, article_records(articles))
    crash_file = tmp_path / "crash-after-sink-write"
    crash_file.touch()
    group = f"g-{topic}"
    choose = seeded_random("kill-9")
    kills: list[dict[str, Any]] = []
    settings: dict[str, str | int] = {"consumer_processes": 4}
    with consumer_group(
        crash_after_sink_write(chaos_env(kafka_bootstrap, topic, group, env, **settings), crash_file)
    ) as run:
        crashed = run.wait_for_event("injected_crash", timeout=300)[0]
        for share in (0.15, 0.30, 0.45, 0.60, 0.75):
            wait_for_progress(run, sink, group, topic, ends, share, timeout=900)
            poll_until(lambda: bool(flushing_workers(run.lines) & set(live_worker_pids(run))), 300, "a busy worker")
            victim = choose.choice(sorted(flushing_workers(run.lines) & set(live_worker_pids(run))))
            pid = run.worker_pids()[victim]
            os.kill(pid, signal.SIGKILL)
            counted = sum(stored_offsets(sink, group, topic, PARTITIONS).values())
            kills.append({"worker": victim, "pid": pid, "records_counted_before": counted})
        finish(run, sink, group, topic, ends)
    deaths = sorted((int(f["worker"]), f["exit_code"]) for f in run.events("worker_died"))
    assert deaths == sorted([(int(crashed["worker"]), "137"), *((kill["worker"], "-9") for kill in kills)])
    assert committed_offsets(kafka_bootstrap, group, topic, PARTITIONS) == {p: ends.get(p, 0) for p in PARTITIONS}
    actual = sink_counts(sink)
    outcome(
        "kill-9",
        len(articles),
        actual,
        expected,
        injected_crash={"worker": crashed["worker"], "partition": crashed["partition"]},
        kills=kills,
        fenced=len(run.events("fenced")),
    )
    assert_counts_equal(actual, expected)


# --- the broker stopped ---


def post_batch(client: httpx.Client, articles: list[dict[str, Any]]) -> None:
    answer = client.post("/articles/batch", json=articles)
    assert answer.status_code == 202, answer.text


def test_broker_stopped_for_20s_during_a_run(
    private_broker: KafkaBroker, sqlite: SinkUnderTest, sample_articles: list[dict[str, Any]], tmp_path: Path
) -> None:
    """HTTP ingest and 2 workers on a private broker that is stopped for 20 s mid-run: the service answers
    503 with Retry-After meanwhile, the client retries those articles after the restart, the workers resume."""
    env, sink = sqlite
    bootstrap = private_broker.bootstrap
    topic = "articles"
    create_topics(bootstrap, {topic: 16, f"{topic}.dlq": 1})
    # articles with a date: their window does not depend on when the service stamps the record
    articles = [article for article in sample_articles[:1000] if article.get("published_at")][:300]
    expected = expected_for(articles, DAY)
    group = "chaos-broker"
    service_env = {
        **{key: value for key, value in os.environ.items() if key not in {"API_KEYS", "API_KEYS_FILE"}},
        **env,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_TOPIC": topic,
        "PORT": str(free_port()),
        "API_KEYS": API_KEY,
        "PRODUCE_TIMEOUT": "3s",
        "RETRY_AFTER": "2",
        "LOG_LEVEL": "warning",
    }
    refused: list[dict[str, Any]] = []
    with (
        producer_service(service_env, tmp_path / "producer.log") as service,
        httpx.Client(base_url=service.url, headers={"X-API-Key": API_KEY}, timeout=60) as client,
        consumer_group(chaos_env(bootstrap, topic, group, env, consumer_processes=2)) as run,
    ):
        for start in range(0, 150, 50):
            post_batch(client, articles[start : start + 50])
        run.wait_for_event("flushed", count=5, timeout=300)

        private_broker.stop()
        stopped = time.monotonic()
        during = iter(articles[150:])
        while time.monotonic() - stopped < 20:
            article = next(during)
            answer = client.post("/articles", json=article)
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "2"
            refused.append(article)
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["kafka"] != "ok"
        private_broker.start()

        for article in refused:  # what a client does after a 503: send the same article again
            for _ in range(60):
                answer = client.post("/articles", json=article)
                if answer.status_code == 202:
                    break
                assert answer.status_code == 503, answer.text
                time.sleep(1)
            assert answer.status_code == 202, answer.text
        rest = articles[150 + len(refused) :]
        for start in range(0, len(rest), 50):
            post_batch(client, rest[start : start + 50])
        ends = end_offsets(bootstrap, topic, 16)
        assert sum(ends.values()) == len(articles), "a refused article was stored after all"
        finish(run, sink, group, topic, ends)
    keys = [record.key() for record in read_back(bootstrap, topic, len(articles))]
    assert len(set(keys)) == len(articles)
    actual = sink_counts(sink)
    outcome(
        "broker-outage",
        len(articles),
        actual,
        expected,
        outage_seconds=20,
        answered_503_then_resent=len(refused),
        kafka_commit_failures=len(run.events("kafka_commit_failed")),
        lost_partitions=len(run.events("lost")),
    )
    assert_counts_equal(actual, expected)


# --- Firestore unavailable ---


@pytest.fixture
def private_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[FirestoreEmulator]:
    emulator = FirestoreEmulator(name=f"firestore-chaos-{uuid.uuid4().hex[:8]}", port=free_port())
    emulator.start()
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator.host)  # the test's own sink reads it directly
    try:
        yield emulator
    finally:
        pid = emulator.running_pid()
        if pid is not None:
            os.killpg(pid, signal.SIGCONT)
        emulator.stop()
        emulator.log_file.unlink(missing_ok=True)


def test_firestore_unreachable_then_frozen_for_20s_each_during_a_run(
    kafka_bootstrap: str, topic: str, private_emulator: FirestoreEmulator, sample_articles: list[dict[str, Any]]
) -> None:
    """Workers reach a private emulator through a TCP proxy. Outage 1 (20 s): the proxy refuses and resets
    every connection (Firestore unreachable). Outage 2 (20 s): the emulator is frozen with SIGSTOP (Firestore
    hangs). The emulator keeps its data through both (a restart would lose it: it is in memory)."""
    project = f"chaos-{uuid.uuid4().hex[:10]}"
    proxy = TcpProxy(private_emulator.port).start()
    env = {"SINK": "firestore", "FIRESTORE_PROJECT": project, "FIRESTORE_EMULATOR_HOST": proxy.host, **STORE_ENV}
    direct = group_store(("firestore", project))  # bypasses the proxy
    articles = sample_articles[:400]
    expected = expected_for(articles, DAY)
    ends = produce(kafka_bootstrap, topic, article_records(articles))
    group = f"g-{topic}"
    checks = 0
    with consumer_group(chaos_env(kafka_bootstrap, topic, group, env, consumer_processes=2)) as run:
        assert run.process is not None
        with RssSampler(run.process.pid) as rss:
            wait_for_progress(run, direct, group, topic, ends, 0.15, timeout=600)
            cut_at = time.monotonic()
            proxy.cut()
            marker = len(run.lines)
            while time.monotonic() - cut_at < 20:
                committed = committed_offsets(kafka_bootstrap, group, topic, PARTITIONS)
                stored = stored_offsets(direct, group, topic, PARTITIONS)
                assert all(committed[p] <= stored[p] for p in PARTITIONS), (committed, stored)
                checks += 1
                time.sleep(1)
            cut_lines = run.lines[marker:]
            proxy.restore()
            restored_at = time.monotonic()

            wait_for_progress(run, direct, group, topic, ends, 0.55, timeout=600)
            pid = private_emulator.running_pid()
            assert pid is not None
            os.killpg(pid, signal.SIGSTOP)
            frozen_at = time.monotonic()
            time.sleep(20)
            os.killpg(pid, signal.SIGCONT)
            thawed_at = time.monotonic()
            finish(run, direct, group, topic, ends)

    failures = [log_fields(line) for line in cut_lines if "event=flush_failed" in line]
    assert failures, "no flush failed while Firestore was unreachable:\n" + "\n".join(cut_lines[-30:])
    growth: dict[tuple[str, str], list[int]] = {}
    for failure in failures:
        growth.setdefault((failure["worker"], failure["partition"]), []).append(int(failure["pending_articles"]))
    # a partition that cannot flush is paused: what is still added to its pending counts is what its worker had
    # already taken from Kafka, at most one consume batch and the NER requests a worker keeps before it pauses
    taken = CONSUME_BATCH_SIZE + BUSY_REQUESTS_PER_PROCESS * default_ner_processes()
    assert all(max(seen) - seen[0] <= taken for seen in growth.values()), (taken, growth)
    before, during_cut = rss.peak(0, cut_at), rss.peak(cut_at, restored_at)
    during_freeze = rss.peak(frozen_at, thawed_at)
    assert max(during_cut, during_freeze) <= before + 100 * MIB, (before, during_cut, during_freeze)
    actual = sink_counts(direct)
    direct.close()
    outcome(
        "firestore-outage",
        len(articles),
        actual,
        expected,
        outages="20 s unreachable (connections refused and reset), then 20 s frozen (SIGSTOP)",
        flush_failures_while_unreachable=len(failures),
        commit_invariant_checks=checks,
        worker_rss_peak_mib={
            "before": round(before / MIB),
            "unreachable": round(during_cut / MIB),
            "frozen": round(during_freeze / MIB),
        },
        max_pending_articles_while_failing=max(max(seen) for seen in growth.values()),
    )
    assert_counts_equal(actual, expected)


# --- SIGTERM ---


def test_sigterm_under_load_flushes_commits_and_a_restart_resumes(
    kafka_bootstrap: str, topic: str, sqlite: SinkUnderTest, sample_articles: list[dict[str, Any]]
) -> None:
    """SIGTERM to the supervisor of 4 busy workers: each flushes and commits every partition and exits 0;
    the group started again counts the rest, exactly."""
    env, sink = sqlite
    articles = sample_articles[:300]
    expected = expected_for(articles, DAY)
    ends = produce(kafka_bootstrap, topic, article_records(articles))
    group = f"g-{topic}"
    with consumer_group(chaos_env(kafka_bootstrap, topic, group, env, consumer_processes=4)) as first:
        wait_for_progress(first, sink, group, topic, ends, 0.3, timeout=600)
        signalled = time.monotonic()
        assert first.stop(timeout=120) == 0, first.log_tail()
        stop_seconds = round(time.monotonic() - signalled, 1)
    stopped = first.events("worker_stopped")
    assert sorted((f["worker"], f["exit_code"]) for f in stopped) == [(str(w), "0") for w in range(4)]
    assert not first.events("flush_abandoned") and not first.events("dropped")
    stored = stored_offsets(sink, group, topic, PARTITIONS)
    assert sum(stored.values()) < sum(ends.values()), "the group was stopped with work left"
    committed = committed_offsets(kafka_bootstrap, group, topic, PARTITIONS)
    commit_failed = {int(f["partition"]) for f in first.events("kafka_commit_failed")}
    for partition in PARTITIONS:  # the sink holds the truth; a commit Kafka refused is only logged (lag metric)
        if partition in commit_failed:
            assert committed[partition] <= stored[partition]
        else:
            assert committed[partition] == stored[partition], (partition, committed, stored)

    with consumer_group(chaos_env(kafka_bootstrap, topic, group, env, consumer_processes=4)) as second:
        poll_until(
            lambda: {f["partition"] for f in second.events("assigned")} == {str(p) for p in PARTITIONS},
            300,
            "all assigned",
        )
        resumed: dict[int, str] = {}
        for fields in second.events("assigned"):  # the first assignment of each partition, before any flush
            resumed.setdefault(int(fields["partition"]), fields["next_offset"])
        assert resumed == {p: str(stored[p]) if stored[p] else "beginning" for p in PARTITIONS}
        finish(second, sink, group, topic, ends)
    actual = sink_counts(sink)
    outcome(
        "sigterm",
        len(articles),
        actual,
        expected,
        records_counted_at_sigterm=sum(stored.values()),
        seconds_from_sigterm_to_exit=stop_seconds,
        kafka_commit_failures=len(commit_failed),
    )
    assert_counts_equal(actual, expected)


# --- rebalance storm ---


def test_rebalance_storm_workers_added_and_removed_during_a_run(
    kafka_bootstrap: str, topic: str, sqlite: SinkUnderTest, sample_articles: list[dict[str, Any]]
) -> None:
    """A group of 2 workers; 6 times, another supervisor with 1 or 2 workers joins the same group, takes
    partitions, flushes, and leaves: cleanly (SIGTERM) or not (SIGKILL of its whole process tree, so its
    partitions move after the session timeout). 60 articles arrive while each newcomer is in the group."""
    env, sink = sqlite
    articles = sample_articles[:360]
    expected = expected_for(articles, DAY)
    chunks = [articles[i : i + 60] for i in range(0, len(articles), 60)]
    group = f"g-{topic}"
    ends: dict[int, int] = {}
    storm: list[dict[str, Any]] = []
    unclean_stops: list[str] = []
    with consumer_group(chaos_env(kafka_bootstrap, topic, group, env, consumer_processes=2)) as base:
        for cycle, chunk in enumerate(chunks):
            extra_workers = 1 + cycle % 2
            clean = cycle % 3 != 2
            with consumer_group(
                chaos_env(kafka_bootstrap, topic, group, env, consumer_processes=extra_workers)
            ) as extra:
                extra.wait_for_event("assigned", timeout=300)
                # produced once the newcomer owns partitions, so it has articles of its own to flush (produced
                # before, the base group could count them all while the newcomer was still joining)
                ends = merge_ends(ends, produce(kafka_bootstrap, topic, article_records(chunk)))
                extra.wait_for_event("flushed", timeout=300)
                if clean:
                    exit_code = extra.stop()
                    storm.append({"joined_workers": extra_workers, "left": "SIGTERM", "exit_code": exit_code})
                    if exit_code != 0:
                        unclean_stops.append(extra.log_tail(40))
                else:
                    extra.kill()
                    storm.append({"joined_workers": extra_workers, "left": "SIGKILL"})
        finish(base, sink, group, topic, ends)
    assert base.events("revoked") and base.events("assigned")
    actual = sink_counts(sink)
    outcome(
        "rebalance-storm",
        len(articles),
        actual,
        expected,
        cycles=storm,
        base_assignments=len(base.events("assigned")),
        base_revocations=len(base.events("revoked")),
        fenced=len(base.events("fenced")),
    )
    assert_counts_equal(actual, expected)
    # every supervisor asked to stop must exit 0, its workers having flushed, committed and closed
    assert not unclean_stops, "\n\n".join(unclean_stops)


# --- a zombie worker ---


def test_a_zombie_worker_is_fenced_and_nothing_is_counted_twice(
    kafka_bootstrap: str, topic: str, firestore: SinkUnderTest, sample_articles: list[dict[str, Any]]
) -> None:
    """SIGSTOP a busy worker past its 6 s session; the group gives its partitions to the other worker, which
    flushes them; SIGCONT: the zombie's next write is refused by the offset document's precondition."""
    env, sink = firestore
    articles = sample_articles[:600]
    expected = expected_for(articles, DAY)
    ends = produce(kafka_bootstrap, topic, article_records(articles))
    group = f"g-{topic}"
    attempts: list[dict[str, Any]] = []
    with consumer_group(chaos_env(kafka_bootstrap, topic, group, env, consumer_processes=2)) as run:
        poll_until(lambda: flushing_workers(run.lines) == {0, 1}, 300, "both workers flushing")
        while not any(attempt["fenced"] for attempt in attempts) and len(attempts) < 3:
            attempts.append(zombie_attempt(run))
        finish(run, sink, group, topic, ends)
    assert any(attempt["fenced"] for attempt in attempts), attempts
    actual = sink_counts(sink)
    outcome("zombie", len(articles), actual, expected, attempts=attempts)
    assert_counts_equal(actual, expected)


def zombie_attempt(run: ConsumerGroupRun) -> dict[str, Any]:
    """Freeze the worker that flushed last, wait until its partitions were flushed by the other, resume it."""
    zombie = int(run.wait_for_event("flushed")[-1]["worker"])
    other = 1 - zombie
    taken = owned_partitions(run.lines, zombie)
    pid = run.worker_pids()[zombie]
    os.kill(pid, signal.SIGSTOP)
    frozen = len(run.lines)
    try:

        def flushed_by_other() -> bool:
            fields = [log_fields(line) for line in run.lines[frozen:]]
            return any(
                f.get("worker") == str(other) and f.get("event") == "flushed" and int(f["partition"]) in taken
                for f in fields
            )

        poll_until(flushed_by_other, 120, "the other worker flushing a partition of the zombie")
    finally:
        os.kill(pid, signal.SIGCONT)
    poll_until(
        lambda: any(
            log_fields(line).get("event") in {"fenced", "lost"} and f"worker={zombie} " in line
            for line in run.lines[frozen:]
        ),
        120,
        "the zombie noticing",
    )
    time.sleep(2)
    after = [log_fields(line) for line in run.lines[frozen:] if f"worker={zombie} " in line]
    fenced = [f for f in after if f.get("event") == "fenced"]
    return {
        "zombie": zombie,
        "partitions_it_held": sorted(taken),
        "fenced": len(fenced),
        "fenced_dropped_articles": sum(int(f["dropped_articles"]) for f in fenced),
        "lost": len([f for f in after if f.get("event") == "lost"]),
    }


# --- kill -9 with one partition's records in flight in several places ---


def test_kill_9_of_ner_processes_and_of_the_hot_partitions_owner_with_its_records_in_flight(
    kafka_bootstrap: str, topic: str, sqlite: SinkUnderTest, sample_articles: list[dict[str, Any]]
) -> None:
    """Every record in one partition (as an unkeyed burst lands), 4 workers and 2 NER processes: the partition's
    owner keeps pieces of many articles in both NER processes at once. Both NER processes get SIGKILL (each
    twice, alternately), then the owner itself, while records of the partition wait for NER, are counted but
    not flushed, and are being flushed; the counts stay exact."""
    env, sink = sqlite
    articles = sample_articles[:400]
    expected = expected_for(articles, DAY)
    records = [RawRecord(0, key, value, timestamp=FIXED_TIMESTAMP_MS) for key, value in article_records(articles)]
    assert all(not isinstance(result, str) for result in produce_each(kafka_bootstrap, topic, records))
    ends = {0: len(records)}
    group = f"g-{topic}"
    settings: dict[str, str | int] = {"consumer_processes": 4, "ner_processes": 2}
    kills: list[dict[str, Any]] = []
    with consumer_group(chaos_env(kafka_bootstrap, topic, group, env, **settings)) as run:
        for share, victim in ((0.1, "ner=0"), (0.25, "ner=1"), (0.4, "ner=0"), (0.55, "ner=1"), (0.7, "owner")):
            wait_for_progress(run, sink, group, topic, ends, share, timeout=900)
            if victim == "owner":
                owner = next(f["worker"] for f in reversed(run.events("flushed")) if f.get("partition") == "0")
                pid = run.worker_pids()[int(owner)]
                victim = f"worker={owner}"
            else:
                pid = ner_pids(run)[int(victim.split("=")[1])]
            os.kill(pid, signal.SIGKILL)
            kills.append(
                {"process": victim, "pid": pid, "records_counted_before": stored_offsets(sink, group, topic, [0])}
            )
        finish(run, sink, group, topic, ends)
    assert len(run.events("ner_died")) == 4 and len(run.events("worker_died")) == 1, run.log_tail()
    assert run.events("ner_process_lost"), "the workers saw the NER processes go"
    assert committed_offsets(kafka_bootstrap, group, topic, [0]) == ends
    actual = sink_counts(sink)
    outcome("kill-9-in-flight", len(articles), actual, expected, kills=kills)
    assert_counts_equal(actual, expected)


def ner_pids(run: ConsumerGroupRun) -> dict[int, int]:
    """Current pid of each NER process index (the latest start)."""
    return {int(fields["ner"]): int(fields["pid"]) for fields in run.events("ner_started")}
