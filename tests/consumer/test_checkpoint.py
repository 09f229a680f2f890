"""The flush-and-commit protocol (Checkpointer) against a real SQLite sink; Kafka is a recording fake here
(the real-broker behaviour is covered by tests/consumer/test_group.py)."""

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from common.sinks.base import (
    CountWriter,
    OffsetLease,
    PartitionFlush,
    PublicationEntities,
    PublicationSummary,
    SinkFlushTooLarge,
    SinkUnavailable,
    WindowSummary,
)
from consumer.checkpoint import Checkpointer
from consumer.dead_letters import DeadLetters
from consumer.entities import ArticleEntity
from consumer.pauses import Pauses
from consumer.settings import ConsumerSettings
from consumer.stats import WorkerStats
from tests.sinks.support import Store, open_store

TOPIC, GROUP = "articles", "g"
WINDOW = 1_577_836_800


class FakeKafka:
    """Records what the checkpointer asks of its consumer; checks each commit follows the sink write. The
    results of asynchronous commits wait for :meth:`serve_commit_results` (librdkafka: the next ``consume``)."""

    def __init__(self, sink: CountWriter) -> None:
        self.sink = sink
        self.assigned: dict[int, int] = {}
        self.paused: set[int] = set()
        self.seeks: list[tuple[int, int]] = []
        self.commits: list[tuple[int, int]] = []
        self.commit_fails = False
        self.synchronous_failures: list[KafkaError] = []
        """Errors the next synchronous commits fail with, one each, before they succeed again."""
        self.synchronous_commits = 0
        self.commit_results: list[tuple[KafkaError | None, list[TopicPartition]]] = []
        self.low_watermark = 0

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned.update({tp.partition: tp.offset for tp in partitions})

    def incremental_unassign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.assigned.pop(tp.partition)

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused.update(tp.partition for tp in partitions)

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused.difference_update(tp.partition for tp in partitions)

    def seek(self, partition: TopicPartition) -> None:
        self.seeks.append((partition.partition, partition.offset))

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> list[TopicPartition] | None:
        failure = KafkaError(KafkaError.REBALANCE_IN_PROGRESS) if self.commit_fails else None
        if asynchronous:
            self.commit_results.append((failure, offsets))
        else:
            self.synchronous_commits += 1
            if failure is None and self.synchronous_failures:
                failure = self.synchronous_failures.pop(0)
            if failure is not None:
                raise KafkaException(failure)
        if failure is None:
            for tp in offsets:
                stored = self.sink.read_offset(GROUP, TOPIC, tp.partition).next_offset
                assert stored == tp.offset, "a Kafka commit must follow the sink write of the same offset"
                self.commits.append((tp.partition, tp.offset))
        return None if asynchronous else offsets

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float, cached: bool) -> tuple[int, int]:
        return self.low_watermark, 1_000_000

    def serve_commit_results(self, checkpointer: Checkpointer) -> None:
        results, self.commit_results = self.commit_results, []
        for error, offsets in results:
            checkpointer.on_commit(error, offsets)


