"""The dead-letter topic: messages that are not articles go there with their original bytes and why.

A dead letter's offset counts as processed, so the flush that covers it must not be written before the
dead letter is safely in Kafka: :meth:`DeadLetters.deliver` says when every letter sent was acknowledged,
and the checkpointer calls it before each sink write. A letter whose delivery failed is sent again.
"""

import logging
from dataclasses import dataclass, replace
from functools import partial

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, KafkaError, KafkaException, Message, Producer

from consumer.logs import event

log = logging.getLogger(__name__)

Headers = list[tuple[str, str | bytes | None]]


@dataclass(frozen=True)
class DeadLetter:
    """One record for the dead-letter topic: the original key, value and headers plus ours."""

    key: bytes | None
    value: bytes | None
    headers: Headers


def dead_letter(message: Message, error: str) -> DeadLetter:
    """The original key, value and headers, followed by ``error``, ``source-topic``, ``source-partition``,
    ``source-offset`` and ``source-timestamp`` (milliseconds since the epoch; absent when Kafka has none)."""
    timestamp_type, timestamp = message.timestamp()
    ours = [
        ("error", error),
        ("source-topic", message.topic() or ""),
        ("source-partition", str(message.partition())),
        ("source-offset", str(message.offset())),
    ]
    if timestamp_type != TIMESTAMP_NOT_AVAILABLE:
        ours.append(("source-timestamp", str(timestamp)))
    original = message.headers() or []
    headers: Headers = list(original.items() if isinstance(original, dict) else original)
    headers.extend((name, text.encode()) for name, text in ours)
    return DeadLetter(key=message.key(), value=message.value(), headers=headers)


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
                    headers=letter.headers,
                    on_delivery=partial(self._delivered, letter),
                )
            except BufferError:  # the local queue is full: serve delivery reports, then try again
                self._producer.poll(0.5)
                continue
            except KafkaException as error:
                if error.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE or letter.value is None:
                    raise
                letter = _without_value(letter, str(error.args[0]))
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
        if error.code() == KafkaError.MSG_SIZE_TOO_LARGE and letter.value is not None:
            letter = _without_value(letter, error.str())
        self._failed.append(letter)


def _without_value(letter: DeadLetter, reason: str) -> DeadLetter:
    """The letter without the original value, which the dead-letter topic refused as too large; a
    ``value-dropped`` header says so (the source topic, partition and offset still locate the original)."""
    return replace(letter, value=None, headers=[*letter.headers, ("value-dropped", reason.encode())])
