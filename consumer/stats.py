"""A worker's counters: logged as one summary line now and then, and served to Prometheus by the supervisor.

Each counter is a plain attribute (``stats.articles += 1``) whose increments also go to a Prometheus counter
labelled with the worker's index. With ``METRICS_PORT`` set, the supervisor gives every process of the
group one ``PROMETHEUS_MULTIPROC_DIR`` before any of them starts, so the increments of all workers (and of
workers that died since) land in files there, and the supervisor serves their sum on ONE port: one scrape
target per consumer pod, a ``worker`` label per series.
"""

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Summary, multiprocess, start_http_server

from consumer.logs import event

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's variable: where every process of the group writes its metric values."""


class _Counted:
    """A counter of :class:`WorkerStats`: an int attribute whose increments also go to Prometheus."""

    def __init__(self, metric: Counter) -> None:
        self._metric = metric
        self._attribute = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._attribute = f"_{name}"

    def start(self, worker: int) -> None:
        """Make the worker's series exist at 0, so a scrape shows every counter from the start."""
        self._metric.labels(str(worker))

    def __get__(self, stats: "WorkerStats | None", owner: type | None = None) -> Any:
        if stats is None:
            return self
        return getattr(stats, self._attribute, 0)

    def __set__(self, stats: "WorkerStats", value: int) -> None:
        increment = value - getattr(stats, self._attribute, 0)
        setattr(stats, self._attribute, value)
        if increment > 0:
            self._metric.labels(str(stats.worker)).inc(increment)


_FLUSH_SECONDS = Summary("newscounts_flush_seconds", "Duration of successful sink writes (flushes).", ["worker"])


class WorkerStats:
    """Totals since the worker started."""

    articles = _Counted(Counter("newscounts_articles_counted", "Articles counted by this worker.", ["worker"]))
    dead_letters = _Counted(Counter("newscounts_dead_letters", "Messages sent to the dead-letter topic.", ["worker"]))
    duplicates = _Counted(
        Counter("newscounts_duplicates_skipped", "Articles skipped as recently counted (publication, id).", ["worker"])
    )
    fenced = _Counted(
        Counter("newscounts_flushes_fenced", "Flushes refused because another worker owns the partition.", ["worker"])
    )
    sink_failures = _Counted(
        Counter("newscounts_sink_failures", "Sink writes or reads that failed and were retried.", ["worker"])
    )
    offset_gaps = _Counted(
        Counter("newscounts_offset_gaps", "First messages after a positioning not at the stored offset.", ["worker"])
    )

    def __init__(self, worker: int) -> None:
        self.worker = worker
        for counted in vars(WorkerStats).values():
            if isinstance(counted, _Counted):
                counted.start(worker)
        self.flushes = 0
        self.flush_seconds = 0.0
        """Total time of the successful sink writes, for the mean flush latency."""
        self.flush_seconds_max = 0.0

    def flushed(self, seconds: float) -> None:
        self.flushes += 1
        self.flush_seconds += seconds
        self.flush_seconds_max = max(self.flush_seconds_max, seconds)
        _FLUSH_SECONDS.labels(str(self.worker)).observe(seconds)

    def summary(self, **now: object) -> str:
        """The counters, and ``now``: what the worker holds at this moment (e.g. messages waiting for NER)."""
        mean_ms = round(1000 * self.flush_seconds / self.flushes) if self.flushes else 0
        fields: dict[str, object] = {
            "articles": self.articles,
            "dead_letters": self.dead_letters,
            "duplicates": self.duplicates,
            "flushes": self.flushes,
            "flush_ms_mean": mean_ms,
            "flush_ms_max": round(1000 * self.flush_seconds_max),
            "fenced": self.fenced,
            "sink_failures": self.sink_failures,
            "offset_gaps": self.offset_gaps,
        }
        return event("stats", None, **fields, **now)


class GroupMetrics:
    """The supervisor's side: one folder for every process's values, one endpoint serving their sum."""

    def __init__(self, port: int) -> None:
        self._port = port
        self.folder = Path(tempfile.mkdtemp(prefix="newscounts-metrics-"))
        os.environ[MULTIPROCESS_DIR] = str(self.folder)  # before any child (or the fork server) starts

    def serve(self) -> None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        start_http_server(self._port, registry=registry)

    def process_died(self, pid: int) -> None:
        """Counters of a dead process stay in the sum (totals since start); its live values go."""
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
