"""``make run FIRESTORE=1`` keeps the emulator's data between runs: exported at a stop, imported at the next start."""

import os
import uuid
from pathlib import Path

import pytest
from google.cloud import firestore

from devservices.firestore import FirestoreEmulator
from devservices.prereqs import MissingPrerequisite
from devservices.process import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def start(emulator: FirestoreEmulator) -> None:
    try:
        emulator.start()
    except MissingPrerequisite as missing:
        if os.environ.get("REQUIRE_FIRESTORE") == "1":
            pytest.fail(f"REQUIRE_FIRESTORE=1 but the Firestore emulator cannot start: {missing}")
        pytest.skip(f"Firestore tests skipped: {missing}")


def test_the_data_kept_at_a_stop_is_there_at_the_next_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"firestore-kept-{uuid.uuid4().hex[:8]}"
    emulator = FirestoreEmulator(name=name, port=free_port(), kept_data=tmp_path / "kept")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator.host)
    assert emulator.kept_export() is None
    start(emulator)
    try:
        client = firestore.Client(project="newscounts-kept")
        client.collection("offsets").document("g.articles.0").set({"offset": 42})
        client.close()
        emulator.keep_data("newscounts-kept")
    finally:
        emulator.stop()
    assert emulator.kept_export() is not None
    start(emulator)
    try:
        client = firestore.Client(project="newscounts-kept")
        assert client.collection("offsets").document("g.articles.0").get().to_dict() == {"offset": 42}
        client.close()
    finally:
        emulator.stop()
        emulator.log_file.unlink(missing_ok=True)
