"""Small process and port helpers for the background services."""

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

START_POLL_SECONDS = 0.2
"""Pause between two tries of a starting service's URL."""


class ServiceDidNotStart(RuntimeError):
    """A service exited, or did not answer in time; the message ends with the last lines of its log."""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    return fields is None or fields[0] != "Z"  # a zombie child of ours is not alive


def _stat_fields(stat: Path) -> list[str] | None:
    """The fields of a ``/proc/<pid>/stat`` after the command name (state first, then ppid, pgrp, ...); None
    when it cannot be read (the process ended while we looked)."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answering(url: str, process: subprocess.Popen[Any], log: Path, timeout: float = 60) -> None:
    """Until ``url`` (e.g. a ``/healthz``) answers 200; :class:`ServiceDidNotStart` when ``process`` exits
    first or ``timeout`` seconds pass, with the end of ``log``."""
    deadline = time.monotonic() + timeout
    while not answers(url):
        if process.poll() is not None:
            raise ServiceDidNotStart(f"the service exited with {process.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise ServiceDidNotStart(f"no answer on {url} in {timeout:g} s:\n{_tail(log)}")
        time.sleep(START_POLL_SECONDS)


def answers(url: str) -> bool:
    """True when ``url`` answers 200 within 2 seconds."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:  # refused, timed out, or an HTTP error status
        return False


def _tail(log: Path, characters: int = 3000) -> str:
    try:
        return log.read_text(errors="replace")[-characters:]
    except OSError as error:
        return f"(no log: {error})"


def group_alive(pgid: int) -> bool:
    """True while any process of the group ``pgid`` runs (zombies aside): the group's leader can exit before the
    children holding its ports (``gcloud`` before the emulator's Java process)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(stat)
        if fields is not None and int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_process_group(pid: int, timeout: float) -> None:
    """SIGTERM the process group led by ``pid``, SIGKILL it after ``timeout`` seconds; reap the leader if it is our
    child, and return once no process of the group runs any more."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not group_alive(pid):
            return
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(50):
        _reap(pid)
        if not group_alive(pid):
            return
        time.sleep(0.1)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
