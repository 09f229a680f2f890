"""Turn the measurements into the figures stored in ``bench/results/<date>.json``.

Everything the goals, the Markdown tables and the plots show is computed from this one dict, so a stored
result can be rendered again without re-running the benchmark.
"""

from typing import Any

from bench.freshness import FreshnessResult
from bench.ingest import IngestResult
from bench.limit import LimitResult
from bench.limits import LimitSeries
from bench.memory import MemorySamples, ProcessMemory, by_kind
from bench.shape import Run, ShapeResult
from loadtool.load import percentile

MB = 1024 * 1024


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def per_1000(writes: int, articles: int) -> float | None:
    return None if articles == 0 else round(1000 * writes / articles, 1)


def limit_figures(limit: LimitResult) -> dict[str, Any]:
    return {
        "processes": limit.processes,
        "articles": limit.articles,
        "seconds": _r(limit.seconds),
        "articles_per_s": _r(limit.articles_per_s),
        "articles_per_cpu_s": _r(limit.articles_per_cpu_s),
    }


def limits_figures(series: LimitSeries) -> list[dict[str, Any]]:
    return [
        {"when": when, **limit_figures(result), "other_cores": _r(other)} for when, result, other in series.measured
    ]


def run_figures(run: Run) -> dict[str, Any]:
    result, limit = run.result, run.limit
    low, high = result.window()
    return {
        "name": run.name,
        "articles": result.articles,
        "partitions_used": len(result.partitions),
        "largest_partition_share": _r(max(result.partitions.values()) / result.articles, 3),
        "seconds": _r(result.seconds),
        "from_s": _r(low.seconds),
        "to_s": _r(high.seconds),
        "articles_per_s": _r(result.articles_per_s),
        "limit_articles_per_s": _r(limit.articles_per_s),
        "ratio_to_limit": _r(result.articles_per_s / limit.articles_per_s, 3),
        "articles_per_cpu_s": _r(result.articles_per_cpu_s),
        "cpu_ratio_to_limit": _r(result.articles_per_cpu_s / limit.articles_per_cpu_s, 3),
        "other_cores": _r(result.other_cores),
        "cores_by_kind": result.cores_by_kind,
        "counted": result.counted,
        "lag": result.lag,
        "exact": result.exact,
        "flushes": run.flushes.flushes,
        "flushed_articles": run.flushes.articles,
        "documents": run.flushes.documents,
        "progress": [[_r(s.seconds), round(s.committed)] for s in result.samples],
    }


def _mb(memory: ProcessMemory | dict[str, int], key: str) -> float | None:
    value = memory[key] if isinstance(memory, dict) else getattr(memory, key)
    return _r(value / MB, 1)


def memory_figures(samples: MemorySamples) -> dict[str, Any]:
    """Per kind at the group's peak (summed PSS), per-process peaks, and the group's PSS over time."""
    peak = by_kind(samples.peak())
    per_process = samples.per_process_peaks()
    kinds = {
        kind: {
            "processes": totals["processes"],
            "pss_mb": _mb(totals, "pss"),
            "uss_mb": _mb(totals, "uss"),
            "rss_mb": _mb(totals, "rss"),
            "process_peak_pss_mb": _mb(per_process[kind], "pss"),
            "process_peak_uss_mb": _mb(per_process[kind], "uss"),
        }
        for kind, totals in sorted(peak.items())
    }
    return {
        "total_pss_mb": _r(sum(k["pss"] for k in peak.values()) / MB, 1),
        "total_rss_mb": _r(sum(k["rss"] for k in peak.values()) / MB, 1),
        "kinds": kinds,
        "timeline": [
            [_r(t, 1), {kind: _mb(totals, "pss") for kind, totals in by_kind(sample).items()}]
            for t, sample in samples.samples
        ],
    }


def shape_figures(shape: ShapeResult) -> dict[str, Any]:
    first = shape.runs[0] if shape.runs else None
    naive = shape.naive if shape.naive is not None else (0, 0)
    return {
        "workers": shape.workers,
        "start": {
            "owned_s": shape.start.owned_s,
            "assigned_s": shape.start.assigned_s,
            "consuming_s": shape.start.consuming_s,
        },
        "runs": [run_figures(run) for run in shape.runs],
        "memory_busy": memory_figures(shape.busy),
        "memory_idle": memory_figures(MemorySamples(shape.idle.samples[-1:])),
        "sink": None
        if first is None
        else {
            "run": first.name,
            "requests_per_1000": per_1000(first.flushes.flushes, first.flushes.articles),
            "documents_per_1000": per_1000(first.flushes.documents, first.flushes.articles),
            "naive_per_1000": per_1000(naive[0], first.result.articles),
            "naive_mentions_per_1000": per_1000(naive[1], first.result.articles),
        },
    }


def ingest_figures(result: IngestResult) -> dict[str, Any]:
    return {
        "concurrency": result.concurrency,
        "batch_size": result.batch_size,
        "server_cores": result.server_cores,
        "single": result.single.as_dict(),
        "batch": result.batch.as_dict(),
        "kafka": result.kafka.as_dict(),
        "half_rate": {**result.half_rate.as_dict(), "target_rate_per_s": _r(result.single.rate / 2, 1)},
    }


def freshness_figures(result: FreshnessResult, flush_interval_s: float) -> dict[str, Any]:
    return {
        "probes": result.probes,
        "missing": result.missing,
        "flush_interval_s": flush_interval_s,
        "background_rate_per_s": _r(result.background_rate, 1),
        "p50_s": _r(percentile(result.seconds, 50)),
        "p95_s": _r(percentile(result.seconds, 95)),
        "max_s": _r(max(result.seconds, default=None)),
    }
