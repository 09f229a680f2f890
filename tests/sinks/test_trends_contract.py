"""The trends contract, on both sinks: rollups, covers, series, the entity index, search, paging, counts
namespaces and consistent reads, each checked against a reference computed here by brute force over the
windows of the same flushes (not with the sinks' own code).
"""

import random
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from common.keys import publication_key
from common.sinks.base import InvalidRead, NamespaceTaken, OffsetLease, PartitionFlush
from common.sinks.buckets import Step, cheapest_cover, epoch_of, step_points
from common.sinks.reading import RollupReader
from tests.sinks.support import (
    GROUP,
    HOUR,
    TOPIC,
    SinkSpec,
    Store,
    delta,
    flush,
    open_store,
    read_while_writing,
    stored_count_documents,
    stored_fields,
)

pytestmark = pytest.mark.integration

DAY = 86_400


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return epoch_of(datetime(year, month, day, hour, minute, tzinfo=UTC))


def moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


PUBLICATIONS = ["Daily One", "Zeitung Zwei", "Trois Éditions", "Quiet Times"]
VOCABULARY = [
    (("Angela Merkel", "angela merkel"), "PERSON"),
    (("Zürich", "ZÜRICH"), "GPE"),
    (("Zurich",), "GPE"),
    (("Émile Zola",), "PERSON"),
    (("Fed", "FED"), "ORG"),
    (("Georgia",), "GPE"),
    (("Georgia",), "PERSON"),
    (("Berlin",), "GPE"),
    (("Bern",), "GPE"),
]
WINDOWS = sorted(
    {
        at(2022, 12, 31, 22),
        at(2022, 12, 31, 23),
        at(2023, 1, 1, 0),
        at(2023, 1, 31, 23),
        at(2023, 2, 1, 0),
        at(2023, 2, 1, 7),
        at(2023, 2, 6, 12),  # a Monday
        at(2023, 2, 12, 23),  # a Sunday
        at(2023, 6, 15, 10),
        at(2023, 6, 15, 11),
        at(2023, 12, 31, 22),  # read from the range's tail when a margin after it holds a later spelling
        at(2023, 12, 31, 23),
        at(2024, 1, 1, 0),
        at(2024, 1, 1, 1),
        at(2024, 2, 29, 12),
    }
)


def random_flushes(seed: int = 7) -> list[PartitionFlush]:
    """Flushes of four partitions: random publications, windows around day, month and year boundaries,
    entities with several spellings; "Quiet Times" has articles but no entities."""
    rng = random.Random(seed)
    flushes = []
    for partition in range(4):
        for number in range(1, 6):
            deltas = []
            for name in rng.sample(PUBLICATIONS, rng.randint(1, 3)):
                windows: dict[int, tuple[int, list[tuple[str, str, int, int]]]] = {}
                for start in rng.sample(WINDOWS, rng.randint(1, 4)):
                    articles = rng.randint(1, 3)
                    entities = []
                    if name != "Quiet Times":
                        for texts, label in rng.sample(VOCABULARY, rng.randint(1, 5)):
                            mentioned = rng.randint(1, articles)
                            entities.append((rng.choice(texts), label, mentioned + rng.randint(0, 3), mentioned))
                    windows[start] = (articles, entities)
                deltas.append(delta(name, windows))
            flushes.append(flush(partition, number, *deltas))
    return flushes


def write_all(store: Store, flushes: list[PartitionFlush]) -> None:
    leases: dict[int, OffsetLease] = {}
    for written in flushes:
        lease = leases.get(written.partition) or store.read_offset(written.group_id, TOPIC, written.partition)
        leases[written.partition] = store.write(written, lease)


