"""``python -m bench.trends``: trends at any scale, through the real consumer group, on each sink.

Generates years of short articles (``--per-day`` a day for one publication over ``--days`` days from
2021-01-01, plus ``--publications`` small publications that each mention the same person about once a
month), produces them to a private Kafka broker's 16-partition topic in time order, and counts them with
``python -m consumer`` into each sink (a SQLite file; a private Firestore emulator). Then it times the read
API's trend questions on each sink's reader, as the read API calls it: the top entities of the big
publication for ranges from an hour to five years (aligned and not), a monthly series over five years, the
publications mentioning the person, and a search; with the documents each read costs on Firestore. It
prints the goals (issue 16) with PASS/SHORT, and writes ``bench/results/trends-<date>-<HHMM>.json`` and ``.md``
and a plot of the top-entities reads, ``docs/img/trends-<date>-<HHMM>.png`` (``--plot`` redraws one from its JSON).
Not a test (docs/benchmarks.md, "Trends").
"""

import argparse
import functools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from bench.flushlog import read_flushes
from bench.machine import describe_machine
from bench.plots import TRENDS_P95_MS, write_trends_plot
from bench.services import (
    QUIET,
    BenchError,
    Service,
    consumer_lag,
    fresh_topics,
    private_broker,
    private_emulator,
    service_env,
    unique,
)
from common.settings import CommonSettings, SinkKind
from common.sinks.base import CountReader
from common.sinks.buckets import Step
from common.sinks.factory import open_reader

RESULTS = Path(__file__).resolve().parent / "results"
PLOTS = Path(__file__).resolve().parent.parent / "docs" / "img"
FIRST_DAY = date(2021, 1, 1)
BIG = "Trends Daily"
PERSON = ("Angela Merkel", "PERSON")

PEOPLE = [
    "Angela Merkel", "Joe Biden", "Emmanuel Macron", "Olaf Scholz", "Rishi Sunak", "Xi Jinping", "Narendra Modi",
    "Justin Trudeau", "Giorgia Meloni", "Pedro Sanchez", "Ursula von der Leyen", "Jens Stoltenberg", "Kamala Harris",
    "Antonio Guterres", "Christine Lagarde", "Jerome Powell", "Volodymyr Zelensky", "Recep Tayyip Erdogan",
    "Fumio Kishida", "Anthony Albanese", "Lula da Silva", "Cyril Ramaphosa", "Mark Rutte", "Boris Johnson",
    "Keir Starmer", "Donald Tusk", "Viktor Orban", "Alexander De Croo", "Leo Varadkar", "Mette Frederiksen",
]  # fmt: skip
FIRST_NAMES = [
    "Anna", "Marek", "Sofia", "Pieter", "Lena", "Tomas", "Irene", "Carlos", "Maria", "Jonas", "Elena", "Luca",
    "Nora", "Hugo", "Clara", "Felix", "Ingrid", "Oskar", "Paula", "Ruben",
]  # fmt: skip
LAST_NAMES = [
    "Kowalski", "Janssen", "Moreau", "Lindqvist", "Novak", "Horvath", "Ferreira", "Brennan", "Schulz", "Rossi",
    "Dubois", "Kovacs", "Nielsen", "Varga", "Costa", "Weber", "Popescu", "Andersen", "Marino", "Fischer",
    "Larsen", "Petrov", "Silva", "Keller", "Romano", "Berg", "Lambert", "Wagner", "Bianchi", "Jensen",
]  # fmt: skip
ORGANIZATIONS = [
    "NATO", "the European Commission", "the World Bank", "the United Nations", "Google", "Microsoft", "Amazon",
    "the IMF", "the European Central Bank", "Siemens", "Airbus", "Volkswagen", "the WHO", "Reuters", "Interpol",
]  # fmt: skip
PLACES = [
    "Berlin", "Paris", "London", "Washington", "Beijing", "New Delhi", "Ottawa", "Rome", "Madrid", "Zurich",
    "Brussels", "Warsaw", "Vienna", "Lisbon", "Dublin", "Stockholm", "Oslo", "Athens", "Prague", "Budapest",
    "Tokyo", "Canberra", "Brasilia", "Pretoria", "Ankara", "Kyiv", "Copenhagen", "Helsinki", "Amsterdam", "Geneva",
]  # fmt: skip
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
TEMPLATES = [
    "{p1} met {p2} of {org} in {place} on {day}.",
    "{org} said on {day} that {p1} would visit {place}.",
    "In {place}, {p1} and {tail} discussed the plans of {org}.",
    "{p1} told {org} in {place} that {p2} agreed.",
]


