"""One shape of the consumer group (CONSUMER_PROCESSES workers, NER_PROCESSES at its default): start it
(timed), run each partition skew on it with the limit measured after each run, then sample it idle."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice

from bench.flushlog import FlushTotals, read_flushes
from bench.limit import LimitResult
from bench.limits import LimitSeries
from bench.memory import MemorySampler, MemorySamples
from bench.pipeline import Pipeline, PipelineConfig
from bench.records import Skew
from bench.services import log
from bench.start import StartResult, start_group
from bench.throughput import RunResult, run_records
from devservices.kafka import KafkaBroker
from loadtool.load import Outgoing

WARMUP_PUBLICATION = "bench-warmup"
IDLE_SECONDS = 5.0


@dataclass(frozen=True)
class Run:
    """A throughput run, the limit beside it and what its flushes wrote."""

    name: str
    """The partition skew, or ``mix`` for the skewed publication mix (keyed)."""
    result: RunResult
    limit: LimitResult
    flushes: FlushTotals


@dataclass
class ShapeResult:
    workers: int
    start: StartResult
    runs: list[Run] = field(default_factory=list)
    idle: MemorySamples = field(default_factory=MemorySamples)
    naive: tuple[int, int] | None = None
    """(article-entity pairs, mentions) of the first run, from the read API: what a naive design writes."""

    @property
    def busy(self) -> MemorySamples:
        return MemorySamples([sample for run in self.runs for sample in run.result.memory.samples])


def renamed(articles: Sequence[Outgoing], prefix: str, publication: str | None = None) -> list[Outgoing]:
    """Copies with ids ``{prefix}-{i}`` (every run's articles are distinct: none is skipped as a duplicate),
    under ``publication`` when given."""
    copies = []
    for index, outgoing in enumerate(articles):
        record = {**outgoing.record, "id": f"{prefix}-{index}"}
        if publication is not None:
            record["publication"] = publication
        copies.append(Outgoing(record, f"{prefix}-{index}"))
    return copies


def measure_shape(
    broker: KafkaBroker,
    config: PipelineConfig,
    workers: int,
    runs: Sequence[tuple[str, Skew, list[Outgoing]]],
    limits: LimitSeries,
    supply: Iterator[Outgoing],
    timeout: float,
) -> ShapeResult:
    """Start a group of ``workers`` and make each run of ``runs`` (name, skew, articles) on it."""
    pipeline = Pipeline(broker, config, f"w{workers}", workers)
    try:
        seeds = renamed(list(islice(supply, config.partitions)), f"seed-w{workers}", WARMUP_PUBLICATION)
        start = start_group(pipeline, seeds)
        log(
            f"    started: every partition owned {start.owned_s:.1f} s, every worker assigned "
            f"{start.assigned_s:.1f} s, every first record committed {start.consuming_s:.1f} s"
        )
        shape = ShapeResult(workers, start)
        for name, skew, articles in runs:
            log(f"    {name}: {len(articles)} records ({skew})...")
            log_start = pipeline.consumer_log.stat().st_size
            result = run_records(
                pipeline, renamed(articles, f"{name}-w{workers}"), skew, workers=workers, timeout=timeout
            )
            flushes = read_flushes(pipeline.consumer_log, log_start)
            if shape.naive is None:
                shape.naive = naive_writes(pipeline)
            limits.measure(f"after {name}, {workers} workers")
            run = Run(name, result, limits.beside_last_run(), flushes)
            shape.runs.append(run)
            log(
                f"      {result.articles_per_s:.2f} articles/s vs limit {run.limit.articles_per_s:.2f} "
                f"({result.articles_per_s / run.limit.articles_per_s:.2f} x), counted {result.counted}/"
                f"{result.articles}, lag {result.lag}, partitions used {len(result.partitions)}"
            )
        with MemorySampler(pipeline.consumer.pid if pipeline.consumer else 0, pipeline.child_pids) as idle:
            pipeline.idle(IDLE_SECONDS)
        shape.idle = idle.result
        return shape
    finally:
        pipeline.stop()


def naive_writes(pipeline: Pipeline) -> tuple[int, int]:
    totals = [pipeline.entity_totals(name) for name in pipeline.publication_counts() if name != WARMUP_PUBLICATION]
    return sum(pairs for pairs, _ in totals), sum(mentions for _, mentions in totals)
