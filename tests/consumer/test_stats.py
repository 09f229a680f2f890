"""A worker's counters: the log summary and the Prometheus endpoint show the same numbers."""

import socket
import urllib.request

from consumer.stats import WorkerStats, serve_metrics


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_summary_and_prometheus_agree() -> None:
    stats = WorkerStats(articles=12, dead_letters=2, duplicates=4, fenced=1, sink_failures=3)
    stats.flushed(0.040)
    stats.flushed(0.020)
    assert stats.summary() == (
        "event=stats articles=12 dead_letters=2 duplicates=4 flushes=2 flush_ms_mean=30 flush_ms_max=40 fenced=1 "
        "sink_failures=3 offset_gaps=0"
    )
    port = free_port()
    serve_metrics(stats, worker=3, port=port)
    stats.articles += 1  # the endpoint reads the live counters
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert 'newscounts_articles_counted_total{worker="3"} 13.0' in text
    assert 'newscounts_dead_letters_total{worker="3"} 2.0' in text
    assert 'newscounts_duplicates_skipped_total{worker="3"} 4.0' in text
    assert 'newscounts_flushes_fenced_total{worker="3"} 1.0' in text
    assert 'newscounts_sink_failures_total{worker="3"} 3.0' in text
    assert 'newscounts_flush_seconds_count{worker="3"} 2.0' in text
    assert 'newscounts_flush_seconds_sum{worker="3"} 0.06' in text