@dataclass(frozen=True)
class Shape:
    days: int = 1826
    per_day: int = 100
    publications: int = 200
    every_days: int = 30
    """A small publication publishes one article every this many days."""

    @property
    def first(self) -> datetime:
        return datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.first + timedelta(days=self.days)

    def total(self) -> int:
        small = sum(
            len(range(offset % self.every_days, self.days, self.every_days)) for offset in range(self.publications)
        )
        return self.days * self.per_day + small


def zipf(rng: random.Random, names: list[str]) -> str:
    """A name drawn with weight 1/rank: a few are everywhere, most are rare."""
    return rng.choices(names, weights=[1 / (rank + 1) for rank in range(len(names))])[0]


def generated_articles(shape: Shape, seed: int = 16) -> Iterator[dict[str, Any]]:
    """The articles in time order: ``per_day`` of the big publication a day at random times, and each small
    publication's article (mentioning :data:`PERSON`) every ``every_days`` days."""
    rng = random.Random(seed)
    tails = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
    for day in range(shape.days):
        midnight = shape.first + timedelta(days=day)
        today = []
        for number, second in enumerate(sorted(rng.randrange(86_400) for _ in range(shape.per_day))):
            values = {
                "p1": zipf(rng, PEOPLE),
                "p2": zipf(rng, PEOPLE),
                "tail": rng.choice(tails),
                "org": zipf(rng, ORGANIZATIONS),
                "place": zipf(rng, PLACES),
                "day": WEEKDAYS[(day + 4) % 7],
            }
            today.append(
                {
                    "id": f"trends-{day}-{number}",
                    "publication": BIG,
                    "content": rng.choice(TEMPLATES).format(**values),
                    "published_at": (midnight + timedelta(seconds=second)).isoformat(),
                }
            )
        for index in range(shape.publications):
            if (day - index) % shape.every_days == 0:
                place, person, organization = zipf(rng, PLACES), zipf(rng, PEOPLE), zipf(rng, ORGANIZATIONS)
                today.append(
                    {
                        "id": f"gazette-{index}-{day}",
                        "publication": f"Gazette {index + 1:03d}",
                        "content": f"{PERSON[0]} visited {place} with {person} of {organization}.",
                        "published_at": (midnight + timedelta(hours=12)).isoformat(),
                    }
                )
        yield from sorted(today, key=lambda article: str(article["published_at"]))


def produce_all(bootstrap: str, topic: str, shape: Shape) -> int:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "compression.type": "lz4",
            "enable.idempotence": True,
            **QUIET,
        }
    )
    produced = 0
    for article in generated_articles(shape):
        while True:
            try:
                producer.produce(topic, json.dumps(article).encode(), key=article["id"].encode())
                break
            except BufferError:
                producer.poll(0.5)
        produced += 1
        if produced % 50_000 == 0:
            producer.poll(0)
            print(f"  produced {produced:,} of {shape.total():,} articles", flush=True)
    if producer.flush(120):
        raise BenchError("Kafka did not acknowledge every generated article within 120 s")
    return produced


@dataclass
class Fill:
    sink: str
    articles: int
    seconds: float
    flushes: int
    documents: int

    @property
    def documents_per_1000(self) -> float:
        return self.documents / self.articles * 1000


