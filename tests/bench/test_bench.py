"""The benchmark harness's pure parts: flush-log parsing, memory peaks, goals, the Markdown report, the docs
update and the plots, on a synthetic run. (The benchmark itself is ``python -m bench``, not a test.)"""

from pathlib import Path
from typing import Any

import pytest

from bench.cli import combined
from bench.figures import DISTRIBUTION_POINTS, distribution_ms, per_1000
from bench.flushlog import FlushTotals, read_flushes
from bench.goals import evaluate
from bench.limit import LimitResult, count_words
from bench.memory import MemorySamples
from bench.plots import write_plots
from bench.profile_consumer import StackFrame, breakdown, parse_frame
from bench.report import LATEST_END, LATEST_START, noise_warning, update_docs, write_results

MB = 1024 * 1024


def test_read_flushes_sums_the_flush_lines_between_offsets(tmp_path: Path) -> None:
    before = "2026-01-01 INFO worker=0 partition=3 event=flushed articles=9 entities=5 documents=99 ms=4\n"
    lines = (
        "2026-01-01 INFO worker=0 partition=1 event=flushed articles=2 messages=2 entities=40 documents=55 ms=3\n"
        "2026-01-01 INFO worker=1 event=stats articles=7 flushes=3\n"
        '2026-01-01 INFO worker=1 partition=4 event=flushed articles=3 error="a b" documents=21 next_offset=9\n'
    )
    log = tmp_path / "consumer.log"
    log.write_text(before + lines)
    assert read_flushes(log, start=len(before)) == FlushTotals(flushes=2, articles=5, documents=76)
    assert read_flushes(log, 0, len(before)) == FlushTotals(flushes=1, articles=9, documents=99)


def test_memory_peaks() -> None:
    samples = MemorySamples(
        [(0.0, 50 * MB, {11: 100 * MB, 12: 120 * MB}, 10 * MB), (0.5, 50 * MB, {11: 180 * MB, 13: 90 * MB}, 10 * MB)]
    )
    assert (samples.worker_peak, samples.group_peak, samples.workers_seen) == (180 * MB, 330 * MB, 3)
    assert MemorySamples().worker_peak == 0


def test_combined_limit_weighs_each_measurement_by_its_time() -> None:
    first = LimitResult(processes=2, articles=100, words=1000, entities=50, seconds=10.0, cpu_seconds=19.0)
    second = LimitResult(processes=2, articles=100, words=1000, entities=50, seconds=15.0, cpu_seconds=21.0)
    limit = combined([first, second])
    assert (limit.articles, limit.seconds, limit.articles_per_s, limit.words_per_s) == (200, 25.0, 8.0, 80.0)
    assert limit.cpu_seconds == 40.0


def test_small_figures() -> None:
    assert count_words(" Angela  Merkel\nmet Macron. ") == 4
    assert per_1000(45, 60) == 750.0
    assert per_1000(1, 0) is None
    distribution = distribution_ms([0.001 * n for n in range(1, 102)])
    assert len(distribution) == len(DISTRIBUTION_POINTS)
    assert distribution[49] == 51.0  # the 50th percentile of 1..101 ms


