"""The records of a throughput run, produced straight to Kafka in one of three ways of spreading them over
the partitions (the partition skew):

- ``keyed``: keyed by the article's url (else its id), librdkafka's default partitioner: even partitions;
- ``unkeyed``: no key, librdkafka's default partitioner, in bursts: the sticky partitioner puts each burst
  in one or two partitions, as ``kafka-console-producer`` does with a file piped into it;
- ``one-partition``: every record in partition 0.
"""

import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from bench.services import QUIET, BenchError
from loadtool.load import Outgoing

BURST = 100
"""Records per burst of the unkeyed producer: it waits for each burst's acknowledgments before the next."""


class Skew(StrEnum):
    KEYED = "keyed"
    UNKEYED = "unkeyed"
    ONE_PARTITION = "one-partition"


def record_value(outgoing: Outgoing) -> bytes:
    return json.dumps({**outgoing.record, "id": outgoing.article_id}, ensure_ascii=False).encode()


def record_key(outgoing: Outgoing) -> bytes:
    return str(outgoing.record.get("url") or outgoing.article_id).encode()


def produce(records: Sequence[Outgoing], skew: Skew, *, bootstrap: str, topic: str) -> dict[int, int]:
    """Produce ``records`` as ``skew`` says and wait for every acknowledgment; records per partition."""
    if skew is Skew.UNKEYED:
        bursts = [records[start : start + BURST] for start in range(0, len(records), BURST)]
        return _send([[(r, {}) for r in burst] for burst in bursts], bootstrap, topic)
    where = {"partition": 0} if skew is Skew.ONE_PARTITION else {}
    return _send([[(r, where or {"key": record_key(r)}) for r in records]], bootstrap, topic)


def produce_to_each_partition(records: Sequence[Outgoing], partitions: int, *, bootstrap: str, topic: str) -> None:
    """Record ``i`` to partition ``i`` modulo ``partitions``."""
    _send([[(r, {"partition": i % partitions}) for i, r in enumerate(records)]], bootstrap, topic)


def _send(bursts: list[list[tuple[Outgoing, dict[str, Any]]]], bootstrap: str, topic: str) -> dict[int, int]:
    """Produce each burst (records with their ``key`` or ``partition``) and wait for its acknowledgments
    before the next one; records per partition."""
    producer = Producer({"bootstrap.servers": bootstrap, **QUIET})
    per_partition: dict[int, int] = {}
    failures: list[str] = []

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failures.append(error.str())
        else:
            partition = message.partition() or 0
            per_partition[partition] = per_partition.get(partition, 0) + 1

    for burst in bursts:
        for outgoing, where in burst:
            while True:
                try:
                    producer.produce(topic, record_value(outgoing), on_delivery=delivered, **where)
                    break
                except BufferError:  # local queue full: serve delivery reports, then retry
                    producer.poll(0.05)
        if producer.flush(60):
            raise BenchError(f"records to {topic} not acknowledged within 60 s")
    if failures:
        raise BenchError(f"{len(failures)} records to {topic} failed: {failures[0]}")
    return dict(sorted(per_partition.items()))