def count_with_the_group(
    bootstrap: str, topic: str, dlq: str, group: str, sink: dict[str, str], total: int, log: Path, processes: int
) -> Fill:
    """``python -m consumer`` until the group's lag is 0, with progress every 15 s; then a clean stop."""
    env = service_env(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        KAFKA_TOPIC=topic,
        KAFKA_DLQ_TOPIC=dlq,
        KAFKA_GROUP_ID=group,
        WINDOW="1h",
        CONSUMER_PROCESSES=str(processes),
        NER_BATCH_SIZE="64",
        CONSUME_BATCH_SIZE="256",
        STATS_INTERVAL="60s",
        **sink,
    )
    started = time.monotonic()
    consumer = Service("consumer", env, log)
    try:
        while True:
            time.sleep(15)
            consumer.check_alive()
            counted = total - consumer_lag(bootstrap, group, topic)
            elapsed = time.monotonic() - started
            rate = counted / elapsed
            remaining = (total - counted) / rate if rate else float("inf")
            print(
                f"  {sink['SINK']}: {counted:,} of {total:,} counted, {rate:.0f}/s, {remaining / 60:.0f} min left",
                flush=True,
            )
            if counted >= total:
                break
        seconds = time.monotonic() - started
    finally:
        consumer.stop(timeout=120)
    flushes = read_flushes(log)
    return Fill(sink["SINK"], total, seconds, flushes.flushes, flushes.documents)


@dataclass
class Timing:
    question: str
    median_ms: float
    p95_ms: float
    documents: float | None
    """Documents read per call (Firestore)."""
    answer: str


def timed(
    question: str, call: Callable[[], Any], reader: CountReader, repeats: int, summary: Callable[[Any], str]
) -> Timing:
    for _ in range(2):  # warm up (connections, caches of the store)
        answer = call()
    before = getattr(reader, "documents_read", None)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = call()
        seconds.append(time.perf_counter() - started)
    after = getattr(reader, "documents_read", None)
    documents = None if before is None or after is None else (after - before) / repeats
    seconds.sort()
    p95 = seconds[min(len(seconds) - 1, round(0.95 * len(seconds)) - 1)]
    return Timing(question, statistics.median(seconds) * 1000, p95 * 1000, documents, summary(answer))


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


OFF = timedelta(hours=5, minutes=17)
"""How far the unaligned ranges are from midnight."""

RANGES: list[tuple[str, datetime, datetime]] = [
    ("1 hour", at(2025, 6, 15, 12), at(2025, 6, 15, 13)),
    ("1 hour, unaligned", at(2025, 6, 15, 12, 17), at(2025, 6, 15, 13, 17)),
    ("1 day", at(2025, 6, 15), at(2025, 6, 16)),
    ("1 day, unaligned", at(2025, 6, 15) + OFF, at(2025, 6, 16) + OFF),
    ("1 week", at(2025, 6, 9), at(2025, 6, 16)),
    ("1 week, unaligned", at(2025, 6, 9) + OFF, at(2025, 6, 16) + OFF),
    ("1 month", at(2025, 6, 1), at(2025, 7, 1)),
    ("1 month, unaligned", at(2025, 6, 15) + OFF, at(2025, 7, 15) + OFF),
    ("1 year", at(2025, 1, 1), at(2026, 1, 1)),
    ("1 year, unaligned", at(2024, 6, 15) + OFF, at(2025, 6, 15) + OFF),
    ("5 years", at(2021, 1, 1), at(2026, 1, 1)),
    ("5 years, unaligned (4.99)", at(2021, 1, 3) + OFF, at(2025, 12, 29) + OFF),
]


def top_entity(answer: Any) -> str:
    top = f", top {answer.entities[0].text} ({answer.entities[0].mentions:,})" if answer.entities else ""
    return f"{answer.articles:,} articles{top}"


