"""Stopping a service waits for its whole process group: ``gcloud`` exits at SIGTERM before the emulator's Java
child lets go of its port, and a restart on that port must not find it taken."""

import subprocess
import time
from pathlib import Path

from devservices.process import group_alive, stop_process_group


def start_group(script: str, ready: Path) -> subprocess.Popen[bytes]:
    """Run ``script`` as the leader of a new process group; return once it has touched ``ready``."""
    leader = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    deadline = time.monotonic() + 10
    while not ready.exists():
        assert time.monotonic() < deadline, "the group did not start"
        time.sleep(0.02)
    return leader


def test_the_stop_returns_once_no_process_of_the_group_runs_not_when_its_leader_exits(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    # the leader exits at SIGTERM; its child ignores SIGTERM and ends on its own a second later
    leader = start_group(f"sh -c 'trap \"\" TERM; touch {ready}; sleep 1' & wait", ready)
    stop_process_group(leader.pid, timeout=20)
    assert not group_alive(leader.pid)


def test_a_group_that_ignores_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    leader = start_group(f"trap '' TERM; touch {ready}; sleep 60 & wait", ready)
    stop_process_group(leader.pid, timeout=0.5)
    assert not group_alive(leader.pid)
