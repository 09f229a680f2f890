"""A worker's counters: the log summary and the Prometheus counters show the same numbers."""

from prometheus_client import REGISTRY

from consumer.stats import WorkerStats


def sample(name: str, worker: str) -> float:
    return REGISTRY.get_sample_value(name, {"worker": worker}) or 0.0


def test_summary_and_prometheus_agree() -> None:
    before = {
        name: sample(name, "3") for name in ("newscounts_articles_counted_total", "newscounts_sink_failures_total")
    }
    stats = WorkerStats(3)
    stats.articles += 12
    stats.dead_letters += 2
    stats.duplicates += 4
    stats.fenced += 1
    stats.sink_failures += 3
    stats.flushed(0.040)
    stats.flushed(0.020)
    assert stats.summary() == (
        "event=stats articles=12 dead_letters=2 duplicates=4 flushes=2 flush_ms_mean=30 flush_ms_max=40 fenced=1 "
        "sink_failures=3 offset_gaps=0"
    )
    stats.articles += 1
    assert sample("newscounts_articles_counted_total", "3") - before["newscounts_articles_counted_total"] == 13
    assert sample("newscounts_sink_failures_total", "3") - before["newscounts_sink_failures_total"] == 3
    assert sample("newscounts_dead_letters_total", "3") >= 2
    assert sample("newscounts_flush_seconds_count", "3") >= 2
