"""A single-node Apache Kafka 4 broker (KRaft, combined broker + controller) run from Maven Central jars.

``mvn dependency:copy-dependencies`` resolves ``devservices/pom.xml`` into ``.cache/kafka/jars`` once; each
broker instance then gets its own data directory, formatted with ``kafka.tools.StorageTool`` and started with
``java -cp 'jars/*' kafka.Kafka``. Tests start private instances on other ports through the same class.
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


@dataclass(frozen=True)
class KafkaBroker(BackgroundService):
    """One local broker: its ports, and the folder holding its data, config and pid."""

    title = "the Kafka broker"
    stop_command = "python -m devservices kafka stop"
    name: str = "kafka"
    port: int = 9092
    controller_port: int = 9093

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def home(self) -> Path:
        return cache_dir() / "kafka" / self.name

    def _write_config(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        lines = [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
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
        ]
        config.write_text("\n".join(lines) + "\n")
        (self.home / "log4j2.properties").write_text(_LOG4J)
        return config

    def start(self, timeout: float = 60.0) -> int:
        """Format storage on first use, start the broker in the background, wait until it answers."""
        self._refuse_second_start(self.bootstrap)
        if port_open(self.port) or port_open(self.controller_port):
            raise RuntimeError(
                f"port {self.port} or {self.controller_port} is already in use by another program; "
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
def temporary_broker(name: str) -> Iterator[KafkaBroker]:
    """A fresh broker named ``name`` on free ports, for one test or one benchmark run: started with an empty
    data folder, stopped afterwards, its folder and log file removed."""
    broker = KafkaBroker(name=name, port=free_port(), controller_port=free_port())
    shutil.rmtree(broker.home, ignore_errors=True)
    broker.start()
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
