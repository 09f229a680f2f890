"""The flush-and-commit protocol: the one class that decides when counts reach the sink, when Kafka offsets
are committed, and what happens on rebalances and sink failures. docs/consumer.md explains why it is exact.
"""

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from common.sinks.base import CountWriter, OffsetLease, SinkFenced, SinkFlushTooLarge, SinkUnavailable
from common.sinks.tallies import documents_written
from consumer.dead_letters import DeadLetters
from consumer.logs import event
from consumer.pending import PendingPartition
from consumer.settings import ConsumerSettings
from consumer.stats import WorkerStats

log = logging.getLogger(__name__)

DEAD_LETTER_WAIT_SECONDS = 10.0
"""Longest wait for dead letters to be acknowledged before a flush; if they are not, the flush is retried."""

COMMIT_FAILURE_IMPACT = "lag metric only; retried"

INJECTED_CRASH_EXIT_CODE = 137
"""Exit code of the test-only crash between the sink write and the Kafka commit (as if killed by SIGKILL)."""


class FlushOutcome(Enum):
    NOTHING = auto()
    """Nothing was processed since the last flush."""
    FLUSHED = auto()
    RETRY_LATER = auto()
    """The sink (or the dead-letter topic) failed; the partition is paused and keeps its pending counts."""
    DROPPED = auto()
    """The pending counts were dropped unwritten; the partition restarts from the offset in the sink."""


@dataclass
class _Partition:
    """An assigned partition: its lease, what it counted since the last flush, and its retry state."""

    lease: OffsetLease | None
    """None while the offset could not be read from the sink (the partition is paused meanwhile)."""
    pending: PendingPartition
    last_flush: float
    paused: bool = False
    failures: int = 0
    retry_at: float = 0.0
    uncommitted: int | None = None
    """An offset stored in the sink but not yet committed to Kafka (lag monitoring only)."""
    commit_in_flight: int | None = None
    """The offset of the asynchronous Kafka commit sent last, until ``on_commit`` reports its result."""
    commit_attempt: float = 0.0