def questions(reader: CountReader, shape: Shape) -> list[tuple[str, Callable[[], Any], Callable[[Any], str]]]:
    """(question, the read, what to print of the answer)."""
    found: list[tuple[str, Callable[[], Any], Callable[[Any], str]]] = []
    for name, start, end in RANGES:
        found.append(
            (
                f"top 20 entities, {name}",
                functools.partial(reader.entities, BIG, start=start, end=end, limit=20),
                top_entity,
            )
        )
    found.append(
        ("top 20 entities, all time", lambda: reader.entities(BIG, limit=20), lambda a: f"{a.articles:,} articles")
    )
    found.append(
        (
            "monthly series of one person, 5 years",
            lambda: reader.series(BIG, *PERSON, step=Step.MONTH, start=shape.first, end=shape.end),
            lambda a: f"{len(a.points)} points, {sum(p.mentions for p in a.points):,} mentions",
        )
    )
    found.append(
        (
            "weekly series of one person, 1 year",
            lambda: reader.series(BIG, *PERSON, step=Step.WEEK, start=at(2025, 1, 1), end=at(2026, 1, 1)),
            lambda a: f"{len(a.points)} points",
        )
    )
    found.append(
        (
            f"publications mentioning one person ({shape.publications + 1}), all time",
            lambda: reader.entity_publications(*PERSON, limit=0),
            lambda a: f"{len(a.publications)} publications",
        )
    )
    found.append(
        (
            "publications mentioning one person, 1 year",
            lambda: reader.entity_publications(*PERSON, start=at(2025, 1, 1), end=at(2026, 1, 1), limit=0),
            lambda a: f"{len(a.publications)} publications",
        )
    )
    found.append(("search 'an' (type-ahead)", lambda: reader.search("an", limit=10), lambda a: f"{len(a)} matches"))
    found.append(
        ("first page of publications (100)", lambda: reader.publications(limit=100), lambda a: f"{len(a.publications)}")
    )
    return found


def naive_per_1000(reader: CountReader) -> float:
    """The naive design's documents per 1,000 articles: one write per entity per article (every publication)."""
    writes = articles = 0
    for summary in reader.publications().publications:
        answer = reader.entities(summary.publication, limit=0)
        assert answer is not None
        articles += answer.articles
        writes += sum(entity.articles for entity in answer.entities)
    return writes / articles * 1000


@dataclass
class SinkResult:
    fill: Fill
    naive_per_1000: float
    timings: list[Timing] = field(default_factory=list)


def measure(settings: CommonSettings, shape: Shape, repeats: int) -> tuple[list[Timing], float]:
    reader = open_reader(settings)
    try:
        timings = []
        for question, call, summary in questions(reader, shape):
            timings.append(timed(question, call, reader, repeats, summary))
            print(
                f"  {timings[-1].question}: median {timings[-1].median_ms:.1f} ms, p95 {timings[-1].p95_ms:.1f} ms",
                flush=True,
            )
        return timings, naive_per_1000(reader)
    finally:
        reader.close()


def goals(results: dict[str, SinkResult]) -> list[tuple[str, str, str, bool | None]]:
    """(goal, target, figure, met) per goal and sink; met is None for a figure that is shown, not judged."""
    rows: list[tuple[str, str, str, bool | None]] = []
    for sink, result in results.items():
        by = {t.question: t for t in result.timings}
        ranges = [
            t for t in result.timings if t.question.startswith("top 20 entities,") and "all time" not in t.question
        ]
        worst = max(ranges, key=lambda t: t.p95_ms)
        rows.append(
            (
                f"{sink}: top entities, 1 hour to 5 years, p95",
                f"<= {TRENDS_P95_MS} ms",
                f"{worst.p95_ms:.1f} ms ({worst.question[17:]})",
                worst.p95_ms <= TRENDS_P95_MS,
            )
        )
        ratio = by["top 20 entities, 5 years"].median_ms / by["top 20 entities, 1 day"].median_ms
        rows.append((f"{sink}: 5-year read vs 1-day read (medians)", "<= 2 x", f"{ratio:.2f} x", ratio <= 2))
        if all(t.documents is not None for t in ranges):
            most = max(ranges, key=lambda t: t.documents or 0)
            rows.append(
                (
                    f"{sink}: documents read per top-entities query",
                    "<= 200",
                    f"max {most.documents:.0f} ({most.question[17:]})",
                    (most.documents or 0) <= 200,
                )
            )
        series = by["monthly series of one person, 5 years"]
        rows.append(
            (
                f"{sink}: monthly series over 5 years, p95",
                f"<= {TRENDS_P95_MS} ms",
                f"{series.p95_ms:.1f} ms",
                series.p95_ms <= TRENDS_P95_MS,
            )
        )
        across = next(t for t in result.timings if t.question.startswith("publications mentioning one person ("))
        rows.append(
            (
                f"{sink}: publications of one entity ({across.answer}), p95",
                "<= 200 ms",
                f"{across.p95_ms:.1f} ms",
                across.p95_ms <= 200,
            )
        )
        ratio_writes = result.naive_per_1000 / result.fill.documents_per_1000
        written = f"{result.fill.documents_per_1000:,.0f} vs naive {result.naive_per_1000:,.0f} (1/{ratio_writes:.1f})"
        if sink == "sqlite":  # its flushes report rows upserted: a cost of their own, not billed documents
            figure = f"{written}; rows upserted, not documents: judged on Firestore"
            rows.append((f"{sink}: rows written per 1,000 articles (this shape)", "-", figure, None))
        else:
            name = f"{sink}: documents written per 1,000 articles (this shape)"
            rows.append((name, "<= 1/10 of naive", written, ratio_writes >= 10))
    return rows


