"""One worker process: a Kafka consumer in the group that counts its partitions' articles through the
:class:`~consumer.checkpoint.Checkpointer`, with NER done by the group's NER processes.

The loop, once per turn: take what Kafka has (parse each message, send its pieces to NER, keep it in offset
order in :class:`~consumer.in_flight.InFlight`); collect NER results; count the messages now ready at the
front of each partition; flush what is due. The worker never waits for NER, so it calls ``consume`` every
turn whatever the articles' size; when it holds as much NER work as it may, it pauses its partitions
(backpressure) until the NER processes catch up.

SIGTERM or SIGINT: stop taking messages, flush and commit what was counted (messages still waiting for NER
are not in the flushed offsets: the next owner reads them again), leave the group, close, exit 0.
"""

import logging
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, KafkaException, Message, TopicPartition

from common.article import InvalidArticle, parse_article
from common.kafka_client import security_config
from common.sinks.factory import open_writer
from consumer.aliases import AliasTable, alias_article, load_alias_table
from consumer.checkpoint import Checkpointer
from consumer.dead_letters import DeadLetters, dead_letter
from consumer.entities import article_entities
from consumer.exit import exit_after_stop
from consumer.in_flight import InFlight, Taken
from consumer.logs import configure_logging, event
from consumer.ner_client import IN_FLIGHT_PER_PROCESS, NerClient
from consumer.nlp import merge_pieces, plan_pieces, widen_pieces
from consumer.pauses import PauseReason, Pauses
from consumer.pending import PendingPartition
from consumer.settings import ConsumerSettings, GroupProtocol
from consumer.stats import WorkerStats
from consumer.windows import EventTimeOutOfRange, event_time, window_start

log = logging.getLogger(__name__)

QUEUED_MAX_KBYTES = 4 * 1024
"""Prefetched messages kept per worker (librdkafka's default, 64 MiB, would be most of a worker's memory;
the NER processes, not the prefetch, hold the work in progress)."""

LEAVE_TIMEOUT_SECONDS = 10.0
"""Longest wait, on a clean stop, for the group to take back this worker's partitions before ``close()``."""

NER_POLL_SECONDS = 0.25
"""Longest wait for NER results while some are outstanding, before the worker calls ``consume`` again."""

BUSY_BYTES, CALM_BYTES = 8_000_000, 4_000_000
"""Characters of articles waiting for NER above which a worker pauses its partitions, and below which it
resumes them (with the requests bound below: a hot partition keeps every NER process busy, no more)."""

BUSY_REQUESTS_PER_PROCESS = 2 * IN_FLIGHT_PER_PROCESS
"""NER requests outstanding per NER process above which a worker pauses its partitions (half: resumes)."""


