"""How much CPU other programs used during each phase: the noise under every figure of a shared machine.

System-wide busy time (psutil) minus the CPU time of this process and all its descendants (the broker,
the services, the spaCy processes), per second of the phase, in cores.
"""

import contextlib
import time
from types import TracebackType

import psutil

from bench.memory import group_processes


def own_cpu_seconds() -> float:
    """CPU time of this process, its reaped children, and every live descendant (with their reaped children)."""
    me = psutil.Process()
    processes = [me]
    with contextlib.suppress(psutil.Error):
        processes += me.children(recursive=True)
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def busy_cpu_seconds() -> float:
    """System-wide CPU time spent not idle (all cores)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


class ForeignCpu:
    """``with ForeignCpu() as other: ...`` then ``other.cores``: cores used by other programs meanwhile."""

    cores: float = 0.0

    def __enter__(self) -> "ForeignCpu":
        self._started, self._busy, self._own = time.monotonic(), busy_cpu_seconds(), own_cpu_seconds()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        elapsed = time.monotonic() - self._started
        foreign = (busy_cpu_seconds() - self._busy) - (own_cpu_seconds() - self._own)
        self.cores = max(foreign, 0.0) / elapsed if elapsed > 0 else 0.0


def process_cpu_seconds(pid: int, *, descendants: bool) -> float:
    """CPU time of process ``pid`` (and, if asked, of its live descendants); 0 when it is gone."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)] if descendants else [root]
    except psutil.Error:
        return 0.0
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


def this_process_cpu_seconds() -> float:
    """CPU time of the bench process itself (its threads: load generator, polling, memory sampler)."""
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


class CpuByComponent:
    """CPU cores used by each part of the pipeline over a ``with`` block: where the 2 cores went.

    ``components`` maps a name to (pid, include descendants); the bench process itself and "other programs"
    (the rest of the machine's busy time) are added.
    """

    def __init__(self, components: dict[str, tuple[int, bool]]) -> None:
        self._components = components
        self.cores: dict[str, float] = {}

    def _snapshot(self) -> dict[str, float]:
        seconds = {name: process_cpu_seconds(pid, descendants=d) for name, (pid, d) in self._components.items()}
        seconds["bench (load generator, polling)"] = this_process_cpu_seconds()
        seconds["machine busy"] = busy_cpu_seconds()
        return seconds

    def __enter__(self) -> "CpuByComponent":
        self._started, self._before = time.monotonic(), self._snapshot()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        elapsed = time.monotonic() - self._started
        after = self._snapshot()
        used = {name: (after[name] - self._before[name]) / elapsed for name in after}
        busy = used.pop("machine busy")
        used["other programs"] = max(busy - sum(used.values()), 0.0)
        self.cores = {name: round(value, 2) for name, value in used.items()}


def cpu_seconds_by_kind(supervisor: int, children: dict[int, str]) -> dict[str, float]:
    """CPU-seconds so far of the consumer group's live processes, summed per kind (see :mod:`bench.memory`)."""
    seconds: dict[str, float] = {}
    for process, kind in group_processes(supervisor, children):
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            seconds[kind] = seconds.get(kind, 0.0) + times.user + times.system
    return seconds
