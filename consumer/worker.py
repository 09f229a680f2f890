"""One worker process: a Kafka consumer in the group that runs NER over its partitions' articles and
counts them through the :class:`~consumer.checkpoint.Checkpointer`.

SIGTERM or SIGINT: finish the current article, flush and commit every partition, leave the group (a dynamic
member's partitions move at once), close the consumer, exit 0.
"""

import logging
import os
import signal
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, KafkaException, Message, TopicPartition
from spacy.language import Language

from common.article import Article, InvalidArticle, parse_article
from common.sinks.factory import open_writer
from consumer.checkpoint import Checkpointer
from consumer.dead_letters import DeadLetters, dead_letter
from consumer.entities import article_entities
from consumer.logs import configure_logging, event
from consumer.nlp import entities_per_text, load_ner
from consumer.settings import ConsumerSettings, GroupProtocol
from consumer.stats import WorkerStats, serve_metrics
from consumer.supervisor import exit_after_stop
from consumer.windows import event_time, window_start

log = logging.getLogger(__name__)

QUEUED_MAX_KBYTES = 16 * 1024
"""Prefetched messages kept per worker (librdkafka's default, 64 MiB, would be most of a worker's memory)."""

LEAVE_TIMEOUT_SECONDS = 10.0
"""Longest wait, on a clean stop, for the group to take back this worker's partitions before ``close()``."""