class FlakySink(CountWriter):
    """A real sink's writer that can be told to fail like an unreachable one; reads go to its reader."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.down = False
        self.too_large = False
        self.too_large_above: int | None = None
        """With ``too_large``: only flushes of more articles than this are too large (None: every flush)."""
        self.writes = 0
        self.timeouts: list[float | None] = []

    def read_offset(self, group_id: str, topic: str, partition: int, *, timeout: float | None = None) -> OffsetLease:
        self.timeouts.append(timeout)
        if self.down:
            raise SinkUnavailable("sink down (test)")
        return self.inner.read_offset(group_id, topic, partition)

    def write(self, flush: PartitionFlush, lease: OffsetLease, *, timeout: float | None = None) -> OffsetLease:
        self.timeouts.append(timeout)
        if self.down:
            raise SinkUnavailable("sink down (test)")
        if self.too_large and (self.too_large_above is None or flush_articles(flush) > self.too_large_above):
            raise SinkFlushTooLarge("too large (test)")
        self.writes += 1
        return self.inner.write(flush, lease)

    def publications(self) -> list[PublicationSummary]:
        return self.inner.publications()

    def entities(self, publication: str, **query: Any) -> PublicationEntities | None:
        return self.inner.entities(publication, **query)

    def windows(self, publication: str, **query: Any) -> list[WindowSummary] | None:
        return self.inner.windows(publication, **query)

    def close(self) -> None:
        self.inner.close()


def flush_articles(flush: PartitionFlush) -> int:
    return sum(window.articles for delta in flush.publications.values() for window in delta.windows.values())


class FakeDeadLetters:
    def __init__(self) -> None:
        self.delivered = True
        self.waits: list[float] = []

    def deliver(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return self.delivered


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Harness:
    """One worker's checkpointer with its fakes."""

    def __init__(self, sink: CountWriter, **settings: Any) -> None:
        self.kafka = FakeKafka(sink)
        self.dead_letters = FakeDeadLetters()
        self.clock = Clock()
        self.stats = WorkerStats(0)
        config = ConsumerSettings(
            kafka_topic=TOPIC,
            kafka_group_id=GROUP,
            window="1h",
            flush_interval="10s",
            sink_retry_initial="1s",
            sink_retry_max="8s",
            final_flush_timeout="20s",
            **settings,
        )
        self.checkpointer = Checkpointer(
            cast(Consumer, self.kafka),
            sink,
            cast(DeadLetters, self.dead_letters),
            Pauses(cast(Consumer, self.kafka), TOPIC),
            config,
            self.stats,
            clock=self.clock,
            sleep=self.clock.sleep,
        )

    def assign(self, *partitions: int) -> None:
        self.checkpointer.on_assign(cast(Consumer, self.kafka), [TopicPartition(TOPIC, p) for p in partitions])

    def admit(self, partition: int, offset: int) -> int | None:
        """Take the message at ``offset`` as the worker does when it is consumed: its epoch, or None (skipped)."""
        return self.checkpointer.admit(partition, offset)

    def count(self, partition: int, offset: int, *names: str, epoch: int | None = None) -> bool:
        """Count one article of publication "P" mentioning ``names`` (consumed now, or earlier under ``epoch``);
        False if the message was skipped."""
        if epoch is None:
            epoch = self.admit(partition, offset)
            if epoch is None:
                return False
        pending = self.checkpointer.pending_for(partition, epoch)
        if pending is None:
            return False
        entities = {(n.casefold(), "PERSON"): ArticleEntity("PERSON", 1, Counter({n: 1})) for n in names}
        pending.add_article(offset, "P", WINDOW, entities)
        self.flush_due()
        return True

    def skip(self, partition: int, offset: int) -> None:
        """A dead letter: consumed, only its offset moves on."""
        epoch = self.admit(partition, offset)
        assert epoch is not None
        pending = self.checkpointer.pending_for(partition, epoch)
        assert pending is not None
        pending.skip(offset)

    def flush_due(self) -> None:
        self.checkpointer.flush_due(self.checkpointer.budget())

    def after(self, seconds: float) -> None:
        self.clock.now += seconds
        self.kafka.serve_commit_results(self.checkpointer)
        self.flush_due()


def sqlite_store(tmp_path: Path) -> Store:
    return open_store(("sqlite", str(tmp_path / "counts.sqlite3")), kafka_group_id=GROUP)


@pytest.fixture
def sink(tmp_path: Path) -> FlakySink:
    return FlakySink(sqlite_store(tmp_path))


@pytest.fixture(params=["sqlite", pytest.param("firestore", marks=pytest.mark.integration)])
def any_sink(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FlakySink]:
    """Both real sinks, for the fencing tests (Firestore: a project of its own on the emulator)."""
    if request.param == "sqlite":
        yield FlakySink(sqlite_store(tmp_path))
        return
    from devservices.firestore import clear_emulator

    host = request.getfixturevalue("firestore_emulator")
    project = f"checkpoint-{uuid.uuid4().hex[:10]}"
    store = open_store(("firestore", project), kafka_group_id=GROUP)
    yield FlakySink(store)
    store.close()
    clear_emulator(host, project)


