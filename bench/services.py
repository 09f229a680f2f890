"""The bench's private services: its own Kafka broker (and Firestore emulator), and the HTTP service and
consumer group started as subprocesses exactly as users start them (``python -m producer`` /
``python -m consumer``), configured through environment variables.

Nothing here touches the shared broker or emulator a developer may have running: ports are free ones,
the broker's data folder is wiped before and after, and every process started is stopped at the end.
"""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO

import httpx
from confluent_kafka import Consumer, ConsumerGroupState, TopicPartition
from confluent_kafka.admin import AdminClient

from devservices.firestore import FirestoreEmulator
from devservices.kafka import KafkaBroker, create_topics, temporary_broker
from devservices.process import free_port, stop_process_group


def log(message: str) -> None:
    """A progress line, with the time."""
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


class BenchError(RuntimeError):
    """A step of the benchmark could not complete; the message says which and where to look."""


def private_broker() -> AbstractContextManager[KafkaBroker]:
    """A fresh single-node broker named ``kafka-bench`` on free ports, removed afterwards."""
    return temporary_broker("kafka-bench")


@contextmanager
def private_emulator() -> Iterator[FirestoreEmulator]:
    """A Firestore emulator named ``firestore-bench`` on a free port, stopped afterwards."""
    emulator = FirestoreEmulator(name="firestore-bench", port=free_port())
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def fresh_topics(bootstrap: str, prefix: str, partitions: int = 16) -> tuple[str, str]:
    """A new articles topic (``partitions`` partitions) and its dead-letter topic."""
    topic = unique(prefix)
    create_topics(bootstrap, {topic: partitions, f"{topic}.dlq": 1})
    return topic, f"{topic}.dlq"


QUIET = {"log_level": 4}
"""librdkafka logs warnings and errors only (not the info lines each short-lived client prints on exit)."""


def delete_topics(bootstrap: str, topics: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
    for future in admin.delete_topics(topics, operation_timeout=30).values():
        future.result(timeout=30)


class Service:
    """One subprocess (``python -m MODULE``) with its output in ``log``; stopped with SIGTERM (group)."""

    def __init__(self, module: str, env: Mapping[str, str], log: Path) -> None:
        self.module = module
        self.log = log
        self._output: IO[bytes] = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module],
            env=dict(env),
            stdout=self._output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(
                f"`python -m {self.module}` exited with code {self.process.returncode}; see {self.log}:\n"
                + tail(self.log)
            )

    def stop(self, timeout: float = 60.0) -> None:
        stop_process_group(self.pid, timeout)
        self.process.wait(timeout=5)
        self._output.close()


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.2) -> float:
    """Poll ``condition`` until true; return the monotonic time it became true, or raise :class:`BenchError`."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def service_env(**settings: str) -> dict[str, str]:
    """The current environment without the developer's own service settings, plus ``settings``."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key not in {"FIRESTORE_EMULATOR_HOST", "KAFKA_BOOTSTRAP_SERVERS", "API_KEYS", "SINK", "PORT"}
    }
    return {**inherited, "PYTHONUNBUFFERED": "1", **settings}


def consumer_lag(bootstrap: str, group: str, topic: str) -> int:
    """Records of ``topic`` not yet committed by ``group`` (a partition without commit counts from 0)."""
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False, **QUIET})
    try:
        partitions = probe.list_topics(topic, timeout=10).topics[topic].partitions
        committed = probe.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        lag = 0
        for position in committed:
            _, high = probe.get_watermark_offsets(position, timeout=10)
            lag += high - max(position.offset, 0)
        return lag
    finally:
        probe.close()


def group_assignment(bootstrap: str, group: str) -> list[int]:
    """Partitions assigned to each member of a consumer group in the STABLE state, as the broker reports it;
    empty while the group is rebalancing (or unknown).

    The state matters: during a cooperative rebalance the broker still reports the previous assignment (a
    newcomer with nothing, the first member with every partition) although partitions are being moved and
    belong to nobody for one or two heartbeats."""
    admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
    try:
        description = admin.describe_consumer_groups([group])[group].result(timeout=10)
    except Exception:
        return []
    if description.state != ConsumerGroupState.STABLE:
        return []
    return [len(m.assignment.topic_partitions) if m.assignment is not None else 0 for m in description.members or []]


def group_balanced(bootstrap: str, group: str, members: int, partitions: int) -> bool:
    """True when ``members`` consumers hold the ``partitions`` partitions between them, each at least one."""
    assigned = group_assignment(bootstrap, group)
    return len(assigned) == members and sum(assigned) == partitions and min(assigned) > 0
