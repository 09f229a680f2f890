"""The dead-letter topic: messages that cannot be counted go there with their original bytes and why.

A dead letter's offset counts as processed, so the flush that covers it must not be written before the
dead letter is safely in Kafka: :meth:`DeadLetters.deliver` says when every letter sent was acknowledged,
and the checkpointer calls it before each sink write. A letter whose delivery failed is sent again.

A dead letter can never fail on the record's own size: a letter over :data:`MAX_DEAD_LETTER_BYTES` (or one
the broker refuses as too large) loses its largest original parts (the key, the value, the original headers)
until it fits, and says so in its headers (:func:`fit`).
"""

import hashlib
import logging
from dataclasses import dataclass, replace
from functools import partial

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, KafkaError, KafkaException, Message, Producer

from consumer.logs import event

log = logging.getLogger(__name__)

Headers = list[tuple[str, str | bytes | None]]

MAX_DEAD_LETTER_BYTES = 900_000
"""Largest dead letter sent (key + value + headers): under librdkafka's default ``message.max.bytes``
(1,000,000) and the broker's default ``max.message.bytes`` (1,048,588), with room for the record framing."""

MAX_ERROR_CHARS = 2_000
"""The ``error`` header is cut to this many characters."""

CUT_PARTS = ("key", "value", "headers")
"""The original parts a letter may lose, in the order the ``dead-letter-cut`` header lists them."""

NOTES_BYTES = 300
"""Room kept for the headers that say what was cut."""


@dataclass(frozen=True)
class DeadLetter:
    """One record for the dead-letter topic: the original key, value and headers (or what is left of them),
    and ours."""

    key: bytes | None
    value: bytes | None
    headers: Headers
    """The original record's headers (empty once cut)."""
    ours: Headers
    """``error`` and ``source-*``."""
    cut: frozenset[str] = frozenset()
    """The original parts dropped to fit (see :func:`fit`)."""
    original_sizes: tuple[int, int, int] = (0, 0, 0)
    """Bytes of the original key, value and headers (set once something is cut)."""
    original_key_sha256: str | None = None

    @property
    def all_headers(self) -> Headers:
        headers = [*self.headers, *self.ours]
        if self.cut:
            key_bytes, value_bytes, headers_bytes = self.original_sizes
            headers += [
                ("dead-letter-cut", ",".join(name for name in CUT_PARTS if name in self.cut).encode()),
                ("original-key-bytes", str(key_bytes).encode()),
                ("original-value-bytes", str(value_bytes).encode()),
                ("original-headers-bytes", str(headers_bytes).encode()),
            ]
            if self.original_key_sha256 is not None:
                headers.append(("original-key-sha256", self.original_key_sha256.encode()))
        return headers


def dead_letter(message: Message, error: str) -> DeadLetter:
    """The original key, value and headers, with ``error``, ``source-topic``, ``source-partition``,
    ``source-offset`` and ``source-timestamp`` (milliseconds since the epoch; absent when Kafka has none),
    cut to fit the dead-letter topic (:func:`fit`)."""
    timestamp_type, timestamp = message.timestamp()
    ours: Headers = [
        ("error", error[:MAX_ERROR_CHARS].encode()),
        ("source-topic", (message.topic() or "").encode()),
        ("source-partition", str(message.partition()).encode()),
        ("source-offset", str(message.offset()).encode()),
    ]
    if timestamp_type != TIMESTAMP_NOT_AVAILABLE:
        ours.append(("source-timestamp", str(timestamp).encode()))
    original = message.headers() or []
    headers: Headers = list(original.items() if isinstance(original, dict) else original)
    letter = DeadLetter(key=message.key(), value=message.value(), headers=headers, ours=ours)
    return fit(letter, MAX_DEAD_LETTER_BYTES)