@dataclass
class Reference:
    """The flushes' counts per (publication, window), and the answers computed from them by brute force."""

    articles: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    entities: dict[tuple[str, int], dict[tuple[str, str], list[Any]]] = field(default_factory=lambda: defaultdict(dict))
    """(publication, window) -> (key text, label) -> [mentions, articles, (window, text)]."""

    @classmethod
    def of(cls, flushes: list[PartitionFlush]) -> "Reference":
        reference = cls()
        for written in flushes:
            for pub in written.publications.values():
                for start, window in pub.windows.items():
                    reference.articles[pub.name, start] += window.articles
                    for key, tally in window.entities.items():
                        row = reference.entities[pub.name, start].setdefault(key, [0, 0, (start, tally.text)])
                        row[0] += tally.mentions
                        row[1] += tally.articles
                        row[2] = max(row[2], (start, tally.text))
        return reference

    def windows_in(self, name: str, low: int | None, high: int | None) -> list[int]:
        return [
            start
            for (pub, start) in self.articles
            if pub == name and (low is None or start + HOUR > low) and (high is None or start < high)
        ]

    def range(self, name: str, low: int | None, high: int | None) -> tuple[int, list[tuple[str, str, int, int]]]:
        """Articles, and (text, label, mentions, articles) in the sinks' order, of the windows in the range."""
        total: dict[tuple[str, str], list[Any]] = {}
        articles = 0
        for start in self.windows_in(name, low, high):
            articles += self.articles[name, start]
            for key, (mentions, count, spelled) in self.entities[name, start].items():
                row = total.setdefault(key, [0, 0, spelled])
                row[0] += mentions
                row[1] += count
                row[2] = max(row[2], spelled)
        rows = [(spelled[1], key[1], mentions, count) for key, (mentions, count, spelled) in total.items()]
        return articles, sorted(rows, key=lambda row: (-row[2], row[0], row[1]))

    def entity(self, name: str, key: tuple[str, str], low: int | None, high: int | None) -> tuple[int, int, int]:
        """(mentions, articles mentioning it, all articles) of one entity in one publication over the range."""
        mentions = mentioned = articles = 0
        for start in self.windows_in(name, low, high):
            articles += self.articles[name, start]
            row = self.entities[name, start].get(key)
            if row is not None:
                mentions += row[0]
                mentioned += row[1]
        return mentions, mentioned, articles


def counted(answer: Any) -> list[tuple[str, str, int, int]]:
    return [(e.text, e.label, e.mentions, e.articles) for e in answer.entities]


FLUSHES = random_flushes()
REFERENCE = Reference.of(FLUSHES)


@pytest.fixture
def trends(sink: Store) -> Store:
    write_all(sink, FLUSHES)
    return sink


RANGES = [
    (at(2023, 1, 1), at(2024, 1, 1)),  # a year
    (at(2022, 12, 31, 22, 30), at(2024, 1, 1, 1, 10)),  # over two year boundaries, unaligned
    (at(2023, 2, 1), at(2023, 3, 1)),  # a month
    (at(2023, 1, 31), at(2023, 2, 2)),  # two days over a month boundary
    (at(2023, 6, 15, 10, 15), at(2023, 6, 15, 10, 45)),  # inside one window
    (at(2023, 2, 1, 7), at(2023, 2, 13)),  # a window, then days
    (None, at(2023, 6, 15, 10, 20)),
    (at(2023, 3, 1), None),
    (None, None),
    (at(2019, 1, 1), at(2020, 1, 1)),  # nothing there
    (at(2022, 1, 1), at(2026, 1, 1)),  # more than everything: all time
]


@pytest.mark.parametrize(("low", "high"), RANGES)
def test_a_range_is_answered_exactly_for_the_windows_it_covers(
    trends: Store, low: int | None, high: int | None
) -> None:
    for name in PUBLICATIONS:
        answer = trends.reader.entities(
            name, start=None if low is None else moment(low), end=None if high is None else moment(high), limit=0
        )
        assert answer is not None
        widened_low = None if low is None else low - low % HOUR
        widened_high = None if high is None else high + (-high) % HOUR
        assert (answer.start, answer.end) == (
            None if widened_low is None else moment(widened_low),
            None if widened_high is None else moment(widened_high),
        )
        articles, rows = REFERENCE.range(name, widened_low, widened_high)
        assert (answer.articles, counted(answer)) == (articles, rows), (name, low, high)


@pytest.mark.parametrize(("low", "high"), RANGES)
def test_a_limited_or_labelled_answer_is_the_head_of_the_whole_one(
    trends: Store, low: int | None, high: int | None
) -> None:
    """The first ``limit`` entities (of one label), ties in mentions ordered by text then label; the same for
    one bucket (a year, a month, all time, inside a window) as for a cover of several."""
    for name in PUBLICATIONS:
        widened_low = None if low is None else low - low % HOUR
        widened_high = None if high is None else high + (-high) % HOUR
        articles, rows = REFERENCE.range(name, widened_low, widened_high)
        for label in (None, "GPE", "PERSON"):
            for limit in (1, 2, 20):
                answer = trends.reader.entities(
                    name,
                    start=None if low is None else moment(low),
                    end=None if high is None else moment(high),
                    label=label,
                    limit=limit,
                )
                wanted = [row for row in rows if label is None or row[1] == label][:limit]
                assert answer is not None and (answer.articles, counted(answer)) == (articles, wanted), (name, label)