def articles(sink: FlakySink) -> int:
    return sum(summary.articles for summary in sink.publications())


def test_assignment_starts_at_the_sinks_offset_or_the_beginning(sink: FlakySink) -> None:
    first = Harness(sink)
    first.assign(0, 1)
    assert first.kafka.assigned == {0: OFFSET_BEGINNING, 1: OFFSET_BEGINNING}
    assert first.count(1, 0, "Merkel")
    first.after(10)
    second = Harness(sink)
    second.assign(0, 1)
    assert second.kafka.assigned == {0: OFFSET_BEGINNING, 1: 1}


def test_a_flush_waits_for_the_interval_then_writes_and_only_then_commits(sink: FlakySink) -> None:
    worker = Harness(sink)
    worker.assign(0)
    worker.count(0, 0, "Merkel", "Macron")
    worker.count(0, 1, "Merkel")
    worker.after(9)
    assert (sink.writes, worker.kafka.commits) == (0, [])
    worker.after(1)
    assert (sink.writes, worker.kafka.commits) == (1, [(0, 2)])
    assert sink.read_offset(GROUP, TOPIC, 0).next_offset == 2
    assert {(e.text, e.mentions, e.articles) for e in sink.entities("P", limit=0).entities} == {  # type: ignore[union-attr]
        ("Merkel", 2, 2),
        ("Macron", 1, 1),
    }
    worker.after(60)  # nothing new: no write
    assert sink.writes == 1


def test_a_waiting_worker_is_told_when_the_next_flush_or_retry_is_due(sink: FlakySink) -> None:
    worker = Harness(sink)
    worker.assign(0, 1)
    assert worker.checkpointer.seconds_until_due() is None  # nothing pending: wait for messages only
    worker.after(4)
    worker.count(0, 0, "A")
    assert worker.checkpointer.seconds_until_due() == 6.0  # 10 s after the assignment (the last flush)
    worker.after(6)
    assert (sink.writes, worker.checkpointer.seconds_until_due()) == (1, None)  # the commit was confirmed
    sink.down = True
    worker.count(1, 0, "B")  # partition 1's interval passed long ago: flushed at once, fails, retried in 1 s
    assert (worker.stats.sink_failures, worker.checkpointer.seconds_until_due()) == (1, 1.0)
    worker.after(1)  # the retry fails too: the next one is 2 s later, not now (a worker must not spin)
    assert (worker.stats.sink_failures, worker.checkpointer.seconds_until_due()) == (2, 2.0)


def test_reaching_the_size_bound_flushes_at_once(sink: FlakySink) -> None:
    worker = Harness(sink, max_pending_entities=3)
    worker.assign(0)
    worker.count(0, 0, "A", "B")
    assert sink.writes == 0
    worker.count(0, 1, "C")
    assert (sink.writes, worker.kafka.commits) == (1, [(0, 2)])


def test_sink_outage_pauses_the_partition_keeps_counts_and_retries_with_backoff(sink: FlakySink) -> None:
    worker = Harness(sink)
    worker.assign(0, 1)
    worker.count(0, 0, "A")
    worker.count(1, 0, "B")
    sink.down = True
    worker.after(10)
    assert worker.kafka.paused == {0, 1} and worker.kafka.commits == []
    assert worker.count(0, 1, "A")  # messages already fetched in the batch are still counted
    worker.after(0.5)
    worker.after(1)  # first retry (1s): still down, next in 2s
    worker.after(1)
    assert worker.stats.sink_failures == 4
    sink.down = False
    worker.after(1)
    assert worker.kafka.paused == set()
    assert sorted(worker.kafka.commits) == [(0, 2), (1, 1)]
    assert articles(sink) == 3


def test_dead_letters_not_acknowledged_hold_the_flush_back(sink: FlakySink) -> None:
    worker = Harness(sink)
    worker.assign(0)
    worker.skip(0, 0)
    worker.dead_letters.delivered = False
    worker.after(10)
    assert (sink.writes, worker.kafka.paused, worker.kafka.commits) == (0, {0}, [])
    worker.dead_letters.delivered = True
    worker.after(1)
    assert (sink.writes, worker.kafka.paused, worker.kafka.commits) == (1, set(), [(0, 1)])


