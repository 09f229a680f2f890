"""Memory of the consumer group, per process and per kind of process, sampled while it works and while idle.

RSS counts every shared page (the spaCy pipeline the fork server loaded before forking) once per process, so
a sum of RSS over the group overstates it many times; the figures that add up are PSS (each shared page
divided among the processes that map it) and USS (pages of that process alone), read from
``/proc/<pid>/smaps_rollup``. The group: the supervisor and every process under it, by kind: ``worker`` and
``ner`` (from the supervisor's ``event=worker_started ... pid=`` lines), ``fork server``, ``resource
tracker``, else ``other``.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

KB = 1024
HELPERS = {"forkserver": "fork server", "resource_tracker": "resource tracker"}


@dataclass(frozen=True)
class ProcessMemory:
    kind: str
    rss: int
    pss: int
    uss: int
    """Bytes."""


def parse_smaps_rollup(text: str) -> tuple[int, int, int]:
    """(RSS, PSS, USS) in bytes from the text of ``/proc/<pid>/smaps_rollup``; USS = private clean + dirty."""
    fields = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name] = int(parts[0]) * KB
    return fields["Rss"], fields["Pss"], fields["Private_Clean"] + fields["Private_Dirty"]


def kind_of(process: psutil.Process, children: dict[int, str]) -> str:
    if process.pid in children:
        return children[process.pid]
    try:
        command = " ".join(process.cmdline())
    except psutil.Error:
        return "other"
    return next((kind for marker, kind in HELPERS.items() if marker in command), "other")


def group_processes(supervisor: int, children: dict[int, str]) -> list[tuple[psutil.Process, str]]:
    """The supervisor and every live process under it, each with its kind."""
    try:
        root = psutil.Process(supervisor)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
    return [(p, "supervisor" if p.pid == supervisor else kind_of(p, children)) for p in processes]


def sample_group(supervisor: int, children: dict[int, str]) -> dict[int, ProcessMemory]:
    """Each live process of the group now, by pid; processes that just exited are skipped."""
    sample = {}
    for process, kind in group_processes(supervisor, children):
        try:
            rss, pss, uss = parse_smaps_rollup(Path(f"/proc/{process.pid}/smaps_rollup").read_text())
        except (OSError, KeyError):
            continue
        sample[process.pid] = ProcessMemory(kind, rss, pss, uss)
    return sample


@dataclass
class MemorySamples:
    samples: list[tuple[float, dict[int, ProcessMemory]]] = field(default_factory=list)
    """(seconds since the sampling started, the group's processes)."""

    def peak(self) -> dict[int, ProcessMemory]:
        """The sample where the group's summed PSS was highest (empty when nothing was sampled)."""
        return max((s for _, s in self.samples), key=lambda s: sum(p.pss for p in s.values()), default={})

    def per_process_peaks(self) -> dict[str, ProcessMemory]:
        """Per kind, the largest PSS and the largest USS any one process of that kind reached."""
        peaks: dict[str, ProcessMemory] = {}
        for _, sample in self.samples:
            for memory in sample.values():
                old = peaks.get(memory.kind, ProcessMemory(memory.kind, 0, 0, 0))
                peaks[memory.kind] = ProcessMemory(
                    memory.kind, max(old.rss, memory.rss), max(old.pss, memory.pss), max(old.uss, memory.uss)
                )
        return peaks


def by_kind(sample: dict[int, ProcessMemory]) -> dict[str, dict[str, int]]:
    """Per kind: processes, and summed RSS, PSS and USS (bytes) of one sample."""
    kinds: dict[str, dict[str, int]] = {}
    for memory in sample.values():
        totals = kinds.setdefault(memory.kind, {"processes": 0, "rss": 0, "pss": 0, "uss": 0})
        totals["processes"] += 1
        totals["rss"] += memory.rss
        totals["pss"] += memory.pss
        totals["uss"] += memory.uss
    return kinds


class MemorySampler:
    """Samples the group every ``interval`` seconds in a background thread, while the ``with`` block runs."""

    def __init__(self, supervisor: int, children: Callable[[], dict[int, str]], interval: float = 1.0) -> None:
        self._supervisor = supervisor
        self._children = children
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
            sample = sample_group(self._supervisor, self._children())
            if sample:
                self.result.samples.append((time.monotonic() - self._started, sample))
            self._stop.wait(self._interval)
