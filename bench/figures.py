"""Turn the measurements into the figures stored in ``bench/results/<date>.json``.

Everything the goals, the Markdown table and the plots show is computed from this one dict, so a stored
result can be rendered again without re-running the benchmark.
"""

from typing import Any

from bench.end_to_end import EndToEndResult, FreshnessResult
from bench.ingest import IngestResult
from bench.limit import LimitResult
from loadtool.load import Summary, percentile

MB = 1024 * 1024
DISTRIBUTION_POINTS = [*range(1, 100), 99.5, 99.9]
"""Percentiles kept of each latency distribution (enough to draw it; the raw samples are not stored)."""


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def limit_figures(limit: LimitResult) -> dict[str, Any]:
    return {
        "processes": limit.processes,
        "articles": limit.articles,
        "words": limit.words,
        "entities": limit.entities,
        "seconds": _r(limit.seconds),
        "articles_per_s": _r(limit.articles_per_s),
        "words_per_s": _r(limit.words_per_s, 0),
        "cpu_seconds": _r(limit.cpu_seconds),
        "articles_per_cpu_s": _r(limit.articles / limit.cpu_seconds),
    }


def per_1000(writes: int, articles: int) -> float | None:
    return None if articles == 0 else round(1000 * writes / articles, 1)


PIPELINE_PARTS = ("consumer workers", "HTTP service", "Kafka broker")
"""What the pipeline's CPU per article counts: everything that runs in production (not the bench)."""


def end_to_end_figures(result: EndToEndResult, limit: LimitResult) -> dict[str, Any]:
    memory = result.memory
    pipeline_cpu_s = sum(result.cpu_cores.get(part, 0.0) for part in PIPELINE_PARTS) * result.seconds
    per_cpu_s = result.articles / pipeline_cpu_s if pipeline_cpu_s else None
    return {
        "articles": result.articles,
        "words": result.words,
        "seconds": _r(result.seconds),
        "articles_per_s": _r(result.articles_per_s),
        "words_per_s": _r(result.words_per_s, 0),
        "limit_articles_per_s": _r(limit.articles_per_s),
        "ratio_to_limit": _r(result.articles_per_s / limit.articles_per_s, 3),
        "pipeline_cpu_seconds": _r(pipeline_cpu_s),
        "articles_per_cpu_s": _r(per_cpu_s),
        "cpu_ratio_to_limit": _r(None if per_cpu_s is None else per_cpu_s * limit.cpu_seconds / limit.articles, 3),
        "counted": result.counted,
        "lag": result.lag,
        "exact": result.exact,
        "flushes": result.flushes.flushes,
        "flushed_articles": result.flushes.articles,
        "sink_documents_written": result.flushes.documents,
        "naive_writes": result.naive_writes,
        "naive_mention_writes": result.naive_mention_writes,
        "sink_writes_per_1000": per_1000(result.flushes.documents, result.flushes.articles),
        "sink_requests_per_1000": per_1000(result.flushes.flushes, result.flushes.articles),
        "naive_writes_per_1000": per_1000(result.naive_writes, result.articles),
        "naive_mention_writes_per_1000": per_1000(result.naive_mention_writes, result.articles),
        "memory": {
            "workers": memory.workers_seen,
            "worker_peak_mb": _r(memory.worker_peak / MB, 1),
            "group_peak_mb": _r(memory.group_peak / MB, 1),
            "samples": [
                [_r(t, 1), _r(sup / MB, 1), [_r(rss / MB, 1) for _, rss in sorted(workers.items())], _r(help_ / MB, 1)]
                for t, sup, workers, help_ in memory.samples
            ],
        },
        "cpu_cores": result.cpu_cores,
        "progress": [[_r(t), n] for t, n in result.progress],
    }


def distribution_ms(latencies: list[float]) -> list[float | None]:
    return [_r(None if (v := percentile(latencies, q)) is None else v * 1000, 3) for q in DISTRIBUTION_POINTS]


def summary_figures(summary: Summary) -> dict[str, Any]:
    return {**summary.as_dict(), "latency_distribution_ms": distribution_ms(summary.latencies)}


def ingest_figures(result: IngestResult) -> dict[str, Any]:
    return {
        "concurrency": result.concurrency,
        "batch_size": result.batch_size,
        "server_cores": result.server_cores,
        "single": summary_figures(result.single),
        "batch": summary_figures(result.batch),
        "kafka": summary_figures(result.kafka),
        "half_rate": {**summary_figures(result.half_rate), "target_rate_per_s": _r(result.single.rate / 2, 1)},
    }


def freshness_figures(result: FreshnessResult, flush_interval_s: float) -> dict[str, Any]:
    return {
        "probes": result.probes,
        "missing": result.missing,
        "flush_interval_s": flush_interval_s,
        "background_rate_per_s": _r(result.background_rate, 1),
        "background_statuses": result.background_statuses,
        "p50_s": _r(percentile(result.seconds, 50)),
        "p95_s": _r(percentile(result.seconds, 95)),
        "max_s": _r(max(result.seconds, default=None)),
        "samples_s": [_r(s, 3) for s in sorted(result.seconds)],
    }
