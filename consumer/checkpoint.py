"""The flush-and-commit protocol: the one class that decides when counts reach the sink, what happens on
rebalances and sink failures, and what Kafka's committed offsets say. docs/consumer.md explains why it is
exact; each partition's phases and transitions are in :mod:`consumer.partition_state`.
"""

import logging
import time
from collections.abc import Callable
from enum import Enum, auto

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from common.sinks.base import CountWriter, OffsetLease, SinkFenced, SinkFlushTooLarge, SinkUnavailable
from consumer.backoff import Backoff
from consumer.dead_letters import DeadLetters
from consumer.deadline import Deadline
from consumer.lag_commits import LagCommits, Send
from consumer.logs import event
from consumer.partition_state import PartitionState, Phase
from consumer.pauses import PauseReason, Pauses
from consumer.pending import PendingPartition
from consumer.settings import ConsumerSettings
from consumer.stats import WorkerStats

log = logging.getLogger(__name__)

DEAD_LETTER_WAIT_SECONDS = 10.0
"""Longest wait for dead letters to be acknowledged before a flush; if they are not, the flush is retried."""

SINK_CALL_SECONDS = 30.0
"""Longest one sink call (a lease read or a flush) may take, within what is left of the time budget."""

WATERMARK_SECONDS = 5.0
"""Longest wait for a partition's low watermark when a gap is suspected."""

TOO_LARGE = "too large for one sink write"
"""Start of the dead-letter reason of an article whose own counts do not fit one atomic sink write."""


class FlushOutcome(Enum):
    NOTHING = auto()
    """Nothing was processed since the last flush."""
    FLUSHED = auto()
    RETRY_LATER = auto()
    """The sink (or the dead-letter topic) failed; the partition is paused and keeps its pending counts."""
    DROPPED = auto()
    """The pending counts were dropped unwritten; the partition restarts from the offset in the sink."""