def markdown(shape: Shape, results: dict[str, SinkResult], machine: str, command: str) -> str:
    lines = [f"Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.", "", f"- Command: `{command}`", f"- Machine: {machine}"]
    lines.append(
        f"- Data: {shape.days:,} days from {FIRST_DAY} of `{BIG}` ({shape.per_day}/day) and {shape.publications} "
        f"small publications (one article every {shape.every_days} days each, all mentioning {PERSON[0]}): "
        f"{shape.total():,} articles, 16 partitions, WINDOW=1h"
    )
    lines += ["", "**Goals**", "", "| Goal | Target | Figure | Result |", "|---|---|---|---|"]
    lines += [
        f"| {goal} | {target} | {figure} | {'n/a' if met is None else '**PASS**' if met else '**SHORT**'} |"
        for goal, target, figure, met in goals(results)
    ]
    lines += [
        "",
        "**Filling** (`python -m consumer`, 2 processes)",
        "",
        "| Sink | Articles | Minutes | Articles/s | Flushes | Written per 1,000 articles (SQLite: rows) "
        "| Naive per 1,000 |",
        "|---|---|---|---|---|---|---|",
    ]
    for sink, result in results.items():
        fill = result.fill
        rate = fill.articles / fill.seconds
        lines.append(
            f"| {sink} | {fill.articles:,} | {fill.seconds / 60:.1f} | {rate:.0f} | {fill.flushes:,} | "
            f"{fill.documents_per_1000:,.0f} | {result.naive_per_1000:,.0f} |"
        )
    sinks = list(results)
    lines += [
        "",
        "**Reads** (the reader the read API calls; median / p95 of the repeats; documents read per call on Firestore)",
        "",
    ]
    lines.append(
        "| Question | "
        + " | ".join(f"{sink} median / p95 (ms)" for sink in sinks)
        + " | Firestore documents | Answer |"
    )
    lines.append("|---|" + "---|" * len(sinks) + "---|---|")
    for index, timing in enumerate(results[sinks[0]].timings):
        cells = [f"{results[s].timings[index].median_ms:.1f} / {results[s].timings[index].p95_ms:.1f}" for s in sinks]
        documents = next(
            (results[s].timings[index].documents for s in sinks if results[s].timings[index].documents is not None),
            None,
        )
        lines.append(
            f"| {timing.question} | "
            + " | ".join(cells)
            + f" | {'-' if documents is None else f'{documents:.0f}'} | {timing.answer} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    cli = argparse.ArgumentParser(
        prog="python -m bench.trends", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    cli.add_argument(
        "--days", type=int, default=1826, help="Days of articles from 2021-01-01 (default 1,826: 5 years)."
    )
    cli.add_argument("--per-day", type=int, default=100, help="Articles a day of the big publication (default 100).")
    cli.add_argument("--publications", type=int, default=200, help="Small publications (default 200).")
    cli.add_argument("--sinks", default="sqlite,firestore", help="Sinks to fill and read (default sqlite,firestore).")
    cli.add_argument("--repeats", type=int, default=30, help="Times each read is timed (default 30).")
    cli.add_argument("--processes", type=int, default=2, help="Consumer processes (default 2).")
    cli.add_argument(
        "--plot", type=Path, metavar="JSON", help="Only draw the plot of a run's figures (bench/results/trends-*.json)."
    )
    options = cli.parse_args()
    if options.plot is not None:
        drawn = write_trends_plot(
            json.loads(options.plot.read_text()), options.plot.stem[7:], PLOTS / f"{options.plot.stem}.png"
        )
        print(f"wrote {drawn}")
        return
    shape = Shape(days=options.days, per_day=options.per_day, publications=options.publications)
    sinks = [sink.strip() for sink in options.sinks.split(",") if sink.strip()]
    run_dir = Path(tempfile.mkdtemp(prefix="newscounts-trends-"))  # the SQLite file, the logs: not kept
    print(f"{shape.total():,} articles: {shape.days:,} days of {BIG} ({shape.per_day}/day), {shape.publications} more")
    results: dict[str, SinkResult] = {}
    with ExitStack() as stack:
        broker = stack.enter_context(private_broker())
        topic, dlq = fresh_topics(broker.bootstrap, "trends", 16)
        started = time.monotonic()
        total = produce_all(broker.bootstrap, topic, shape)
        print(f"produced {total:,} articles in {time.monotonic() - started:.0f} s", flush=True)
        for kind in sinks:
            group = unique(f"trends-{kind}")
            if kind == "firestore":
                emulator = stack.enter_context(private_emulator())
                os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
                project = unique("trends")
                sink = {"SINK": "firestore", "FIRESTORE_PROJECT": project, "FIRESTORE_EMULATOR_HOST": emulator.host}
                settings = CommonSettings(
                    sink=SinkKind.FIRESTORE, firestore_project=project, kafka_group_id=group, window="1h"
                )
            else:
                path = run_dir / "counts.sqlite3"
                sink = {"SINK": "sqlite", "SQLITE_PATH": str(path)}
                settings = CommonSettings(sink=SinkKind.SQLITE, sqlite_path=path, kafka_group_id=group, window="1h")
            print(f"counting into {kind} with `python -m consumer` ({options.processes} processes)...", flush=True)
            fill = count_with_the_group(
                broker.bootstrap, topic, dlq, group, sink, total, run_dir / f"{kind}-consumer.log", options.processes
            )
            minutes, per_1000 = fill.seconds / 60, fill.documents_per_1000
            print(f"  {fill.articles:,} articles in {minutes:.1f} min; {per_1000:,.0f} documents per 1,000", flush=True)
            print(f"reading {kind}...", flush=True)
            timings, naive = measure(settings, shape, options.repeats)
            results[kind] = SinkResult(fill, naive, timings)
    command = "python -m bench.trends " + " ".join(sys.argv[1:])
    machine = describe_machine()
    described = (
        f"{machine['cores']} cores ({machine['cpu_model']}), {machine['memory_gb']} GB memory, {machine['os']}, "
        f"Python {machine['python']}; 1-minute load average {machine['load_average_1m']} at the end"
    )
    report = markdown(shape, results, described, command.strip())
    print()
    print(report)
    stem = RESULTS / f"trends-{datetime.now(UTC):%Y-%m-%d-%H%M}"
    stem.with_suffix(".md").write_text(report)
    figures = {"shape": asdict(shape), "machine": machine, "sinks": {k: asdict(v) for k, v in results.items()}}
    stem.with_suffix(".json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
    drawn = write_trends_plot(
        json.loads(stem.with_suffix(".json").read_text()), stem.name[7:], PLOTS / f"{stem.name}.png"
    )
    print(f"wrote {stem}.md and .json, and {drawn}; the consumer logs are in {run_dir}")


if __name__ == "__main__":
    main()
