"""Fixtures shared by the test suite: the real Kafka broker, the real Firestore emulator, articles to count.

The broker and emulator are chosen by :mod:`devservices.selection` (environment, then testcontainers,
then the local jars / gcloud); see the README's "Tests" section. Articles: the Wikinews articles bundled in
``demo/`` (every clone has them) and, for the few tests that need more or several publications, the AllSides
sample beside the checkout (``NEWSCOUNTS_SAMPLE_DATA``).
"""

import gzip
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

REPO = Path(__file__).resolve().parents[1]
DEMO_DATA = REPO / "demo/wikinews-cc-by.jsonl.gz"
SAMPLE_DATA = Path(os.environ.get("NEWSCOUNTS_SAMPLE_DATA", REPO.parent / "shared/data/allsides-3k.jsonl.gz"))


def read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


@pytest.fixture(scope="session")
def demo_articles() -> list[dict[str, Any]]:
    """The 294 Wikinews articles of ``demo/`` (one publication, all dated), in file order: the default test data."""
    return read_jsonl_gz(DEMO_DATA)


@pytest.fixture(scope="session")
def sample_articles() -> list[dict[str, Any]]:
    """The 3,000 AllSides sample articles (15 publications), in file order, for the tests that need that many or
    those publications. They may not be copied into the repository: without them those tests skip, unless
    REQUIRE_SAMPLE_DATA=1 (CI): then they fail."""
    if not SAMPLE_DATA.exists():
        reason = f"the AllSides sample is not at {SAMPLE_DATA} (set NEWSCOUNTS_SAMPLE_DATA to allsides-3k.jsonl.gz)"
        if os.environ.get("REQUIRE_SAMPLE_DATA") == "1":
            pytest.fail(f"REQUIRE_SAMPLE_DATA=1 but {reason}")
        pytest.skip(reason)
    return read_jsonl_gz(SAMPLE_DATA)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a real Kafka broker, started for the session if none is configured."""
    from devservices.selection import kafka_for_tests

    with kafka_for_tests() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[str]:
    """host:port of a real Firestore emulator (FIRESTORE_EMULATOR_HOST is set for the session).

    Without gcloud (and without Docker) the Firestore tests skip, unless REQUIRE_FIRESTORE=1 (CI): then they fail.
    """
    from devservices.prereqs import MissingPrerequisite
    from devservices.selection import firestore_for_tests

    with ExitStack() as stack:
        try:
            host = stack.enter_context(firestore_for_tests())
        except MissingPrerequisite as missing:
            if os.environ.get("REQUIRE_FIRESTORE") == "1":
                pytest.fail(f"REQUIRE_FIRESTORE=1 but the Firestore emulator cannot start: {missing}")
            pytest.skip(f"Firestore tests skipped: {missing}")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("FIRESTORE_EMULATOR_HOST", host)
            yield host


@pytest.fixture
def firestore_project(firestore_emulator: str) -> Iterator[str]:
    """A fresh Firestore project id on the emulator (so parallel runs never share data), cleared afterwards."""
    from devservices.firestore import clear_emulator

    project = f"newscounts-test-{uuid.uuid4().hex[:8]}"
    yield project
    clear_emulator(firestore_emulator, project)


@pytest.fixture
def fresh_topic(kafka_bootstrap: str) -> Callable[..., str]:
    """Create a uniquely named topic (16 partitions unless told) so tests never see each other's data; with
    ``dlq=True`` also its one-partition dead-letter topic ``<name>.dlq``, as the consumer expects."""

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})

    def create(prefix: str = "test", partitions: int = 16, dlq: bool = False) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        topics = [NewTopic(name, num_partitions=partitions, replication_factor=1)]
        if dlq:
            topics.append(NewTopic(f"{name}.dlq", num_partitions=1, replication_factor=1))
        for future in admin.create_topics(topics).values():
            future.result(timeout=30)
        return name

    return create