class Checkpointer:
    """Owns each assigned partition's pending counts and writes them, with the offset, to the sink.

    The protocol, in order:

    1. **Assign** (``on_assign``): read the partition's lease (stored next offset and version) from the
       sink and start consuming there; no stored offset means the beginning of the partition. The sink
       is the source of truth; Kafka's committed offset only serves lag monitoring. If the sink cannot be
       read, the partition is assigned paused and the read is retried with backoff before it resumes.
    2. **Count**: the worker adds each message to the partition's :class:`PendingPartition` (dead letters
       only move the offset); a message at an offset already counted is skipped, and so is an article whose
       id the partition counted recently (the last ``DEDUP_IDS`` ids travel with the offset in the sink).
    3. **Flush** a partition when ``FLUSH_INTERVAL`` has passed since its last flush or its pending entity
       counts reach ``MAX_PENDING_ENTITIES`` (both checked after every article and between batches), when
       it is revoked (before ``on_revoke`` returns), and when the worker stops.
    4. A flush first waits until every dead letter sent is acknowledged by Kafka, then makes **one atomic
       sink write** of all the partition's increments and its new next offset, fenced by the lease.
    5. **Only after the write succeeded**, the offset is committed to Kafka: asynchronously while the worker
       keeps the partition (NER goes on meanwhile; the result comes back through ``on_commit``),
       synchronously before it gives the partition up (revoke, stop; an asynchronous commit whose result has
       not come back is made again). A failed Kafka commit is logged and
       retried at the next check after ``FLUSH_INTERVAL``: the sink already holds the offset, Kafka's copy
       only keeps the lag metric honest. On assignment the stored offset is committed to Kafka too, so a
       commit lost to a crash or a rebalance is repaired by the next owner.
    6. **Sink unavailable**: keep the pending counts, pause the partition (memory stays bounded), and
       retry with exponential backoff; resume after a successful flush. Nothing is committed or skipped.
    7. **Fenced** (another worker wrote the partition since our lease was read): drop the pending counts,
       re-read the lease and, if the partition is still ours, seek to the stored offset. A flush too large
       for one sink write is dropped the same way and the size bound halved.
    8. **Lost** (``on_lost``: the group moved the partition without a revoke): drop the pending counts and
       write nothing.
    """

    def __init__(
        self,
        consumer: Consumer,
        sink: CountWriter,
        dead_letters: DeadLetters,
        settings: ConsumerSettings,
        stats: WorkerStats,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._consumer = consumer
        self._sink = sink
        self._dead_letters = dead_letters
        self._stats = stats
        self._clock = clock
        self._sleep = sleep
        self._topic = settings.kafka_topic
        self._group = settings.kafka_group_id
        self._window_seconds = int(settings.window.total_seconds())
        self._flush_interval = settings.flush_interval.total_seconds()
        self._size_bound = settings.max_pending_entities
        self._dedup_ids = settings.dedup_ids
        self._retry_initial = settings.sink_retry_initial.total_seconds()
        self._retry_max = settings.sink_retry_max.total_seconds()
        self._final_flush_timeout = settings.final_flush_timeout.total_seconds()
        self._crash_file = settings.crash_after_sink_write
        self._partitions: dict[int, _Partition] = {}
        self._repositioned: set[int] = set()

    # --- rebalance callbacks (called by the consumer inside ``consume``) ---

    def on_assign(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        now = self._clock()
        starts, unreadable = [], []
        for assigned in partitions:
            lease = self._read_lease(assigned.partition)
            state = _Partition(lease, self._pending_after(lease), now)
            state.uncommitted = None if lease is None else lease.next_offset
            self._partitions[assigned.partition] = state
            starts.append(self._position(assigned.partition, lease))
            if lease is None:
                unreadable.append(self._position(assigned.partition, None))
                self._schedule_retry(state)
            log.info(event("assigned", assigned.partition, next_offset=_describe(lease)))
        self._consumer.incremental_assign(starts)
        if unreadable:
            self._consumer.pause(unreadable)
            for position in unreadable:
                self._partitions[position.partition].paused = True

    def on_revoke(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        deadline = self._clock() + self._final_flush_timeout
        for revoked in partitions:
            state = self._partitions.pop(revoked.partition, None)
            if state is not None:
                self._final_flush(revoked.partition, state, deadline)
            log.info(event("revoked", revoked.partition))
        self._consumer.incremental_unassign(partitions)

    def on_lost(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        for lost in partitions:
            state = self._partitions.pop(lost.partition, None)
            dropped = 0 if state is None else state.pending.articles
            log.warning(event("lost", lost.partition, dropped_articles=dropped, action="nothing written"))
        self._consumer.incremental_unassign(partitions)

    def on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """The result of a Kafka commit (librdkafka's offset commit callback, served inside ``consume``): a
        failed asynchronous commit is committed again later. Results of earlier or synchronous commits are
        ignored (a synchronous commit handles its own result)."""
        for committed in partitions:
            state = self._partitions.get(committed.partition)
            if state is None or state.commit_in_flight != committed.offset:
                continue
            state.commit_in_flight = None
            failure = error or committed.error
            if failure is not None:
                if state.uncommitted is None:
                    state.uncommitted = committed.offset
                log.warning(
                    event("kafka_commit_failed", committed.partition, error=str(failure), impact=COMMIT_FAILURE_IMPACT)
                )

    # --- the message path ---

    def begin_batch(self) -> None:
        """Called before each batch: partitions repositioned during the last one take messages again."""
        self._repositioned.clear()

    def pending_for(self, partition: int, offset: int) -> PendingPartition | None:
        """Where the message at ``offset`` is counted, or None when it must be skipped: the partition is not
        ours, its lease is not read yet, it was repositioned during this batch (the rest of the batch is
        stale), or the offset was already counted."""
        state = self._partitions.get(partition)
        if state is None or state.lease is None or partition in self._repositioned:
            return None
        return state.pending if state.pending.accepts(offset) else None

    # --- flushing ---

    def flush_due(self) -> None:
        """Flush every partition whose interval passed or whose size bound is reached; run due retries.

        Called after every article and between batches, so a long batch does not delay flushes."""
        now = self._clock()
        for partition, state in list(self._partitions.items()):
            commit_at = self._commit_retry_at(state)
            if commit_at is not None and now >= commit_at:
                self._commit(partition, state)
            flush_at = self._flush_at(state)
            if flush_at is None:
                continue
            if now >= flush_at or (not state.failures and state.pending.entity_tallies >= self._size_bound):
                if state.lease is None:
                    self._reload_lease(partition, state)
                else:
                    self._flush(partition, state)

    def seconds_until_due(self) -> float | None:
        """How long until :meth:`flush_due` has something to do (None: nothing is waiting), so a worker
        waiting for messages wakes up in time: a flush, a retry or a Kafka commit."""
        times = [
            at
            for state in self._partitions.values()
            for at in (self._commit_retry_at(state), self._flush_at(state))
            if at is not None
        ]
        return max(0.0, min(times) - self._clock()) if times else None

    def _flush_at(self, state: _Partition) -> float | None:
        """When the partition next needs :meth:`flush_due`: re-reading its lease or retrying its sink write
        (backoff), or flushing its pending counts (``FLUSH_INTERVAL`` after the last flush); None: nothing."""
        if state.lease is None or state.failures:
            return state.retry_at
        return state.last_flush + self._flush_interval if state.pending.processed else None

    def _commit_retry_at(self, state: _Partition) -> float | None:
        """When a failed Kafka commit of the partition is tried again (None: nothing to commit)."""
        return None if state.uncommitted is None else state.commit_attempt + self._flush_interval

    def flush_all(self) -> None:
        """On shutdown: flush every partition, retrying a failing sink up to ``FINAL_FLUSH_TIMEOUT``."""
        deadline = self._clock() + self._final_flush_timeout
        for partition, state in list(self._partitions.items()):
            self._final_flush(partition, state, deadline)

    def drop_all(self) -> None:
        """After an unexpected error: forget every pending count unwritten (the next owner recounts them)."""
        for partition, state in self._partitions.items():
            log.warning(event("dropped", partition, dropped_articles=state.pending.articles, reason="worker error"))
        self._partitions.clear()

    def _final_flush(self, partition: int, state: _Partition, deadline: float) -> None:
        while self._flush(partition, state, final=True) is FlushOutcome.RETRY_LATER:
            now = self._clock()
            if now >= deadline:
                log.warning(
                    event(
                        "flush_abandoned",
                        partition,
                        dropped_articles=state.pending.articles,
                        action="nothing committed; the next owner counts them from the stored offset",
                    )
                )
                state.pending = self._pending_after(state.lease)
                return
            self._sleep(max(0.0, min(state.retry_at, deadline) - now))
        if state.uncommitted is None and state.commit_in_flight is not None:
            state.uncommitted = state.commit_in_flight  # its result is not known yet: confirm it
        if state.uncommitted is not None:  # a Kafka commit failed or is unconfirmed: last chance before handing over
            self._commit(partition, state, wait=True)

    def _flush(self, partition: int, state: _Partition, *, final: bool = False) -> FlushOutcome:
        pending = state.pending
        if state.lease is None or not pending.processed:
            state.last_flush = self._clock()
            return FlushOutcome.NOTHING
        if not self._dead_letters.deliver(DEAD_LETTER_WAIT_SECONDS):
            self._write_failed(partition, state, "dead letters not yet acknowledged by Kafka")
            return FlushOutcome.RETRY_LATER
        flush = pending.to_flush(self._group, self._topic, partition, self._window_seconds)
        started = self._clock()
        try:
            lease = self._sink.write(flush, state.lease)
        except SinkUnavailable as error:
            self._write_failed(partition, state, str(error))
            return FlushOutcome.RETRY_LATER
        except SinkFenced as error:
            self._stats.fenced += 1
            log.warning(event("fenced", partition, dropped_articles=pending.articles, error=str(error)))
            state.lease, state.pending = None, PendingPartition(None)
            if partition in self._partitions:
                self._reload_lease(partition, state)
            return FlushOutcome.DROPPED
        except SinkFlushTooLarge as error:
            self._size_bound = max(1, self._size_bound // 2)
            log.error(event("flush_too_large", partition, max_pending_entities=self._size_bound, error=str(error)))
            if partition in self._partitions:
                self._restart_at(partition, state, state.lease)
            return FlushOutcome.DROPPED
        finished = self._clock()
        self._crash_if_injected(partition, flush.next_offset)
        state.lease, state.pending, state.last_flush, state.failures = (
            lease,
            self._pending_after(lease),
            finished,
            0,
        )
        if state.paused:
            self._consumer.resume([self._position(partition, lease)])
            state.paused = False
        state.uncommitted = flush.next_offset
        self._commit(partition, state, wait=final)
        self._stats.flushed(finished - started)
        log.info(
            event(
                "flushed",
                partition,
                articles=pending.articles,
                messages=pending.processed,
                entities=pending.entity_tallies,
                documents=documents_written(flush),
                next_offset=flush.next_offset,
                ms=round(1000 * (finished - started)),
            )
        )
        return FlushOutcome.FLUSHED

    def _commit(self, partition: int, state: _Partition, *, wait: bool = False) -> None:
        """Commit the sink's offset to Kafka, asynchronously unless ``wait``; a failure is logged and retried
        later (lag metric only)."""
        offset, state.commit_attempt = state.uncommitted, self._clock()
        if offset is None:
            return
        position = TopicPartition(self._topic, partition, offset)
        try:
            if not wait:
                self._consumer.commit(offsets=[position], asynchronous=True)
                state.uncommitted, state.commit_in_flight = None, offset
                return
            state.commit_in_flight = None
            results = self._consumer.commit(offsets=[position], asynchronous=False)
        except KafkaException as error:
            log.warning(event("kafka_commit_failed", partition, error=str(error), impact=COMMIT_FAILURE_IMPACT))
            return
        for result in results or []:
            if result.error is not None:
                log.warning(
                    event("kafka_commit_failed", partition, error=str(result.error), impact=COMMIT_FAILURE_IMPACT)
                )
                return
        state.uncommitted = None

    def _write_failed(self, partition: int, state: _Partition, reason: str) -> None:
        self._stats.sink_failures += 1
        self._schedule_retry(state)
        if not state.paused:
            self._consumer.pause([self._position(partition, state.lease)])
            state.paused = True
        log.warning(
            event(
                "flush_failed",
                partition,
                attempt=state.failures,
                retry_in_s=round(state.retry_at - self._clock(), 1),
                pending_articles=state.pending.articles,
                error=reason,
            )
        )

    def _schedule_retry(self, state: _Partition) -> None:
        state.failures += 1
        delay = min(self._retry_initial * 2 ** (state.failures - 1), self._retry_max)
        state.retry_at = self._clock() + delay

    def _reload_lease(self, partition: int, state: _Partition) -> None:
        """Read the partition's lease again (after a fence, or when it could not be read on assignment)."""
        lease = self._read_lease(partition)
        if lease is None:
            self._schedule_retry(state)
            if not state.paused:
                self._consumer.pause([self._position(partition, None)])
                state.paused = True
            return
        self._restart_at(partition, state, lease)

    def _restart_at(self, partition: int, state: _Partition, lease: OffsetLease) -> None:
        """Drop the pending counts and consume again from the lease's offset."""
        state.lease, state.pending, state.failures = lease, self._pending_after(lease), 0
        state.last_flush = self._clock()
        self._consumer.seek(self._position(partition, lease))
        self._repositioned.add(partition)
        if state.paused:
            self._consumer.resume([self._position(partition, lease)])
            state.paused = False
        log.info(event("repositioned", partition, next_offset=_describe(lease)))

    def _pending_after(self, lease: OffsetLease | None) -> PendingPartition:
        """Empty pending counts that resume where ``lease`` left off: its offset and recently counted ids."""
        if lease is None:
            return PendingPartition(None)
        return PendingPartition(lease.next_offset, lease.recent_ids, self._dedup_ids)

    def _read_lease(self, partition: int) -> OffsetLease | None:
        try:
            return self._sink.read_offset(self._group, self._topic, partition)
        except SinkUnavailable as error:
            self._stats.sink_failures += 1
            log.warning(event("offset_unreadable", partition, error=str(error), action="partition paused; retrying"))
            return None

    def _position(self, partition: int, lease: OffsetLease | None) -> TopicPartition:
        offset = lease.next_offset if lease is not None and lease.next_offset is not None else OFFSET_BEGINNING
        return TopicPartition(self._topic, partition, offset)

    def _crash_if_injected(self, partition: int, next_offset: int) -> None:
        """Test-only fault injection (CRASH_AFTER_SINK_WRITE): die between the sink write and the commit."""
        if self._crash_file is None:
            return
        try:
            self._crash_file.unlink()
        except FileNotFoundError:
            return
        log.error(event("injected_crash", partition, next_offset=next_offset, stage="after sink write, before commit"))
        logging.shutdown()
        os._exit(INJECTED_CRASH_EXIT_CODE)


def _describe(lease: OffsetLease | None) -> str:
    if lease is None:
        return "unreadable"
    return "beginning" if lease.next_offset is None else str(lease.next_offset)
