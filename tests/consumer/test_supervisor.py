"""The supervisor gives up, with a non-zero exit code, when workers crash in a loop."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.consumer.support import REPO


def test_a_model_that_is_not_installed_stops_the_start_with_what_to_do() -> None:
    env = {"PATH": "/usr/bin:/bin", "NER_MODEL": "no_such_model"}
    done = subprocess.run(
        [sys.executable, "-m", "consumer"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "NER_MODEL='no_such_model' is neither an installed spaCy package nor a model directory" in done.stderr


@pytest.mark.slow
def test_processes_that_keep_crashing_make_the_supervisor_exit_non_zero(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "meta.json").write_text(
        '{"lang": "en", "name": "empty", "version": "0.0.0", "components": ["tagger"]}'
    )  # found, but no NER
    env = {
        "PATH": "/usr/bin:/bin",
        "NER_MODEL": str(model),  # every NER process dies while starting
        "NER_PROCESSES": "1",
        "CONSUMER_PROCESSES": "1",
        "CRASH_LOOP_RESTARTS": "2",
        "RESTART_BACKOFF_INITIAL": "100ms",
        "SINK": "sqlite",
        "SQLITE_PATH": f"{tmp_path}/counts.sqlite3",
    }
    done = subprocess.run(
        [sys.executable, "-m", "consumer"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert f"NER_MODEL='{model}' has no 'ner' component" in done.stderr
    assert "event=ner_died ner=0" in done.stderr
    assert "event=crash_loop ner=0 deaths=2" in done.stderr


def test_invalid_settings_are_named_and_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "consumer"],
        env={"PATH": "/usr/bin:/bin", "FLUSH_INTERVAL": "soon"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "invalid settings" in done.stderr and "flush_interval" in done.stderr and "10s" in done.stderr
