"""``python -m bench``: run every measurement side by side, print each goal as PASS/SHORT with its figure,
and write ``bench/results/<date>.{json,md}``, the PNG plots and docs/benchmarks.md's latest run."""

import argparse
import itertools
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cpu import ForeignCpu
from bench.data import SAMPLE, missing_articles
from bench.end_to_end import EndToEndResult, run_end_to_end, run_freshness
from bench.figures import end_to_end_figures, freshness_figures, ingest_figures, limit_figures
from bench.goals import evaluate
from bench.ingest import run_ingest
from bench.limit import LimitResult, measure_limit
from bench.machine import describe_machine
from bench.pipeline import Pipeline, PipelineConfig
from bench.plots import write_plots
from bench.report import noise_warning, update_docs, write_results
from bench.services import BenchError, private_broker, private_emulator
from common.durations import parse_duration
from consumer.settings import ConsumerSettings
from loadtool.load import Outgoing, apply_skew, drop_published_at, interleave_publications, read_articles
from loadtool.load import parse_skew as parse_skew_text
from loadtool.load import repeat_to_count as repeat

REPO = Path(__file__).resolve().parents[1]
PHASES = ("limit", "ingest", "e2e", "skew", "freshness")


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m bench",
        description="The newscounts benchmark suite: raw spaCy limit, end to end (balanced and skewed mix), "
        "HTTP ingest next to raw Kafka produce, sink writes against a naive design, freshness and memory, "
        "all in one run on a private Kafka broker. See docs/benchmarks.md.",
    )
    cli.add_argument("--articles", type=int, default=1200, help="Articles per throughput run (default 1200).")
    cli.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        help="Consumer processes, and spaCy processes of the limit (default: the number of cores).",
    )
    cli.add_argument(
        "--flush-interval",
        default="2s",
        help="FLUSH_INTERVAL of the consumer group (default 2s: a run ends up to one interval after the last "
        "article is processed, so a short interval keeps that tail small against a one-minute run).",
    )
    cli.add_argument("--window", default="1h", help="WINDOW of the consumer group (default 1h).")
    cli.add_argument(
        "--skew",
        default="CNN (Web News),Fox Online News:0.8",
        help="Skewed mix: share of the articles relabeled to these publications (default: %(default)s).",
    )
    cli.add_argument("--ingest-articles", type=int, default=2000, help="Articles per HTTP ingest phase.")
    cli.add_argument("--concurrency", type=int, default=32, help="POST /articles requests in flight (default 32).")
    cli.add_argument("--batch-size", type=int, default=100, help="Articles per POST /articles/batch (default 100).")
    cli.add_argument(
        "--half-rate-seconds", type=float, default=10.0, help="Length of the half-rate latency phase (default 10)."
    )
    cli.add_argument("--probes", type=int, default=20, help="Freshness probes, one per second (default 20).")
    cli.add_argument("--sink", choices=("sqlite", "firestore"), default="sqlite", help="Sink (default sqlite).")
    cli.add_argument(
        "--data",
        type=Path,
        default=SAMPLE,
        help="Articles (JSONL or JSONL.gz; default: the 3,000-article AllSides sample beside the checkout).",
    )
    cli.add_argument("--results", type=Path, default=REPO / "bench/results", help="Where results are written.")
    cli.add_argument("--docs", type=Path, default=REPO / "docs/benchmarks.md", help="Docs page to update.")
    cli.add_argument("--no-docs", action="store_true", help="Do not update the docs page.")
    cli.add_argument(
        "--only", help=f"Comma-separated subset of the phases {', '.join(PHASES)} (development; goals left n/a)."
    )
    cli.add_argument("--note", help="A remark stored with the results and shown in the docs (e.g. why a run is small).")
    cli.add_argument("--timeout", type=float, default=1800, help="Longest wait for a run's counts (seconds).")
    cli.add_argument("--keep-work", action="store_true", help="Keep the work folder (service logs, SQLite files).")
    cli.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="Measure nothing: write the Markdown, plots and docs section again from a stored results file.",
    )
    return cli


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def prepare_articles(options: argparse.Namespace) -> tuple[list[Outgoing], Iterator[Outgoing], list[Outgoing]]:
    """(the throughput runs' articles, an endless supply of further distinct articles, warm-up articles).

    Publications are interleaved so the run is a balanced mix, and ``published_at`` is dropped so every
    article falls in the current window, as on a live feed.
    """
    source = read_articles([options.data])
    if source.invalid:
        log(f"{len(source.invalid)} invalid lines in {options.data} skipped (first: {source.invalid[0]})")
    mixed = interleave_publications(source.articles)
    supply = drop_published_at(repeat(mixed, sys.maxsize))
    main = list(itertools.islice(supply, options.articles))
    warmup = list(itertools.islice(supply, 8 * options.processes))
    return main, supply, warmup