def consumer_config(settings: ConsumerSettings, worker: int) -> dict[str, Any]:
    """librdkafka settings of worker ``worker``: manual commits only, and the chosen rebalance protocol."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "group.id": settings.kafka_group_id,
        "client.id": f"newscounts-consumer-{worker}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "max.poll.interval.ms": int(settings.max_poll_interval.total_seconds() * 1000),
        "queued.max.messages.kbytes": QUEUED_MAX_KBYTES,
        "group.protocol": settings.kafka_group_protocol.value,
    }
    if settings.kafka_group_protocol is GroupProtocol.CLASSIC:
        session_ms = int(settings.session_timeout.total_seconds() * 1000)
        config["partition.assignment.strategy"] = "cooperative-sticky"
        config["session.timeout.ms"] = session_ms
        config["heartbeat.interval.ms"] = max(100, min(3000, session_ms // 3))
    if settings.group_instance_prefix:
        config["group.instance.id"] = f"{settings.group_instance_prefix}-{worker}"
    return config


class _StopRequest:
    """Set by SIGTERM/SIGINT, or when the supervisor is gone (this worker was orphaned, e.g. the
    supervisor got SIGKILL); the loop checks it between batches."""

    def __init__(self) -> None:
        self._requested = False
        self._parent = os.getppid()

    def __call__(self, signum: int, _: FrameType | None) -> None:
        if not self._requested:
            log.info(event("stopping", signal=signal.Signals(signum).name))
        self._requested = True

    @property
    def requested(self) -> bool:
        if not self._requested and os.getppid() != self._parent:
            log.warning(event("stopping", reason="supervisor gone"))
            self._requested = True
        return self._requested


@dataclass
class _Parsed:
    message: Message
    article: Article | None
    error: str | None


class Worker:
    """The consume -> NER -> count -> flush loop of one process."""

    def __init__(
        self,
        settings: ConsumerSettings,
        index: int,
        nlp: Language,
        consumer: Consumer,
        checkpointer: Checkpointer,
        dead_letters: DeadLetters,
        stats: WorkerStats,
    ) -> None:
        self._settings = settings
        self._index = index
        self._nlp = nlp
        self._consumer = consumer
        self._checkpointer = checkpointer
        self._dead_letters = dead_letters
        self._stats = stats
        self._window_seconds = int(settings.window.total_seconds())
        self._excluded = settings.excluded_labels

    def run(self, stop: _StopRequest) -> None:
        settings = self._settings
        self._consumer.subscribe(
            [settings.kafka_topic],
            on_assign=self._checkpointer.on_assign,
            on_revoke=self._checkpointer.on_revoke,
            on_lost=self._checkpointer.on_lost,
        )
        stats_every = settings.stats_interval.total_seconds()
        next_stats = time.monotonic() + stats_every
        while not stop.requested:
            messages = self._consumer.consume(settings.consume_batch_size, 0) or self._wait_for_message()
            if messages:
                self.process(messages, stop)
            self._checkpointer.flush_due()
            if time.monotonic() >= next_stats:
                log.info(self._stats.summary())
                next_stats += stats_every
        self._checkpointer.flush_all()

    def _wait_for_message(self) -> list[Message]:
        """Nothing has arrived: wait for one message, up to CONSUME_TIMEOUT or until a flush (or retry) is due.

        ``consume(n, timeout)`` returns only once it holds ``n`` messages or the timeout passed, so a batch
        call would hold a trickle of articles back; taking what has arrived (timeout 0) first and then
        waiting for one message keeps batches under load and adds no wait otherwise."""
        wait = self._settings.consume_timeout.total_seconds()
        if (due := self._checkpointer.seconds_until_due()) is not None:
            wait = min(wait, due)
        return self._consumer.consume(1, wait)

    def process(self, messages: list[Message], stop: _StopRequest) -> None:
        """Count one batch: parse, run NER over the valid articles of partitions we own, add to pending.

        NER runs lazily, article by article, so a stop request ends the batch after the current article:
        what was not processed is not in the pending offsets, and the next owner takes it from the sink's.
        """
        started = time.monotonic()
        self._checkpointer.begin_batch()
        batch = [self._parse(message) for message in messages if self._wanted(message)]
        valid = [parsed.article.content for parsed in batch if parsed.article is not None]
        found_per_article = entities_per_text(
            self._nlp, valid, batch_size=self._settings.ner_batch_size, chunk_chars=self._settings.ner_chunk_chars
        )
        for parsed in batch:
            if stop.requested:
                break
            message = parsed.message
            partition, offset = message.partition(), message.offset()
            assert partition is not None and offset is not None  # set on every consumed message
            found = next(found_per_article) if parsed.article is not None else None
            pending = self._checkpointer.pending_for(partition, offset)
            if pending is None:
                continue
            if parsed.article is None or found is None:  # not an article: only its offset moves on
                self._dead_letters.send(dead_letter(message, parsed.error or "invalid"))
                pending.skip(offset)
                self._stats.dead_letters += 1
                log.warning(event("dead_lettered", partition, offset=offset, error=parsed.error))
                continue
            article_id = parsed.article.article_id
            if pending.seen(article_id):  # the same article again (a client retry): counted once
                pending.skip(offset)
                self._stats.duplicates += 1
                log.info(event("duplicate_skipped", partition, offset=offset, article_id=article_id))
                continue
            moment = event_time(parsed.article, _timestamp_ms(message))
            entities = article_entities(found, self._excluded)
            window = window_start(moment, self._window_seconds)
            pending.add_article(offset, parsed.article.publication, window, entities, article_id=article_id)
            self._stats.articles += 1
            self._checkpointer.flush_due()
        seconds = time.monotonic() - started
        if seconds > self._settings.max_poll_interval.total_seconds() / 2:
            log.warning(
                event("slow_batch", seconds=round(seconds), messages=len(messages), action="lower CONSUME_BATCH_SIZE")
            )

    def _wanted(self, message: Message) -> bool:
        """Skip error events (logged; fatal ones stop the worker) and messages already counted."""
        error = message.error()
        if error is not None:
            if error.fatal() or error.code() == KafkaError._FATAL:  # the consumer is unusable: restart
                raise KafkaException(error)
            log.warning(event("kafka_error", message.partition(), error=error.str(), code=error.name()))
            if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                log.error(event("topic_missing", topic=self._settings.kafka_topic, action="create the topic"))
            return False
        partition, offset = message.partition(), message.offset()
        if partition is None or offset is None:
            return False
        return self._checkpointer.pending_for(partition, offset) is not None

    def _parse(self, message: Message) -> _Parsed:
        try:
            return _Parsed(message, parse_article(message.value(), self._settings.max_article_bytes), None)
        except InvalidArticle as error:
            return _Parsed(message, None, error.reason)


def _timestamp_ms(message: Message) -> int | None:
    timestamp_type, timestamp = message.timestamp()
    return None if timestamp_type == TIMESTAMP_NOT_AVAILABLE else timestamp


def leave_group(consumer: Consumer, timeout: float) -> None:
    """Unsubscribe and serve the revocation of every partition before ``close()``.

    ``close()`` while a cooperative rebalance is in flight can abort the process inside librdkafka 2.x
    (``rd_kafka_cgrp_terminated: assert: !rd_kafka_assignment_in_progress``, confluentinc/librdkafka#4792):
    leaving first, and polling until nothing is assigned, leaves ``close()`` nothing in progress. Revoked
    partitions are flushed by the checkpointer's ``on_revoke`` (already flushed on a clean stop, so nothing is
    written); messages returned meanwhile belong to partitions being given up and are not counted.
    """
    consumer.unsubscribe()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        consumer.consume(num_messages=100, timeout=0.1)
        if not consumer.assignment():
            consumer.consume(num_messages=100, timeout=0.5)  # let the fetchers of the revoked partitions stop
            return
    log.warning(event("leave_timeout", seconds=timeout, assigned=len(consumer.assignment())))


def run_worker(settings: ConsumerSettings, index: int) -> int:
    """Run worker ``index`` until SIGTERM/SIGINT; the process's exit code (0 after a clean stop)."""
    stop = _StopRequest()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    configure_logging(settings.log_level, worker=index)
    started = time.monotonic()
    nlp = load_ner(settings.ner_model)
    sink = open_writer(settings)
    stats = WorkerStats()
    if settings.metrics_port is not None:
        serve_metrics(stats, index, settings.metrics_port + index)
    dead_letters = DeadLetters.connect(
        settings.kafka_bootstrap_servers, settings.kafka_dlq_topic, f"newscounts-dead-letters-{index}"
    )
    checkpointer: Checkpointer  # created with the consumer, which reports commit results to it

    def on_commit(error: KafkaError | None, offsets: list[TopicPartition]) -> None:
        checkpointer.on_commit(error, offsets)

    consumer = Consumer({**consumer_config(settings, index), "on_commit": on_commit})
    checkpointer = Checkpointer(consumer, sink, dead_letters, settings, stats)
    log.info(event("ready", seconds=round(time.monotonic() - started, 1), model=settings.ner_model))
    try:
        Worker(settings, index, nlp, consumer, checkpointer, dead_letters, stats).run(stop)
        leave_group(consumer, LEAVE_TIMEOUT_SECONDS)
    except BaseException:
        checkpointer.drop_all()  # never flush state a crash may have left half-updated
        raise
    finally:
        consumer.close()
        dead_letters.deliver(timeout=10.0)
        sink.close()
    log.info(stats.summary())
    log.info(event("stopped"))
    return 0


def main(settings: ConsumerSettings, index: int) -> None:
    """Entry point of a spawned worker process."""
    exit_after_stop(run_worker(settings, index))