def run_figures() -> dict[str, Any]:
    def summary(rate: float, p50: float, p99: float, errors: int = 0) -> dict[str, Any]:
        return {
            "accepted": 1000,
            "rejected": 0,
            "errors": errors,
            "rate_per_s": rate,
            "latency_ms": {"p50": p50, "p95": p99, "p99": p99},
            "latency_distribution_ms": [p50 + q / 100 for q in DISTRIBUTION_POINTS],
        }

    def e2e(rate: float, limit: float, counted: int) -> dict[str, Any]:
        return {
            "articles": 600,
            "seconds": 600 / rate,
            "articles_per_s": rate,
            "words_per_s": rate * 900,
            "limit_articles_per_s": limit,
            "ratio_to_limit": round(rate / limit, 3),
            "articles_per_cpu_s": 4.75,
            "cpu_ratio_to_limit": 0.95,
            "counted": counted,
            "lag": 0,
            "exact": counted == 600,
            "flushes": 40,
            "sink_documents_written": 3000,
            "sink_writes_per_1000": 5000.0,
            "sink_requests_per_1000": 66.7,
            "naive_writes": 24000,
            "naive_writes_per_1000": 40000.0,
            "naive_mention_writes_per_1000": 70000.0,
            "memory": {
                "workers": 2,
                "worker_peak_mb": 230.0,
                "group_peak_mb": 550.0,
                "samples": [[0.0, 60, [200, 210], 10]],
            },
            "progress": [[1.0, 0], [30.0, 300], [60.0, counted]],
            "cpu_cores": {"consumer workers": 1.8, "HTTP service": 0.02, "other programs": 0.1},
        }

    return {
        "date": "2026-01-02",
        "started_at": "2026-01-02 10:00 UTC",
        "duration_s": 420.0,
        "command": "python -m bench --articles 600",
        "note": None,
        "machine": {
            "cores": 2,
            "memory_gb": 23.5,
            "cpu_model": "Test CPU",
            "os": "Linux 6",
            "python": "3.11.2",
            "load_average_1m": 0.4,
        },
        "load_average_end": 1.9,
        "options": {
            "articles": 600,
            "processes": 2,
            "partitions": 16,
            "flush_interval": "2s",
            "window": "1h",
            "skew": "A,B:0.8",
            "sink": "sqlite",
            "data": "x.jsonl.gz",
        },
        "limit": {
            "processes": 2,
            "articles": 1200,
            "seconds": 120.0,
            "articles_per_s": 10.0,
            "words_per_s": 9000,
            "articles_per_cpu_s": 5.0,
        },
        "end_to_end": {"balanced": e2e(9.5, 10.0, 600), "skewed": e2e(7.6, 8.5, 599)},
        "ingest": {
            "concurrency": 32,
            "batch_size": 100,
            "server_cores": {"single": 0.9, "batch": 0.5, "half_rate": 0.4},
            "single": summary(600.0, 40.0, 120.0),
            "batch": summary(3000.0, 30.0, 60.0),
            "kafka": summary(20000.0, 5.0, 9.0),
            "half_rate": {**summary(300.0, 8.0, 31.5), "target_rate_per_s": 300.0},
        },
        "freshness": {
            "probes": 20,
            "missing": 0,
            "flush_interval_s": 2.0,
            "background_rate_per_s": 4.8,
            "p50_s": 2.1,
            "p95_s": 4.5,
            "max_s": 4.9,
            "samples_s": [1.0, 2.1, 4.9],
        },
    }


def test_goals_are_judged_from_the_figures() -> None:
    goals = {goal.name: (goal.status, goal.figure) for goal in evaluate(run_figures())}
    assert goals == {
        "End to end vs raw spaCy limit": ("PASS", "0.95 x (9.5 vs 10.0 articles/s); per CPU-second 0.95 x"),
        "Counts complete and exact": ("SHORT", "balanced: 600/600, lag 0; skewed: 599/600, lag 0"),
        "Skewed mix vs balanced": (  # the machine slowed down between the runs: 7.6 vs 8.5 is 0.894 x its limit
            "SHORT",
            "0.94 x (each run against the limit measured beside it: 0.89 vs 0.95; 7.6 vs 9.5 articles/s)",
        ),
        "Sink write requests per 1,000 articles": ("PASS", "67 vs naive 40,000 (1/599.7)"),
        "Sink documents written per 1,000 articles": ("SHORT", "5,000 vs naive 40,000 (1/8.0)"),
        "HTTP ingest vs consumer group rate": ("PASS", "63 x (600 POST /articles/s vs 9.5 articles/s)"),
        "POST /articles p99 at half its sustained rate": ("PASS", "31.5 ms at 300/s (p50 8.0 ms)"),
        "Freshness p95 (POST acknowledged -> visible)": ("SHORT", "p95 4.50 s, p50 2.10 s"),
        "Resident memory per worker": ("PASS", "peak 230 MB per worker; group 550 MB (2 workers + supervisor)"),
    }


def test_goals_not_measured_are_na() -> None:
    figures = run_figures()
    for key in ("limit", "end_to_end", "ingest", "freshness"):
        del figures[key]
    assert {goal.status for goal in evaluate(figures)} == {"n/a"}


def test_markdown_report_lists_goals_and_figures(tmp_path: Path) -> None:
    json_path, md_path = write_results(run_figures(), tmp_path)
    assert (json_path.name, md_path.name) == ("2026-01-02.json", "2026-01-02.md")
    text = md_path.read_text()
    assert (
        "| End to end vs raw spaCy limit | >= 0.90 x limit | 0.95 x (9.5 vs 10.0 articles/s); per CPU-second "
        "0.95 x | **PASS** |"
    ) in text
    assert (
        "| Raw spaCy `nlp.pipe`, 2 processes (the limit) | 1,200 | 120.0 | 10.00 | 9,000 |  | 1.00 | 5.00 | 1.00 |"
        in text
    )
    assert "| End to end, skewed mix (A,B:0.8) | 600 | 78.9 | 7.60 | 6,840 | 8.50 | 0.89 | 4.75 | 0.95 |" in text
    assert "| `POST /articles`, 32 in flight | 1,000 | 600 | 40.0 | 120.0 | 0 | 0.90 | 667 |" in text
    assert "| balanced mix | 40 | 67 | 3,000 | 5,000 | 40,000 | 70,000 |" in text
    assert "| Part | balanced mix | skewed mix |" in text
    assert "| consumer workers | 1.80 | 1.80 |" in text
    assert "- Command: `python -m bench --articles 600`" in text
    assert "![Throughput against the limit](2026-01-02-throughput.png)" in text


