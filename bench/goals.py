"""The benchmark goals (docs/benchmarks.md), each judged from a run's figures and printed as PASS or SHORT."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Goal:
    name: str
    target: str
    figure: str
    met: bool | None
    """None when the run did not measure it (``--only``)."""

    @property
    def status(self) -> str:
        return {True: "PASS", False: "SHORT", None: "n/a"}[self.met]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "figure": self.figure, "status": self.status}


def _get(figures: dict[str, Any], *path: str) -> Any:
    value: Any = figures
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def evaluate(figures: dict[str, Any]) -> list[Goal]:
    """Every goal, in the order docs/benchmarks.md lists them."""
    return [
        _end_to_end(figures),
        _exact(figures),
        _skew(figures),
        _sink_requests(figures),
        _sink_documents(figures),
        _ingest_rate(figures),
        _ingest_latency(figures),
        _freshness(figures),
        _memory(figures),
    ]


def _end_to_end(figures: dict[str, Any]) -> Goal:
    name, target = "End to end vs raw spaCy limit", ">= 0.90 x limit"
    e2e, limit = _get(figures, "end_to_end", "balanced"), _get(figures, "limit")
    if e2e is None or limit is None:
        return Goal(name, target, "not measured", None)
    ratio = e2e["ratio_to_limit"]
    beside = e2e.get("limit_articles_per_s", limit["articles_per_s"])
    figure = f"{ratio:.2f} x ({e2e['articles_per_s']:.1f} vs {beside:.1f} articles/s)"
    if e2e.get("cpu_ratio_to_limit") is not None:
        figure += f"; per CPU-second {e2e['cpu_ratio_to_limit']:.2f} x"
    return Goal(name, target, figure, ratio >= 0.9)


def _exact(figures: dict[str, Any]) -> Goal:
    name, target = "Counts complete and exact", "sink total = N, lag 0"
    runs = _get(figures, "end_to_end") or {}
    if not runs:
        return Goal(name, target, "not measured", None)
    parts = [f"{mix}: {run['counted']}/{run['articles']}, lag {run['lag']}" for mix, run in runs.items()]
    return Goal(name, target, "; ".join(parts), all(run["exact"] for run in runs.values()))


def _skew(figures: dict[str, Any]) -> Goal:
    name, target = "Skewed mix vs balanced", ">= 0.95 x balanced"
    balanced, skewed = _get(figures, "end_to_end", "balanced"), _get(figures, "end_to_end", "skewed")
    if balanced is None or skewed is None:
        return Goal(name, target, "not measured", None)
    ratio = skewed["ratio_to_limit"] / balanced["ratio_to_limit"]
    figure = (
        f"{ratio:.2f} x (each run against the limit measured beside it: {skewed['ratio_to_limit']:.2f} vs "
        f"{balanced['ratio_to_limit']:.2f}; {skewed['articles_per_s']:.1f} vs {balanced['articles_per_s']:.1f} "
        "articles/s)"
    )
    return Goal(name, target, figure, ratio >= 0.95)


def _sink_requests(figures: dict[str, Any]) -> Goal:
    """Write requests: one commit per flush, against one request per increment of the naive design."""
    return _against_naive(figures, "Sink write requests per 1,000 articles", "sink_requests_per_1000")


def _sink_documents(figures: dict[str, Any]) -> Goal:
    """Documents written (Firestore's billing unit), against one document per increment of the naive design."""
    return _against_naive(figures, "Sink documents written per 1,000 articles", "sink_writes_per_1000")


def _against_naive(figures: dict[str, Any], name: str, key: str) -> Goal:
    target = "<= 1/10 of naive"
    run = _get(figures, "end_to_end", "balanced")
    if run is None or run.get(key) is None or not run["naive_writes_per_1000"]:
        return Goal(name, target, "not measured", None)
    ours, naive = run[key], run["naive_writes_per_1000"]
    figure = f"{ours:,.0f} vs naive {naive:,.0f} (1/{naive / ours:.1f})" if ours else f"0 vs naive {naive:,.0f}"
    return Goal(name, target, figure, ours * 10 <= naive)


def _ingest_rate(figures: dict[str, Any]) -> Goal:
    name, target = "HTTP ingest vs consumer group rate", ">= 20 x group rate"
    single, e2e = _get(figures, "ingest", "single"), _get(figures, "end_to_end", "balanced")
    if single is None or e2e is None:
        return Goal(name, target, "not measured", None)
    ratio = single["rate_per_s"] / e2e["articles_per_s"]
    figure = f"{ratio:.0f} x ({single['rate_per_s']:.0f} POST /articles/s vs {e2e['articles_per_s']:.1f} articles/s)"
    return Goal(name, target, figure, ratio >= 20)


def _ingest_latency(figures: dict[str, Any]) -> Goal:
    name, target = "POST /articles p99 at half its sustained rate", "< 50 ms"
    half = _get(figures, "ingest", "half_rate")
    if half is None or half["latency_ms"]["p99"] is None:
        return Goal(name, target, "not measured", None)
    p99 = half["latency_ms"]["p99"]
    figure = f"{p99:.1f} ms at {half['rate_per_s']:.0f}/s (p50 {half['latency_ms']['p50']:.1f} ms)"
    return Goal(name, target, figure, p99 < 50 and half["errors"] == 0 and half["rejected"] == 0)


def _freshness(figures: dict[str, Any]) -> Goal:
    name = "Freshness p95 (POST acknowledged -> visible)"
    fresh = _get(figures, "freshness")
    if fresh is None or fresh["p95_s"] is None:
        return Goal(name, "<= FLUSH_INTERVAL + 2 s", "not measured", None)
    bound = fresh["flush_interval_s"] + 2
    figure = f"p95 {fresh['p95_s']:.2f} s, p50 {fresh['p50_s']:.2f} s"
    if fresh["missing"]:
        figure += f", {fresh['missing']} of {fresh['probes']} never visible"
    return Goal(name, f"<= {bound:g} s", figure, fresh["p95_s"] <= bound and fresh["missing"] == 0)


def _memory(figures: dict[str, Any]) -> Goal:
    name, target = "Resident memory per worker", "<= 250 MB"
    runs = _get(figures, "end_to_end") or {}
    if not runs:
        return Goal(name, target, "not measured", None)
    peak = max(run["memory"]["worker_peak_mb"] for run in runs.values())
    group = max(run["memory"]["group_peak_mb"] for run in runs.values())
    workers = max(run["memory"]["workers"] for run in runs.values())
    figure = f"peak {peak:.0f} MB per worker; group {group:.0f} MB ({workers} workers + supervisor)"
    return Goal(name, target, figure, 0 < peak <= 250)
