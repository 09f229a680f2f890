"""PNG plots of a run, drawn from its figures: each shape and skew against the limit beside it, and the
default group's memory (PSS by kind of process) over its runs; and the reads of a ``bench.trends`` run."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bench.goals import END_TO_END, GROUP_PSS_MB

TRENDS_P95_MS = 150
"""Issue 16's goal for a top-entities read of any range (p95)."""


def plot_file(date: str, name: str) -> str:
    """The file name of a run's plot ``name``."""
    return f"bench-{date}-{name}.png"


def write_plots(figures: dict[str, Any], plots_dir: Path) -> list[Path]:
    """The ``throughput`` and ``memory`` plots in ``plots_dir`` (when the run measured a shape)."""
    shapes = figures.get("shapes") or []
    if not shapes:
        return []
    written = []
    for name, figure in (("throughput", _throughput(shapes)), ("memory", _memory(shapes[0]))):
        figure.suptitle(
            f"{figures['date']} - {figures['machine']['cores']} cores, NER_PROCESSES="
            f"{figures['options']['ner_processes']}, FLUSH_INTERVAL={figures['options']['flush_interval']}",
            fontsize=10,
        )
        plots_dir.mkdir(parents=True, exist_ok=True)
        path = plots_dir / plot_file(figures["date"], name)
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written


def _throughput(shapes: list[dict[str, Any]]) -> Figure:
    figure, axes = plt.subplots(figsize=(11, 4.5))
    labels = [f"{shape['workers']} workers\n{run['name']}" for shape in shapes for run in shape["runs"]]
    runs = [run for shape in shapes for run in shape["runs"]]
    positions = range(len(runs))
    axes.bar(
        [p - 0.2 for p in positions],
        [r["limit_articles_per_s"] for r in runs],
        0.4,
        color="#999999",
        label="limit beside it",
    )
    bars = axes.bar(
        [p + 0.2 for p in positions], [r["articles_per_s"] for r in runs], 0.4, color="#1f77b4", label="end to end"
    )
    for bar, run in zip(bars, runs, strict=True):
        axes.annotate(
            f"{run['ratio_to_limit']:.2f} x",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    axes.set_xticks(list(positions), labels, fontsize=8)
    axes.set_ylabel("articles per second (10% to 90%)")
    axes.set_title(f"End to end against plain nlp.pipe on the cores (goal {END_TO_END:.2f} x)")
    axes.legend(loc="lower right")
    return figure


def _memory(shape: dict[str, Any]) -> Figure:
    figure, axes = plt.subplots(figsize=(11, 4.5))
    timeline = shape["memory_busy"]["timeline"]
    kinds = sorted({kind for _, by_kind in timeline for kind in by_kind})
    steps = list(range(len(timeline)))
    axes.stackplot(steps, [[by_kind.get(kind, 0) or 0 for _, by_kind in timeline] for kind in kinds], labels=kinds)
    axes.axhline(GROUP_PSS_MB, color="red", linestyle="--", linewidth=1, label=f"goal: {GROUP_PSS_MB} MB")
    axes.set_xlabel("samples during the runs (one per second)")
    axes.set_ylabel("PSS (MB), summed per kind")
    axes.set_title(f"{shape['workers']} workers: the group's memory while busy")
    axes.legend(loc="lower right", fontsize=8)
    return figure


def write_trends_plot(figures: dict[str, Any], run: str, path: Path) -> Path:
    """The top-entities reads of a ``bench.trends`` run (its JSON figures; ``run``: when it ran): median and
    p95 per range and sink, against the p95 goal."""
    figure, axes = plt.subplots(figsize=(11, 4.5))
    sinks = figures["sinks"]
    questions = [
        timing["question"]
        for timing in next(iter(sinks.values()))["timings"]
        if timing["question"].startswith("top 20 entities,")
    ]
    width = 0.8 / len(sinks)
    for number, (sink, result) in enumerate(sinks.items()):
        by = {timing["question"]: timing for timing in result["timings"]}
        offsets = [position - 0.4 + width * (number + 0.5) for position in range(len(questions))]
        p95 = axes.bar(offsets, [by[q]["p95_ms"] for q in questions], width, alpha=0.35, label=f"{sink}: p95")
        axes.bar(
            offsets, [by[q]["median_ms"] for q in questions], width, color=p95.patches[0].get_facecolor()[:3],
            label=f"{sink}: median",
        )  # fmt: skip
    axes.axhline(TRENDS_P95_MS, color="red", linestyle="--", linewidth=1, label=f"goal: p95 <= {TRENDS_P95_MS} ms")
    axes.set_xticks(range(len(questions)), [q[17:].replace(", ", "\n", 1) for q in questions], fontsize=8)
    axes.set_ylabel("ms per read (the reader the read API calls)")
    axes.set_title("Top 20 entities of one publication, by range (bench.trends)")
    axes.legend(loc="upper left", fontsize=8)
    figure.suptitle(f"{run} - {figures['machine']['cores']} cores", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path