BOUNDS = [
    at(2022, 12, 31, 23),
    at(2023, 1, 1, 1),
    at(2023, 2, 1, 7),
    at(2023, 2, 6, 13),
    at(2023, 6, 15, 11),
    at(2023, 12, 31, 23),
    at(2024, 1, 1, 1),
    at(2024, 2, 29, 12),
]
"""Window bounds between and beside the windows with counts: ranges of them cut partial days, months and years."""

SUBTRACTED = [(low, high) for low in BOUNDS for high in BOUNDS if low < high]


def test_a_range_read_as_larger_buckets_less_their_margins_is_the_exact_answer(sink: Store) -> None:
    """Top entities answered as all time or a year less what is outside the range (what Firestore does where
    that reads less; SQLite turned to do it too): the counts, and the spelling shown even where a margin after
    the range hides it (the latest spelling in the buckets is one of the margin's), ties at the limit too."""
    write_all(sink, FLUSHES)
    assert isinstance(sink.reader, RollupReader)
    sink.reader.subtracts_margins = True
    subtracted = hidden = 0
    for low, high in SUBTRACTED:
        for name in PUBLICATIONS:
            windows = REFERENCE.windows_in(name, None, None)
            first, stop = min(windows), max(windows) + HOUR
            begin, finish = max(low, first), min(high, stop)
            if begin >= finish or (begin, finish) == (first, stop):
                continue
            if cheapest_cover(begin, finish, first, stop, HOUR).less:
                subtracted += 1
            articles, rows = REFERENCE.range(name, low, high)
            everywhere = {(text.casefold(), label): text for text, label, _, _ in REFERENCE.range(name, None, None)[1]}
            hidden += any(everywhere[text.casefold(), label] != text for text, label, _, _ in rows[:3])
            for label in (None, "GPE"):
                for limit in (1, 3):
                    answer = sink.reader.entities(name, start=moment(low), end=moment(high), label=label, limit=limit)
                    wanted = [row for row in rows if label is None or row[1] == label][:limit]
                    assert answer is not None and (answer.articles, counted(answer)) == (articles, wanted), (
                        name,
                        moment(low),
                        moment(high),
                        label,
                        limit,
                    )
    assert subtracted >= 20 and hidden >= 5, (subtracted, hidden)  # the data exercises both


def test_rollups_equal_the_sum_of_their_windows(trends: Store) -> None:
    """Every day, month and year with counts, and all time, answer what their windows hold."""
    for name in PUBLICATIONS:
        windows = trends.windows(name, limit=0)
        assert windows is not None
        assert [int(w.start.timestamp()) for w in windows] == sorted(REFERENCE.windows_in(name, None, None))
        for window in windows:
            articles, rows = REFERENCE.range(name, int(window.start.timestamp()), int(window.end.timestamp()))
            assert (window.articles, counted(window)) == (articles, rows)
        for start in REFERENCE.windows_in(name, None, None):
            day = start - start % DAY
            when = moment(start)
            month = at(when.year, when.month, 1)
            year = at(when.year, 1, 1)
            for low, high in ((day, day + DAY), (month, step_points(month, month + 1, Step.MONTH)[0][1])):
                answer = trends.reader.entities(name, start=moment(low), end=moment(high), limit=0)
                assert answer is not None and (answer.articles, counted(answer)) == REFERENCE.range(name, low, high)
            following = at(when.year + 1, 1, 1)
            answer = trends.reader.entities(name, start=moment(year), end=moment(following), limit=0)
            assert answer is not None and (answer.articles, counted(answer)) == REFERENCE.range(name, year, following)


SERIES = [
    (Step.MONTH, at(2022, 12, 1), at(2024, 3, 1)),
    (Step.YEAR, None, None),
    (Step.WEEK, at(2023, 1, 28), at(2023, 2, 20)),
    (Step.DAY, at(2023, 1, 30, 5), at(2023, 2, 2, 1)),
    (Step.HOUR, at(2023, 12, 31, 22), at(2024, 1, 1, 3)),
    (Step.HOUR, at(2023, 2, 1), at(2023, 3, 1)),  # 672 windows of one month container: several reads of it
    (Step.MONTH, None, at(2023, 7, 1)),
]


