"""Resident memory of the consumer group, sampled while it works: per worker process and for the group.

The supervisor's children are the workers, except multiprocessing's helper processes (resource tracker,
fork server), which are left out of the per-worker figure but kept in the group total.
"""

import threading
import time
from dataclasses import dataclass, field

import psutil

HELPERS = ("resource_tracker", "forkserver", "semaphore_tracker")


@dataclass
class MemorySamples:
    """RSS in bytes per sample: (seconds since start, supervisor RSS, {worker pid: RSS}, helpers' RSS)."""

    samples: list[tuple[float, int, dict[int, int], int]] = field(default_factory=list)

    @property
    def worker_peak(self) -> int:
        """The largest RSS any one worker reached."""
        return max((rss for _, _, workers, _ in self.samples for rss in workers.values()), default=0)

    @property
    def group_peak(self) -> int:
        """The largest sum over the supervisor, the workers and the helpers at one moment."""
        return max((sup + sum(workers.values()) + helpers for _, sup, workers, helpers in self.samples), default=0)

    @property
    def workers_seen(self) -> int:
        return len({pid for _, _, workers, _ in self.samples for pid in workers})


def is_helper(process: psutil.Process) -> bool:
    try:
        return any(name in part for part in process.cmdline() for name in HELPERS)
    except psutil.Error:
        return True


def sample_group(supervisor: psutil.Process) -> tuple[int, dict[int, int], int]:
    """(supervisor RSS, {worker pid: RSS}, helpers' RSS) now; processes that just exited are skipped."""
    workers: dict[int, int] = {}
    helpers = 0
    for child in supervisor.children(recursive=True):
        try:
            rss = child.memory_info().rss
        except psutil.Error:
            continue
        if is_helper(child):
            helpers += rss
        else:
            workers[child.pid] = rss
    return supervisor.memory_info().rss, workers, helpers


class MemorySampler:
    """Samples the process tree under ``pid`` every ``interval`` seconds in a background thread."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self._supervisor = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self.result = MemorySamples()

    def __enter__(self) -> "MemorySampler":
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                supervisor, workers, helpers = sample_group(self._supervisor)
            except psutil.Error:
                return
            self.result.samples.append((time.monotonic() - self._started, supervisor, workers, helpers))
            self._stop.wait(self._interval)
