"""The benchmark harness's pure parts on synthetic measurements (flush-log parsing, smaps_rollup, memory peaks
per kind, the 10%-90% rate, the limit beside a run, the figures, goals, Markdown report, docs update and
plots, the profile's categories), and one small smoke run of ``python -m bench`` against a real broker.
(The benchmark itself is ``python -m bench``, not a test: nothing here asserts on a timing.)"""

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bench.cli import main
from bench.figures import per_1000, shape_figures
from bench.flushlog import FlushTotals, read_flushes
from bench.goals import evaluate
from bench.limit import LimitResult, combined
from bench.limits import LimitSeries, halves_of
from bench.memory import MemorySamples, ProcessMemory, by_kind, parse_smaps_rollup
from bench.plots import write_plots
from bench.profile_consumer import StackFrame, breakdown, parse_frame
from bench.report import LATEST_END, LATEST_START, noise_warning, update_docs, write_results
from bench.shape import Run, ShapeResult, renamed
from bench.start import StartResult, every_partition_owned
from bench.throughput import RunResult, Sample, at
from loadtool.load import Outgoing
from tests.conftest import DEMO_DATA

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


def test_smaps_rollup_gives_rss_pss_and_uss() -> None:
    text = (
        "556d8939c000-7ffc39d7a000 ---p 00000000 00:00 0                          [rollup]\n"
        "Rss:                1764 kB\nPss:                 209 kB\nPss_Dirty:           112 kB\n"
        "Shared_Clean:       1612 kB\nPrivate_Clean:        40 kB\nPrivate_Dirty:       112 kB\n"
    )
    assert parse_smaps_rollup(text) == (1764 * 1024, 209 * 1024, 152 * 1024)


def memory(kind: str, pss_mb: int, uss_mb: int) -> ProcessMemory:
    return ProcessMemory(kind, 3 * pss_mb * MB, pss_mb * MB, uss_mb * MB)


def two_samples() -> MemorySamples:
    first = {1: memory("supervisor", 20, 18), 2: memory("worker", 40, 10), 3: memory("worker", 50, 12)}
    second = {1: memory("supervisor", 20, 18), 2: memory("worker", 45, 11), 4: memory("ner", 90, 60)}
    return MemorySamples([(0.0, first), (1.0, second)])


def test_memory_peak_is_the_sample_with_the_largest_summed_pss_and_peaks_are_per_process() -> None:
    samples = two_samples()
    assert sorted(samples.peak()) == [1, 2, 4]  # 155 MB against 110 MB
    assert by_kind(samples.peak())["worker"] == {"processes": 1, "rss": 135 * MB, "pss": 45 * MB, "uss": 11 * MB}
    assert samples.per_process_peaks()["worker"] == ProcessMemory("worker", 150 * MB, 50 * MB, 12 * MB)
    assert MemorySamples().peak() == {}


def samples_of(points: list[tuple[float, int]]) -> list[Sample]:
    """Samples whose CPU times grow 1.5 CPU-seconds per second (group) and 2 (machine), all the bench's own."""
    return [Sample(t, n, 1.5 * t, 2.0 * t, 2.0 * t) for t, n in points]


def test_the_moment_a_count_is_reached_is_interpolated_between_samples() -> None:
    samples = samples_of([(0.0, 0), (1.0, 0), (2.0, 40), (3.0, 100)])
    assert at(samples, 10) == Sample(1.25, 10, 1.875, 2.5, 2.5)
    assert at(samples, 0) == samples[0]
    assert at(samples, 101) is None