def combined(limits: list[LimitResult]) -> LimitResult:
    """The limit over several measurements (total articles / total time): two consecutive ones read every
    article once (alternate halves)."""
    return LimitResult(
        processes=limits[0].processes,
        articles=sum(x.articles for x in limits),
        words=sum(x.words for x in limits),
        entities=sum(x.entities for x in limits),
        seconds=sum(x.seconds for x in limits),
        cpu_seconds=sum(x.cpu_seconds for x in limits),
    )


def run(options: argparse.Namespace, phases: set[str]) -> dict[str, Any]:
    consumer_settings = ConsumerSettings()
    flush_interval_s = parse_duration(options.flush_interval).total_seconds()
    main, supply, warmup = prepare_articles(options)
    skewed = list(apply_skew(main, parse_skew_text(options.skew)))
    figures: dict[str, Any] = {}
    run_dir = Path(tempfile.mkdtemp(prefix="newscounts-bench-"))
    log(f"Work folder (logs, SQLite files): {run_dir}")
    with ExitStack() as stack:
        log("Starting a private Kafka broker...")
        broker = stack.enter_context(private_broker())
        emulator_host = None
        if options.sink == "firestore":
            log("Starting a private Firestore emulator...")
            emulator_host = stack.enter_context(private_emulator()).host
        config = PipelineConfig(
            processes=options.processes,
            flush_interval=options.flush_interval,
            window=options.window,
            run_dir=run_dir,
            emulator_host=emulator_host,
        )
        limits: dict[str, LimitResult] = {}  # the limit's measurements in order, by when ("before the balanced run")
        other_cpu: dict[str, float] = {}
        figures["other_programs_cpu_cores"] = other_cpu

        @contextmanager
        def phase(name: str) -> Iterator[None]:
            with ForeignCpu() as other:
                yield
            other_cpu[name] = round(other.cores, 2)
            log(f"    other programs used {other.cores:.2f} cores meanwhile")

        def measure_the_limit(when: str, half: list[Outgoing]) -> None:
            log(
                f"(1) The limit ({when}): raw spaCy nlp.pipe, {options.processes} processes, {len(half)} of the "
                f"{len(main)} articles, batch size {consumer_settings.ner_batch_size}..."
            )
            with phase(f"limit, {when}"):
                limit = limits[when] = measure_limit(
                    [a.record["content"] for a in half],
                    processes=options.processes,
                    model=consumer_settings.ner_model,
                    batch_size=consumer_settings.ner_batch_size,
                    chunk_chars=consumer_settings.ner_chunk_chars,
                )
                log(f"    {limit.articles_per_s:.2f} articles/s, {limit.words_per_s:,.0f} words/s")

        # The limit is measured on alternate halves of the articles around each end-to-end run (A, balanced,
        # B, skewed, A): each run is compared with the two measurements beside it, which together read the
        # same articles, so a drift of the machine's speed over the minutes of the run cancels out.
        halves = [main[0::2], main[1::2]]
        runs: dict[str, EndToEndResult] = {}
        run_limits: dict[str, LimitResult] = {}
        for mix, articles, wanted in (("balanced", main, "e2e"), ("skewed", skewed, "skew")):
            if wanted not in phases and not (mix == "balanced" and "freshness" in phases):
                continue
            if not limits:
                measure_the_limit(f"before the {mix} run", halves[0])
            log(f"({2 if mix == 'balanced' else 3}) End to end, {mix} mix: {len(articles)} articles over HTTP...")
            pipeline = Pipeline(broker, config, mix, consumers=True)
            try:
                pipeline.start()
                with phase(f"end to end, {mix}"):
                    result = run_end_to_end(pipeline, articles, warmup, timeout=options.timeout)
                runs[mix] = result
                log(
                    f"    {result.articles_per_s:.2f} articles/s, counted {result.counted}/{result.articles}, "
                    f"lag {result.lag}, "
                    f"{result.flushes.documents:,} documents in {result.flushes.flushes} flushes, "
                    f"peak worker RSS {result.memory.worker_peak / 2**20:.0f} MB"
                )
                if mix == "balanced" and "freshness" in phases:
                    log(f"(6) Freshness: {options.probes} probes at 1/s, background at half the end-to-end rate...")
                    with phase("freshness"):
                        fresh = run_freshness(
                            pipeline,
                            list(itertools.islice(supply, options.probes)),
                            list(itertools.islice(supply, int(result.articles_per_s / 2 * options.probes))),
                            probe_rate=1.0,
                            background_rate=result.articles_per_s / 2,
                            grace=3 * flush_interval_s + 30,
                        )
                    figures["freshness"] = freshness_figures(fresh, flush_interval_s)
                    log(f"    p50 {figures['freshness']['p50_s']} s, p95 {figures['freshness']['p95_s']} s")
            finally:
                pipeline.stop()
            measure_the_limit(f"after the {mix} run", halves[len(limits) % 2])
            run_limits[mix] = combined(list(limits.values())[-2:])
        if "limit" in phases and not limits:  # the limit alone
            measure_the_limit("first half", halves[0])
            measure_the_limit("second half", halves[1])
        if "ingest" in phases:  # last: the broker has been warm for minutes (its JIT compiles at first)
            log("(4) HTTP ingest on one uvicorn worker, and raw Kafka produce...")
            pipeline = Pipeline(broker, config, "ingest", consumers=False)
            try:
                pipeline.start()
                with phase("HTTP ingest"):
                    ingest = run_ingest(
                        pipeline,
                        supply,
                        count=options.ingest_articles,
                        concurrency=options.concurrency,
                        batch_size=options.batch_size,
                        half_rate_seconds=options.half_rate_seconds,
                    )
            finally:
                pipeline.stop()
            figures["ingest"] = ingest_figures(ingest)
            for label, summary in (
                ("POST /articles", ingest.single),
                ("POST /articles/batch", ingest.batch),
                ("raw Kafka produce", ingest.kafka),
                ("POST /articles at half rate", ingest.half_rate),
            ):
                log(
                    f"    {label}: {summary.rate:,.0f} articles/s, p50 {summary.latency_ms(50):.1f} ms, "
                    f"p99 {summary.latency_ms(99):.1f} ms, {summary.errors + summary.rejected} not accepted"
                )
    if limits:
        limit = combined(list(limits.values()))
        figures["limit"] = {
            **limit_figures(limit),
            "runs_articles_per_s": [round(x.articles_per_s, 2) for x in limits.values()],
            "runs_when": list(limits),
        }
        if runs:
            figures["end_to_end"] = {mix: end_to_end_figures(result, run_limits[mix]) for mix, result in runs.items()}
    if not options.keep_work:
        shutil.rmtree(run_dir, ignore_errors=True)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    options = parser().parse_args(argv)
    if options.render is not None:
        return publish(json.loads(options.render.read_text()), options)
    if problem := missing_articles(options.data):
        print(problem, file=sys.stderr)
        return 2
    phases = set(PHASES) if not options.only else {p.strip() for p in options.only.split(",")}
    if unknown := phases - set(PHASES):
        print(f"error: unknown phase(s) {', '.join(sorted(unknown))}; choose from {', '.join(PHASES)}")
        return 2
    machine = describe_machine()
    log(
        f"Machine: {machine['cores']} cores, {machine['memory_gb']} GB, {machine['cpu_model']}; "
        f"load average {machine['load_average_1m']}"
    )
    if machine["load_average_1m"] > 0.5 * (machine["cores"] or 1):
        log("Note: the machine is busy (load average above half the cores): figures will be noisy.")
    started_at, started = datetime.now(UTC), time.monotonic()
    try:
        measured = run(options, phases)
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    command = "python -m bench" + "".join(
        f" {shlex.quote(arg)}" for arg in (argv if argv is not None else sys.argv[1:])
    )
    figures = {
        "date": started_at.strftime("%Y-%m-%d"),
        "started_at": started_at.strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": round(time.monotonic() - started, 1),
        "command": command,
        "note": options.note,
        "machine": machine,
        "load_average_end": round(os.getloadavg()[0], 2),
        "options": {
            "articles": options.articles,
            "processes": options.processes,
            "partitions": 16,
            "flush_interval": options.flush_interval,
            "window": options.window,
            "skew": options.skew,
            "sink": options.sink,
            "data": str(options.data.name),
            "phases": sorted(phases),
        },
        **measured,
    }
    return publish(figures, options)


def publish(figures: dict[str, Any], options: argparse.Namespace) -> int:
    """Print the goals; write the results, the plots and (unless --no-docs) the docs section."""
    json_path, md_path = write_results(figures, options.results)
    plots = write_plots(figures, options.results)
    if not options.no_docs:
        update_docs(figures, options.docs, options.results)
    print()
    for goal in evaluate(figures):
        print(f"{goal.status:>5}  {goal.name}: {goal.figure}  (goal {goal.target})")
    if warning := noise_warning(figures):
        print(f"\n{warning}")
    print(f"\nWrote {json_path}, {md_path}, {', '.join(str(p) for p in plots)}")
    return 0
