"""Publishes records to Kafka and reports each one's partition and offset once the broker acknowledged it.

A confluent-kafka ``Producer`` (idempotent, ``acks=all``) is served by one background thread that polls
for delivery reports and settles the matching asyncio futures on the event loop
(``loop.call_soon_threadsafe``). Every wait is bounded by PRODUCE_TIMEOUT, which is also the producer's
``message.timeout.ms``: a record is either acknowledged in time or reported as not delivered, never left
hanging, and an unacknowledged record is never reported as delivered.
"""

import asyncio
import logging
import threading
import time
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from common.kafka_client import durable_producer_config, security_config
from producer.metrics import ProducerMetrics
from producer.settings import ProducerSettings

log = logging.getLogger(__name__)

POLL_INTERVAL_SECONDS = 0.1


class PublishError(Exception):
    """A record that Kafka did not acknowledge; ``reason`` says why and what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KafkaUnavailable(PublishError):
    """Kafka cannot take the record now (broker unreachable, local queue full, timeout): retry later."""


class RecordTooLarge(PublishError):
    """The record is larger than the broker accepts: retrying will not help."""


@dataclass(frozen=True)
class Delivery:
    """Where Kafka stored an acknowledged record."""

    partition: int
    offset: int


def producer_config(settings: ProducerSettings) -> dict[str, str | int | float | bool]:
    """librdkafka settings: durable (idempotent, acks=all) and bounded in time and memory."""
    return {
        **durable_producer_config(
            security_config(settings),
            settings.kafka_bootstrap_servers,
            "newscounts-producer",
            settings.linger.total_seconds() * 1000,
            settings.kafka_compression,
        ),
        "message.timeout.ms": int(settings.produce_timeout.total_seconds() * 1000),
        "queue.buffering.max.messages": settings.queue_max_messages,
        "queue.buffering.max.kbytes": settings.queue_max_kbytes,
        # The topic is created by the operator with its partition count; never auto-create a wrong one.
        "allow.auto.create.topics": False,
        # A record holds at most one request body; the broker still applies its own limit (413 then).
        "message.max.bytes": max(settings.max_body_bytes + 64 * 1024, 1_000_000),
    }


class Publisher:
    """One Kafka producer for the whole process; ``publish`` may be awaited from any number of requests."""

    def __init__(self, settings: ProducerSettings, metrics: ProducerMetrics) -> None:
        self._topic = settings.kafka_topic
        self._timeout = settings.produce_timeout.total_seconds()
        self._metrics = metrics
        self._fatal: KafkaError | None = None
        # librdkafka's own log lines go to Python logging (served by the poll thread), not raw stderr.
        self._producer = Producer(
            {**producer_config(settings), "error_cb": self._on_error, "logger": logging.getLogger("producer.kafka")}
        )
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll_forever, name="kafka-delivery-reports", daemon=True)
        metrics.watch_queue_depth(lambda: len(self._producer))

    def start(self) -> None:
        self._poller.start()

    def close(self) -> None:
        """Wait up to PRODUCE_TIMEOUT for queued records, then stop (blocking: call from a thread)."""
        self._stopping.set()
        self._poller.join()
        left = self._producer.flush(self._timeout)
        if left:
            log.warning("%d records were not acknowledged by Kafka before shutdown", left)

    @property
    def fatal_error(self) -> str | None:
        """Set when librdkafka hit an unrecoverable error: the process must be restarted."""
        return None if self._fatal is None else self._fatal.str()

    async def publish(self, key: str, value: bytes) -> Delivery:
        """Publish one record; raise :class:`PublishError` unless Kafka acknowledged it within PRODUCE_TIMEOUT."""
        (outcome,) = await self.publish_many([(key, value)])
        if isinstance(outcome, PublishError):
            raise outcome
        return outcome

    async def publish_many(self, records: list[tuple[str, bytes]]) -> list[Delivery | PublishError]:
        """Publish records (key, value); one outcome per record, in order, within PRODUCE_TIMEOUT overall."""
        loop = asyncio.get_running_loop()
        outcomes: list[Delivery | PublishError | None] = [None] * len(records)
        pending: dict[asyncio.Future[Delivery], int] = {}
        for index, (key, value) in enumerate(records):
            try:
                pending[self._submit(loop, key, value)] = index
            except PublishError as error:
                outcomes[index] = error
        if pending:
            done, late = await asyncio.wait(pending, timeout=self._timeout)
            for future in done:
                failure = future.exception()
                outcomes[pending[future]] = future.result() if failure is None else self._as_publish_error(failure)
            for future in late:
                future.cancel()
                self._metrics.produce_errors.labels("timeout").inc()
                outcomes[pending[future]] = KafkaUnavailable(
                    f"Kafka did not acknowledge the record within {self._timeout:g}s; retry later"
                )
        return [outcome for outcome in outcomes if outcome is not None]

    def check_broker(self, timeout: float) -> str | None:
        """None when the broker answers a metadata request for the topic in time, else the problem.

        Blocking: call from a thread.
        """
        try:
            metadata = self._producer.list_topics(self._topic, timeout=timeout)
        except KafkaException as error:
            return f"Kafka at the bootstrap servers did not answer within {timeout:g}s: {error.args[0].str()}"
        topic = metadata.topics.get(self._topic)
        if topic is None or topic.error is not None:
            problem = "missing" if topic is None else topic.error.str()
            return f"Kafka topic {self._topic!r} is not available: {problem}"
        return None

    def _submit(self, loop: asyncio.AbstractEventLoop, key: str, value: bytes) -> "asyncio.Future[Delivery]":
        if self._fatal is not None:
            raise KafkaUnavailable(f"the Kafka producer failed and the service must be restarted: {self.fatal_error}")
        future: asyncio.Future[Delivery] = loop.create_future()
        started = time.perf_counter()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            # Runs on the poll thread: read the message here, settle the future on the loop.
            self._metrics.delivery_latency.observe(time.perf_counter() - started)
            if error is None:
                outcome: Delivery | PublishError = Delivery(message.partition() or 0, message.offset() or 0)
            else:
                outcome = self._delivery_failure(error)
            loop.call_soon_threadsafe(_settle, future, outcome)

        try:
            self._producer.produce(self._topic, value=value, key=key.encode("utf-8"), on_delivery=on_delivery)
        except BufferError:
            self._metrics.produce_errors.labels("queue_full").inc()
            raise KafkaUnavailable(
                "the producer's local queue is full (Kafka is slow or unreachable); retry later"
            ) from None
        except KafkaException as error:
            raise self._delivery_failure(error.args[0]) from None
        return future

    def _delivery_failure(self, error: KafkaError) -> PublishError:
        if error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            self._metrics.produce_errors.labels("too_large").inc()
            return RecordTooLarge("the article is larger than the Kafka broker accepts; send a smaller one")
        self._metrics.produce_errors.labels("delivery_failed").inc()
        return KafkaUnavailable(f"Kafka did not acknowledge the record ({error.str()}); retry later")

    @staticmethod
    def _as_publish_error(error: BaseException) -> PublishError:
        return error if isinstance(error, PublishError) else KafkaUnavailable(f"publishing failed: {error}")

    def _poll_forever(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(POLL_INTERVAL_SECONDS)

    def _on_error(self, error: KafkaError) -> None:
        # librdkafka logs each connection failure itself (logger "producer.kafka"); only the summary and
        # fatal errors are worth a line of our own.
        if error.fatal():
            self._fatal = error
            log.error("the Kafka producer hit a fatal error and must be restarted: %s", error.str())
        elif error.code() == KafkaError._ALL_BROKERS_DOWN:
            log.warning("Kafka producer: %s; records wait up to PRODUCE_TIMEOUT, then get 503", error.str())
        else:
            log.debug("Kafka producer: %s", error.str())


def _settle(future: "asyncio.Future[Delivery]", outcome: Delivery | PublishError) -> None:
    if future.done():  # timed out and cancelled meanwhile
        return
    if isinstance(outcome, PublishError):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
