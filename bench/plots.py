"""PNG plots of a run, drawn from its figures: throughput against the limit, latency distributions, memory."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from bench.figures import DISTRIBUTION_POINTS

COLORS = {"limit": "#555555", "balanced": "#1f77b4", "skewed": "#ff7f0e"}


def write_plots(figures: dict[str, Any], results_dir: Path) -> list[Path]:
    """``<date>-throughput.png``, ``<date>-latency.png`` and ``<date>-memory.png`` (those with data)."""
    written = []
    for name, draw in (("throughput", _throughput), ("latency", _latency), ("memory", _memory)):
        figure = draw(figures)
        if figure is None:
            continue
        path = results_dir / f"{figures['date']}-{name}.png"
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written


def _subtitle(figures: dict[str, Any]) -> str:
    machine, options = figures["machine"], figures["options"]
    return (
        f"{figures['date']} - {machine['cores']} cores, {options['processes']} consumer processes, "
        f"FLUSH_INTERVAL={options['flush_interval']}, sink {options['sink']}"
    )


def _throughput(figures: dict[str, Any]) -> Any:
    limit, runs = figures.get("limit"), figures.get("end_to_end") or {}
    if limit is None and not runs:
        return None
    figure, (bars, curves) = plt.subplots(1, 2, figsize=(12, 4.5))
    labels, values, colors, ratios = [], [], [], []
    if limit is not None:
        labels.append(f"raw spaCy\n{limit['processes']} processes")
        values.append(limit["articles_per_s"])
        colors.append(COLORS["limit"])
        ratios.append("")
    for mix, run in runs.items():
        labels.append(f"end to end\n{mix} mix")
        values.append(run["articles_per_s"])
        colors.append(COLORS[mix])
        ratios.append(f"\n({run['ratio_to_limit']:.2f} x its limit)" if limit else "")
    drawn = bars.bar(labels, values, color=colors)
    for bar, value, ratio in zip(drawn, values, ratios, strict=True):
        bars.annotate(
            f"{value:.1f}/s{ratio}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom", fontsize=9
        )
    if limit is not None:
        bars.axhline(0.9 * limit["articles_per_s"], color="red", linestyle="--", linewidth=1, label="goal: 0.9 x limit")
        bars.legend(loc="lower right")
    bars.set_ylabel("articles per second")
    bars.set_ylim(0, max(values) * 1.3)
    bars.set_title("Throughput")
    for mix, run in runs.items():
        times = [0.0] + [t for t, _ in run["progress"]]
        counted = [0] + [n for _, n in run["progress"]]
        curves.step(times, counted, where="post", color=COLORS[mix], label=f"{mix} mix (read API)")
    if limit is not None and runs:
        end = max(run["seconds"] for run in runs.values())
        curves.plot([0, end], [0, limit["articles_per_s"] * end], color=COLORS["limit"], linestyle=":", label="limit")
    curves.set_xlabel("seconds since the first POST")
    curves.set_ylabel("articles counted")
    curves.set_title("Articles counted over time")
    curves.legend(loc="upper left")
    figure.suptitle(_subtitle(figures), fontsize=10)
    return figure


def _cdf(axes: Axes, distribution: list[float | None], label: str, color: str | None = None) -> None:
    points = [(v, q) for v, q in zip(distribution, DISTRIBUTION_POINTS, strict=True) if v is not None]
    if points:
        axes.plot([v for v, _ in points], [q for _, q in points], label=label, color=color)


def _not_measured(axes: Axes, what: str) -> None:
    axes.set_axis_off()
    axes.text(0.5, 0.5, f"{what}: not measured in this run", ha="center", va="center", transform=axes.transAxes)


def _latency(figures: dict[str, Any]) -> Any:
    ingest, fresh = figures.get("ingest"), figures.get("freshness")
    if ingest is None and fresh is None:
        return None
    figure, (http, freshness) = plt.subplots(1, 2, figsize=(12, 4.5))
    if ingest is not None:
        _cdf(http, ingest["single"]["latency_distribution_ms"], f"POST /articles, {ingest['concurrency']} in flight")
        _cdf(
            http,
            ingest["half_rate"]["latency_distribution_ms"],
            f"POST /articles at half rate ({ingest['half_rate']['target_rate_per_s']:.0f}/s)",
        )
        _cdf(http, ingest["batch"]["latency_distribution_ms"], f"POST /articles/batch of {ingest['batch_size']}")
        _cdf(http, ingest["kafka"]["latency_distribution_ms"], "raw Kafka produce (per record)")
        http.axvline(50, color="red", linestyle="--", linewidth=1, label="goal: p99 < 50 ms at half rate")
        http.axhline(99, color="grey", linestyle=":", linewidth=1)
        http.set_xscale("log")
        http.set_xlabel("latency (ms, log scale)")
        http.set_ylabel("percentile")
        http.set_title("HTTP ingest latency (one uvicorn worker)")
        http.legend(loc="lower right", fontsize=8)
    else:
        _not_measured(http, "HTTP ingest")
    if fresh is not None and fresh["samples_s"]:
        samples = fresh["samples_s"]
        ranks = [100 * (i + 1) / len(samples) for i in range(len(samples))]
        freshness.step(samples, ranks, where="post", label=f"{len(samples)} probes")
        bound = fresh["flush_interval_s"] + 2
        freshness.axvline(bound, color="red", linestyle="--", linewidth=1, label=f"goal: p95 <= {bound:g} s")
        freshness.axhline(95, color="grey", linestyle=":", linewidth=1)
        freshness.set_xlim(0, max(max(samples), bound) * 1.1)
        freshness.set_xlabel("seconds from POST acknowledged to visible in the read API")
        freshness.set_ylabel("percent of probes")
        freshness.set_title(f"Freshness (FLUSH_INTERVAL={figures['options']['flush_interval']})")
        freshness.legend(loc="lower right")
    else:
        _not_measured(freshness, "Freshness")
    figure.suptitle(_subtitle(figures), fontsize=10)
    return figure


def _memory(figures: dict[str, Any]) -> Any:
    runs = figures.get("end_to_end") or {}
    if not runs:
        return None
    figure, (workers, group) = plt.subplots(1, 2, figsize=(12, 4.5))
    for mix, run in runs.items():
        samples = run["memory"]["samples"]
        count = max((len(rss) for _, _, rss, _ in samples), default=0)
        for index in range(count):
            series = [(t, rss[index]) for t, _, rss, _ in samples if index < len(rss)]
            workers.plot(
                [t for t, _ in series],
                [v for _, v in series],
                color=COLORS[mix],
                alpha=0.8,
                label=f"{mix} mix workers" if index == 0 else None,
            )
        group.plot(
            [t for t, _, _, _ in samples],
            [sup + sum(rss) + helpers for _, sup, rss, helpers in samples],
            color=COLORS[mix],
            label=f"{mix} mix",
        )
    workers.axhline(250, color="red", linestyle="--", linewidth=1, label="goal: 250 MB per worker")
    workers.set_ylim(bottom=0)
    workers.set_xlabel("seconds since the first POST")
    workers.set_ylabel("resident memory (MB)")
    workers.set_title("Per worker process")
    workers.legend(loc="lower right")
    group.set_ylim(bottom=0)
    group.set_xlabel("seconds since the first POST")
    group.set_ylabel("resident memory (MB)")
    group.set_title("Whole consumer group (supervisor + workers + helpers)")
    group.legend(loc="lower right")
    figure.suptitle(_subtitle(figures), fontsize=10)
    return figure