@pytest.mark.parametrize(("step", "low", "high"), SERIES)
@pytest.mark.parametrize(("text", "label"), [("Angela Merkel", "PERSON"), ("ZÜRICH", "GPE"), ("Nobody", "PERSON")])
def test_a_series_has_a_point_per_step_and_sums_to_the_range(
    trends: Store, step: Step, low: int | None, high: int | None, text: str, label: str
) -> None:
    key = (text.casefold(), label)
    for name in PUBLICATIONS:
        series = trends.reader.series(
            name,
            text,
            label,
            step=step,
            start=None if low is None else moment(low),
            end=None if high is None else moment(high),
        )
        assert series is not None and (series.text, series.label, series.step) == (text, label, step)
        first = min(REFERENCE.windows_in(name, None, None))
        last = max(REFERENCE.windows_in(name, None, None)) + HOUR
        points = step_points(first if low is None else low, last if high is None else high, step)
        assert [(p.start, p.end) for p in series.points] == [(moment(a), moment(b)) for a, b in points]
        assert (series.start, series.end) == (moment(points[0][0]), moment(points[-1][1]))
        for point, (point_start, point_end) in zip(series.points, points, strict=True):
            mentions, mentioned, articles = REFERENCE.entity(name, key, point_start, point_end)
            assert (point.mentions, point.entity_articles, point.articles) == (mentions, mentioned, articles)
        # the series sums to the range's answer for the entity
        whole = trends.reader.entities(name, start=series.start, end=series.end, limit=0)
        assert whole is not None and whole.articles == sum(p.articles for p in series.points)
        row = [e for e in whole.entities if (e.text.casefold(), e.label) == key]
        assert (sum(p.mentions for p in series.points), sum(p.entity_articles for p in series.points)) == (
            (row[0].mentions, row[0].articles) if row else (0, 0)
        )


def test_a_series_refuses_what_it_cannot_answer(trends: Store) -> None:
    assert trends.reader.series("Nobody Daily", "Fed", "ORG", step=Step.DAY) is None
    with pytest.raises(InvalidRead, match="more than 10,000 points") as refused:
        trends.reader.series("Daily One", "Fed", "ORG", step=Step.HOUR, start=moment(at(2000, 1, 1)))
    assert refused.value.field == "step"


@pytest.mark.parametrize(("low", "high"), [*RANGES[:6], (None, None), (at(2023, 3, 1), None)])
@pytest.mark.parametrize(("text", "label"), [("Angela Merkel", "PERSON"), ("fed", "ORG"), ("Georgia", "PERSON")])
def test_the_publications_mentioning_an_entity(
    trends: Store, low: int | None, high: int | None, text: str, label: str
) -> None:
    answer = trends.reader.entity_publications(
        text, label, start=None if low is None else moment(low), end=None if high is None else moment(high), limit=0
    )
    widened_low = None if low is None else low - low % DAY
    widened_high = None if high is None else high + (-high) % DAY
    assert (answer.start, answer.end) == (
        None if widened_low is None else moment(widened_low),
        None if widened_high is None else moment(widened_high),
    )
    expected = []
    for name in PUBLICATIONS:
        mentions, mentioned, articles = REFERENCE.entity(name, (text.casefold(), label), widened_low, widened_high)
        if mentioned:
            expected.append((name, mentions, mentioned, articles))
    expected.sort(key=lambda row: (-row[1], row[0]))
    assert [(p.publication, p.mentions, p.articles, p.publication_articles) for p in answer.publications] == expected
    # the same counts as each publication's own answer for the same (whole-day) range
    for found in answer.publications:
        own = trends.reader.entities(found.publication, start=answer.start, end=answer.end, limit=0)
        assert own is not None and own.articles == found.publication_articles
        assert [
            (e.mentions, e.articles) for e in own.entities if (e.text.casefold(), e.label) == (text.casefold(), label)
        ] == [(found.mentions, found.articles)]
    limited = trends.reader.entity_publications(text, label, limit=1)
    assert len(limited.publications) == min(
        1, len(trends.reader.entity_publications(text, label, limit=0).publications)
    )