def test_update_docs_replaces_only_the_latest_run_section(tmp_path: Path) -> None:
    docs = tmp_path / "docs" / "benchmarks.md"
    docs.parent.mkdir()
    docs.write_text(f"# Benchmarks\n\nMethod.\n\n{LATEST_START}\nold run\n{LATEST_END}\n\nMore text.\n")
    update_docs(run_figures(), docs, tmp_path / "bench" / "results")
    text = docs.read_text()
    assert text.startswith(f"# Benchmarks\n\nMethod.\n\n{LATEST_START}\nRun of 2026-01-02 10:00 UTC (420 s).")
    assert text.endswith(f"{LATEST_END}\n\nMore text.\n")
    assert "old run" not in text
    assert "![Memory](../bench/results/2026-01-02-memory.png)" in text


def test_update_docs_without_markers_says_what_is_missing(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n")
    with pytest.raises(ValueError, match="no '<!-- latest-run:start"):
        update_docs(run_figures(), docs, tmp_path)


def test_plots_are_written(tmp_path: Path) -> None:
    paths = write_plots(run_figures(), tmp_path)
    assert [p.name for p in paths] == ["2026-01-02-throughput.png", "2026-01-02-latency.png", "2026-01-02-memory.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)


def test_profile_breakdown_categorizes_each_stack_by_its_first_matching_frame() -> None:
    worker_source = (Path(__file__).resolve().parents[2] / "consumer/worker.py").read_text().splitlines()
    consume_line = next(n for n, line in enumerate(worker_source, start=1) if "._consumer.consume(" in line)
    root = "<module> (<string>:1);main (consumer/worker.py:226);run_worker (consumer/worker.py:214)"
    collapsed = "\n".join(
        [
            f"{root};Worker.run (consumer/worker.py:125);Worker.process (consumer/worker.py:139);"
            "pipe (spacy/language.py:1620);__call__ (thinc/model.py:334) 90",
            f"{root};Worker.run (consumer/worker.py:{consume_line}) 7",
            f"{root};Worker.run (consumer/worker.py:127);Checkpointer.flush_due (consumer/checkpoint.py:177);"
            "SqliteSink.write (common/sinks/sqlite.py:120);SqliteSink._transaction (common/sinks/sqlite.py:90) 2",
            f"{root};Worker.run (consumer/worker.py:125);Worker.process (consumer/worker.py:1) 1",
            "serve_forever (socketserver.py:233) 50",
            "not a stack line",
        ]
    )
    samples = breakdown(collapsed)
    assert dict(samples) == {
        "spaCy nlp.pipe (tok2vec + ner)": 90,
        "Kafka consume (includes waiting for messages)": 7,
        "sink write (one transaction per flush)": 2,
        "consumer's own code: Worker.process (worker.py:1)": 1,
    }


def test_parse_frame() -> None:
    assert parse_frame("Worker.run (consumer/worker.py:123)") == StackFrame("Worker.run", "consumer/worker.py", 123)
    assert parse_frame("<module> (<string>:1)") == StackFrame("<module>", "<string>", 1)


def test_noise_warning_names_the_disturbed_phases(tmp_path: Path) -> None:
    figures = run_figures()
    figures["other_programs_cpu_cores"] = {"limit, before": 0.05, "end to end, balanced": 1.2}
    assert noise_warning(figures) == (
        "Other programs used CPU during this run (cores: end to end, balanced 1.20): figures of those phases "
        "are low by up to that share of the machine, and ratios between phases are unreliable. Rerun on an "
        "idle machine."
    )
    _, md_path = write_results(figures, tmp_path)
    text = md_path.read_text()
    assert "| end to end, balanced | 1.20 |" in text
    assert "> **Other programs used CPU during this run" in text
    figures["other_programs_cpu_cores"] = {"limit, before": 0.05}
    assert noise_warning(figures) is None
