"""A worker's counters: logged as one summary line now and then, optionally served to Prometheus."""

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, Metric, SummaryMetricFamily

from consumer.logs import event


@dataclass
class WorkerStats:
    """Totals since the worker started."""

    articles: int = 0
    """Articles counted (in a flush that succeeded or still pending)."""
    dead_letters: int = 0
    duplicates: int = 0
    """Articles skipped because the partition counted the same article id recently."""
    flushes: int = 0
    flush_seconds: float = 0.0
    """Total time of the successful sink writes, for the mean flush latency."""
    flush_seconds_max: float = 0.0
    fenced: int = 0
    sink_failures: int = 0
    offset_gaps: int = 0
    """First messages after a positioning that were not at the stored offset (records lost or log reset)."""

    def flushed(self, seconds: float) -> None:
        self.flushes += 1
        self.flush_seconds += seconds
        self.flush_seconds_max = max(self.flush_seconds_max, seconds)

    def summary(self) -> str:
        mean_ms = round(1000 * self.flush_seconds / self.flushes) if self.flushes else 0
        return event(
            "stats",
            articles=self.articles,
            dead_letters=self.dead_letters,
            duplicates=self.duplicates,
            flushes=self.flushes,
            flush_ms_mean=mean_ms,
            flush_ms_max=round(1000 * self.flush_seconds_max),
            fenced=self.fenced,
            sink_failures=self.sink_failures,
            offset_gaps=self.offset_gaps,
        )


class _StatsCollector:
    """Reads the same counters the log summary shows, so the two cannot disagree."""

    def __init__(self, stats: WorkerStats, worker: int) -> None:
        self._stats = stats
        self._labels = [str(worker)]

    def collect(self) -> Iterator[Metric]:
        stats = self._stats
        for name, help_text, value in (
            ("newscounts_articles_counted", "Articles counted by this worker.", stats.articles),
            ("newscounts_dead_letters", "Messages sent to the dead-letter topic.", stats.dead_letters),
            ("newscounts_duplicates_skipped", "Articles skipped as recently counted ids.", stats.duplicates),
            ("newscounts_flushes_fenced", "Flushes refused because another worker owns the partition.", stats.fenced),
            ("newscounts_sink_failures", "Sink writes or reads that failed and were retried.", stats.sink_failures),
            (
                "newscounts_offset_gaps",
                "First messages after a positioning not at the stored offset.",
                stats.offset_gaps,
            ),
        ):
            family = CounterMetricFamily(name, help_text, labels=["worker"])
            family.add_metric(self._labels, value)
            yield family
        flushes = SummaryMetricFamily(
            "newscounts_flush_seconds", "Duration of successful sink writes (flushes).", labels=["worker"]
        )
        flushes.add_metric(self._labels, stats.flushes, stats.flush_seconds)
        yield flushes


def serve_metrics(stats: WorkerStats, worker: int, port: int) -> None:
    """Prometheus text format on ``port`` (a daemon thread of this worker)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StatsCollector(stats, worker))
    start_http_server(port, registry=registry)
