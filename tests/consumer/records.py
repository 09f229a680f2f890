"""Raw Kafka records for the hostile-input tests: produce them one by one exactly as built (explicit partition,
key, value, headers, timestamp), read a topic back as the consumer group sees it, size a record to the
broker's limit, and check a dead letter against the record it stands for.

What a dead letter must carry (docs/consumer.md, "Dead letters"): the original key, value and headers, then
our headers ``error``, ``source-topic``, ``source-partition``, ``source-offset``, ``source-timestamp``. When
the original is too large for the dead-letter topic, the parts that did not fit are cut and the letter says
so: ``dead-letter-cut`` (the cut parts, comma-separated, in the order key, value, headers),
``original-key-bytes``, ``original-value-bytes``, ``original-headers-bytes`` (decimal sizes of the original
parts; the headers' size is the sum of their names' UTF-8 bytes and their values' bytes) and
``original-key-sha256`` (when the original had a key). Our headers follow the original ones, so the last
header of a name is ours even when a producer sent one of the same name.
"""

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]
from confluent_kafka.cimpl import NewTopic

Headers = list[tuple[str, bytes | None]]

CUT_PARTS = ("key", "value", "headers")
"""What a dead letter may cut, in the order ``dead-letter-cut`` lists them."""

LONGEST_TIMESTAMP_AHEAD_MS = str(2**63 - 1)
"""``message.timestamp.after.max.ms`` of the hostile tests' topics: Kafka 4 refuses record timestamps more than
an hour ahead by default; topics made by older brokers (and any topic configured so) accept them all."""

BATCH_OVERHEAD = 61
"""Bytes of a record batch (magic v2) before its records."""


@dataclass(frozen=True)
class RawRecord:
    """One record as produced: everything explicit (``timestamp`` 0 means "now" to librdkafka)."""

    partition: int
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)
    timestamp: int = 0


@dataclass(frozen=True)
class KafkaRecord:
    """One record as a consumer reads it (``headers`` in order, repeated names kept)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp: int | None
    """Milliseconds since the epoch; None when the record has none."""

    def header(self, name: str) -> bytes | None:
        """The value of the last header called ``name`` (None when there is none, or its value is null)."""
        found = [value for header, value in self.headers if header == name]
        return found[-1] if found else None

    def has_header(self, name: str) -> bool:
        return any(header == name for header, _ in self.headers)


# --- topics ---


def create_topic(bootstrap: str, prefix: str, partitions: int, config: Mapping[str, str] | None = None) -> str:
    """A uniquely named topic with ``config``, and its one-partition dead-letter topic ``<name>.dlq`` (default
    config: the dead-letter topic has the broker's default size limit)."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [
        NewTopic(name, num_partitions=partitions, replication_factor=1, config=dict(config or {})),
        NewTopic(f"{name}.dlq", num_partitions=1, replication_factor=1),
    ]
    for future in admin.create_topics(topics).values():
        future.result(timeout=30)
    return name


def max_message_bytes(bootstrap: str, topic: str) -> int:
    """The topic's ``max.message.bytes``: the largest record batch the broker accepts in it."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    config = admin.describe_configs([resource])[resource].result(timeout=30)
    return int(config["max.message.bytes"].value)


def record_batch_bytes(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """Size of a one-record, uncompressed batch holding these parts: what the broker compares with
    ``max.message.bytes``."""
    body = 3  # attributes, timestamp delta, offset delta (0 each: one byte)
    body += _bytes_field(key) + _varint(len(headers))
    body += _bytes_field(value)
    for name, header_value in headers:
        body += _bytes_field(name.encode()) + _bytes_field(header_value)
    return BATCH_OVERHEAD + _varint(body) + body


def headers_bytes(headers: Headers) -> int:
    """What ``original-headers-bytes`` counts: names' UTF-8 bytes plus values' bytes."""
    return sum(len(name.encode()) + len(value or b"") for name, value in headers)


def largest_fitting(build: Callable[[int], RawRecord], limit: int, most: int = 2_000_000) -> RawRecord:
    """``build(n)`` for the largest ``n`` whose record batch is at most ``limit`` bytes (``build`` grows with n)."""
    low, high = 0, most
    while low < high:
        middle = (low + high + 1) // 2
        record = build(middle)
        if record_batch_bytes(record.key, record.value, record.headers) <= limit:
            low = middle
        else:
            high = middle - 1
    return build(low)


def _varint(number: int) -> int:
    zigzag = (number << 1) ^ (number >> 63)
    length = 1
    while zigzag >= 0x80:
        zigzag >>= 7
        length += 1
    return length


def _bytes_field(data: bytes | None) -> int:
    return _varint(-1) if data is None else _varint(len(data)) + len(data)


# --- producing and reading ---


def produce_each(bootstrap: str, topic: str, records: Iterable[RawRecord]) -> list[tuple[int, int] | str]:
    """Produce each record on its own (one batch each, so a refused record refuses nothing else), in order;
    per record its (partition, offset) when the broker acknowledged it, else why not."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 0,
            "message.max.bytes": 100_000_000,  # let the broker decide what is too large
            "log_level": 3,
        }
    )
    results: list[tuple[int, int] | str] = []
    outcome: list[tuple[int, int] | str] = []

    def delivered(error: KafkaError | None, message: Message) -> None:
        partition, offset = message.partition(), message.offset()
        outcome.append(
            (partition, offset) if error is None and partition is not None and offset is not None else str(error)
        )

    for record in records:
        try:
            producer.produce(
                topic,
                partition=record.partition,
                key=record.key,
                value=record.value,
                headers=list(record.headers) or None,
                timestamp=record.timestamp,
                on_delivery=delivered,
            )
        except (KafkaException, BufferError, ValueError, TypeError, UnicodeError) as error:
            results.append(f"refused locally: {error}")
            continue
        assert producer.flush(60) == 0, "a record was not acknowledged within 60 s"
        results.append(outcome.pop())
    return results