def consumer_config(settings: ConsumerSettings, worker: int) -> dict[str, Any]:
    """librdkafka settings of worker ``worker``: manual commits only, and the chosen rebalance protocol."""
    config: dict[str, Any] = {
        **security_config(settings),
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
        config["partition.assignment.strategy"] = "cooperative-sticky"
        config["session.timeout.ms"] = int(settings.session_timeout.total_seconds() * 1000)
        config["heartbeat.interval.ms"] = int(settings.heartbeat_interval.total_seconds() * 1000)
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


class Worker:
    """The consume -> NER -> count -> flush loop of one process."""

    def __init__(
        self,
        settings: ConsumerSettings,
        index: int,
        consumer: Consumer,
        checkpointer: Checkpointer,
        dead_letters: DeadLetters,
        pauses: Pauses,
        ner: NerClient,
        stats: WorkerStats,
        aliases: AliasTable,
    ) -> None:
        self._settings = settings
        self._index = index
        self._consumer = consumer
        self._checkpointer = checkpointer
        self._dead_letters = dead_letters
        self._pauses = pauses
        self._ner = ner
        self._stats = stats
        self._in_flight = InFlight()
        self._window_seconds = int(settings.window.total_seconds())
        self._excluded = settings.excluded_labels
        self._aliases = aliases
        self._busy_requests = BUSY_REQUESTS_PER_PROCESS * settings.ner_processes
        self._busy = False

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
            self.turn()
            if time.monotonic() >= next_stats:
                log.info(self._summary())
                next_stats += stats_every
        dropped = self._in_flight.messages
        self._in_flight.clear()
        if dropped:
            log.info(event("stopping", waiting_for_ner=dropped, action="not counted here: the next owner reads them"))
        self._checkpointer.flush_all()

    def _summary(self) -> str:
        return self._stats.summary(
            waiting_for_ner=self._in_flight.messages, ner_requests=self._ner.outstanding, busy=self._busy
        )

    def turn(self) -> None:
        """Take what Kafka has, collect NER results, count what is ready in order, flush what is due."""
        batch = self._settings.consume_batch_size
        messages = self._consumer.consume(batch, 0)
        if not messages and not self._in_flight.messages:
            messages = self._wait_for_message()
        for message in messages:
            self._take(message)
        for result in self._ner.poll(0 if messages else self._ner_wait()):
            if (complete := self._in_flight.record(result)) is not None:
                self._splice(complete)
        self._drop_stale()
        for taken in self._in_flight.ready():
            self._release(taken)
        self._apply_backpressure()
        self._checkpointer.flush_due(self._checkpointer.budget())

    def _wait_for_message(self) -> list[Message]:
        """Nothing has arrived and nothing waits for NER: wait for one message, up to CONSUME_TIMEOUT or
        until a flush (or retry) is due.

        ``consume(n, timeout)`` returns only once it holds ``n`` messages or the timeout passed, so a batch
        call would hold a trickle of articles back; taking what has arrived (timeout 0) first and then
        waiting for one message keeps batches under load and adds no wait otherwise."""
        wait = self._settings.consume_timeout.total_seconds()
        if (due := self._checkpointer.seconds_until_due()) is not None:
            wait = min(wait, due)
        return self._consumer.consume(1, wait)

    def _ner_wait(self) -> float:
        """How long to wait for NER results: a little, and never past a due flush."""
        due = self._checkpointer.seconds_until_due()
        return NER_POLL_SECONDS if due is None else min(NER_POLL_SECONDS, due)

    def _take(self, message: Message) -> None:
        """Admit a consumed message, parse it, send an article's pieces to NER; it then waits in order."""
        error = message.error()
        if error is not None:
            if error.fatal() or error.code() == KafkaError._FATAL:  # the consumer is unusable: restart
                raise KafkaException(error)
            log.warning(event("kafka_error", message.partition(), error=error.str(), code=error.name()))
            if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                log.error(event("topic_missing", topic=self._settings.kafka_topic, action="create the topic"))
            return
        partition, offset = message.partition(), message.offset()
        if partition is None or offset is None:
            return
        epoch = self._checkpointer.admit(partition, offset)
        if epoch is None:
            return
        taken = Taken(message, partition, offset, epoch)
        self._prepare(taken)
        self._in_flight.add(taken)
        self._ask(taken, range(len(taken.pieces)))

    def _ask(self, taken: Taken, pieces: Iterable[int]) -> None:
        for index in pieces:
            self._in_flight.asked(taken, index, self._ner.submit(taken.pieces[index]))

    def _splice(self, taken: Taken) -> None:
        """All of an article's pieces are read: splice them into its entities, or read again with more context
        the pieces around a cut where no exact splice point was found (:mod:`consumer.nlp`)."""
        if taken.error is not None or taken.article is None:
            return
        found = [piece for piece in taken.found if piece is not None]
        merged = merge_pieces(found)
        if merged.inexact_cuts:
            wider = widen_pieces(taken.article.content, taken.pieces, merged.inexact_cuts)
            again = [index for index, piece in enumerate(wider) if piece != taken.pieces[index]]
            if again:
                taken.pieces = wider
                self._ask(taken, again)
                return
            log.warning(event("ner_cuts_inexact", taken.partition, offset=taken.offset, cuts=len(merged.inexact_cuts)))
        taken.entities = [(entity.text, entity.label) for entity in merged.entities]

    def _prepare(self, taken: Taken) -> None:
        """Parse the message, place the article in its window and cut it into pieces for NER; any failure
        becomes its dead-letter reason."""
        try:
            taken.error = self._checkpointer.dead_letter_reason(taken.partition, taken.offset)
            if taken.error is not None:
                return
            article = parse_article(taken.message.value(), self._settings.max_article_bytes)
            moment = event_time(article, _timestamp_ms(taken.message))
            taken.window = window_start(moment, self._window_seconds)
            taken.pieces = plan_pieces(article.content, self._settings.ner_chunk_chars)
            taken.article = article
        except (InvalidArticle, EventTimeOutOfRange) as error:
            taken.error = error.reason if isinstance(error, InvalidArticle) else str(error)
        except Exception as error:  # a record no rule foresaw: never let it stop the worker
            log.exception(event("record_failed", taken.partition, offset=taken.offset))
            taken.error = f"cannot be parsed: {type(error).__name__}: {error}"

    def _drop_stale(self) -> None:
        """Forget messages taken under an epoch their partition has left (repositioned, revoked, lost)."""
        for partition in self._in_flight.partitions():
            cancelled = self._in_flight.drop_stale(partition, self._checkpointer.epoch(partition))
            self._ner.cancel(cancelled)

    def _release(self, taken: Taken) -> None:
        """Count a message that is ready at the front of its partition (or dead-letter it)."""
        pending = self._checkpointer.pending_for(taken.partition, taken.epoch)
        if pending is None:
            return
        try:
            self._count(taken, pending)
        except Exception as error:  # a record no rule foresaw: never let it stop the worker
            log.exception(event("record_failed", taken.partition, offset=taken.offset))
            self._dead_letter(taken, f"cannot be counted: {type(error).__name__}: {error}", pending)

    def _count(self, taken: Taken, pending: PendingPartition) -> None:
        article, entities_found = taken.article, taken.entities
        if article is None or entities_found is None or taken.error is not None or taken.window is None:
            self._dead_letter(taken, taken.error or "invalid", pending)
            return
        if pending.seen(article.publication, article.article_id):  # the same article again (a retry): once
            pending.skip(taken.offset)
            self._stats.duplicates += 1
            log.info(event("duplicate_skipped", taken.partition, offset=taken.offset, article_id=article.article_id))
            return
        entities = article_entities(entities_found, self._excluded)
        aliased = alias_article(entities, self._aliases)
        pending.add_article(
            taken.offset,
            article.publication,
            taken.window,
            entities,
            article.article_id,
            aliased,
            undated=article.published_at is None,
        )
        self._stats.articles += 1

    def _dead_letter(self, taken: Taken, reason: str, pending: PendingPartition) -> None:
        """Not countable: send it to the dead-letter topic; only its offset moves on."""
        self._dead_letters.send(dead_letter(taken.message, reason))
        pending.skip(taken.offset)
        self._stats.dead_letters += 1
        log.warning(event("dead_lettered", taken.partition, offset=taken.offset, error=reason))

    def _apply_backpressure(self) -> None:
        """Pause every partition while this worker holds as much NER work as it may; resume at half."""
        outstanding, waiting = self._ner.outstanding, self._in_flight.bytes
        if self._busy:
            self._busy = outstanding > self._busy_requests // 2 or waiting > CALM_BYTES
        else:
            self._busy = outstanding >= self._busy_requests or waiting >= BUSY_BYTES
        for partition in self._checkpointer.assigned():
            self._pauses.set(partition, PauseReason.BUSY, self._busy)


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


def run_worker(settings: ConsumerSettings, index: int, ner_folder: Path) -> int:
    """Run worker ``index`` until SIGTERM/SIGINT; the process's exit code (0 after a clean stop)."""
    stop = _StopRequest()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    configure_logging(settings.log_level, process=f"worker={index}")
    started = time.monotonic()
    aliases = load_alias_table(settings.aliases_file)
    sink = open_writer(settings)
    stats = WorkerStats(index)
    dead_letters = DeadLetters.connect(
        settings.kafka_bootstrap_servers,
        settings.kafka_dlq_topic,
        f"newscounts-dead-letters-{index}",
        security_config(settings),
    )
    ner = NerClient(ner_folder, settings.ner_processes)
    checkpointer: Checkpointer  # created with the consumer, which reports commit results to it

    def on_commit(error: KafkaError | None, offsets: list[TopicPartition]) -> None:
        checkpointer.on_commit(error, offsets)

    consumer = Consumer({**consumer_config(settings, index), "on_commit": on_commit})
    pauses = Pauses(consumer, settings.kafka_topic)
    checkpointer = Checkpointer(consumer, sink, dead_letters, pauses, settings, stats)
    log.info(event("ready", seconds=round(time.monotonic() - started, 1), aliases=aliases.version))
    try:
        Worker(settings, index, consumer, checkpointer, dead_letters, pauses, ner, stats, aliases).run(stop)
        leave_group(consumer, LEAVE_TIMEOUT_SECONDS)
    except BaseException:
        checkpointer.drop_all()  # never flush state a crash may have left half-updated
        raise
    finally:
        consumer.close()
        dead_letters.deliver(timeout=10.0)
        ner.close()
        sink.close()
    log.info(stats.summary())
    log.info(event("stopped"))
    return 0


def main(settings: ConsumerSettings, index: int, ner_folder: Path) -> None:
    """Entry point of a worker process (forked by the supervisor's fork server)."""
    exit_after_stop(run_worker(settings, index, ner_folder))