def test_a_zombie_cannot_write_after_another_worker_took_the_partition(any_sink: FlakySink) -> None:
    sink = any_sink
    zombie = Harness(sink)
    zombie.assign(0)
    zombie.count(0, 0, "A")
    zombie.after(10)  # flushed: lease v1 at offset 1
    zombie.count(0, 1, "A")
    zombie.count(0, 2, "A")  # pending, then the zombie stalls and the group moves partition 0
    stale = zombie.admit(0, 3)  # consumed before the zombie's flush

    owner = Harness(sink)
    owner.assign(0)
    assert owner.kafka.assigned == {0: 1}
    owner.count(0, 1, "A")
    owner.after(10)  # lease v2 at offset 2

    zombie.after(10)  # the zombie wakes up and flushes with its stale lease
    assert zombie.stats.fenced == 1
    assert zombie.kafka.commits == [(0, 1)]  # its second flush was never committed
    assert zombie.kafka.seeks == [(0, 2)]  # it re-read the stored offset and seeks there
    assert not zombie.count(0, 3, "A", epoch=stale)  # the rest of its batch is stale
    assert articles(sink) == 2
    a = sink.entities("P", limit=0).entities[0]  # type: ignore[union-attr]
    assert (a.mentions, a.articles) == (2, 2)


def test_two_new_owners_of_a_never_counted_partition_cannot_both_write(any_sink: FlakySink) -> None:
    sink = any_sink
    first, second = Harness(sink), Harness(sink)
    first.assign(5)
    second.assign(5)
    first.count(5, 0, "A")
    second.count(5, 0, "A")
    second.count(5, 1, "A")
    second.after(10)
    first.after(10)
    assert (first.stats.fenced, second.stats.fenced) == (1, 0)
    assert first.kafka.seeks == [(5, 2)]
    assert articles(sink) == 2


def test_revoke_flushes_before_returning(sink: FlakySink) -> None:
    worker = Harness(sink)
    worker.assign(0, 1)
    worker.count(1, 0, "A")
    worker.checkpointer.on_revoke(cast(Consumer, worker.kafka), [TopicPartition(TOPIC, 1)])
    assert (worker.kafka.commits, worker.kafka.assigned) == ([(1, 1)], {0: OFFSET_BEGINNING})
    assert articles(sink) == 1


def test_revoke_with_the_sink_down_gives_up_after_the_final_flush_timeout_without_committing(sink: FlakySink) -> None:
    worker = Harness(sink)
    worker.assign(0)
    worker.count(0, 0, "A")
    sink.down = True
    sink.timeouts.clear()
    worker.checkpointer.on_revoke(cast(Consumer, worker.kafka), [TopicPartition(TOPIC, 0)])
    # retried with backoff (1, 2, 4, 8 s) while the next retry fits the 20 s budget, never past it
    assert (worker.clock.now, worker.stats.sink_failures) == (1015.0, 5)
    assert worker.kafka.commits == [] and worker.kafka.assigned == {}
    assert [round(t or 0.0, 1) for t in sink.timeouts] == [20.0, 19.0, 17.0, 13.0, 5.0]  # each call within what is left
    sink.down = False
    assert sink.read_offset(GROUP, TOPIC, 0).next_offset is None


def test_lost_partitions_write_nothing(sink: FlakySink) -> None:
    worker = Harness(sink)
    worker.assign(0)
    worker.count(0, 0, "A")
    worker.checkpointer.on_lost(cast(Consumer, worker.kafka), [TopicPartition(TOPIC, 0)])
    worker.after(60)
    worker.checkpointer.flush_all()
    assert (sink.writes, worker.kafka.commits, worker.kafka.assigned) == (0, [], {})
    assert not worker.count(0, 1, "A")