def fit(letter: DeadLetter, limit: int) -> DeadLetter:
    """``letter`` as it is when it holds at most ``limit`` bytes; else without its largest original parts,
    dropped one by one until it fits (all of them if need be), noting in its headers ``dead-letter-cut``
    (what was dropped: some of ``key``, ``value``, ``headers``), ``original-key-bytes``,
    ``original-value-bytes``, ``original-headers-bytes`` and, when there was a key, ``original-key-sha256``."""
    parts = {"key": _size(letter.key), "value": _size(letter.value), "headers": _headers_size(letter.headers)}
    total = sum(parts.values()) + _headers_size(letter.ours) + NOTES_BYTES
    cut = set(letter.cut)
    for name, size in sorted(parts.items(), key=lambda item: -item[1]):
        if total <= limit:
            break
        if size:
            cut.add(name)
            total -= size
    if cut == letter.cut:
        return letter
    first_cut = not letter.cut
    return replace(
        letter,
        key=None if "key" in cut else letter.key,
        value=None if "value" in cut else letter.value,
        headers=[] if "headers" in cut else letter.headers,
        cut=frozenset(cut),
        original_sizes=(parts["key"], parts["value"], parts["headers"]) if first_cut else letter.original_sizes,
        original_key_sha256=(
            hashlib.sha256(letter.key).hexdigest()
            if first_cut and letter.key is not None
            else letter.original_key_sha256
        ),
    )


class DeadLetters:
    """Produces dead letters (idempotent producer, acks=all) and tracks which are not yet acknowledged."""

    def __init__(self, producer: Producer, topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self._in_flight = 0
        self._failed: list[DeadLetter] = []

    @classmethod
    def connect(cls, bootstrap_servers: str, topic: str, client_id: str, security: dict[str, str]) -> "DeadLetters":
        producer = Producer(
            {
                **security,
                "bootstrap.servers": bootstrap_servers,
                "client.id": client_id,
                "enable.idempotence": True,
                "linger.ms": 5,
            }
        )
        return cls(producer, topic)

    def send(self, letter: DeadLetter) -> None:
        """Queue ``letter`` for the dead-letter topic (returns at once; see :meth:`deliver`)."""
        self._produce(letter)
        self._producer.poll(0)

    def deliver(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until every letter sent so far is acknowledged by Kafka; letters
        that failed are sent again first. True when nothing is outstanding."""
        failed, self._failed = self._failed, []
        for letter in failed:
            self._produce(letter)
        if self._in_flight:
            self._producer.flush(timeout)
        return self._in_flight == 0 and not self._failed

    def _produce(self, letter: DeadLetter) -> None:
        while True:
            try:
                self._producer.produce(
                    self._topic,
                    key=letter.key,
                    value=letter.value,
                    headers=letter.all_headers,
                    on_delivery=partial(self._delivered, letter),
                )
            except BufferError:  # the local queue is full: serve delivery reports, then try again
                self._producer.poll(0.5)
                continue
            except KafkaException as error:
                if error.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE or _bare(letter):
                    raise
                letter = fit(letter, 0)  # librdkafka takes less than we assumed: keep only our headers
                continue
            self._in_flight += 1
            return

    def _delivered(self, letter: DeadLetter, error: KafkaError | None, _: Message) -> None:
        self._in_flight -= 1
        if error is None:
            return
        missing = error.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC)
        action = f"create the topic {self._topic}" if missing else "sending it again before the next flush"
        log.warning(event("dead_letter_failed", error=error.str(), action=action))
        if error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            letter = fit(letter, 0)  # the topic takes less than we assumed: keep only our headers
        self._failed.append(letter)


def _bare(letter: DeadLetter) -> bool:
    return letter.key is None and letter.value is None and not letter.headers


def _size(data: bytes | None) -> int:
    return 0 if data is None else len(data)


def _headers_size(headers: Headers) -> int:
    return sum(
        len(name.encode()) + _size(value.encode() if isinstance(value, str) else value) for name, value in headers
    )
