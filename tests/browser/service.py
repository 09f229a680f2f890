"""Run the real HTTP service (``python -m producer``) on a free port over a SQLite file, for a browser."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from devservices.process import free_port, wait_until_answering

REPO = Path(__file__).resolve().parents[2]
START_SECONDS = 60


def sqlite_sink(path: Path) -> dict[str, str]:
    """Settings of a service that reads the counts from the SQLite file ``path`` (the namespace
    :func:`tests.browser.counts.count_articles` writes)."""
    return {"SINK": "sqlite", "SQLITE_PATH": str(path), "COUNTS_NAMESPACE": "dashboard"}


def unreachable_sink() -> dict[str, str]:
    """Settings of a service whose counts store does not answer: Firestore at a port where nothing
    listens, with a short READ_TIMEOUT, so every read is a quick 503."""
    return {
        "SINK": "firestore",
        "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{free_port()}",
        "FIRESTORE_PROJECT": "newscounts-nowhere",
        "READ_TIMEOUT": "2s",
    }


@contextmanager
def serve(sink: dict[str, str], log_path: Path) -> Iterator[str]:
    """The service with the ``sink`` settings, its log in ``log_path``; yields its base URL.

    Only the read API and the page are used, so no broker is needed (the service's Kafka producer only
    logs that it cannot connect when none runs).
    """
    port = free_port()
    env = {
        **os.environ,
        **sink,
        "API_KEYS": "dashboard-browser-key",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "warning",
    }
    base = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "producer"], cwd=REPO, env=env, stdout=log, stderr=log)
    try:
        wait_until_answering(f"{base}/healthz", process, log_path, START_SECONDS)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def node_script(
    script: Path, variable: str, config: dict[str, Any], stderr: IO[str] | None = None
) -> subprocess.Popen[str]:
    """A browser script run by node, its configuration as JSON in the environment ``variable``, talking to the
    test over its stdin and stdout (text lines)."""
    return subprocess.Popen(
        ["node", str(script)],
        cwd=REPO,
        env={**os.environ, variable: json.dumps(config)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