class Checkpointer:
    """Owns each assigned partition's pending counts and writes them, with the offset, to the sink.

    The protocol, in order:

    1. **Assign** (``on_assign``): read each partition's lease (stored next offset and version) from the sink
       and start consuming there; no stored offset means the beginning of the partition. The sink is the
       source of truth; Kafka's committed offset only serves lag monitoring (:mod:`consumer.lag_commits`).
       A lease that cannot be read (sink down, or the callback's time budget spent) leaves the partition
       paused; the read is retried with backoff, then the worker seeks to the stored offset.
    2. **Admit** (``admit``, as messages are consumed): a message is taken if its partition is counting and
       it is not before what this epoch already took. The first message after a positioning must be at the
       stored offset: one after it, with the log's start past the stored offset, is a **forward gap**
       (records deleted before they were counted: logged as an error and counted in a metric); one before it
       means the log restarted (the topic was recreated): logged the same way, and the partition counts from
       there.
    3. **Count**: the worker adds each article to the partition's :class:`PendingPartition` in offset order
       (dead letters and duplicates only move the offset); a message admitted under an older epoch is
       stale and skipped, and so is an article whose (publication, id) the partition counted recently.
    4. **Flush** a partition when ``FLUSH_INTERVAL`` has passed since its last flush or its pending entity
       counts reach the size bound (``MAX_PENDING_ENTITIES``, halved after a flush too large for the sink and
       doubled back after each good flush), when it is revoked, and when the worker stops.
    5. A flush first waits until every dead letter sent is acknowledged by Kafka, then makes **one atomic
       sink write** of all the partition's increments and its new next offset, fenced by the lease.
    6. **Only after the write succeeded**, the offset is committed to Kafka (for the lag metric).
    7. **Sink unavailable**: keep the pending counts, pause the partition (memory stays bounded), and retry
       with exponential backoff; resume after a successful flush. Nothing is committed or skipped.
    8. **Fenced** (another worker wrote the partition since our lease was read): drop the pending counts,
       read the lease again and seek to the stored offset.
    9. **Too large** for one sink write: drop the pending counts and consume again from the stored offset;
       if the flush held one article only, that article is dead-lettered when it comes again, else the
       size bound is halved.
    10. **Revoked** (``on_revoke``) or stopping: a last flush, then the partition is given up. **Lost**
        (``on_lost``: the group moved the partition without a revoke): drop the pending counts, write nothing.

    **Time budget**: every wait of a rebalance callback, of one consume cycle's flushes and of the final
    flush at stop (sink calls, the dead-letter wait, Kafka's synchronous commit) is bounded by what is left of
    one :class:`Deadline` of ``FINAL_FLUSH_TIMEOUT``, which the settings keep well under ``MAX_POLL_INTERVAL``;
    what does not fit is retried later (a lease read, a flush) or given up unwritten (a revoked partition's
    last flush: safe, nothing of it was committed).
    """

    def __init__(
        self,
        consumer: Consumer,
        sink: CountWriter,
        dead_letters: DeadLetters,
        pauses: Pauses,
        settings: ConsumerSettings,
        stats: WorkerStats,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._consumer = consumer
        self._sink = sink
        self._dead_letters = dead_letters
        self._pauses = pauses
        self._stats = stats
        self._clock = clock
        self._sleep = sleep
        self._topic = settings.kafka_topic
        self._group = settings.kafka_group_id
        self._window_seconds = int(settings.window.total_seconds())
        self._flush_interval = settings.flush_interval.total_seconds()
        self._max_size_bound = settings.max_pending_entities
        self._size_bound = settings.max_pending_entities
        self._dedup_ids = settings.dedup_ids
        self._backoff = Backoff(settings.sink_retry_initial.total_seconds(), settings.sink_retry_max.total_seconds())
        self._budget = settings.final_flush_timeout.total_seconds()
        self._lag = LagCommits(consumer, self._topic, self._flush_interval, clock, sleep)
        self._partitions: dict[int, PartitionState] = {}

    def budget(self) -> Deadline:
        """A new time budget of ``FINAL_FLUSH_TIMEOUT`` from now (one consume cycle's, one callback's)."""
        return Deadline(self._budget, self._clock)

    # --- rebalance callbacks (called by the consumer inside ``consume``) ---

    def on_assign(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        deadline = self.budget()
        states = []
        for assigned in partitions:
            state = self._partitions[assigned.partition] = PartitionState(
                assigned.partition, self._clock(), self._backoff, self._dedup_ids
            )
            if not deadline.expired():
                self._read_lease(state, deadline, seek=False)
            states.append(state)
            log.info(event("assigned", assigned.partition, next_offset=_describe(state)))
        self._consumer.incremental_assign([self._position(state) for state in states])
        for state in states:
            self._pauses.assigned(state.partition, {PauseReason.SINK} if state.paused else set())

    def on_revoke(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        deadline = self.budget()
        for revoked in partitions:
            state = self._partitions.pop(revoked.partition, None)
            if state is not None:
                self._hand_over(state, deadline)
            self._pauses.forget(revoked.partition)
            log.info(event("revoked", revoked.partition))
        self._consumer.incremental_unassign(partitions)

    def on_lost(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        for lost in partitions:
            state = self._partitions.pop(lost.partition, None)
            dropped = 0
            if state is not None:
                dropped = state.pending.articles
                state.lost()
            self._lag.forget(lost.partition)
            self._pauses.forget(lost.partition)
            log.warning(event("lost", lost.partition, dropped_articles=dropped, action="nothing written"))
        self._consumer.incremental_unassign(partitions)

    def on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """librdkafka's offset commit callback (served inside ``consume``)."""
        self._lag.on_commit(error, partitions)

    # --- the message path ---

    def admit(self, partition: int, offset: int) -> int | None:
        """The epoch to count the message at ``offset`` under, or None when it must be skipped: the partition
        is not ours or not counting, or the offset was already taken in this epoch. Checks the first message
        of each epoch for a gap (see the class docstring, step 2)."""
        state = self._partitions.get(partition)
        if state is None or not state.counting:
            return None
        expected = state.position
        if not state.consumed_any and expected is not None and offset != expected:
            self._gap(state, expected, offset)
        elif expected is not None and offset < expected:
            return None  # a re-delivery
        state.consumed(offset)
        return state.epoch

    def pending_for(self, partition: int, epoch: int) -> PendingPartition | None:
        """Where a message admitted under ``epoch`` is counted; None when it has gone stale (the partition was
        repositioned, handed over or lost since)."""
        state = self._partitions.get(partition)
        if state is None or not state.counting or state.epoch != epoch:
            return None
        return state.pending

    def epoch(self, partition: int) -> int | None:
        """The partition's current epoch while it counts (None: not ours, or not counting)."""
        state = self._partitions.get(partition)
        return state.epoch if state is not None and state.counting else None

    def dead_letter_reason(self, partition: int, offset: int) -> str | None:
        """Why the message at ``offset`` must be dead-lettered instead of counted (a flush of it alone was too
        large for the sink), or None."""
        state = self._partitions.get(partition)
        return None if state is None else state.poisoned.get(offset)

    def _gap(self, state: PartitionState, stored: int, first: int) -> None:
        """The first message after positioning is not at the stored offset (step 2)."""
        details: dict[str, object]
        if first < stored:
            state.rebased(first)
            details = {
                "direction": "backward",
                "action": "the log restarted below the stored offset (topic recreated?): counting from first_offset",
            }
        else:
            low = self._low_watermark(state.partition)
            if low is not None and low <= stored:
                return  # offsets without records (transaction markers, compaction): nothing was lost
            details = {
                "direction": "forward",
                "log_start": low if low is not None else "unknown",
                "action": "records before first_offset were deleted before they were counted (retention?)",
            }
        log.error(event("offset_gap", state.partition, stored_offset=stored, first_offset=first, **details))
        self._stats.offset_gaps += 1

    def _low_watermark(self, partition: int) -> int | None:
        try:
            low, _ = self._consumer.get_watermark_offsets(
                TopicPartition(self._topic, partition), timeout=WATERMARK_SECONDS, cached=False
            )
        except KafkaException as error:
            log.warning(event("watermark_unreadable", partition, error=str(error)))
            return None
        return int(low)

    # --- flushing ---

    def flush_due(self, deadline: Deadline) -> None:
        """Flush every partition whose interval passed or whose size bound is reached, read leases and retry
        flushes whose backoff has passed, send due Kafka commits; stops when ``deadline`` is spent (the rest
        waits for the next cycle). Called after every batch of counted articles and between batches."""
        self._lag.send_due()
        for state in list(self._partitions.values()):
            if deadline.expired():
                return
            if state.phase is not Phase.LEASE_UNREAD and self._flush_is_due(state, self._clock()):
                self._flush(state, deadline)
            if state.phase is Phase.LEASE_UNREAD and state.retry_due(self._clock()) and not deadline.expired():
                self._read_lease(state, deadline, seek=True)  # at once after a fence, else after the backoff

    def seconds_until_due(self) -> float | None:
        """How long until :meth:`flush_due` has something to do (None: nothing is waiting), so a worker
        waiting for messages wakes up in time: a flush, a retry or a Kafka commit."""
        times = [at for state in self._partitions.values() if (at := self._due_at(state)) is not None]
        if (commit_at := self._lag.next_send()) is not None:
            times.append(commit_at)
        return max(0.0, min(times) - self._clock()) if times else None

    def flush_all(self) -> None:
        """On shutdown: a last flush of every partition within one time budget."""
        deadline = self.budget()
        for partition, state in list(self._partitions.items()):
            del self._partitions[partition]
            self._hand_over(state, deadline)

    def drop_all(self) -> None:
        """After an unexpected error: forget every pending count unwritten (the next owner recounts them)."""
        for partition, state in self._partitions.items():
            log.warning(event("dropped", partition, dropped_articles=state.pending.articles, reason="worker error"))
        self._partitions.clear()

    def assigned(self) -> list[int]:
        return list(self._partitions)

    @property
    def size_bound(self) -> int:
        """Pending entity counts that force a flush now (``MAX_PENDING_ENTITIES`` unless a flush was too large)."""
        return self._size_bound

    def _due_at(self, state: PartitionState) -> float | None:
        """When the partition next needs :meth:`flush_due`: a lease read or flush retry (backoff), or a flush
        of its pending counts (``FLUSH_INTERVAL`` after the last flush); None: nothing."""
        if state.paused:
            return state.retry_at
        if state.phase is Phase.COUNTING and state.pending.processed:
            return state.last_flush + self._flush_interval
        return None

    def _flush_is_due(self, state: PartitionState, now: float) -> bool:
        if state.phase is Phase.BACKING_OFF:
            return state.retry_due(now)
        if not state.pending.processed:
            return False
        return now >= state.last_flush + self._flush_interval or state.pending.entity_tallies >= self._size_bound

    def _hand_over(self, state: PartitionState, deadline: Deadline) -> None:
        """A last flush within ``deadline`` (retried while the sink fails and time is left), then release."""
        state.hand_over()
        while state.lease is not None and state.pending.processed:
            outcome = self._flush(state, deadline, final=True)
            if outcome is not FlushOutcome.RETRY_LATER:
                break
            wait = min(state.retry_at - self._clock(), deadline.remaining())
            if deadline.expired() or wait >= deadline.remaining():
                log.warning(
                    event(
                        "flush_abandoned",
                        state.partition,
                        dropped_articles=state.pending.articles,
                        action="nothing committed; the next owner counts them from the stored offset",
                    )
                )
                break
            self._sleep(max(0.0, wait))
        self._lag.hand_over(state.partition, deadline)
        state.released()

    def _flush(self, state: PartitionState, deadline: Deadline, *, final: bool = False) -> FlushOutcome:
        pending, lease = state.pending, state.lease
        if lease is None or not pending.processed:
            state.last_flush = self._clock()
            return FlushOutcome.NOTHING
        if not self._dead_letters.deliver(deadline.bound(DEAD_LETTER_WAIT_SECONDS)):
            self._write_failed(state, "dead letters not yet acknowledged by Kafka", final)
            return FlushOutcome.RETRY_LATER
        flush = pending.to_flush(self._group, self._topic, state.partition, self._window_seconds)
        started = self._clock()
        try:
            written = self._sink.write(flush, lease, timeout=deadline.bound(SINK_CALL_SECONDS))
        except SinkUnavailable as error:
            self._write_failed(state, str(error), final)
            return FlushOutcome.RETRY_LATER
        except SinkFenced as error:
            self._stats.fenced += 1
            log.warning(event("fenced", state.partition, dropped_articles=pending.articles, error=str(error)))
            if not final:
                state.fenced(self._clock())
                self._pauses.set(state.partition, PauseReason.SINK, True)
            return FlushOutcome.DROPPED
        except SinkFlushTooLarge as error:
            self._too_large(state, lease, str(error), final)
            return FlushOutcome.DROPPED
        finished = self._clock()
        self._size_bound = min(self._max_size_bound, self._size_bound * 2)
        state.flushed(written, finished)
        if not final:
            self._pauses.set(state.partition, PauseReason.SINK, False)
        self._lag.stored(state.partition, flush.next_offset, Send.AT_HAND_OVER if final else Send.NOW)
        self._stats.flushed(finished - started)
        log.info(
            event(
                "flushed",
                state.partition,
                articles=pending.articles,
                messages=pending.processed,
                entities=pending.entity_tallies,
                documents=self._sink.written,
                next_offset=flush.next_offset,
                ms=round(1000 * (finished - started)),
            )
        )
        return FlushOutcome.FLUSHED

    def _too_large(self, state: PartitionState, lease: OffsetLease, error: str, final: bool) -> None:
        """Step 9: a single article is dead-lettered when consumed again; a larger flush halves the bound."""
        pending = state.pending
        if pending.articles == 1 and pending.last_article_offset is not None:
            state.poisoned[pending.last_article_offset] = f"{TOO_LARGE}: {error}"
            log.error(
                event("flush_too_large", state.partition, offset=pending.last_article_offset, action="dead-letter it")
            )
        else:
            self._size_bound = max(1, self._size_bound // 2)
            log.error(event("flush_too_large", state.partition, max_pending_entities=self._size_bound, error=error))
        if not final:
            state.rewound(self._clock())
            self._consumer.seek(self._position(state))
            log.info(event("repositioned", state.partition, next_offset=_describe(state)))

    def _write_failed(self, state: PartitionState, reason: str, final: bool) -> None:
        self._stats.sink_failures += 1
        state.flush_failed(self._clock())
        if not final:
            self._pauses.set(state.partition, PauseReason.SINK, True)
        log.warning(
            event(
                "flush_failed",
                state.partition,
                attempt=state.failures,
                retry_in_s=round(state.retry_at - self._clock(), 1),
                pending_articles=state.pending.articles,
                error=reason,
            )
        )

    def _read_lease(self, state: PartitionState, deadline: Deadline, *, seek: bool) -> None:
        """LEASE_UNREAD: read the stored offset; on success count from there (``seek``: the partition is already
        assigned), else retry after the backoff."""
        try:
            lease = self._sink.read_offset(
                self._group, self._topic, state.partition, timeout=deadline.bound(SINK_CALL_SECONDS)
            )
        except SinkUnavailable as error:
            self._stats.sink_failures += 1
            state.lease_unreadable(self._clock())
            log.warning(
                event("offset_unreadable", state.partition, error=str(error), action="partition paused; retrying")
            )
            return
        state.lease_read(lease, self._clock())
        if lease.next_offset is not None:
            self._lag.stored(state.partition, lease.next_offset, Send.SOON)
        if seek:
            self._consumer.seek(self._position(state))
            self._pauses.set(state.partition, PauseReason.SINK, False)
            log.info(event("repositioned", state.partition, next_offset=_describe(state)))

    def _position(self, state: PartitionState) -> TopicPartition:
        lease = state.lease
        offset = lease.next_offset if lease is not None and lease.next_offset is not None else OFFSET_BEGINNING
        return TopicPartition(self._topic, state.partition, offset)


def _describe(state: PartitionState) -> str:
    if state.lease is None:
        return "unreadable"
    return "beginning" if state.lease.next_offset is None else str(state.lease.next_offset)
