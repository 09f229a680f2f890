"""One scenario's pipeline: the HTTP service (for the read API and HTTP posts) and, optionally, the consumer
group, on fresh topics, a fresh consumer group id and a fresh sink, so scenarios of one run never see each
other's data."""

import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
from confluent_kafka import Consumer, TopicPartition

from bench.services import (
    QUIET,
    Service,
    delete_topics,
    fresh_topics,
    group_balanced,
    http_ok,
    service_env,
    unique,
    wait_until,
)
from devservices.kafka import KafkaBroker
from devservices.process import free_port

STARTED_LINE = re.compile(r"event=(worker|ner)_started (?:worker|ner)=\d+ pid=(\d+)")


@dataclass(frozen=True)
class PipelineConfig:
    """What every scenario of a run shares."""

    flush_interval: str
    window: str
    run_dir: Path
    emulator_host: str | None = None
    """Firestore emulator host:port when the sink is Firestore, else None (SQLite)."""
    partitions: int = 16


class Pipeline:
    """Start with :meth:`start`, always :meth:`stop` (in a ``finally``)."""

    def __init__(self, broker: KafkaBroker, config: PipelineConfig, name: str, workers: int | None) -> None:
        """``workers``: CONSUMER_PROCESSES of the group, or None for the HTTP service alone."""
        self.broker = broker
        self.config = config
        self.name = name
        self.workers = workers
        self.api_key = secrets.token_urlsafe(16)
        self.group = unique(f"bench-{name}")
        self.topic, self.dlq_topic = fresh_topics(broker.bootstrap, f"bench-{name}", config.partitions)
        self.url = f"http://127.0.0.1:{free_port()}"
        self.producer: Service | None = None
        self.consumer: Service | None = None
        self.consumer_started_at = 0.0
        """When ``python -m consumer`` was spawned (monotonic clock)."""
        self.consumer_started_wall = 0.0
        """The same moment in epoch seconds (to compare with the times of the group's log lines)."""
        self._http = httpx.Client(timeout=60)  # one kept-alive connection: polling must cost little CPU
        self._probe = Consumer(
            {"bootstrap.servers": broker.bootstrap, "group.id": self.group, "enable.auto.commit": False, **QUIET}
        )
        self._partitions = [TopicPartition(self.topic, p) for p in range(config.partitions)]

    @property
    def consumer_log(self) -> Path:
        return self.config.run_dir / f"{self.name}-consumer.log"

    def _env(self) -> dict[str, str]:
        settings = {
            "KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap,
            "KAFKA_TOPIC": self.topic,
            "KAFKA_DLQ_TOPIC": self.dlq_topic,
            "KAFKA_GROUP_ID": self.group,
            "WINDOW": self.config.window,
        }
        if self.config.emulator_host is None:
            settings.update(SINK="sqlite", SQLITE_PATH=str(self.config.run_dir / f"{self.name}.sqlite3"))
        else:
            settings.update(
                SINK="firestore", FIRESTORE_EMULATOR_HOST=self.config.emulator_host, FIRESTORE_PROJECT=self.group
            )
        return service_env(**settings)

    def start(self) -> None:
        """The HTTP service, then (unless ``workers`` is None) ``python -m consumer``, without waiting for it."""
        env = self._env()
        port = self.url.rsplit(":", 1)[1]
        producer_env = {**env, "API_KEYS": self.api_key, "HOST": "127.0.0.1", "PORT": port}
        self.producer = Service("producer", producer_env, self.config.run_dir / f"{self.name}-producer.log")
        wait_until(
            lambda: self._alive() and http_ok(f"{self.url}/healthz"), timeout=60, what="the HTTP service to answer"
        )
        if self.workers is None:
            return
        consumer_env = {
            **env,
            "CONSUMER_PROCESSES": str(self.workers),
            "FLUSH_INTERVAL": self.config.flush_interval,
            "LOG_LEVEL": "info",  # the flush lines are how the bench counts the documents written
        }
        self.consumer_started_at, self.consumer_started_wall = time.monotonic(), time.time()
        self.consumer = Service("consumer", consumer_env, self.consumer_log)

    def wait_for_group(self, timeout: float = 180) -> None:
        """Until every worker holds partitions in a stable group: a clock started during a rebalance would
        count seconds in which some partitions belong to nobody."""
        assert self.workers is not None
        workers = self.workers
        wait_until(
            lambda: self._alive() and self.balanced(workers),
            timeout=timeout,
            what=f"{workers} consumers to join the group, each with partitions assigned",
            interval=0.5,
        )

    def balanced(self, workers: int) -> bool:
        partitions = self.config.partitions
        return group_balanced(self.broker.bootstrap, self.group, min(workers, partitions), partitions)

    def child_pids(self) -> dict[int, str]:
        """The group's workers and NER processes by pid (``worker`` or ``ner``), from the supervisor's log."""
        text = self.consumer_log.read_text(errors="replace") if self.consumer_log.exists() else ""
        return {int(pid): kind for kind, pid in STARTED_LINE.findall(text)}

    def _alive(self) -> bool:
        for service in (self.producer, self.consumer):
            if service is not None:
                service.check_alive()
        return True

    def stop(self) -> None:
        """Consumer group first (it flushes and commits), then the HTTP service; then drop the topics."""
        self._http.close()
        self._probe.close()
        for service in (self.consumer, self.producer):
            if service is not None:
                service.stop()
        delete_topics(self.broker.bootstrap, [self.topic, self.dlq_topic])

    # --- what the read API and Kafka say ---

    def publication_counts(self) -> dict[str, int]:
        """Articles per publication, from ``GET /publications``."""
        self._alive()
        response = self._http.get(f"{self.url}/publications", params={"limit": 0})
        response.raise_for_status()
        return {row["publication"]: row["articles"] for row in response.json()}

    def entity_totals(self, publication: str) -> tuple[int, int]:
        """(articles summed over the publication's entities, mentions summed over them), all time: the
        number of (article, distinct entity) pairs and of entity occurrences, i.e. what a naive design
        writing one increment per entity per article, or per occurrence, writes."""
        response = self._http.get(
            f"{self.url}/publications/{quote(publication, safe='')}/entities", params={"limit": 0}
        )
        response.raise_for_status()
        entities = response.json()["entities"]
        return sum(int(e["articles"]) for e in entities), sum(int(e["mentions"]) for e in entities)

    def committed(self) -> list[int]:
        """The group's committed offset of each partition (0 where none), as Kafka holds it."""
        positions = self._probe.committed(self._partitions, timeout=10)
        return [max(position.offset, 0) for position in positions]

    def lag(self) -> int:
        """Records not yet committed by the group."""
        ends = [self._probe.get_watermark_offsets(tp, timeout=10, cached=False)[1] for tp in self._partitions]
        return sum(end - done for end, done in zip(ends, self.committed(), strict=True))

    def wait_for_lag_zero(self, timeout: float = 120) -> None:
        wait_until(lambda: self._alive() and self.lag() == 0, timeout=timeout, what="the group's lag to reach 0")

    def idle(self, seconds: float) -> None:
        """Let the group sit idle (nothing to read) for ``seconds``, checking it is alive."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._alive()
            time.sleep(min(0.5, max(deadline - time.monotonic(), 0)))
