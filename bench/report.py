"""Write a run's results: ``bench/results/<date>.json`` and ``<date>.md``, and the "Latest run" section of
docs/benchmarks.md (between its two marker comments); both Markdown files link the run's plots (docs/img)."""

import json
import os
import re
from pathlib import Path
from typing import Any

from bench.goals import evaluate
from bench.plots import plot_file

LATEST_START = "<!-- latest-run:start (written by python -m bench) -->"
LATEST_END = "<!-- latest-run:end -->"
PLOTS = (("throughput", "Throughput against the limit"), ("memory", "Memory of the default group"))
NOISE_CORES = 0.25
"""Other programs' CPU use (cores) above which a phase's figure is called disturbed."""


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return [*lines, *("| " + " | ".join(row) + " |" for row in rows), ""]


def render_markdown(figures: dict[str, Any], image_dir: str) -> str:
    """The run as Markdown; plots are linked as ``{image_dir}`` + :func:`bench.plots.plot_file`."""
    machine, options = figures["machine"], figures["options"]
    lines = [
        f"Run of {figures['started_at']} ({figures['duration_s']:.0f} s).",
        "",
        f"- Command: `{figures['command']}`",
        f"- Machine: {machine['cores']} cores ({machine['cpu_model']}), {machine['memory_gb']} GB memory, "
        f"{machine['os']}, Python {machine['python']}; 1-minute load average {machine['load_average_1m']} at "
        f"the start, {figures['load_average_end']} at the end",
        f"- Settings: {options['partitions']} partitions, NER_PROCESSES={options['ner_processes']}, "
        f"FLUSH_INTERVAL={options['flush_interval']}, WINDOW={options['window']}, sink {options['sink']}, "
        f"{options['articles']} articles per run from `{options['data']}`",
        "",
    ]
    if figures.get("note"):
        lines += [f"> {figures['note']}", ""]
    if warning := noise_warning(figures):
        lines += [f"> **{warning}**", ""]
    goals = [[g.name, g.target, g.figure, f"**{g.status}**"] for g in evaluate(figures)]
    lines += ["**Goals**", "", *table(["Goal", "Target", "Figure", "Result"], goals)]
    lines += throughput_rows(figures) + cpu_rows(figures) + start_rows(figures) + memory_rows(figures)
    lines += http_rows(figures)
    for name, title in PLOTS:
        lines += [f"![{title}]({image_dir}{plot_file(figures['date'], name)})", ""]
    return "\n".join(lines)


def throughput_rows(figures: dict[str, Any]) -> list[str]:
    rows = [
        [
            _num(shape["workers"]),
            run["name"],
            f"{run['partitions_used']} ({run['largest_partition_share']:.0%})",
            _num(run["seconds"]),
            _num(run["articles_per_s"], 2),
            _num(run["limit_articles_per_s"], 2),
            f"**{run['ratio_to_limit']:.2f}**",
            _num(run["cpu_ratio_to_limit"], 2),
            _num(run["other_cores"], 2),
        ]
        for shape in figures.get("shapes") or []
        for run in shape["runs"]
    ]
    if not rows:
        return []
    header = [
        "Workers",
        "Records",
        "Partitions used (largest share)",
        "Seconds, 10% to 90%",
        "Articles/s",
        "Limit beside it, articles/s",
        "vs limit",
        "per CPU-second vs limit",
        "Other programs, cores",
    ]
    measured = "; ".join(f"{m['when']} {m['articles_per_s']:.2f}/s" for m in figures.get("limits") or [])
    title = (
        "**Throughput** (committed offsets between 10% and 90% of each run's records, against plain `nlp.pipe` "
        "on the cores measured just before and after the run; `mix`: keyed, 80% of the articles relabeled to "
        f"{figures['options']['mix']})"
    )
    return [title, "", *table(header, rows), f"The limit's measurements, in order: {measured}.", ""]


def cpu_rows(figures: dict[str, Any]) -> list[str]:
    runs = [(shape["workers"], run) for shape in figures.get("shapes") or [] for run in shape["runs"]]
    kinds = sorted({kind for _, run in runs for kind in run["cores_by_kind"]})
    if not kinds:
        return []
    rows = [
        [_num(workers), run["name"], *(_num(run["cores_by_kind"].get(kind), 2) for kind in kinds)]
        for workers, run in runs
    ]
    title = (
        "**Where the group's CPU went** (cores used by each kind of process, first record produced to all committed)"
    )
    return [title, "", *table(["Workers", "Records", *kinds], rows)]


def start_rows(figures: dict[str, Any]) -> list[str]:
    rows = [
        [
            _num(s["workers"]),
            _num(s["start"].get("owned_s")),
            _num(s["start"]["assigned_s"]),
            _num(s["start"]["consuming_s"]),
        ]
        for s in figures.get("shapes") or []
    ]
    if not rows:
        return []
    title = (
        f"**Start** (seconds from spawning `python -m consumer`; loading the model once in a fresh process: "
        f"{_num(figures.get('model_load_s'))} s)"
    )
    columns = ["Workers", "Every partition owned", "Every worker assigned", "Every partition's first record committed"]
    return [title, "", *table(columns, rows)]


