"""Which broker and emulator the tests use, in this order:

1. the one configured in the environment (``KAFKA_BOOTSTRAP_SERVERS`` / ``FIRESTORE_EMULATOR_HOST``) when it
   answers;
2. a testcontainers container when a Docker engine answers;
3. a private local instance (Kafka from the Maven jars, the gcloud emulator) on free ports, stopped afterwards.
"""

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum

from devservices.firestore import FirestoreEmulator, emulator_answers
from devservices.kafka import KafkaBroker, broker_answers, create_topics
from devservices.process import free_port

KAFKA_IMAGE = "apache/kafka:4.1.1"
FIRESTORE_IMAGE = "gcr.io/google.com/cloudsdktool/google-cloud-cli:emulators"


class Source(StrEnum):
    CONFIGURED = "configured"
    TESTCONTAINERS = "testcontainers"
    LOCAL = "local"


def choose_source(configured: str | None, answers: Callable[[str], bool], docker_answers: Callable[[], bool]) -> Source:
    """The first usable source; the checks are only called when needed (each may take a second)."""
    if configured and answers(configured):
        return Source.CONFIGURED
    if docker_answers():
        return Source.TESTCONTAINERS
    return Source.LOCAL


def docker_engine_answers() -> bool:
    """True when a Docker engine answers a ping (the docker client alone is not enough)."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextmanager
def kafka_for_tests() -> Iterator[str]:
    """Bootstrap servers of a reachable Kafka broker for the test session."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    source = choose_source(configured, broker_answers, docker_engine_answers)
    if source is Source.CONFIGURED and configured:
        yield configured
    elif source is Source.TESTCONTAINERS:
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE) as container:
            yield container.get_bootstrap_server()
    else:
        broker = KafkaBroker(name=f"kafka-test-{os.getpid()}", port=free_port(), controller_port=free_port())
        broker.start()
        try:
            create_topics(broker.bootstrap, {"articles": 16, "articles.dlq": 1})
            yield broker.bootstrap
        finally:
            broker.stop()
            shutil.rmtree(broker.home, ignore_errors=True)


@contextmanager
def firestore_for_tests() -> Iterator[str]:
    """host:port of a Firestore emulator for the test session; raises MissingPrerequisite without gcloud."""
    configured = os.environ.get("FIRESTORE_EMULATOR_HOST")
    source = choose_source(configured, emulator_answers, docker_engine_answers)
    if source is Source.CONFIGURED and configured:
        yield configured
    elif source is Source.TESTCONTAINERS:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        container = DockerContainer(FIRESTORE_IMAGE).with_exposed_ports(8080)
        container = container.with_command("gcloud emulators firestore start --host-port=0.0.0.0:8080")
        with container:
            wait_for_logs(container, "Dev App Server is now running", timeout=120)
            yield f"{container.get_container_host_ip()}:{container.get_exposed_port(8080)}"
    else:
        emulator = FirestoreEmulator(name=f"firestore-test-{os.getpid()}", port=free_port())
        emulator.start()
        try:
            yield emulator.host
        finally:
            emulator.stop()
