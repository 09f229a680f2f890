"""A single-node Apache Kafka 4 broker (KRaft, combined broker + controller) run from Maven Central jars.

``mvn dependency:copy-dependencies`` resolves ``devservices/pom.xml`` into ``.cache/kafka/jars`` once; each
broker instance then gets its own data directory, formatted with ``kafka.tools.StorageTool`` and started with
``java -cp 'jars/*' kafka.Kafka``. Tests start private instances on other ports through the same class, some
with a SCRAM listener and ACLs enforced (:class:`ScramListener`), as the Kubernetes manifests configure Kafka.
"""

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from devservices.paths import cache_dir, log_dir
from devservices.prereqs import require, require_java
from devservices.process import free_port, port_open
from devservices.service import BackgroundService

POM = Path(__file__).with_name("pom.xml")

_LOG4J = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.log.file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


def jars_dir() -> Path:
    return cache_dir() / "kafka" / "jars"


def ensure_jars(progress: bool = True) -> Path:
    """Resolve the broker jars with Maven into the cache (once; later calls return at once)."""
    jars = jars_dir()
    if jars.is_dir() and any(jars.glob("kafka_2.13-*.jar")) and any(jars.glob("log4j-slf4j*-impl-*.jar")):
        return jars
    mvn = require("mvn")
    require_java()
    if progress:
        print(f"Fetching the Apache Kafka broker jars from Maven Central into {jars} (first run only, ~55 MB)...")
    started = time.monotonic()
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={jars}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"Maven could not resolve the Kafka jars (exit {result.returncode}). Check that Maven Central is "
            f"reachable; Maven said:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    if progress:
        size = sum(path.stat().st_size for path in jars.glob("*.jar")) / 1e6
        print(f"Fetched {len(list(jars.glob('*.jar')))} jars ({size:.0f} MB) in {time.monotonic() - started:.0f}s.")
    return jars


SCRAM_MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class ScramListener:
    """A SASL_PLAINTEXT listener on ``port`` for SCRAM-SHA-512 ``users`` (name, password), created when the
    storage is formatted, with ACLs enforced (StandardAuthorizer). The PLAINTEXT listener stays open to its
    anonymous principal as a super user, so the one who starts the broker can create topics and ACLs."""

    port: int
    users: tuple[tuple[str, str], ...]

    def config(self) -> list[str]:
        return [
            f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
            f"listener.name.sasl_plaintext.{SCRAM_MECHANISM.lower()}.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users=User:ANONYMOUS",
        ]

    def format_arguments(self) -> list[str]:
        return [
            argument
            for name, password in self.users
            for argument in ("--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]")
        ]


@dataclass(frozen=True)
class KafkaBroker(BackgroundService):
    """One local broker: its ports, and the folder holding its data, config and pid."""

    title = "the Kafka broker"
    stop_command = "python -m devservices kafka stop"
    name: str = "kafka"
    port: int = 9092
    controller_port: int = 9093
    scram: ScramListener | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def scram_bootstrap(self) -> str:
        """The SCRAM listener's address (only with ``scram``)."""
        assert self.scram is not None, "this broker has no SCRAM listener"
        return f"127.0.0.1:{self.scram.port}"

    @property
    def home(self) -> Path:
        return cache_dir() / "kafka" / self.name

    def _write_config(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        listeners = f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
        protocols = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        if self.scram is not None:
            listeners += f",SASL_PLAINTEXT://127.0.0.1:{self.scram.port}"
            protocols += ",SASL_PLAINTEXT:SASL_PLAINTEXT"
        lines = [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
            f"listeners={listeners}",
            f"advertised.listeners={listeners}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"listener.security.protocol.map={protocols}",
            f"log.dirs={self.home / 'data'}",
            "num.partitions=16",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "group.consumer.heartbeat.interval.ms=1000",
            "group.consumer.min.heartbeat.interval.ms=500",
            "group.consumer.session.timeout.ms=10000",
            "group.consumer.min.session.timeout.ms=5000",
            "auto.create.topics.enable=false",
            *(self.scram.config() if self.scram is not None else []),
        ]
        config.write_text("\n".join(lines) + "\n")
        (self.home / "log4j2.properties").write_text(_LOG4J)
        return config

    def start(self, timeout: float = 60.0, fresh: bool = False) -> int:
        """Format storage on first use, start the broker in the background, wait until it answers.
        ``fresh``: empty the data folder first (only once no broker of this name is found running)."""
        self._refuse_second_start(self.bootstrap)
        if fresh:
            shutil.rmtree(self.home, ignore_errors=True)
        ports = [self.port, self.controller_port] + ([self.scram.port] if self.scram is not None else [])
        if busy := [port for port in ports if port_open(port)]:
            raise RuntimeError(
                f"port {busy[0]} is already in use by another program; "
                "stop it or choose other ports (--port/--controller-port)"
            )
        java = require_java()
        classpath = f"{ensure_jars()}/*"
        config = self._write_config()
        if not (self.home / "data" / "meta.properties").exists():
            cluster_id = subprocess.run(
                [java, "-cp", classpath, "kafka.tools.StorageTool", "random-uuid"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            subprocess.run(
                [
                    java,
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    cluster_id,
                    "-c",
                    str(config),
                    *(self.scram.format_arguments() if self.scram is not None else []),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
        command = [
            java,
            "-Xmx512m",
            "-Xms256m",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dkafka.log.file={self.log_file}",
            f"-Dkafka.logs.dir={log_dir()}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(config),
        ]
        return self._launch(command, lambda: self.answers(timeout=1.0), timeout)

    def answers(self, timeout: float = 2.0) -> bool:
        """True when the broker answers a metadata request."""
        return broker_answers(self.bootstrap, timeout)

    def kill(self) -> None:
        """SIGKILL the broker at once (fault-injection tests)."""
        if pid := self.running_pid():
            os.killpg(pid, signal.SIGKILL)
            self._state_file.unlink(missing_ok=True)


@contextmanager
def temporary_broker(name: str, scram_users: dict[str, str] | None = None) -> Iterator[KafkaBroker]:
    """A fresh broker named ``name`` on free ports, for one test or one benchmark run: started with an empty
    data folder, stopped afterwards, its folder and log file removed. With ``scram_users`` (name: password)
    it also has a SCRAM listener with ACLs enforced (:class:`ScramListener`)."""
    scram = None if scram_users is None else ScramListener(free_port(), tuple(scram_users.items()))
    broker = KafkaBroker(name=name, port=free_port(), controller_port=free_port(), scram=scram)
    broker.start(fresh=True)  # a broker of that name already running is refused, its data left alone
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(broker.home, ignore_errors=True)
        broker.log_file.unlink(missing_ok=True)


def broker_answers(bootstrap: str, timeout: float = 2.0) -> bool:
    """True when a broker at ``bootstrap`` answers a metadata request within ``timeout`` seconds."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 1000, "log_level": 0})
    try:
        return bool(admin.list_topics(timeout=timeout).brokers)
    except Exception:
        return False


def create_topics(bootstrap: str, topics: dict[str, int]) -> list[str]:
    """Create each missing topic with its partition count; return the names created."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=10).topics)
    missing = [
        NewTopic(name, num_partitions=count, replication_factor=1)
        for name, count in topics.items()
        if name not in existing
    ]
    if not missing:
        return []
    for name, future in admin.create_topics(missing, operation_timeout=30).items():
        future.result(timeout=30)
        existing.add(name)
    return [topic.topic for topic in missing]
