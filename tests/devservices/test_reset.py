"""``make reset``: it lists exactly what the local pipeline keeps, asks, deletes it, and refuses while it runs."""

import json
import os
from pathlib import Path

import pytest

from devservices.reset import reset


@pytest.fixture
def kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A cache folder and SQLite file of their own, holding what a few runs leave behind."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("NEWSCOUNTS_CACHE_DIR", str(cache))
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "data" / "counts.sqlite3"))
    paths = {
        "kafka": cache / "kafka" / "kafka" / "data" / "articles-0" / "00000000000000000000.log",
        "sqlite": tmp_path / "data" / "counts.sqlite3",
        "wal": tmp_path / "data" / "counts.sqlite3-wal",
        "firestore": cache / "firestore" / "kept" / "export" / "export.overall_export_metadata",
        "key": cache / "run" / "api-key",
        "jars": cache / "kafka" / "jars" / "kafka_2.13-4.1.1.jar",
    }
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
    return paths


def test_reset_lists_what_it_deletes_and_asks_first(kept: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    questions: list[str] = []

    def no(question: str) -> str:
        questions.append(question)
        return "n"

    assert reset(yes=False, ask=no) == 1
    assert questions == ["Delete them? [y/N] "]
    out = capsys.readouterr().out
    listed = [line.split()[-3] for line in out.splitlines() if line.startswith("  ")]
    cache = kept["key"].parents[1]
    assert listed == [
        str(cache / "kafka" / "kafka"),
        str(kept["sqlite"]),
        str(kept["wal"]),
        str(cache / "firestore" / "kept"),
        str(kept["key"]),
    ]
    assert out.endswith("Nothing deleted.\n")
    assert all(path.exists() for path in kept.values())

    assert reset(yes=False, ask=lambda _: "y") == 0
    assert [name for name, path in kept.items() if path.exists()] == ["jars"]
    assert not (cache / "kafka" / "kafka").exists() and not (cache / "firestore" / "kept").exists()
    assert reset(yes=True) == 0
    assert capsys.readouterr().out.endswith(
        "Nothing to delete: no topic data, SQLite file, Firestore emulator data or API key is kept.\n"
    )


def test_reset_refuses_while_the_stack_runs(kept: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    (kept["key"].parent / "stack.json").write_text(json.dumps({"pid": os.getpid()}))
    assert reset(yes=True) == 1
    assert capsys.readouterr().err == "error: still running: the stack (make run). Stop it first (`make stop`).\n"
    assert all(path.exists() for path in kept.values())