def memory_rows(figures: dict[str, Any]) -> list[str]:
    rows = []
    for shape in figures.get("shapes") or []:
        busy, idle = shape["memory_busy"], shape["memory_idle"]
        for kind, k in busy["kinds"].items():
            rows.append(
                [
                    _num(shape["workers"]),
                    kind,
                    _num(k["processes"]),
                    _num(k["process_peak_uss_mb"], 0),
                    _num(k["process_peak_pss_mb"], 0),
                    _num(k["pss_mb"], 0),
                    _num(idle["kinds"].get(kind, {}).get("pss_mb"), 0),
                ]
            )
        rows.append(
            [
                _num(shape["workers"]),
                "**group**",
                "",
                "",
                "",
                f"**{busy['total_pss_mb']:,.0f}**",
                f"**{idle['total_pss_mb']:,.0f}**",
            ]
        )
    if not rows:
        return []
    header = [
        "Workers",
        "Process",
        "Processes",
        "USS, peak of one (MB)",
        "PSS, peak of one (MB)",
        "PSS of all, at the group's busy peak (MB)",
        "PSS of all, idle (MB)",
    ]
    title = "**Memory** (from /proc/<pid>/smaps_rollup, sampled every second during the runs, and once idle after them)"
    return [title, "", *table(header, rows)]


def http_rows(figures: dict[str, Any]) -> list[str]:
    lines = []
    shapes = figures.get("shapes") or []
    if shapes and (sink := shapes[0]["sink"]):
        lines += [
            f"**Sink writes** ({shapes[0]['workers']} workers, {sink['run']} run): "
            f"{_num(sink['requests_per_1000'], 0)} write requests and {_num(sink['documents_per_1000'], 0)} "
            f"documents per 1,000 articles; the naive design: {_num(sink['naive_per_1000'], 0)} (one per entity "
            f"per article), {_num(sink['naive_mentions_per_1000'], 0)} (one per occurrence).",
            "",
        ]
    if ingest := figures.get("ingest"):
        paths = [
            (f"`POST /articles`, {ingest['concurrency']} in flight", "single"),
            (f"`POST /articles/batch` of {ingest['batch_size']}, 4 in flight", "batch"),
            ("Raw confluent-kafka produce", "kafka"),
            (f"`POST /articles` at half rate ({ingest['half_rate']['target_rate_per_s']}/s)", "half_rate"),
        ]
        rows = [
            [
                label,
                _num(ingest[key]["rate_per_s"], 0),
                _num(ingest[key]["latency_ms"]["p50"]),
                _num(ingest[key]["latency_ms"]["p99"]),
                _num(ingest["server_cores"].get(key), 2),
            ]
            for label, key in paths
        ]
        lines += ["**HTTP ingest** (one uvicorn worker)", ""]
        lines += table(["Path", "Articles/s", "p50 ms", "p99 ms", "Service CPU (cores)"], rows)
    if fresh := figures.get("freshness"):
        lines += [
            f"**Freshness**: {fresh['probes']} probes beside {fresh['background_rate_per_s']} background "
            f"articles/s: p50 {_num(fresh['p50_s'], 2)} s, p95 {_num(fresh['p95_s'], 2)} s, max "
            f"{_num(fresh['max_s'], 2)} s, {fresh['missing']} never visible.",
            "",
        ]
    return lines


def noise_warning(figures: dict[str, Any]) -> str | None:
    """A warning when other programs used more than :data:`NOISE_CORES` during some run, else None."""
    noise = {f"limit {m['when']}": m["other_cores"] for m in figures.get("limits") or []}
    for shape in figures.get("shapes") or []:
        noise |= {f"{shape['workers']} workers {run['name']}": run["other_cores"] for run in shape["runs"]}
    disturbed = {phase: cores for phase, cores in noise.items() if cores is not None and cores > NOISE_CORES}
    if not disturbed:
        return None
    listed = ", ".join(f"{phase} {cores:.2f}" for phase, cores in disturbed.items())
    return (
        f"Other programs used CPU during this run (cores: {listed}): figures of those phases are low by "
        "up to that share of the machine, and ratios between phases are unreliable. Rerun on an idle machine."
    )


def write_results(figures: dict[str, Any], results_dir: Path, plots_dir: Path) -> tuple[Path, Path]:
    """``<date>.json`` and ``<date>.md`` in ``results_dir``; the goals are (re)computed from the figures."""
    figures["goals"] = [goal.as_dict() for goal in evaluate(figures)]
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / f"{figures['date']}.json"
    json_path.write_text(json.dumps(figures, indent=1) + "\n")
    md_path = results_dir / f"{figures['date']}.md"
    body = render_markdown(figures, image_dir=_relative(plots_dir, results_dir))
    md_path.write_text(f"# Benchmark {figures['date']}\n\n" + body)
    return json_path, md_path


def update_docs(figures: dict[str, Any], docs: Path, plots_dir: Path) -> None:
    """Replace the "Latest run" section of ``docs`` (between the markers) with this run."""
    text = docs.read_text()
    if LATEST_START not in text or LATEST_END not in text:
        raise ValueError(f"{docs} has no '{LATEST_START}' ... '{LATEST_END}' section to replace")
    body = render_markdown(figures, image_dir=_relative(plots_dir, docs.parent))
    pattern = re.compile(re.escape(LATEST_START) + ".*?" + re.escape(LATEST_END), re.DOTALL)
    docs.write_text(pattern.sub(lambda _: f"{LATEST_START}\n{body}\n{LATEST_END}", text))


def _relative(folder: Path, start: Path) -> str:
    """``folder`` as a link prefix from files in ``start`` ("" when they are the same folder)."""
    relative = Path(os.path.relpath(folder.resolve(), start.resolve())).as_posix()
    return "" if relative == "." else f"{relative}/"
