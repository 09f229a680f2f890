"""The benchmark goals (docs/benchmarks.md), each judged from a run's figures and printed as PASS or SHORT."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

END_TO_END = 0.95
"""End to end against plain ``nlp.pipe`` on as many processes as there are cores, whatever the skew."""
MIX = 0.95
GROUP_PSS_MB = 1000
START_VS_MODEL_LOAD = 2.0


@dataclass(frozen=True)
class Goal:
    name: str
    target: str
    figure: str
    met: bool | None
    """None when the run did not measure it."""

    @property
    def status(self) -> str:
        return {True: "PASS", False: "SHORT", None: "n/a"}[self.met]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "figure": self.figure, "status": self.status}


def evaluate(figures: dict[str, Any]) -> list[Goal]:
    """Every goal, in the order docs/benchmarks.md lists them."""
    shapes = figures.get("shapes") or []
    goals = [goal for shape in shapes for goal in _throughput(shape)]
    goals += [_exact(shapes), _mix(shapes), _memory(shapes), _start(figures, shapes)]
    sink = (figures.get("options") or {}).get("sink")
    return [*goals, _sink(shapes, "requests", sink), _sink(shapes, "documents", sink), *_http(figures)]


def _throughput(shape: dict[str, Any]) -> Iterator[Goal]:
    for run in shape["runs"]:
        if run["name"] == "mix":
            continue
        figure = (
            f"{run['ratio_to_limit']:.2f} x ({run['articles_per_s']:.1f} vs {run['limit_articles_per_s']:.1f} "
            f"articles/s); per CPU-second {run['cpu_ratio_to_limit']:.2f} x"
        )
        yield Goal(
            f"End to end, {shape['workers']} workers, {run['name']}",
            f">= {END_TO_END:.2f} x limit",
            figure,
            run["ratio_to_limit"] >= END_TO_END,
        )


def _exact(shapes: list[dict[str, Any]]) -> Goal:
    name, target = "Counts complete and exact", "read API total = N, lag 0, every run"
    runs = [(shape["workers"], run) for shape in shapes for run in shape["runs"]]
    if not runs:
        return Goal(name, target, "not measured", None)
    wrong = [
        f"{w} workers {r['name']}: {r['counted']}/{r['articles']}, lag {r['lag']}" for w, r in runs if not r["exact"]
    ]
    figure = "; ".join(wrong) if wrong else f"{len(runs)} of {len(runs)} runs exact"
    return Goal(name, target, figure, not wrong)


def _mix(shapes: list[dict[str, Any]]) -> Goal:
    name, target = "Skewed publication mix vs balanced", f">= {MIX:.2f} x balanced"
    for shape in shapes:
        runs = {run["name"]: run for run in shape["runs"]}
        if "mix" in runs and "keyed" in runs:
            mix, keyed = runs["mix"], runs["keyed"]
            ratio = mix["ratio_to_limit"] / keyed["ratio_to_limit"]
            figure = (
                f"{ratio:.2f} x (each against the limit beside it: {mix['ratio_to_limit']:.2f} vs "
                f"{keyed['ratio_to_limit']:.2f}; {shape['workers']} workers)"
            )
            return Goal(name, target, figure, ratio >= MIX)
    return Goal(name, target, "not measured", None)


def _memory(shapes: list[dict[str, Any]]) -> Goal:
    name, target = "Memory of the default group (summed PSS, peak while busy)", f"<= {GROUP_PSS_MB / 1000:.1f} GB"
    if not shapes:
        return Goal(name, target, "not measured", None)
    shape = shapes[0]
    busy, idle = shape["memory_busy"]["total_pss_mb"], shape["memory_idle"]["total_pss_mb"]
    rss = shape["memory_busy"]["total_rss_mb"]
    figure = f"{busy:,.0f} MB busy, {idle:,.0f} MB idle ({shape['workers']} workers; RSS summed: {rss:,.0f} MB)"
    return Goal(name, target, figure, busy <= GROUP_PSS_MB)


def _start(figures: dict[str, Any], shapes: list[dict[str, Any]]) -> Goal:
    name, target = (
        "Start of the default group (spawn to every partition owned and fetched)",
        f"<= {START_VS_MODEL_LOAD:g} x model load",
    )
    load = figures.get("model_load_s")
    if not shapes or load is None or shapes[0]["start"].get("owned_s") is None:
        return Goal(name, target, "not measured", None)
    start = shapes[0]["start"]
    owned = start["owned_s"]
    figure = (
        f"{owned:.1f} s = {owned / load:.1f} x the model's load ({load:.1f} s); every worker assigned at "
        f"{start['assigned_s']:.1f} s, every partition's first record committed at {start['consuming_s']:.1f} s"
    )
    return Goal(name, target, figure, owned <= START_VS_MODEL_LOAD * load)


def _sink(shapes: list[dict[str, Any]], unit: str, kind: str | None) -> Goal:
    """Sink writes against the naive design; SQLite's flushes report rows upserted, not documents, so its
    ``documents`` figure is shown but judged only on Firestore (``--sink firestore``)."""
    name, target = f"Sink {unit} per 1,000 articles", "<= 1/10 of naive"
    sink = shapes[0]["sink"] if shapes else None
    if not sink or not sink["naive_per_1000"] or not sink[f"{unit}_per_1000"]:
        return Goal(name, target, "not measured", None)
    ours, naive = sink[f"{unit}_per_1000"], sink["naive_per_1000"]
    figure = f"{ours:,.0f} vs naive {naive:,.0f} (1/{naive / ours:.1f})"
    if unit == "documents" and kind == "sqlite":
        return Goal(name, target, f"{figure}; SQLite rows upserted: judged with --sink firestore", None)
    return Goal(name, target, figure, ours * 10 <= naive)


def _http(figures: dict[str, Any]) -> list[Goal]:
    ingest, fresh, shapes = figures.get("ingest"), figures.get("freshness"), figures.get("shapes") or []
    rate = shapes[0]["runs"][0]["articles_per_s"] if shapes and shapes[0]["runs"] else None
    goals = [Goal("HTTP ingest vs consumer group rate", ">= 20 x group rate", "not measured", None)]
    if ingest is not None and rate:
        ratio = ingest["single"]["rate_per_s"] / rate
        figure = f"{ratio:.0f} x ({ingest['single']['rate_per_s']:.0f} POST /articles/s vs {rate:.1f} articles/s)"
        goals[0] = Goal(goals[0].name, goals[0].target, figure, ratio >= 20)
    half = ingest["half_rate"] if ingest else None
    if half is None or half["latency_ms"]["p99"] is None:
        goals.append(Goal("POST /articles p99 at half its sustained rate", "< 50 ms", "not measured", None))
    else:
        p99 = half["latency_ms"]["p99"]
        figure = f"{p99:.1f} ms at {half['rate_per_s']:.0f}/s (p50 {half['latency_ms']['p50']:.1f} ms)"
        met = p99 < 50 and half["errors"] == 0 and half["rejected"] == 0
        goals.append(Goal("POST /articles p99 at half its sustained rate", "< 50 ms", figure, met))
    name = "Freshness p95 (POST acknowledged -> visible)"
    if fresh is None or fresh["p95_s"] is None:
        return [*goals, Goal(name, "<= FLUSH_INTERVAL + 2 s", "not measured", None)]
    bound = fresh["flush_interval_s"] + 2
    figure = f"p95 {fresh['p95_s']:.2f} s, p50 {fresh['p50_s']:.2f} s"
    if fresh["missing"]:
        figure += f", {fresh['missing']} of {fresh['probes']} never visible"
    return [*goals, Goal(name, f"<= {bound:g} s", figure, fresh["p95_s"] <= bound and fresh["missing"] == 0)]
