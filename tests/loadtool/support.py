"""Helpers of the load tool's tests: the real HTTP service as a process."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devservices.process import free_port, stop_process_group, wait_until_answering

API_KEY = "load-test-key"


@contextmanager
def producer_process(bootstrap: str, topic: str, tmp_path: Path, group: str = "newscounts") -> Iterator[str]:
    """``python -m producer`` on a free port, publishing to ``topic`` (its sink: ``tmp_path/counts.sqlite3``,
    its /status: ``group``); yields its base URL, stops it afterwards."""
    port = free_port()
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        KAFKA_TOPIC=topic,
        KAFKA_GROUP_ID=group,
        API_KEYS=API_KEY,
        SINK="sqlite",
        SQLITE_PATH=str(tmp_path / "counts.sqlite3"),
        HOST="127.0.0.1",
        PORT=str(port),
        LOG_LEVEL="warning",
    )
    log = (tmp_path / "producer.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "producer"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/healthz", process, tmp_path / "producer.log")
        yield url
    finally:
        stop_process_group(process.pid, timeout=20)
        log.close()
