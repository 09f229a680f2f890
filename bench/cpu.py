"""How much CPU other programs used during each phase: the noise under every figure of a shared machine.

System-wide busy time (psutil) minus the CPU time of this process and all its descendants (the broker,
the services, the spaCy processes), per second of the phase, in cores.
"""

import contextlib
import time
from types import TracebackType

import psutil


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
