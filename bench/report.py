"""Write a run's results: ``bench/results/<date>.json`` and ``<date>.md``, and the "Latest run" section of
docs/benchmarks.md (between its two marker comments)."""

import json
import os
import re
from pathlib import Path
from typing import Any

from bench.goals import evaluate

LATEST_START = "<!-- latest-run:start (written by python -m bench) -->"
LATEST_END = "<!-- latest-run:end -->"
PLOTS = (("throughput", "Throughput against the limit"), ("latency", "Latency"), ("memory", "Memory"))


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return [*lines, ""]


def render_markdown(figures: dict[str, Any], image_dir: str) -> str:
    """The run as Markdown; plots are linked as ``{image_dir}{date}-{name}.png``."""
    machine, options = figures["machine"], figures["options"]
    lines = [
        f"Run of {figures['started_at']} ({figures['duration_s']:.0f} s).",
        "",
        f"- Command: `{figures['command']}`",
        f"- Machine: {machine['cores']} cores ({machine['cpu_model']}), {machine['memory_gb']} GB memory, "
        f"{machine['os']}, Python {machine['python']}; 1-minute load average {machine['load_average_1m']} at "
        f"the start, {figures['load_average_end']} at the end",
        f"- Settings: {options['processes']} consumer processes, {options['partitions']} partitions, "
        f"FLUSH_INTERVAL={options['flush_interval']}, WINDOW={options['window']}, sink {options['sink']}, "
        f"{options['articles']} articles per throughput run from `{options['data']}`",
        "",
    ]
    if figures.get("note"):
        lines += [f"> {figures['note']}", ""]
    if warning := noise_warning(figures):
        lines += [f"> **{warning}**", ""]
    lines += ["**Goals**", ""]
    lines += _table(
        ["Goal", "Target", "Figure", "Result"],
        [[g.name, g.target, g.figure, f"**{g.status}**"] for g in evaluate(figures)],
    )
    lines += (
        _throughput_rows(figures)
        + _cpu_rows(figures)
        + _ingest_rows(figures)
        + _sink_rows(figures)
        + _memory_rows(figures)
    )
    lines += _freshness_rows(figures) + _noise_rows(figures)
    for name, title in PLOTS:
        lines += [f"![{title}]({image_dir}{figures['date']}-{name}.png)", ""]
    return "\n".join(lines)


def _throughput_rows(figures: dict[str, Any]) -> list[str]:
    rows = []
    if limit := figures.get("limit"):
        rows.append(
            [
                f"Raw spaCy `nlp.pipe`, {limit['processes']} processes (the limit"
                + "".join(
                    f"; {when} {rate:.2f}/s"
                    for when, rate in zip(
                        limit.get("runs_when", ("before", "after")), limit.get("runs_articles_per_s", []), strict=False
                    )
                )
                + ")",
                _num(limit["articles"]),
                _num(limit["seconds"]),
                _num(limit["articles_per_s"], 2),
                _num(limit["words_per_s"], 0),
                "",
                "1.00",
                _num(limit.get("articles_per_cpu_s"), 2),
                "1.00" if limit.get("articles_per_cpu_s") else "-",
            ]
        )
    for mix, run in (figures.get("end_to_end") or {}).items():
        label = f"End to end, {mix} mix" + (f" ({figures['options']['skew']})" if mix == "skewed" else "")
        rows.append(
            [
                label,
                _num(run["articles"]),
                _num(run["seconds"]),
                _num(run["articles_per_s"], 2),
                _num(run["words_per_s"], 0),
                _num(run.get("limit_articles_per_s"), 2),
                _num(run["ratio_to_limit"], 2),
                _num(run.get("articles_per_cpu_s"), 2),
                _num(run.get("cpu_ratio_to_limit"), 2),
            ]
        )
    if not rows:
        return []
    header = [
        "Run",
        "Articles",
        "Seconds",
        "Articles/s",
        "Words/s",
        "Limit beside it, articles/s",
        "vs limit",
        "Articles per CPU-second",
        "vs limit",
    ]
    return [
        "**Throughput** (each end-to-end run against the limit measured just before and after it, on alternate "
        "halves of the same articles; CPU-seconds: the spaCy processes; end to end: workers, HTTP service and "
        "broker)",
        "",
        *_table(header, rows),
    ]


def _cpu_rows(figures: dict[str, Any]) -> list[str]:
    runs = {mix: run["cpu_cores"] for mix, run in (figures.get("end_to_end") or {}).items() if "cpu_cores" in run}
    if not runs:
        return []
    parts = list(dict.fromkeys(part for cores in runs.values() for part in cores))
    rows = [[part, *(_num(cores.get(part), 2) for cores in runs.values())] for part in parts]
    header = ["Part", *(f"{mix} mix" for mix in runs)]
    title = f"**Where the CPU went during the end-to-end runs** (cores, of {figures['machine']['cores']})"
    return [title, "", *_table(header, rows)]