def test_search_is_a_prefix_ignoring_case_and_accents_with_all_time_counts(trends: Store) -> None:
    def totals(key: tuple[str, str]) -> tuple[int, int]:
        rows = [REFERENCE.entity(name, key, None, None) for name in PUBLICATIONS]
        return sum(row[0] for row in rows), sum(row[1] for row in rows)

    def found(prefix: str, label: str | None = None) -> list[tuple[str, str, int, int]]:
        return [(m.text, m.label, m.mentions, m.articles) for m in trends.reader.search(prefix, label=label, limit=10)]

    zurich_umlaut, zurich = totals(("zürich", "GPE")), totals(("zurich", "GPE"))
    answer = found("zur")
    assert {(row[0].casefold(), row[1]) for row in answer} == {("zürich", "GPE"), ("zurich", "GPE")}
    assert {(row[0].casefold(), row[2], row[3]) for row in answer} == {("zürich", *zurich_umlaut), ("zurich", *zurich)}
    assert [row[2] for row in answer] == sorted((row[2] for row in answer), reverse=True)
    assert found("ZÜR") == answer == found("  zUr ")
    assert [row[0] for row in found("ber")] == sorted(
        ["Berlin", "Bern"], key=lambda t: -totals((t.casefold(), "GPE"))[0]
    )
    assert {row[1] for row in found("georgia")} == {"GPE", "PERSON"}
    assert [row[1] for row in found("georgia", label="PERSON")] == ["PERSON"]
    assert [row[0].casefold() for row in found("emile")] == ["émile zola"]
    assert found("xyz") == []
    assert len(trends.reader.search("", limit=3)) == 3


def test_publications_are_paged_most_articles_first(trends: Store) -> None:
    everything = trends.reader.publications().publications
    totals: dict[str, int] = defaultdict(int)
    for (name, _), articles in REFERENCE.articles.items():
        totals[name] += articles
    assert [(p.publication, p.articles) for p in everything] == sorted(totals.items(), key=lambda p: (-p[1], p[0]))
    first = min(REFERENCE.windows_in("Daily One", None, None))
    daily = next(p for p in everything if p.publication == "Daily One")
    assert daily.start == moment(first) and daily.end == moment(
        max(REFERENCE.windows_in("Daily One", None, None)) + HOUR
    )
    pages, cursor = [], None
    while True:
        page = trends.reader.publications(limit=1, cursor=cursor)
        pages.extend(page.publications)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [p.publication for p in pages] == [p.publication for p in everything]
    assert trends.reader.publications(limit=len(everything)).next_cursor is None
    with pytest.raises(InvalidRead, match="not a cursor this service issued"):
        trends.reader.publications(limit=1, cursor="bm90IGEgY3Vyc29y")


def test_counts_namespaces_keep_their_counts_apart(sink_spec: SinkSpec) -> None:
    blue = open_store(sink_spec)
    green = open_store(sink_spec, kafka_group_id="newscounts-green", counts_namespace="green")
    intruder = open_store(sink_spec, kafka_group_id="someone-else", counts_namespace=GROUP)  # on the first one
    try:
        write_all(blue, FLUSHES[:5])
        green_flushes = [replace(f, group_id="newscounts-green") for f in FLUSHES]
        write_all(green, green_flushes)
        # each namespace answers its own counts only
        assert sum(p.articles for p in blue.publications()) == sum(REFERENCE.of(FLUSHES[:5]).articles.values())
        assert sum(p.articles for p in green.publications()) == sum(REFERENCE.articles.values())
        assert blue.read_offset(GROUP, TOPIC, 0).next_offset == 5
        assert blue.read_offset(GROUP, TOPIC, 1).next_offset is None
        assert green.read_offset("newscounts-green", TOPIC, 1).next_offset == 5
        with pytest.raises(NamespaceTaken, match="belongs to consumer group 'contract', not 'someone-else'"):
            intruder.read_offset("someone-else", TOPIC, 0)
        with pytest.raises(NamespaceTaken):
            late = replace(flush(0, 99, delta("Daily One", {WINDOWS[0]: (1, [])})), group_id="someone-else")
            intruder.write(late, blue.read_offset(GROUP, TOPIC, 0))
        daily = open_store(sink_spec, window="1d")  # the owner's group, another window
        with pytest.raises(NamespaceTaken, match="counts windows of 3600s, not 86400s"):
            daily.read_offset(GROUP, TOPIC, 0)
        daily.close()
        assert blue.read_offset(GROUP, TOPIC, 0).next_offset == 5
    finally:
        for store in (blue, green, intruder):
            store.close()


