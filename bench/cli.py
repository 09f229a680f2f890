"""``python -m bench``: run every measurement side by side, print each goal as PASS/SHORT with its figure,
and write ``bench/results/<date>.{json,md}``, the PNG plots and docs/benchmarks.md's latest run.

A run is a sequence of named phases, each a function of what it is given returning what it measured:
:func:`prepare_articles`, :func:`measure_model_load`, :func:`measure_shapes` (per shape: start, every skew,
the limit beside each run, memory busy and idle), :func:`measure_freshness`, :func:`measure_ingest`; then
:func:`publish` writes what they returned."""

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
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.data import REPO, SAMPLE, missing_articles
from bench.figures import freshness_figures, ingest_figures, limits_figures, shape_figures
from bench.freshness import run_freshness
from bench.goals import evaluate
from bench.ingest import run_ingest
from bench.limit import model_load_seconds
from bench.limits import LimitSeries, halves_of
from bench.machine import describe_machine
from bench.pipeline import Pipeline, PipelineConfig
from bench.plots import write_plots
from bench.records import Skew
from bench.report import noise_warning, update_docs, write_results
from bench.services import BenchError, log, private_broker, private_emulator
from bench.shape import ShapeResult, measure_shape
from common.durations import parse_duration
from consumer.settings import ConsumerSettings, available_cores
from loadtool.load import Outgoing, apply_skew, drop_published_at, interleave_publications, read_articles
from loadtool.load import parse_skew as parse_publication_skew
from loadtool.load import repeat_to_count as repeat

PHASES = ("throughput", "freshness", "ingest")
DEFAULT_WORKERS = ConsumerSettings.model_fields["consumer_processes"].default


def parser() -> argparse.ArgumentParser:
    cores = available_cores()
    cli = argparse.ArgumentParser(
        prog="python -m bench",
        description="The newscounts benchmark suite: each consumer group shape and partition skew end to end "
        "against plain spaCy on the cores, the group's start and memory, sink writes, freshness and HTTP "
        "ingest, all in one run on a private Kafka broker. See docs/benchmarks.md.",
    )
    cli.add_argument("--articles", type=int, default=600, help="Articles per throughput run (default 600).")
    cli.add_argument(
        "--shapes",
        default=",".join(dict.fromkeys(str(n) for n in (DEFAULT_WORKERS, 2, cores))),
        help="CONSUMER_PROCESSES of each group measured, the default first (default: %(default)s).",
    )
    cli.add_argument(
        "--skews",
        default=",".join(skew.value for skew in Skew),
        help="How records spread over the partitions, per shape (default: %(default)s).",
    )
    cli.add_argument(
        "--mix",
        default="CNN (Web News),Fox Online News:0.8",
        help="Skewed publication mix, run keyed on the first shape ('' to skip; default: %(default)s).",
    )
    cli.add_argument("--flush-interval", default="1s", help="FLUSH_INTERVAL of the consumer group (default 1s).")
    cli.add_argument("--window", default="1h", help="WINDOW of the consumer group (default 1h).")
    cli.add_argument("--ingest-articles", type=int, default=2000, help="Articles per HTTP ingest phase.")
    cli.add_argument("--concurrency", type=int, default=32, help="POST /articles requests in flight (default 32).")
    cli.add_argument("--batch-size", type=int, default=100, help="Articles per POST /articles/batch (default 100).")
    cli.add_argument("--half-rate-seconds", type=float, default=10.0, help="Length of the half-rate phase.")
    cli.add_argument("--probes", type=int, default=20, help="Freshness probes, one per second (default 20).")
    cli.add_argument("--sink", choices=("sqlite", "firestore"), default="sqlite", help="Sink (default sqlite).")
    cli.add_argument(
        "--data",
        type=Path,
        default=SAMPLE,
        help="Articles (JSONL or JSONL.gz; default: NEWSCOUNTS_SAMPLE_DATA, else the AllSides sample).",
    )
    cli.add_argument("--results", type=Path, default=REPO / "bench/results", help="Where results are written.")
    cli.add_argument("--docs", type=Path, default=REPO / "docs/benchmarks.md", help="Docs page to update.")
    cli.add_argument(
        "--plots",
        type=Path,
        default=None,
        help="Where the plots are written (default docs/img; with --no-docs, beside the results: a trial run "
        "leaves the docs' pictures alone).",
    )
    cli.add_argument("--no-docs", action="store_true", help="Do not update the docs page.")
    cli.add_argument("--only", help=f"Comma-separated subset of the phases {', '.join(PHASES)}.")
    cli.add_argument("--note", help="A remark stored with the results and shown in the docs.")
    cli.add_argument("--timeout", type=float, default=1800, help="Longest wait for a run's records (seconds).")
    cli.add_argument("--keep-work", action="store_true", help="Keep the work folder (service logs, SQLite files).")
    cli.add_argument(
        "--render", type=Path, metavar="JSON", help="Measure nothing: write the reports again from a results file."
    )
    return cli