def test_an_unreadable_offset_keeps_the_partition_paused_until_it_is_read(sink: FlakySink) -> None:
    earlier = Harness(sink)
    earlier.assign(0)
    earlier.count(0, 0, "A")
    earlier.after(10)
    sink.down = True
    worker = Harness(sink)
    worker.assign(0)
    assert worker.kafka.paused == {0}
    assert not worker.count(0, 0, "A")  # nothing is counted without a lease
    sink.down = False
    worker.after(1)
    assert (worker.kafka.paused, worker.kafka.seeks) == (set(), [(0, 1)])
    assert worker.count(0, 1, "A")


def test_a_flush_too_large_for_the_sink_is_dropped_rewound_and_the_bound_halved(sink: FlakySink) -> None:
    worker = Harness(sink, max_pending_entities=4)
    worker.assign(0)
    worker.count(0, 0, "A")
    worker.count(0, 1, "B")
    sink.too_large = True
    worker.after(10)
    assert (worker.kafka.seeks, worker.kafka.commits) == ([(0, OFFSET_BEGINNING)], [])
    sink.too_large = False
    worker.count(0, 0, "A")
    worker.count(0, 1, "B")  # two pending entities reach the halved bound
    assert worker.kafka.commits == [(0, 2)]
    assert articles(sink) == 2


def test_an_article_too_large_alone_is_dead_lettered_when_it_comes_again_and_the_bound_recovers(
    sink: FlakySink,
) -> None:
    worker = Harness(sink, max_pending_entities=4)
    worker.assign(0)
    worker.count(0, 0, "A")
    worker.count(0, 1, "B")
    sink.too_large, sink.too_large_above = True, 1  # any flush of 2 articles or more is too large
    worker.after(10)
    assert worker.kafka.seeks == [(0, OFFSET_BEGINNING)]  # the bound is halved to 2
    worker.count(0, 0, "A")
    worker.count(0, 1, "B")  # bound reached, flushed at once, still too large: halved to 1, rewound
    assert worker.kafka.seeks == [(0, OFFSET_BEGINNING)] * 2
    assert worker.count(0, 0, "A")  # bound 1: one article per flush; this one fits (and the bound doubles)
    assert worker.kafka.commits == [(0, 1)]
    sink.too_large_above = 0  # now the next article is too large on its own
    assert worker.count(0, 1, "HUGE")
    worker.after(10)
    assert worker.kafka.seeks[-1] == (0, 1)
    reason = worker.checkpointer.dead_letter_reason(0, 1)
    assert reason is not None and reason.startswith("too large for one sink write")
    sink.too_large = False
    worker.skip(0, 1)  # the worker dead-letters it when it comes again
    worker.after(10)
    assert worker.kafka.commits == [(0, 1), (0, 2)]
    for offset in range(2, 8):  # good flushes double the bound back: 2, 4, 4, ...
        worker.count(0, offset, f"E{offset}")
        worker.after(10)
    assert worker.checkpointer.size_bound == 4
    assert articles(sink) == 7


def test_shutdown_flushes_every_partition(sink: FlakySink) -> None:
    worker = Harness(sink)
    worker.assign(0, 1, 2)
    worker.count(0, 0, "A")
    worker.count(2, 0, "B")
    worker.checkpointer.flush_all()
    assert sorted(worker.kafka.commits) == [(0, 1), (2, 1)]


def test_commits_are_asynchronous_while_a_partition_is_kept_and_synchronous_when_it_is_given_up(
    sink: FlakySink,
) -> None:
    worker = Harness(sink)
    worker.assign(0, 1)
    worker.count(0, 0, "A")
    worker.count(1, 0, "B")
    worker.checkpointer.on_revoke(cast(Consumer, worker.kafka), [TopicPartition(TOPIC, 1)])
    assert (worker.kafka.commits, worker.kafka.synchronous_commits) == ([(1, 1)], 1)
    worker.after(10)
    assert (worker.kafka.commits, worker.kafka.synchronous_commits) == ([(1, 1), (0, 1)], 1)