def test_reads_never_see_half_a_commit(sink_spec: SinkSpec) -> None:
    """While flushes land, every answer's article count agrees with the entity sums beside it: each article
    here mentions "Always" once, so its articles equal the range's articles in every answer."""
    writer = open_store(sink_spec)

    def write() -> None:
        lease = writer.read_offset(GROUP, TOPIC, 0)
        for number in range(1, 16):
            windows = {start: (2, [("Always", "ORG", 2, 2)]) for start in WINDOWS[number % 5 :: 5]}
            lease = writer.write(flush(0, number, delta("Steady", windows)), lease)

    def read() -> None:
        for start, end in ((None, None), (moment(at(2023, 1, 1)), moment(at(2024, 1, 1)))):
            answer = writer.reader.entities("Steady", start=start, end=end)
            if answer is not None and answer.entities:
                assert answer.entities[0].articles == answer.articles, answer
        series = writer.reader.series("Steady", "Always", "ORG", step=Step.YEAR)
        if series is not None:
            assert all(p.entity_articles == p.articles for p in series.points), series
        found = writer.reader.entity_publications("Always", "ORG")
        assert all(p.articles == p.publication_articles for p in found.publications), found

    try:
        assert read_while_writing(write, read, readers=3) == []
    finally:
        writer.close()


def answers(store: Store) -> list[Any]:
    """Every kind of answer over the reference data, as JSON (what the read API sends), but the update times."""
    found: list[Any] = [
        store.reader.publications().model_dump(mode="json", exclude={"publications": {"__all__": {"updated_at"}}})
    ]
    for name in PUBLICATIONS:
        for low, high in RANGES:
            start, end = (None if low is None else moment(low)), (None if high is None else moment(high))
            for label in (None, "GPE"):
                answer = store.reader.entities(name, start=start, end=end, label=label, limit=3)
                found.append(None if answer is None else answer.model_dump(mode="json"))
        found.append([w.model_dump(mode="json") for w in store.reader.windows(name, limit=2) or []])
        for step, low, high in SERIES:
            series = store.reader.series(
                name,
                "Fed",
                "ORG",
                step=step,
                start=None if low is None else moment(low),
                end=None if high is None else moment(high),
            )
            found.append(None if series is None else series.model_dump(mode="json"))
    for texts, label in VOCABULARY:
        found.append(store.reader.entity_publications(texts[0], label, limit=0).model_dump(mode="json"))
    for prefix in ("z", "ber", "georg", "a", "é"):
        found.append([m.model_dump(mode="json") for m in store.reader.search(prefix, limit=20)])
    return found


@pytest.mark.usefixtures("firestore_emulator")
def test_both_sinks_give_the_same_answers(tmp_path: Any) -> None:
    import uuid

    from devservices.firestore import clear_emulator

    project = f"sink-both-{uuid.uuid4().hex[:10]}"
    sqlite, firestore = open_store(("sqlite", str(tmp_path / "both.sqlite3"))), open_store(("firestore", project))
    try:
        write_all(sqlite, FLUSHES)
        write_all(firestore, FLUSHES)
        assert answers(sqlite) == answers(firestore)
        assert publication_key("Daily One") in {publication_key(p.publication) for p in sqlite.publications()}
    finally:
        sqlite.close()
        firestore.close()
        import os

        clear_emulator(os.environ["FIRESTORE_EMULATOR_HOST"], project)


@pytest.mark.usefixtures("small_count_documents")
@pytest.mark.parametrize("sink_spec", ["firestore"], indirect=True)
def test_the_firestore_limits_are_kept_and_the_answers_stay_exact(sink_spec: SinkSpec, tmp_path: Any) -> None:
    """With documents that take 10 transforms per commit and 40 fields per partition, the same flushes spread
    over many count documents, none over its limits, and every answer is what SQLite answers."""
    import common.sinks.count_documents as limits

    firestore, sqlite = open_store(sink_spec), open_store(("sqlite", str(tmp_path / "same.sqlite3")))
    try:
        write_all(firestore, FLUSHES)
        write_all(sqlite, FLUSHES)
        stored = stored_count_documents(sink_spec[1])
        assert len(stored) > 100  # many generations
        assert max(stored_fields(document) for document in stored) <= limits.DOCUMENT_FIELDS
        quotas = [slot for document in stored for slot in document.get("q", {}).values()]
        assert max(slot["f"] for slot in quotas) <= limits.quota_fields()
        assert max(slot["b"] for slot in quotas) <= limits.quota_bytes()
        assert answers(firestore) == answers(sqlite)
    finally:
        firestore.close()
        sqlite.close()