def run_result(
    rate: float, articles: int = 100, counted: int = 100, skew: str = "keyed", samples: MemorySamples | None = None
) -> RunResult:
    """A run that committed ``rate`` records per second after a 1-second first fetch."""
    points = [(0.0, 0), *((1.0 + n / rate, n) for n in range(0, articles + 1, 10))]
    return RunResult(
        1,
        skew,
        articles,
        {0: articles // 2, 3: articles // 2},
        samples_of(points),
        counted,
        0,
        samples or MemorySamples(),
        {"ner": 1.5, "worker": 0.2},
    )


def test_a_run_rate_is_taken_between_10_and_90_percent_of_its_records() -> None:
    result = run_result(8.0)
    assert (result.seconds, result.articles_per_s) == (10.0, 8.0)
    assert result.articles_per_cpu_s == pytest.approx(8.0 / 1.5)
    assert result.other_cores == 0.0
    assert result.exact and not run_result(8.0, counted=99).exact


def test_the_limit_beside_a_run_combines_the_measurements_before_and_after_it() -> None:
    first = LimitResult(processes=2, articles=100, seconds=10.0, cpu_seconds=19.0)
    second = LimitResult(processes=2, articles=100, seconds=15.0, cpu_seconds=21.0)
    limit = combined([first, second])
    assert (limit.articles, limit.seconds, limit.articles_per_s, limit.cpu_seconds) == (200, 25.0, 8.0, 40.0)
    series = LimitSeries(halves_of(["a", "b", "c"]), 2, "model")
    assert series.halves == (["a", "c"], ["b"])
    series.measured += [("before", first, 0.0), ("after", second, 0.1)]
    assert series.beside_last_run() == limit


def test_every_run_gets_distinct_ids() -> None:
    articles = [Outgoing({"publication": "A", "content": "x", "id": "same"}, "same")] * 2
    copies = renamed(articles, "keyed-w16", "warm")
    assert [(c.article_id, c.record["id"], c.record["publication"]) for c in copies] == [
        ("keyed-w16-0", "keyed-w16-0", "warm"),
        ("keyed-w16-1", "keyed-w16-1", "warm"),
    ]
    assert per_1000(45, 60) == 750.0
    assert per_1000(1, 0) is None


def shape(workers: int, rates: dict[str, float], limit: float) -> ShapeResult:
    beside = LimitResult(processes=2, articles=600, seconds=600 / limit, cpu_seconds=600 / limit * 2)
    runs = [
        Run(name, run_result(rate, skew=name, samples=two_samples()), beside, FlushTotals(20, 100, 300))
        for name, rate in rates.items()
    ]
    return ShapeResult(
        workers, StartResult(workers, 3.0, 4.5, 1.6), runs, MemorySamples(two_samples().samples[:1]), (4000, 7000)
    )


def figures() -> dict[str, Any]:
    return {
        "date": "2026-01-02",
        "started_at": "2026-01-02 10:00 UTC",
        "duration_s": 900.0,
        "command": "python -m bench",
        "note": None,
        "machine": {
            "cores": 2,
            "memory_gb": 23.5,
            "cpu_model": "Test CPU",
            "os": "Linux 6",
            "python": "3.11.7",
            "load_average_1m": 0.4,
        },
        "load_average_end": 1.9,
        "options": {
            "articles": 100,
            "partitions": 16,
            "ner_processes": 2,
            "flush_interval": "1s",
            "window": "1h",
            "mix": "A,B:0.8",
            "sink": "sqlite",
            "data": "x.jsonl.gz",
        },
        "model_load_s": 2.0,
        "limits": [{"when": "before the first run", "articles_per_s": 10.0, "other_cores": 0.3}],
        "shapes": [
            shape_figures(shape(16, {"keyed": 9.6, "unkeyed": 9.0, "mix": 9.0}, 10.0)),
            shape_figures(shape(2, {"one-partition": 10.0}, 10.0)),
        ],
        "freshness": {
            "probes": 20,
            "missing": 0,
            "flush_interval_s": 1.0,
            "background_rate_per_s": 4.8,
            "p50_s": 1.1,
            "p95_s": 2.5,
            "max_s": 2.9,
        },
    }


def test_goals_are_judged_from_the_figures() -> None:
    goals = {goal.name: (goal.status, goal.figure) for goal in evaluate(figures())}
    assert goals == {
        "End to end, 16 workers, keyed": ("PASS", "0.96 x (9.6 vs 10.0 articles/s); per CPU-second 1.28 x"),
        "End to end, 16 workers, unkeyed": ("SHORT", "0.90 x (9.0 vs 10.0 articles/s); per CPU-second 1.20 x"),
        "End to end, 2 workers, one-partition": ("PASS", "1.00 x (10.0 vs 10.0 articles/s); per CPU-second 1.33 x"),
        "Counts complete and exact": ("PASS", "4 of 4 runs exact"),
        "Skewed publication mix vs balanced": (
            "SHORT",
            "0.94 x (each against the limit beside it: 0.90 vs 0.96; 16 workers)",
        ),
        "Memory of the default group (summed PSS, peak while busy)": (
            "PASS",
            "155 MB busy, 110 MB idle (16 workers; RSS summed: 465 MB)",
        ),
        "Start of the default group (spawn to every partition owned and fetched)": (
            "PASS",
            "1.6 s = 0.8 x the model's load (2.0 s); every worker assigned at 3.0 s, every partition's first "
            "record committed at 4.5 s",
        ),
        "Sink requests per 1,000 articles": ("PASS", "200 vs naive 40,000 (1/200.0)"),
        "Sink documents per 1,000 articles": (
            "n/a",
            "3,000 vs naive 40,000 (1/13.3); SQLite rows upserted: judged with --sink firestore",
        ),
        "HTTP ingest vs consumer group rate": ("n/a", "not measured"),
        "POST /articles p99 at half its sustained rate": ("n/a", "not measured"),
        "Freshness p95 (POST acknowledged -> visible)": ("PASS", "p95 2.50 s, p50 1.10 s"),
    }


def test_the_report_shows_each_shape_and_skew_beside_its_limit_and_the_memory_per_kind(tmp_path: Path) -> None:
    json_path, md_path = write_results(figures(), tmp_path / "results", tmp_path / "img")
    assert (json_path.name, md_path.name) == ("2026-01-02.json", "2026-01-02.md")
    assert json.loads(json_path.read_text())["goals"][0]["status"] == "PASS"
    text = md_path.read_text()
    assert "| 16 | unkeyed | 2 (50%) | 8.9 | 9.00 | 10.00 | **0.90** | 1.20 | 0.00 |" in text
    assert "| 2 | one-partition | 2 (50%) | 8.0 | 10.00 | 10.00 | **1.00** | 1.33 | 0.00 |" in text
    assert "| 16 | worker | 1 | 12 | 50 | 45 | 90 |" in text  # one at the peak; 40 + 50 when idle
    assert "| 16 | **group** |  |  |  | **155** | **110** |" in text
    assert "| Workers | Records | ner | worker |" in text
    assert "| 2 | one-partition | 1.50 | 0.20 |" in text
    assert "| 16 | 1.6 | 3.0 | 4.5 |" in text
    assert "The limit's measurements, in order: before the first run 10.00/s." in text
    assert "![Throughput against the limit](../img/bench-2026-01-02-throughput.png)" in text


def test_update_docs_replaces_only_the_latest_run_section(tmp_path: Path) -> None:
    docs = tmp_path / "docs" / "benchmarks.md"
    docs.parent.mkdir()
    docs.write_text(f"# Benchmarks\n\nMethod.\n\n{LATEST_START}\nold run\n{LATEST_END}\n\nMore text.\n")
    update_docs(figures(), docs, tmp_path / "docs" / "img")
    text = docs.read_text()
    assert text.startswith(f"# Benchmarks\n\nMethod.\n\n{LATEST_START}\nRun of 2026-01-02 10:00 UTC (900 s).")
    assert text.endswith(f"{LATEST_END}\n\nMore text.\n")
    assert "old run" not in text
    assert "![Memory of the default group](img/bench-2026-01-02-memory.png)" in text
    docs.write_text("# Benchmarks\n")
    with pytest.raises(ValueError, match="no '<!-- latest-run:start"):
        update_docs(figures(), docs, tmp_path)


def test_plots_are_written(tmp_path: Path) -> None:
    paths = write_plots(figures(), tmp_path)
    assert [p.name for p in paths] == ["bench-2026-01-02-throughput.png", "bench-2026-01-02-memory.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)


def test_noise_warning_names_the_disturbed_phases() -> None:
    assert noise_warning(figures()) == (
        "Other programs used CPU during this run (cores: limit before the first run 0.30): figures of those "
        "phases are low by up to that share of the machine, and ratios between phases are unreliable. Rerun on "
        "an idle machine."
    )
    quiet = {**figures(), "limits": []}
    assert noise_warning(quiet) is None


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
    assert dict(breakdown(collapsed)) == {
        "spaCy nlp.pipe (tok2vec + ner)": 90,
        "Kafka consume (includes waiting for messages)": 7,
        "sink write (one transaction per flush)": 2,
        "consumer's own code: Worker.process (worker.py:1)": 1,
    }
    assert parse_frame("Worker.run (consumer/worker.py:123)") == StackFrame("Worker.run", "consumer/worker.py", 123)
    assert parse_frame("<module> (<string>:1)") == StackFrame("<module>", "<string>", 1)


@pytest.mark.integration
@pytest.mark.slow
def test_a_small_bench_run_measures_a_shape_and_writes_its_report(tmp_path: Path) -> None:
    arguments = ["--articles", "20", "--shapes", "2", "--skews", "unkeyed", "--mix", "", "--only", "throughput"]
    folders = ["--results", str(tmp_path), "--no-docs"]  # the plots go beside the results, not into docs/img
    code = main([*arguments, "--data", str(DEMO_DATA), *folders])
    assert code == 0
    (stored,) = [json.loads(path.read_text()) for path in tmp_path.glob("*.json")]
    (shape,) = stored["shapes"]
    (run,) = shape["runs"]
    assert (shape["workers"], run["name"], run["counted"], run["lag"], run["exact"]) == (2, "unkeyed", 20, 0, True)
    assert set(shape["memory_busy"]["kinds"]) >= {"supervisor", "fork server", "worker", "ner"}
    assert shape["memory_busy"]["kinds"]["worker"]["processes"] == 2
    assert sorted(path.name for path in tmp_path.glob("*.png")) == [
        f"bench-{stored['date']}-{n}.png" for n in ("memory", "throughput")
    ]


def test_every_partition_owned_is_the_first_log_line_after_which_each_partition_has_a_worker() -> None:
    log = "\n".join(
        [
            "2026-01-02 10:00:00,100 INFO supervisor event=starting workers=2",
            "2026-01-02 10:00:01,000 INFO worker=0 partition=0 event=assigned next_offset=beginning",
            "2026-01-02 10:00:01,001 INFO worker=0 partition=1 event=assigned next_offset=beginning",
            "2026-01-02 10:00:01,500 INFO worker=0 partition=1 event=revoked",
            "2026-01-02 10:00:01,600 INFO worker=0 partition=0 event=lost dropped_articles=0",
            "2026-01-02 10:00:01,700 INFO worker=1 partition=1 event=assigned next_offset=4",
            "2026-01-02 10:00:01,800 INFO worker=1 partition=0 event=flushed articles=1",
            "2026-01-02 10:00:02,250 INFO worker=1 partition=0 event=assigned next_offset=7",
        ]
    )
    two = every_partition_owned(log, 2)
    assert two == datetime(2026, 1, 2, 10, 0, 1, 1000).timestamp()  # both held by worker 0 at 01.001
    assert every_partition_owned(log, 3) is None
    after_the_moves = every_partition_owned(log.split("\n", 3)[3], 2)
    assert after_the_moves == datetime(2026, 1, 2, 10, 0, 2, 250000).timestamp()
