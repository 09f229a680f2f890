"""Why each partition is paused: a partition fetches again only when no reason is left.

Two parts of a worker pause partitions for different reasons (the checkpointer while a lease is unknown or
the sink fails; the worker while its NER requests are at their bound), and librdkafka keeps one flag per
partition: this class keeps the reasons and calls ``pause``/``resume`` only when the union changes.
"""

from collections.abc import Collection
from enum import Enum

from confluent_kafka import Consumer, TopicPartition


class PauseReason(Enum):
    SINK = "sink"
    """The lease is unknown or the last flush failed (the checkpointer)."""
    BUSY = "busy"
    """The worker holds as many messages waiting for NER as it may (backpressure)."""


class Pauses:
    def __init__(self, consumer: Consumer, topic: str) -> None:
        self._consumer = consumer
        self._topic = topic
        self._reasons: dict[int, set[PauseReason]] = {}

    def set(self, partition: int, reason: PauseReason, paused: bool) -> None:
        """Add or remove ``reason`` for ``partition``; pause or resume it if that changes whether it fetches."""
        reasons = self._reasons.setdefault(partition, set())
        was_paused = bool(reasons)
        if paused:
            reasons.add(reason)
        else:
            reasons.discard(reason)
        if bool(reasons) != was_paused:
            position = [TopicPartition(self._topic, partition)]
            if reasons:
                self._consumer.pause(position)
            else:
                self._consumer.resume(position)

    def assigned(self, partition: int, reasons: Collection[PauseReason]) -> None:
        """A partition was (re)assigned: its reasons start as ``reasons``, and librdkafka is told either way
        (it may still hold the pause flag of an earlier assignment of the same partition)."""
        self._reasons[partition] = set(reasons)
        position = [TopicPartition(self._topic, partition)]
        if reasons:
            self._consumer.pause(position)
        else:
            self._consumer.resume(position)

    def paused(self, partition: int) -> bool:
        return bool(self._reasons.get(partition))

    def forget(self, partition: int) -> None:
        """The partition is no longer assigned: librdkafka forgets its pause flag with it."""
        self._reasons.pop(partition, None)