def read_topic(bootstrap: str, topic: str, ends: Mapping[int, int]) -> dict[tuple[int, int], KafkaRecord]:
    """Every record of the partitions in ``ends`` up to their end offset, keyed by (partition, offset)."""
    consumer = KafkaConsumer(
        {"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, partition, 0) for partition, end in ends.items() if end])
    records: dict[tuple[int, int], KafkaRecord] = {}
    done: set[int] = {partition for partition, end in ends.items() if not end}
    deadline = time.monotonic() + 60
    try:
        while len(done) < len(ends):
            assert time.monotonic() < deadline, f"read {len(records)} records of {topic}, expected up to {dict(ends)}"
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            record = _kafka_record(message)
            records[record.partition, record.offset] = record
            if record.offset + 1 >= ends[record.partition]:
                done.add(record.partition)
    finally:
        consumer.close()
    return records


def read_dead_letters(bootstrap: str, topic: str, expected: int, timeout: float = 60) -> list[KafkaRecord]:
    """The records of a one-partition dead-letter topic: at least ``expected`` of them (waits up to
    ``timeout``), and any more that arrive within 3 s after."""
    consumer = KafkaConsumer(
        {"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    letters: list[KafkaRecord] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5 if len(letters) < expected else 3)
            if message is None:
                if len(letters) >= expected:
                    break
                continue
            assert message.error() is None, message.error()
            letters.append(_kafka_record(message))
    finally:
        consumer.close()
    return letters


def _kafka_record(message: Message) -> KafkaRecord:
    timestamp_type, timestamp = message.timestamp()
    partition, offset = message.partition(), message.offset()
    assert partition is not None and offset is not None
    return KafkaRecord(
        partition=partition,
        offset=offset,
        key=message.key(),
        value=message.value(),
        headers=list(message.headers() or []),  # type: ignore[arg-type]
        timestamp=None if timestamp_type == TIMESTAMP_NOT_AVAILABLE else timestamp,
    )


# --- dead letters ---


def dead_letter_problems(letter: KafkaRecord, original: KafkaRecord, topic: str) -> list[str]:
    """What is wrong with ``letter`` as the dead letter of ``original`` (read from ``topic``); empty when right."""
    problems: list[str] = []

    def expect(name: str, wanted: bytes | None) -> None:
        if letter.header(name) != wanted:
            problems.append(f"header {name} is {_short(letter.header(name))}, expected {_short(wanted)}")

    if not letter.header("error"):
        problems.append("no error header")
    expect("source-topic", topic.encode())
    expect("source-partition", str(original.partition).encode())
    expect("source-offset", str(original.offset).encode())
    expect("source-timestamp", None if original.timestamp is None else str(original.timestamp).encode())
    cut = letter_cut(letter)
    if cut is None:
        problems += [f"{part} not cut (no dead-letter-cut) but differs" for part in _differing_parts(letter, original)]
        return problems
    if not cut or [part for part in CUT_PARTS if part in cut] != cut:
        problems.append(f"dead-letter-cut {cut} is not a subset of {CUT_PARTS} in that order")
    for part in set(_differing_parts(letter, original)) - set(cut):
        problems.append(f"{part} differs from the original but is not listed in dead-letter-cut {cut}")
    for part, kept, whole in (("key", letter.key, original.key), ("value", letter.value, original.value)):
        if part in cut and not _cut_from(kept, whole):
            problems.append(f"cut {part} ({_short(kept)}) is neither dropped nor a shorter prefix of the original")
    expect("original-key-bytes", str(len(original.key or b"")).encode())
    expect("original-value-bytes", str(len(original.value or b"")).encode())
    expect("original-headers-bytes", str(headers_bytes(original.headers)).encode())
    expect("original-key-sha256", None if original.key is None else hashlib.sha256(original.key).hexdigest().encode())
    return problems


def letter_cut(letter: KafkaRecord) -> list[str] | None:
    """The parts listed in ``dead-letter-cut``, None when the letter has no such header (it was not cut)."""
    cut = letter.header("dead-letter-cut")
    if cut is None:
        return None if not letter.has_header("dead-letter-cut") else []
    return cut.decode().split(",")


def _differing_parts(letter: KafkaRecord, original: KafkaRecord) -> list[str]:
    """The parts of ``letter`` that are not the original's (its headers must begin with the original ones)."""
    differing = [part for part in ("key", "value") if getattr(letter, part) != getattr(original, part)]
    if letter.headers[: len(original.headers)] != original.headers:
        differing.append("headers")
    return [part for part in CUT_PARTS if part in differing]


def _cut_from(kept: bytes | None, whole: bytes | None) -> bool:
    """A cut part is dropped (None) or a shorter prefix of the original."""
    return kept is None or (whole is not None and len(kept) < len(whole) and whole.startswith(kept))


def _short(data: bytes | None) -> str:
    if data is None:
        return "None"
    return repr(data[:60]) + (f"... ({len(data)} bytes)" if len(data) > 60 else "")


def by_source(letters: Sequence[KafkaRecord]) -> dict[tuple[int, int], list[KafkaRecord]]:
    """Dead letters grouped by the (partition, offset) of the record they stand for."""
    grouped: dict[tuple[int, int], list[KafkaRecord]] = {}
    for letter in letters:
        partition, offset = letter.header("source-partition"), letter.header("source-offset")
        key = (int(partition or b"-1"), int(offset or b"-1"))
        grouped.setdefault(key, []).append(letter)
    return grouped