def _ingest_rows(figures: dict[str, Any]) -> list[str]:
    ingest = figures.get("ingest")
    if not ingest:
        return []
    cores = ingest["server_cores"]
    paths = [
        (f"`POST /articles`, {ingest['concurrency']} in flight", ingest["single"], cores.get("single")),
        (
            f"`POST /articles/batch` of {ingest['batch_size']}, 4 in flight (latency per request)",
            ingest["batch"],
            cores.get("batch"),
        ),
        ("Raw confluent-kafka produce (latency per record)", ingest["kafka"], None),
        (
            f"`POST /articles` at half rate ({ingest['half_rate']['target_rate_per_s']}/s)",
            ingest["half_rate"],
            cores.get("half_rate"),
        ),
    ]
    rows = [
        [
            label,
            _num(s["accepted"]),
            _num(s["rate_per_s"], 0),
            _num(s["latency_ms"]["p50"]),
            _num(s["latency_ms"]["p99"]),
            _num(s["errors"] + s["rejected"]),
            _num(core, 2),
            _num(s["rate_per_s"] / core, 0) if core else "-",
        ]
        for label, s, core in paths
    ]
    header = [
        "Path (one uvicorn worker)",
        "Accepted",
        "Articles/s",
        "p50 ms",
        "p99 ms",
        "Not accepted",
        "Service CPU (cores)",
        "Articles/s per service core",
    ]
    return ["**HTTP ingest**", "", *_table(header, rows)]


def _sink_rows(figures: dict[str, Any]) -> list[str]:
    rows = []
    for mix, run in (figures.get("end_to_end") or {}).items():
        rows.append(
            [
                f"{mix} mix",
                _num(run["flushes"]),
                _num(run.get("sink_requests_per_1000"), 0),
                _num(run["sink_documents_written"]),
                _num(run["sink_writes_per_1000"], 0),
                _num(run["naive_writes_per_1000"], 0),
                _num(run["naive_mention_writes_per_1000"], 0),
            ]
        )
    if not rows:
        return []
    header = [
        "Run",
        "Flushes",
        "Write requests per 1,000 articles (one per flush)",
        "Documents written",
        "Documents per 1,000 articles",
        "Naive per 1,000 (one per entity per article)",
        "Naive per 1,000 (one per occurrence)",
    ]
    title = "**Sink writes** (write requests, and documents written, as Firestore bills them)"
    return [title, "", *_table(header, rows)]


def _memory_rows(figures: dict[str, Any]) -> list[str]:
    rows = [
        [
            f"{mix} mix",
            _num(run["memory"]["workers"]),
            _num(run["memory"]["worker_peak_mb"], 0),
            _num(run["memory"]["group_peak_mb"], 0),
        ]
        for mix, run in (figures.get("end_to_end") or {}).items()
    ]
    if not rows:
        return []
    header = ["Run", "Workers", "Peak RSS per worker (MB)", "Peak RSS of the group (MB)"]
    return ["**Memory** (resident, sampled every 0.5 s)", "", *_table(header, rows)]


def _freshness_rows(figures: dict[str, Any]) -> list[str]:
    fresh = figures.get("freshness")
    if not fresh:
        return []
    row = [
        _num(fresh["probes"]),
        _num(fresh["background_rate_per_s"]),
        _num(fresh["p50_s"], 2),
        _num(fresh["p95_s"], 2),
        _num(fresh["max_s"], 2),
        _num(fresh["missing"]),
    ]
    header = ["Probes", "Background articles/s", "p50 s", "p95 s", "max s", "Never visible"]
    return ["**Freshness** (POST acknowledged -> visible in `GET /publications`)", "", *_table(header, [row])]


NOISE_CORES = 0.25
"""Other programs' CPU use (cores) above which a phase's figure is called disturbed."""


def noise_warning(figures: dict[str, Any]) -> str | None:
    """A warning when other programs used more than :data:`NOISE_CORES` during some phase, else None."""
    noise = figures.get("other_programs_cpu_cores") or {}
    disturbed = {phase: cores for phase, cores in noise.items() if cores > NOISE_CORES}
    if not disturbed:
        return None
    listed = ", ".join(f"{phase} {cores:.2f}" for phase, cores in disturbed.items())
    return (
        f"Other programs used CPU during this run (cores: {listed}): figures of those phases are low by "
        "up to that share of the machine, and ratios between phases are unreliable. Rerun on an idle machine."
    )


def _noise_rows(figures: dict[str, Any]) -> list[str]:
    noise = figures.get("other_programs_cpu_cores")
    if not noise:
        return []
    cores = figures["machine"]["cores"]
    rows = [[phase, _num(value, 2)] for phase, value in noise.items()]
    title = f"**Other programs' CPU use during each phase** (cores, of {cores}: the noise under the figures)"
    return [title, "", *_table(["Phase", "Cores used by other programs"], rows)]


def write_results(figures: dict[str, Any], results_dir: Path) -> tuple[Path, Path]:
    """``<date>.json`` and ``<date>.md`` in ``results_dir``; the goals are (re)computed from the figures."""
    figures["goals"] = [goal.as_dict() for goal in evaluate(figures)]
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / f"{figures['date']}.json"
    json_path.write_text(json.dumps(figures, indent=1) + "\n")
    md_path = results_dir / f"{figures['date']}.md"
    md_path.write_text(f"# Benchmark {figures['date']}\n\n" + render_markdown(figures, image_dir=""))
    return json_path, md_path


def update_docs(figures: dict[str, Any], docs: Path, results_dir: Path) -> None:
    """Replace the "Latest run" section of ``docs`` (between the markers) with this run."""
    text = docs.read_text()
    if LATEST_START not in text or LATEST_END not in text:
        raise ValueError(f"{docs} has no '{LATEST_START}' ... '{LATEST_END}' section to replace")
    image_dir = Path(os.path.relpath(results_dir.resolve(), docs.resolve().parent)).as_posix()
    body = render_markdown(figures, image_dir=f"{image_dir}/")
    pattern = re.compile(re.escape(LATEST_START) + ".*?" + re.escape(LATEST_END), re.DOTALL)
    docs.write_text(pattern.sub(lambda _: f"{LATEST_START}\n{body}\n{LATEST_END}", text))