@dataclass
class Articles:
    main: list[Outgoing]
    """The articles of every throughput run (each run gives them ids of its own)."""
    supply: Iterator[Outgoing]
    """Further distinct articles: seeds, freshness probes and background, HTTP ingest."""


def prepare_articles(data: Path, count: int) -> Articles:
    """Publications interleaved so every run is a balanced mix, ``published_at`` dropped so every article
    falls in the current window, as on a live feed."""
    source = read_articles([data])
    if source.invalid:
        log(f"{len(source.invalid)} invalid lines in {data} skipped (first: {source.invalid[0]})")
    supply = drop_published_at(repeat(interleave_publications(source.articles), sys.maxsize))
    return Articles(list(itertools.islice(supply, count)), supply)


def measure_model_load(model: str) -> float:
    seconds = model_load_seconds(model)
    log(f"Loading {model} once in a fresh process: {seconds:.1f} s")
    return seconds


def measure_shapes(
    broker: Any, config: PipelineConfig, options: argparse.Namespace, articles: Articles, limits: LimitSeries
) -> list[ShapeResult]:
    """Each shape in turn, every skew on it; the publication mix on the first shape."""
    skews = [Skew(name.strip()) for name in options.skews.split(",") if name.strip()]
    shapes = []
    for index, workers in enumerate(int(n) for n in options.shapes.split(",")):
        runs = [(skew.value, skew, articles.main) for skew in skews]
        if index == 0 and options.mix:
            runs.append(("mix", Skew.KEYED, list(apply_skew(articles.main, parse_publication_skew(options.mix)))))
        log(f"A group of {workers} workers: {', '.join(name for name, _, _ in runs)}...")
        shapes.append(measure_shape(broker, config, workers, runs, limits, articles.supply, options.timeout))
    return shapes


def measure_freshness(
    broker: Any, config: PipelineConfig, articles: Articles, probes: int, background_rate: float
) -> dict[str, Any]:
    """Probes posted one per second beside background articles at ``background_rate``, on a default group."""
    log(f"Freshness: {probes} probes at 1/s, background {background_rate:.1f} articles/s...")
    pipeline = Pipeline(broker, config, "freshness", DEFAULT_WORKERS)
    try:
        pipeline.start()
        pipeline.wait_for_group()
        flush_interval_s = parse_duration(config.flush_interval).total_seconds()
        fresh = run_freshness(
            pipeline,
            list(itertools.islice(articles.supply, probes)),
            list(itertools.islice(articles.supply, int(background_rate * probes))),
            probe_rate=1.0,
            background_rate=background_rate,
            grace=3 * flush_interval_s + 30,
        )
    finally:
        pipeline.stop()
    figures = freshness_figures(fresh, flush_interval_s)
    log(f"    p50 {figures['p50_s']} s, p95 {figures['p95_s']} s")
    return figures


