"""Fixtures of the sink tests: a fresh store of each kind (the real SQLite file, the real Firestore emulator)."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.sinks.tallies import forget_documents_model
from tests.sinks.support import SinkSpec, Store, open_store


@pytest.fixture(params=["sqlite", "firestore"])
def sink_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SinkSpec]:
    """A fresh, empty store. Firestore tests get their own emulator project, so helpers running tests in
    parallel (and clearing projects) never touch each other's data."""
    if request.param == "sqlite":
        yield ("sqlite", str(tmp_path / "sink.sqlite3"))
        return
    from devservices.firestore import clear_emulator

    host = request.getfixturevalue("firestore_emulator")
    project = f"sink-contract-{uuid.uuid4().hex[:10]}"
    yield ("firestore", project)
    clear_emulator(host, project)


@pytest.fixture(autouse=True)
def fresh_documents_model() -> None:
    """``documents_written`` models each partition's writer from the flushes it saw: every test starts afresh."""
    forget_documents_model()


@pytest.fixture
def sink(sink_spec: SinkSpec) -> Iterator[Store]:
    opened = open_store(sink_spec)
    yield opened
    opened.close()


@pytest.fixture
def small_count_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    """Count documents that take 10 transforms per commit and 40 fields per partition (Firestore), so a few
    flushes fill many."""
    import common.sinks.count_documents as limits

    monkeypatch.setattr(limits, "TRANSFORMS_PER_COMMIT", 10)
    monkeypatch.setattr(limits, "DOCUMENT_FIELDS", limits.RESERVED_FIELDS + 16 * 40)
    monkeypatch.setattr(limits, "DOCUMENT_BYTES", limits.RESERVED_BYTES + 16 * 4_000)
