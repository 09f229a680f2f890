"""Kafka's copy of each partition's offset, kept for lag monitoring only (the sink holds the truth).

Off the exactness path: a commit that fails or is lost changes no count, because every owner starts from
the offset stored in the sink. So a commit is sent asynchronously after each flush (NER goes on during the
round trip; the result comes back through ``on_commit`` inside a later ``consume``); at most one is in
flight per partition, and a newer stored offset waits for its result (two commits of one partition in
flight may reach the coordinator in either order when librdkafka holds one back for a moment, and the older
would win); a failed one is sent again no sooner than ``retry_after`` seconds later; and before a partition
is handed over its last stored offset is committed synchronously, unless Kafka confirmed it already, if the
time budget allows, so the next owner's lag starts right.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from consumer.deadline import Deadline
from consumer.logs import event

log = logging.getLogger(__name__)

IMPACT = "lag metric only; retried"

MIN_SYNC_COMMIT_SECONDS = 1.0
"""A synchronous commit before a hand-over is skipped when less than this is left of the time budget."""

PASSING_COMMIT_ERRORS = frozenset(
    {
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._WAIT_COORD,
    }
)
"""Commit errors of a passing state (the group rebalancing, the coordinator moving or unreachable for a moment);
librdkafka does not mark every one of them retriable."""

SYNC_COMMIT_RETRY_SECONDS = 0.2
"""The pause before a synchronous commit that failed with a retriable error is sent again."""


class Send(Enum):
    NOW = auto()
    """Commit asynchronously at once (after a flush of a partition the worker keeps)."""
    SOON = auto()
    """At the next :meth:`LagCommits.send_due` (the stored offset read on assignment, outside the callback)."""
    AT_HAND_OVER = auto()
    """Only by :meth:`LagCommits.hand_over`, synchronously (a partition's last flush)."""


@dataclass
class _Offsets:
    stored: int
    """The offset stored in the sink last: what Kafka should hold."""
    committed: int | None = None
    """The offset Kafka confirmed last."""
    in_flight: int | None = None
    """The offset of the asynchronous commit sent last, until its result is known (none other is sent meanwhile)."""
    sent_at: float = 0.0
    """When the last commit was sent (a failed one is sent again ``retry_after`` seconds after that)."""
    send_at: float | None = None
    """When to send an asynchronous commit of ``stored`` (None: nothing to send)."""


class LagCommits:
    def __init__(
        self,
        consumer: Consumer,
        topic: str,
        retry_after: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self._consumer = consumer
        self._topic = topic
        self._retry_after = retry_after
        self._clock = clock
        self._sleep = sleep
        self._partitions: dict[int, _Offsets] = {}

    def stored(self, partition: int, offset: int, send: Send) -> None:
        """``offset`` is now the partition's offset in the sink (after a flush, or read on assignment)."""
        offsets = self._partitions.setdefault(partition, _Offsets(stored=offset))
        offsets.stored = offset
        offsets.send_at = None
        if send is Send.NOW and offsets.in_flight is None:
            self._send(partition, offsets)
        elif send is not Send.AT_HAND_OVER:
            offsets.send_at = self._clock()  # sent by send_due, once no commit of the partition is in flight

    def on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """The result of an asynchronous commit (librdkafka's callback, served inside ``consume``)."""
        for result in partitions:
            offsets = self._partitions.get(result.partition)
            if offsets is None or offsets.in_flight != result.offset:
                continue  # an older commit, or a partition given up: its result changes nothing
            offsets.in_flight = None
            failure = error or result.error
            if failure is not None:
                offsets.send_at = offsets.sent_at + self._retry_after
                log.warning(event("kafka_commit_failed", result.partition, error=str(failure), impact=IMPACT))
                continue
            offsets.committed = result.offset

    def next_send(self) -> float | None:
        """When :meth:`send_due` next has a commit to send (None: nothing waits)."""
        times = [at for offsets in self._partitions.values() if (at := _send_at(offsets)) is not None]
        return min(times) if times else None

    def send_due(self) -> None:
        now = self._clock()
        for partition, offsets in list(self._partitions.items()):
            at = _send_at(offsets)
            if at is not None and now >= at:
                self._send(partition, offsets)

    def hand_over(self, partition: int, deadline: Deadline) -> None:
        """Before giving the partition up: make sure Kafka holds its stored offset (synchronously: no result
        callback would be served any more), if the time budget allows. A retriable failure (the group
        rebalancing while every member leaves, a coordinator moving) is tried again while the budget lasts."""
        offsets = self._partitions.pop(partition, None)
        if offsets is None or (offsets.committed == offsets.stored and offsets.in_flight is None):
            return
        position = TopicPartition(self._topic, partition, offsets.stored)
        while True:
            if deadline.remaining() < MIN_SYNC_COMMIT_SECONDS:
                log.warning(event("kafka_commit_skipped", partition, reason="time budget spent", impact=IMPACT))
                return
            failure = self._commit_now(position)
            if failure is None:
                return
            log.warning(event("kafka_commit_failed", partition, error=str(failure), impact=IMPACT))
            if not (failure.retriable() or failure.code() in PASSING_COMMIT_ERRORS):
                return
            self._sleep(SYNC_COMMIT_RETRY_SECONDS)

    def _commit_now(self, position: TopicPartition) -> KafkaError | None:
        try:
            results = self._consumer.commit(offsets=[position], asynchronous=False) or []
        except KafkaException as error:
            failure: KafkaError = error.args[0]
            return failure
        return next((result.error for result in results if result.error is not None), None)

    def forget(self, partition: int) -> None:
        """The partition was lost: nothing more is committed for it."""
        self._partitions.pop(partition, None)

    def _send(self, partition: int, offsets: _Offsets) -> None:
        offsets.send_at, offsets.sent_at = None, self._clock()
        try:
            self._consumer.commit(offsets=[TopicPartition(self._topic, partition, offsets.stored)], asynchronous=True)
        except KafkaException as error:
            offsets.send_at = self._clock() + self._retry_after
            log.warning(event("kafka_commit_failed", partition, error=str(error), impact=IMPACT))
            return
        offsets.in_flight = offsets.stored


def _send_at(offsets: _Offsets) -> float | None:
    """When a commit of the partition is to be sent: ``send_at``, once none is in flight."""
    return offsets.send_at if offsets.in_flight is None else None