def measure_ingest(
    broker: Any, config: PipelineConfig, articles: Articles, options: argparse.Namespace
) -> dict[str, Any]:
    """The HTTP service alone (last: the broker has been warm for minutes; its JIT compiles at first)."""
    log("HTTP ingest on one uvicorn worker, and raw Kafka produce...")
    pipeline = Pipeline(broker, config, "ingest", None)
    try:
        pipeline.start()
        ingest = run_ingest(
            pipeline,
            articles.supply,
            count=options.ingest_articles,
            concurrency=options.concurrency,
            batch_size=options.batch_size,
            half_rate_seconds=options.half_rate_seconds,
        )
    finally:
        pipeline.stop()
    return ingest_figures(ingest)


def measure(options: argparse.Namespace, phases: set[str]) -> dict[str, Any]:
    """Every phase asked for, on one private broker; the figures they returned."""
    model = ConsumerSettings().ner_model
    articles = prepare_articles(options.data, options.articles)
    run_dir = Path(tempfile.mkdtemp(prefix="newscounts-bench-"))
    log(f"Work folder (logs, SQLite files): {run_dir}")
    figures: dict[str, Any] = {}
    with ExitStack() as stack:
        log("Starting a private Kafka broker...")
        broker = stack.enter_context(private_broker())
        emulator = stack.enter_context(private_emulator()).host if options.sink == "firestore" else None
        config = PipelineConfig(options.flush_interval, options.window, run_dir, emulator)
        if "throughput" in phases:
            figures["model_load_s"] = round(measure_model_load(model), 2)
            limits = LimitSeries(halves_of([a.record["content"] for a in articles.main]), available_cores(), model)
            log(f"The limit: plain nlp.pipe in {limits.processes} processes, first half...")
            limits.measure("before the first run")
            shapes = measure_shapes(broker, config, options, articles, limits)
            figures["limits"] = limits_figures(limits)
            figures["shapes"] = [shape_figures(shape) for shape in shapes]
        if "freshness" in phases:
            rate = figures["shapes"][0]["runs"][0]["articles_per_s"] if figures.get("shapes") else 10.0
            figures["freshness"] = measure_freshness(broker, config, articles, options.probes, rate / 2)
        if "ingest" in phases:
            figures["ingest"] = measure_ingest(broker, config, articles, options)
    if not options.keep_work:
        shutil.rmtree(run_dir, ignore_errors=True)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    options = parser().parse_args(argv)
    if options.plots is None:
        options.plots = options.results if options.no_docs else REPO / "docs/img"
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
    log(f"Machine: {machine['cores']} cores, {machine['memory_gb']} GB, load average {machine['load_average_1m']}")
    started_at, started = datetime.now(UTC), time.monotonic()
    try:
        measured = measure(options, phases)
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    arguments = argv if argv is not None else sys.argv[1:]
    figures = {
        "date": started_at.strftime("%Y-%m-%d"),
        "started_at": started_at.strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": round(time.monotonic() - started, 1),
        "command": "python -m bench" + "".join(f" {shlex.quote(arg)}" for arg in arguments),
        "note": options.note,
        "machine": machine,
        "load_average_end": round(os.getloadavg()[0], 2),
        "options": {
            "articles": options.articles,
            "partitions": 16,
            "ner_processes": ConsumerSettings().ner_processes,
            "flush_interval": options.flush_interval,
            "window": options.window,
            "mix": options.mix,
            "sink": options.sink,
            "data": str(options.data.name),
            "phases": sorted(phases),
        },
        **measured,
    }
    return publish(figures, options)


def publish(figures: dict[str, Any], options: argparse.Namespace) -> int:
    """Print the goals; write the results, the plots and (unless --no-docs) the docs section."""
    json_path, md_path = write_results(figures, options.results, options.plots)
    plots = write_plots(figures, options.plots)
    if not options.no_docs:
        update_docs(figures, options.docs, options.plots)
    print()
    for goal in evaluate(figures):
        print(f"{goal.status:>5}  {goal.name}: {goal.figure}  (goal {goal.target})")
    if warning := noise_warning(figures):
        print(f"\n{warning}")
    print(f"\nWrote {json_path}, {md_path}, {', '.join(str(p) for p in plots)}")
    return 0