def test_an_unconfirmed_asynchronous_commit_is_made_again_synchronously_before_handing_over(sink: FlakySink) -> None:
    worker = Harness(sink)
    worker.assign(0)
    worker.count(0, 0, "A")
    worker.clock.now += 10
    worker.flush_due()  # flushed and committed asynchronously; the result is not served yet
    worker.checkpointer.on_revoke(cast(Consumer, worker.kafka), [TopicPartition(TOPIC, 0)])
    assert (worker.kafka.commits, worker.kafka.synchronous_commits) == ([(0, 1), (0, 1)], 1)


def test_a_hand_over_commit_is_sent_again_after_a_retriable_failure_and_not_after_another(sink: FlakySink) -> None:
    worker = Harness(sink)
    worker.assign(0, 1)
    worker.count(0, 0, "A")
    worker.count(1, 0, "B")
    worker.kafka.synchronous_failures = [KafkaError(KafkaError.REBALANCE_IN_PROGRESS), KafkaError(KafkaError._FATAL)]
    started = worker.clock.now
    worker.checkpointer.on_revoke(cast(Consumer, worker.kafka), [TopicPartition(TOPIC, 0)])
    assert (worker.kafka.commits, worker.kafka.synchronous_commits) == ([], 2)  # the second error is not retriable
    assert worker.clock.now == started + 0.2
    worker.checkpointer.on_revoke(cast(Consumer, worker.kafka), [TopicPartition(TOPIC, 1)])
    assert (worker.kafka.commits, worker.kafka.synchronous_commits) == ([(1, 1)], 3)


def test_a_newer_offset_is_committed_once_the_result_of_the_commit_in_flight_is_known(sink: FlakySink) -> None:
    """librdkafka may hold an asynchronous commit back for a moment (the coordinator moving) and send a later
    one first: with two commits of one partition in flight, the older could land last and stay."""
    worker = Harness(sink)
    worker.assign(0)
    worker.count(0, 0, "A")
    worker.clock.now += 10
    worker.flush_due()  # flush 1, its commit in flight (the result is not served yet)
    worker.count(0, 1, "B")
    worker.clock.now += 10
    worker.flush_due()  # flush 2: stored in the sink, its commit waits
    assert (worker.kafka.commits, worker.checkpointer.seconds_until_due()) == ([(0, 1)], None)
    worker.after(0)  # the first result is served: the second commit is sent
    assert worker.kafka.commits == [(0, 1), (0, 2)]
    worker.after(0)
    worker.checkpointer.on_revoke(cast(Consumer, worker.kafka), [TopicPartition(TOPIC, 0)])
    assert worker.kafka.synchronous_commits == 0  # Kafka confirmed the stored offset: nothing sent again


def test_the_failure_of_an_older_asynchronous_commit_does_not_recommit_its_offset(sink: FlakySink) -> None:
    worker = Harness(sink)
    worker.assign(0)
    worker.count(0, 0, "A")
    worker.kafka.commit_fails = True
    worker.after(10)  # flush 1, its commit fails (the result is served later)
    worker.kafka.commit_fails = False
    worker.count(0, 1, "B")
    worker.clock.now += 10
    worker.flush_due()  # flush 2 and its commit, before the failure of the first is known
    worker.after(0)
    worker.after(60)
    assert worker.kafka.commits == [(0, 2)]  # offset 1 is never committed after offset 2


def test_a_failed_kafka_commit_is_retried_and_a_new_owner_commits_the_stored_offset(sink: FlakySink) -> None:
    worker = Harness(sink)
    worker.assign(0)
    worker.count(0, 0, "A")
    worker.kafka.commit_fails = True
    worker.after(10)
    assert (sink.writes, worker.kafka.commits, worker.kafka.paused) == (1, [], set())  # counted, not paused
    worker.kafka.commit_fails = False
    worker.after(5)
    assert worker.kafka.commits == []  # retried no sooner than FLUSH_INTERVAL after the failure
    worker.after(5)
    assert worker.kafka.commits == [(0, 1)]
    worker.after(60)
    assert worker.kafka.commits == [(0, 1)]

    owner = Harness(sink)  # e.g. after a crash between the sink write and the commit
    owner.assign(0)
    owner.after(0)
    assert owner.kafka.commits == [(0, 1)]


