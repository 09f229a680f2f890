"""One scenario's pipeline: the HTTP service and (optionally) the consumer group on fresh topics, a fresh
consumer group id and a fresh sink, so scenarios of one run never see each other's data."""

import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from bench.services import (
    Service,
    consumer_lag,
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


@dataclass(frozen=True)
class PipelineConfig:
    """What every scenario of a run shares."""

    processes: int
    flush_interval: str
    window: str
    run_dir: Path
    emulator_host: str | None = None
    """Firestore emulator host:port when the sink is Firestore, else None (SQLite)."""
    partitions: int = 16


class Pipeline:
    """Start with :meth:`start`, always :meth:`stop` (in a ``finally``)."""

    def __init__(self, broker: KafkaBroker, config: PipelineConfig, name: str, *, consumers: bool) -> None:
        self.broker = broker
        self.config = config
        self.name = name
        self.with_consumers = consumers
        self.api_key = secrets.token_urlsafe(16)
        self.group = unique(f"bench-{name}")
        self.topic, self.dlq_topic = fresh_topics(broker.bootstrap, f"bench-{name}", config.partitions)
        self.url = f"http://127.0.0.1:{free_port()}"
        self.producer: Service | None = None
        self.consumer: Service | None = None
        self._http = httpx.Client(timeout=60)  # one kept-alive connection: polling must cost little CPU

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
        env = self._env()
        port = self.url.rsplit(":", 1)[1]
        producer_env = {**env, "API_KEYS": self.api_key, "HOST": "127.0.0.1", "PORT": port}
        self.producer = Service("producer", producer_env, self.config.run_dir / f"{self.name}-producer.log")
        wait_until(
            lambda: self._alive() and http_ok(f"{self.url}/healthz"), timeout=60, what="the HTTP service to answer"
        )
        if not self.with_consumers:
            return
        consumer_env = {
            **env,
            "CONSUMER_PROCESSES": str(self.config.processes),
            "FLUSH_INTERVAL": self.config.flush_interval,
            "LOG_LEVEL": "info",  # the flush lines are how the bench counts the documents written
        }
        self.consumer = Service("consumer", consumer_env, self.consumer_log)
        self.wait_for_group()

    def wait_for_group(self) -> None:
        """Until every worker holds partitions in a stable group: a clock started during a rebalance would
        count seconds in which some partitions belong to nobody."""
        wait_until(
            lambda: (
                self._alive()
                and group_balanced(self.broker.bootstrap, self.group, self.config.processes, self.config.partitions)
            ),
            timeout=180,
            what=f"{self.config.processes} consumers to join the group, each with partitions assigned",
            interval=0.5,
        )

    def _alive(self) -> bool:
        for service in (self.producer, self.consumer):
            if service is not None:
                service.check_alive()
        return True

    def stop(self) -> None:
        """Consumer group first (it flushes and commits), then the HTTP service; then drop the topics."""
        self._http.close()
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

    def lag(self) -> int:
        return consumer_lag(self.broker.bootstrap, self.group, self.topic)