def test_a_forward_gap_past_the_log_start_is_reported_once_and_counting_goes_on(
    sink: FlakySink, caplog: pytest.LogCaptureFixture
) -> None:
    earlier = Harness(sink)
    earlier.assign(0)
    earlier.count(0, 0, "A")
    earlier.after(10)  # stored offset 1
    worker = Harness(sink)
    worker.kafka.low_watermark = 5  # records 1..4 were deleted (retention) before anyone counted them
    worker.assign(0)
    assert worker.count(0, 5, "B")
    assert worker.count(0, 6, "C")
    gaps = [r.getMessage() for r in caplog.records if "event=offset_gap" in r.getMessage()]
    assert gaps == [
        "partition=0 event=offset_gap stored_offset=1 first_offset=5 direction=forward log_start=5 "
        'action="records before first_offset were deleted before they were counted (retention?)"'
    ]
    assert [r.levelname for r in caplog.records if "offset_gap" in r.getMessage()] == ["ERROR"]
    assert worker.stats.offset_gaps == 1
    worker.after(10)
    assert sink.read_offset(GROUP, TOPIC, 0).next_offset == 7 and articles(sink) == 3


def test_holes_that_are_not_lost_records_are_no_gap(sink: FlakySink) -> None:
    earlier = Harness(sink)
    earlier.assign(0)
    earlier.count(0, 0, "A")
    earlier.after(10)  # stored offset 1; offset 1 is, say, a transaction marker
    worker = Harness(sink)
    worker.assign(0)
    assert worker.count(0, 2, "B")
    assert worker.stats.offset_gaps == 0


def test_a_log_that_restarted_below_the_stored_offset_is_counted_from_its_start(sink: FlakySink) -> None:
    earlier = Harness(sink)
    earlier.assign(0)
    for offset in range(3):
        earlier.count(0, offset, "A")
    earlier.after(10)  # stored offset 3; then the topic is deleted and created again
    worker = Harness(sink)
    worker.assign(0)
    assert worker.count(0, 0, "B")  # would be skipped as "already counted" without the check
    assert worker.count(0, 1, "B")
    assert not worker.count(0, 1, "B")  # a re-delivery in the same epoch is still skipped
    assert worker.stats.offset_gaps == 1
    worker.after(10)
    assert sink.read_offset(GROUP, TOPIC, 0).next_offset == 2 and articles(sink) == 5


def test_lease_reads_beyond_the_time_budget_of_on_assign_wait_paused_for_the_next_cycle(sink: FlakySink) -> None:
    worker = Harness(sink)
    calls = 0
    read_offset = sink.read_offset

    def slow_read(*args: Any, **kwargs: Any) -> OffsetLease:
        nonlocal calls
        calls += 1
        worker.clock.now += 8  # each read takes 8 s of the 20 s budget
        return read_offset(*args, **kwargs)

    sink.read_offset = slow_read  # type: ignore[method-assign]
    worker.assign(0, 1, 2, 3)
    assert calls == 3  # 0 s, 8 s and 16 s into the budget; at 24 s it is spent
    assert worker.kafka.paused == {3}
    assert [round(t or 0.0) for t in sink.timeouts] == [20, 12, 4]
    worker.after(0)
    assert calls == 4 and worker.kafka.paused == set() and worker.kafka.seeks == [(3, OFFSET_BEGINNING)]


def test_a_consume_cycle_stops_flushing_when_its_budget_is_spent(sink: FlakySink) -> None:
    worker = Harness(sink)
    worker.assign(0, 1, 2)
    for partition in (0, 1, 2):
        worker.count(partition, 0, "A")
    write = sink.write

    def slow_write(*args: Any, **kwargs: Any) -> OffsetLease:
        worker.clock.now += 15
        return write(*args, **kwargs)

    sink.write = slow_write  # type: ignore[method-assign]
    worker.clock.now += 10
    worker.flush_due()  # the first two flushes spend the 20 s budget; the third waits for the next cycle
    assert sink.writes == 2
    worker.flush_due()
    assert sink.writes == 3
