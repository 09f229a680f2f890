"""The aliased view's contract, on both sinks: flushes made by the consumer's own pending counts from articles
(so they carry both views, the aliased one as its changes to the raw counts), written with the sinks, and
every aliased answer (ranges, windows, series, the publications of an entity, search) checked against the
articles' aliased views summed here by brute force: exact mentions, articles and merged raw rows.
"""

import random
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from common.sinks.base import EntityCountingKey, OffsetLease, PartitionFlush, SinkFenced, View, ViewUnavailable
from common.sinks.buckets import Step, epoch_of, step_points
from consumer.aliases import alias_article, shipped_alias_table
from consumer.entities import article_entities
from consumer.pending import PendingPartition
from tests.sinks.support import (
    GROUP,
    HOUR,
    TOPIC,
    SinkSpec,
    Store,
    forget_the_aliased_view,
    open_store,
    read_while_writing,
)

pytestmark = pytest.mark.integration

DAY = 86_400


def at(year: int, month: int, day: int, hour: int = 0) -> int:
    return epoch_of(datetime(year, month, day, hour, tzinfo=UTC))


def moment(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


PUBLICATIONS = ["Daily One", "Zeitung Zwei", "Trois Éditions"]
SNIPPETS = [
    [("Donald Trump", "PERSON"), ("Trump", "ORG"), ("Trump", "PERSON"), ("Trump", "PERSON")],
    [("Trump", "ORG"), ("TRUMP", "ORG")],  # no full name: stays ORG
    [("Donald Trump", "PERSON"), ("Ivanka Trump", "PERSON"), ("Trump", "PERSON")],  # two fit: stays
    [("US", "GPE"), ("U.S.", "GPE")],
    [("United States", "GPE"), ("U.S.", "GPE")],
    [("UNITED STATES", "GPE"), ("Washington", "GPE")],  # the table's spelling, nothing merged
    [("EU", "ORG"), ("European Union", "ORG"), ("E.U.", "GPE")],
    [("Angela Merkel", "PERSON"), ("Merkel", "ORG"), ("MERKEL", "PERSON"), ("Merkel", "PERSON")],
    [("Merkel", "PERSON")],
    [("Berlin", "GPE"), ("Fed", "ORG"), ("the Fed", "ORG")],
]
WINDOWS = [at(*when) for when in ((2022, 12, 31, 23), (2023, 1, 1), (2023, 1, 31, 23), (2023, 2, 1), (2023, 2, 6, 12))]
WINDOWS += [at(2023, 6, 15, 10), at(2024, 1, 1, 1)]


@dataclass(frozen=True)
class Article:
    publication: str
    window: int
    entities: list[tuple[str, str]]


def random_articles(seed: int = 18, count: int = 90) -> list[Article]:
    rng = random.Random(seed)
    return [
        Article(
            rng.choice(PUBLICATIONS),
            rng.choice(WINDOWS),
            [entity for snippet in rng.sample(SNIPPETS, rng.randint(1, 3)) for entity in snippet],
        )
        for _ in range(count)
    ]


def flushes_of(articles: list[Article], partitions: int = 3, seed: int = 5) -> list[PartitionFlush]:
    """The articles dealt round-robin over ``partitions``, each partition flushing every 1 to 4 articles."""
    rng = random.Random(seed)
    flushes: list[PartitionFlush] = []
    for partition in range(partitions):
        pending = PendingPartition(None)
        for offset, article in enumerate(articles[partition::partitions]):
            pending.add_article(offset, article.publication, article.window, article_entities(article.entities, set()))
            if rng.random() < 0.4:
                flushes.append(pending.to_flush(GROUP, TOPIC, partition, HOUR))
                pending = PendingPartition(offset + 1)
        if pending.processed:
            flushes.append(pending.to_flush(GROUP, TOPIC, partition, HOUR))
    return flushes


def write_all(store: Store, flushes: list[PartitionFlush]) -> None:
    leases: dict[int, OffsetLease] = {}
    for written in flushes:
        lease = leases.get(written.partition) or store.read_offset(GROUP, TOPIC, written.partition)
        leases[written.partition] = store.write(written, lease)


Row = tuple[str, str, int, int, list[tuple[str, str, int]]]
"""(text, label, mentions, articles, merged as (text, label, mentions)), as an answer lists an entity."""


@dataclass
class Reference:
    """Each (publication, window)'s counts in both views, summed article by article: the aliased view of each
    article made by consumer.aliases directly. The displayed spellings follow the stores' rule (the latest
    spelling the aliasing gave in the flushes, else the latest raw one), computed from the flushes."""

    articles: Counter[tuple[str, int]] = field(default_factory=Counter)
    raw: dict[tuple[str, int], dict[EntityCountingKey, list[int]]] = field(default_factory=lambda: defaultdict(dict))
    aliased: dict[tuple[str, int], dict[EntityCountingKey, list[int]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    merged: dict[tuple[str, int], dict[EntityCountingKey, Counter[tuple[EntityCountingKey, str]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Counter))
    )
    """(publication, window) -> aliased key -> (raw key of another key, spelling) -> mentions."""
    raw_spelling: dict[tuple[str, int, EntityCountingKey], str] = field(default_factory=dict)
    aliased_spelling: dict[tuple[str, int, EntityCountingKey], str] = field(default_factory=dict)

    @classmethod
    def of(cls, articles: list[Article], flushes: list[PartitionFlush]) -> "Reference":
        found = cls()
        table = shipped_alias_table()
        for article in articles:
            where = (article.publication, article.window)
            found.articles[where] += 1
            raw = article_entities(article.entities, set())
            aliased = alias_article(raw, table)
            for key, entity in raw.items():
                row = found.raw[where].setdefault(key, [0, 0])
                row[0], row[1] = row[0] + entity.mentions, row[1] + 1
            for key, entity in aliased.entities.items():
                row = found.aliased[where].setdefault(key, [0, 0])
                row[0], row[1] = row[0] + entity.mentions, row[1] + 1
                for source in aliased.sources[key]:
                    if source != key:
                        for spelling, mentions in raw[source].surfaces.items():
                            found.merged[where][key][source, spelling] += mentions
        for written in flushes:
            for delta in written.publications.values():
                for start, window in delta.windows.items():
                    for key, tally in window.entities.items():
                        spelled = found.raw_spelling.get((delta.name, start, key), "")
                        found.raw_spelling[delta.name, start, key] = max(spelled, tally.text)
                    for key, change in window.aliased.items():
                        spelled = found.aliased_spelling.get((delta.name, start, key), "")
                        found.aliased_spelling[delta.name, start, key] = max(spelled, change.text)
        return found

    def windows_in(self, name: str, low: int | None, high: int | None) -> list[int]:
        return sorted(
            start
            for pub, start in self.articles
            if pub == name and (low is None or start + HOUR > low) and (high is None or start < high)
        )

    def _spelling(self, name: str, starts: list[int], key: EntityCountingKey, view: View) -> str:
        def latest(spellings: dict[tuple[str, int, EntityCountingKey], str]) -> str | None:
            found = [(start, spellings[name, start, key]) for start in starts if spellings.get((name, start, key))]
            return max(found)[1] if found else None

        aliased = latest(self.aliased_spelling) if view is View.ALIASED else None
        return aliased or latest(self.raw_spelling) or ""

    def rows(self, name: str, starts: list[int], view: View) -> list[Row]:
        """The entities of the windows ``starts``, in the answers' order."""
        counts = self.aliased if view is View.ALIASED else self.raw
        totals: dict[EntityCountingKey, list[int]] = {}
        sources: dict[EntityCountingKey, Counter[tuple[EntityCountingKey, str]]] = defaultdict(Counter)
        for start in starts:
            for key, (mentions, articles) in counts[name, start].items():
                total = totals.setdefault(key, [0, 0])
                total[0], total[1] = total[0] + mentions, total[1] + articles
            if view is View.ALIASED:
                for key, merged in self.merged[name, start].items():
                    sources[key].update(merged)
        rows = []
        for key, (mentions, articles) in totals.items():
            text = self._spelling(name, starts, key, view)
            rows.append((text, key[1], mentions, articles, merged_forms(text, key, mentions, sources.get(key))))
        return sorted(rows, key=lambda row: (-row[2], row[0], row[1]))

    def range(self, name: str, low: int | None, high: int | None, view: View) -> tuple[int, list[Row]]:
        starts = self.windows_in(name, low, high)
        return sum(self.articles[name, start] for start in starts), self.rows(name, starts, view)


def merged_forms(
    text: str, key: EntityCountingKey, mentions: int, sources: Counter[tuple[EntityCountingKey, str]] | None
) -> list[tuple[str, str, int]]:
    """An aliased row's merged raw rows: the other keys' (each in its most mentioned spelling) and its own."""
    if not sources:
        return []
    per_key: dict[EntityCountingKey, Counter[str]] = defaultdict(Counter)
    for (source, spelling), count in sources.items():
        per_key[source][spelling] += count
    forms = [
        (min(spellings, key=lambda s: (-spellings[s], s)), source[1], sum(spellings.values()))
        for source, spellings in per_key.items()
    ]
    own = mentions - sum(form[2] for form in forms)
    if own:
        forms.append((text, key[1], own))
    return sorted(forms, key=lambda form: (-form[2], form[0], form[1]))


def answered(entities: list[Any]) -> list[Row]:
    return [
        (e.text, e.label, e.mentions, e.articles, [(m.text, m.label, m.mentions) for m in e.merged or []])
        for e in entities
    ]


ARTICLES = random_articles()
FLUSHES = flushes_of(ARTICLES)
REFERENCE = Reference.of(ARTICLES, FLUSHES)
RANGES = [
    (None, None),
    (at(2023, 1, 1), at(2024, 1, 1)),
    (at(2022, 12, 31, 22), at(2023, 2, 1, 1)),
    (at(2023, 2, 1), at(2023, 3, 1)),
    (at(2023, 6, 15, 10), at(2023, 6, 15, 11)),
    (None, at(2023, 2, 1)),
    (at(2023, 2, 6), None),
]


@pytest.fixture
def aliased(sink: Store) -> Store:
    write_all(sink, FLUSHES)
    return sink


def test_the_articles_exercise_every_rule() -> None:
    """The data holds merges of each kind, removals (raw rows counted elsewhere) and spellings only the
    aliasing gives; otherwise the assertions below would prove little."""
    changes = [
        change
        for f in FLUSHES
        for d in f.publications.values()
        for w in d.windows.values()
        for change in w.aliased.values()
    ]
    assert {source for change in changes for source in change.sources} >= {
        ("ORG", "Trump"),
        ("PERSON", "Trump"),
        ("GPE", "US"),
        ("GPE", "U.S."),
        ("ORG", "EU"),
        ("GPE", "E.U."),
        ("ORG", "Merkel"),
        ("PERSON", "MERKEL"),
    }
    assert any(change.articles < 0 and not change.text for change in changes)
    assert any(change.text == "United States" and not change.mentions for change in changes)


@pytest.mark.parametrize(("low", "high"), RANGES)
def test_a_range_in_the_aliased_view_is_the_sum_of_the_articles_aliased_views(
    aliased: Store, low: int | None, high: int | None
) -> None:
    for name in PUBLICATIONS:
        for view in View:
            answer = aliased.reader.entities(name, start=moment(low), end=moment(high), limit=0, view=view)
            assert answer is not None
            assert (answer.articles, answered(answer.entities)) == REFERENCE.range(name, low, high, view), (name, view)
            if view is View.RAW:
                assert all(entity.merged is None for entity in answer.entities)


def test_the_aliased_view_has_the_raw_views_mentions_in_fewer_rows(aliased: Store) -> None:
    merges: set[tuple[str, str, str]] = set()
    for name in PUBLICATIONS:
        raw, merged = (aliased.reader.entities(name, limit=0, view=view) for view in View)
        assert raw is not None and merged is not None
        assert sum(e.mentions for e in merged.entities) == sum(e.mentions for e in raw.entities)
        assert len(merged.entities) < len(raw.entities)
        for entity in merged.entities:
            assert entity.merged is not None
            assert sum(form.mentions for form in entity.merged) == (entity.mentions if entity.merged else 0)
            merges.update((entity.text, form.text, form.label) for form in entity.merged)
    assert merges >= {
        ("Donald Trump", "Trump", "ORG"),
        ("United States", "US", "GPE"),
        ("Angela Merkel", "Merkel", "ORG"),
    }


def test_each_window_in_both_views(aliased: Store) -> None:
    for name in PUBLICATIONS:
        for view in View:
            windows = aliased.reader.windows(name, limit=0, view=view)
            assert windows is not None
            assert [int(w.start.timestamp()) for w in windows] == REFERENCE.windows_in(name, None, None)
            for window in windows:
                start = int(window.start.timestamp())
                assert (window.articles, answered(window.entities)) == (
                    REFERENCE.articles[name, start],
                    REFERENCE.rows(name, [start], view),
                ), (name, view, start)


SERIES = [
    (Step.MONTH, at(2022, 12, 1), at(2024, 2, 1)),
    (Step.DAY, at(2023, 1, 30), at(2023, 2, 3)),
    (Step.YEAR, None, None),
]


@pytest.mark.parametrize(("step", "low", "high"), SERIES)
@pytest.mark.parametrize(
    ("text", "label"), [("Donald Trump", "PERSON"), ("trump", "ORG"), ("United States", "GPE"), ("US", "GPE")]
)
def test_a_series_sums_to_the_range_in_both_views(
    aliased: Store, step: Step, low: int | None, high: int | None, text: str, label: str
) -> None:
    for name in PUBLICATIONS:
        for view in View:
            series = aliased.reader.series(name, text, label, step=step, start=moment(low), end=moment(high), view=view)
            assert series is not None
            first, last = REFERENCE.windows_in(name, None, None)[0], REFERENCE.windows_in(name, None, None)[-1] + HOUR
            points = step_points(first if low is None else low, last if high is None else high, step)
            assert [(p.start, p.end) for p in series.points] == [(moment(a), moment(b)) for a, b in points]
            for point, (point_start, point_end) in zip(series.points, points, strict=True):
                _, rows = REFERENCE.range(name, point_start, point_end, view)
                row = [r for r in rows if (r[0].casefold(), r[1]) == (text.casefold(), label)]
                assert (point.mentions, point.entity_articles) == ((row[0][2], row[0][3]) if row else (0, 0))
            whole = aliased.reader.entities(name, start=series.start, end=series.end, limit=0, view=view)
            assert whole is not None and whole.articles == sum(p.articles for p in series.points)
            row = [r for r in answered(whole.entities) if (r[0].casefold(), r[1]) == (text.casefold(), label)]
            assert (sum(p.mentions for p in series.points), sum(p.entity_articles for p in series.points)) == (
                (row[0][2], row[0][3]) if row else (0, 0)
            )
            expected_merged = None if view is View.RAW else (row[0][4] if row else [])
            assert (None if series.merged is None else [(m.text, m.label, m.mentions) for m in series.merged]) == (
                expected_merged
            )


@pytest.mark.parametrize(("low", "high"), [(None, None), (at(2023, 1, 1), at(2023, 2, 2))])
@pytest.mark.parametrize(
    ("text", "label"), [("Donald Trump", "PERSON"), ("Trump", "ORG"), ("Trump", "PERSON"), ("United States", "GPE")]
)
def test_the_publications_of_an_aliased_entity(
    aliased: Store, low: int | None, high: int | None, text: str, label: str
) -> None:
    for view in View:
        answer = aliased.reader.entity_publications(
            text, label, start=moment(low), end=moment(high), limit=0, view=view
        )
        expected = []
        for name in PUBLICATIONS:
            articles, rows = REFERENCE.range(name, low, high, view)
            row = [r for r in rows if (r[0].casefold(), r[1]) == (text.casefold(), label)]
            if row:
                expected.append((name, row[0][2], row[0][3], articles))
        expected.sort(key=lambda found: (-found[1], found[0]))
        assert [(p.publication, p.mentions, p.articles, p.publication_articles) for p in answer.publications] == (
            expected
        ), view


def test_search_in_the_aliased_view(aliased: Store) -> None:
    def everywhere(view: View) -> list[Row]:
        totals: dict[tuple[str, str], list[Any]] = {}
        for name in PUBLICATIONS:
            for text, label, mentions, articles, _ in REFERENCE.range(name, None, None, view)[1]:
                total = totals.setdefault((text.casefold(), label), [0, 0])
                total[0], total[1] = total[0] + mentions, total[1] + articles
        return [(key[0], key[1], m, a, []) for key, (m, a) in totals.items()]

    def found(prefix: str, view: View) -> list[tuple[str, str, int, int]]:
        return [
            (m.text.casefold(), m.label, m.mentions, m.articles)
            for m in aliased.reader.search(prefix, limit=50, view=view)
        ]

    for view in View:
        for prefix in ("tr", "u", "don", "e", "mer", "zz"):
            expected = sorted(
                (row[0], row[1], row[2], row[3]) for row in everywhere(view) if row[0].startswith(prefix.casefold())
            )
            assert sorted(found(prefix, view)) == expected, (view, prefix)
    # ``merged`` all time, every publication: the United States row holds US and U.S. of every publication
    united = aliased.reader.search("united", label="GPE", view=View.ALIASED)
    assert [(m.text, m.label) for m in united] == [("United States", "GPE")]
    merged = {(form.text, form.label): form.mentions for form in united[0].merged or []}
    sources: Counter[str] = Counter()
    for name in PUBLICATIONS:
        for text, label, _, _, forms in REFERENCE.range(name, None, None, View.ALIASED)[1]:
            if (text, label) == ("United States", "GPE"):
                sources.update({form[0]: form[2] for form in forms})
    assert merged == {(text, "GPE"): mentions for text, mentions in sources.items()}
    assert aliased.reader.search("trump", view=View.RAW)[0].merged is None


def test_one_flush_writes_both_views_and_a_fenced_one_neither(sink: Store) -> None:
    def both() -> list[list[Row]]:
        answers = [sink.reader.entities("Daily One", limit=0, view=view) for view in View]
        return [answered(answer.entities) if answer else [] for answer in answers]

    article = Article("Daily One", WINDOWS[0], SNIPPETS[0] + SNIPPETS[3])
    written = flushes_of([article], partitions=1)
    lease = sink.write(written[0], sink.read_offset(GROUP, TOPIC, 0))
    assert both() == [Reference.of([article], written).rows("Daily One", [WINDOWS[0]], view) for view in View]
    sink.write(written[0], lease)  # another owner of partition 0 counted it again
    doubled = [Reference.of([article] * 2, written * 2).rows("Daily One", [WINDOWS[0]], view) for view in View]
    assert both() == doubled
    with pytest.raises(SinkFenced):  # the first owner, a zombie now
        sink.write(flushes_of([article] * 3, partitions=1)[0], lease)
    assert both() == doubled


def test_reads_never_see_one_view_without_the_other(sink_spec: SinkSpec) -> None:
    """While flushes land, every aliased answer has each article's Trump under Donald Trump (a write whose raw
    counts landed without their aliased changes would show a Trump/ORG row), and each raw answer both rows."""
    writer = open_store(sink_spec)
    entities = [("Donald Trump", "PERSON"), ("Trump", "ORG")]

    def write() -> None:
        lease = writer.read_offset(GROUP, TOPIC, 0)
        for number in range(12):
            articles = [Article("Steady", WINDOWS[(number + i) % len(WINDOWS)], entities) for i in range(3)]
            lease = writer.write(flushes_of(articles, partitions=1, seed=number)[0], lease)

    def read() -> None:
        answer = writer.reader.entities("Steady", view=View.ALIASED)
        if answer is not None:
            n = answer.articles
            assert answered(answer.entities) == [
                ("Donald Trump", "PERSON", 2 * n, n, [("Donald Trump", "PERSON", n), ("Trump", "ORG", n)])
            ], answer
        raw = writer.reader.entities("Steady")
        if raw is not None:
            assert {(e.mentions, e.articles) for e in raw.entities} == {(raw.articles, raw.articles)}, raw
        found = writer.reader.entity_publications("Trump", "ORG", view=View.ALIASED)
        assert found.publications == [], found

    try:
        assert read_while_writing(write, read, readers=2) == []
    finally:
        writer.close()


def test_a_namespace_counted_before_the_aliased_view_says_to_recount(sink_spec: SinkSpec) -> None:
    store = open_store(sink_spec)
    try:
        write_all(store, FLUSHES[:3])
        record = store.reader.namespace()
        assert record is not None and record.views == set(View)
        forget_the_aliased_view(sink_spec, GROUP)
    finally:
        store.close()
    store = open_store(sink_spec)  # a reader opened afresh (the first one knows the namespace held both views)
    try:
        record = store.reader.namespace()
        assert record is not None and (record.name, record.group, record.views) == (GROUP, GROUP, frozenset({View.RAW}))
        for read in (
            lambda: store.reader.publications(view=View.ALIASED),
            lambda: store.reader.entities("Daily One", view=View.ALIASED),
            lambda: store.reader.windows("Daily One", view=View.ALIASED),
            lambda: store.reader.series("Daily One", "Fed", "ORG", step=Step.DAY, view=View.ALIASED),
            lambda: store.reader.entity_publications("Fed", "ORG", view=View.ALIASED),
            lambda: store.reader.search("f", view=View.ALIASED),
        ):
            with pytest.raises(ViewUnavailable, match=r"holds no aliased view .*`python -m consumer.recount"):
                read()
        raw = store.reader.entities("Daily One", limit=0)
        assert raw is not None and raw.entities
    finally:
        store.close()


def test_before_anything_is_counted_both_views_are_empty(sink: Store) -> None:
    assert sink.reader.namespace() is None
    assert sink.reader.entities("Daily One", view=View.ALIASED) is None
    assert sink.reader.search("t", view=View.ALIASED) == []


@pytest.mark.parametrize("sink_spec", ["sqlite"], indirect=True)
def test_a_sqlite_file_of_the_layout_before_is_upgraded_in_place(sink_spec: SinkSpec) -> None:
    """A file of layout 3 (no aliased tables, no ``views``) opens: its counts stay, its namespaces hold the raw
    view only, and a new namespace in it holds both."""
    store = open_store(sink_spec)
    write_all(store, FLUSHES)
    expected = store.reader.entities("Daily One", limit=0)
    store.close()
    with sqlite3.connect(sink_spec[1]) as connection:
        for table in ("aliased_changes", "aliased_sources", "aliased_dictionary", "aliased_dictionary_sources"):
            connection.execute(f"DROP TABLE {table}")
        connection.execute("ALTER TABLE namespaces DROP COLUMN views")
        connection.execute("PRAGMA user_version = 3")
    store = open_store(sink_spec)
    green = open_store(sink_spec, kafka_group_id="green", counts_namespace="green")
    try:
        assert store.reader.entities("Daily One", limit=0) == expected
        with pytest.raises(ViewUnavailable):
            store.reader.entities("Daily One", view=View.ALIASED)
        green_flushes = [replace(f, group_id="green") for f in FLUSHES]
        leases: dict[int, OffsetLease] = {}
        for written in green_flushes:
            lease = leases.get(written.partition) or green.read_offset("green", TOPIC, written.partition)
            leases[written.partition] = green.write(written, lease)
        answer = green.reader.entities("Daily One", limit=0, view=View.ALIASED)
        assert answer is not None
        assert (answer.articles, answered(answer.entities)) == REFERENCE.range("Daily One", None, None, View.ALIASED)
    finally:
        store.close()
        green.close()
    with sqlite3.connect(sink_spec[1]) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (4,)


def aliased_answers(store: Store) -> list[Any]:
    found: list[Any] = []
    for name in PUBLICATIONS:
        for low, high in RANGES:
            answer = store.reader.entities(name, start=moment(low), end=moment(high), limit=0, view=View.ALIASED)
            found.append(None if answer is None else answer.model_dump(mode="json"))
        found.append([w.model_dump(mode="json") for w in store.reader.windows(name, limit=0, view=View.ALIASED) or []])
        series = store.reader.series(name, "Donald Trump", "PERSON", step=Step.MONTH, view=View.ALIASED)
        found.append(None if series is None else series.model_dump(mode="json"))
    for text, label in (("Donald Trump", "PERSON"), ("Trump", "ORG"), ("United States", "GPE")):
        found.append(store.reader.entity_publications(text, label, limit=0, view=View.ALIASED).model_dump(mode="json"))
    for prefix in ("t", "u", "d", "e", "m", "b"):
        found.append([m.model_dump(mode="json") for m in store.reader.search(prefix, limit=50, view=View.ALIASED)])
    return found


@pytest.mark.usefixtures("small_count_documents")
@pytest.mark.parametrize("sink_spec", ["firestore"], indirect=True)
def test_the_aliased_view_over_many_count_documents_is_what_sqlite_answers(sink_spec: SinkSpec, tmp_path: Any) -> None:
    """With documents that take 10 transforms per commit and 40 fields per partition, the aliased changes
    spread over many generations with the raw counts, and every aliased answer is what SQLite answers."""
    firestore, sqlite = open_store(sink_spec), open_store(("sqlite", str(tmp_path / "same.sqlite3")))
    try:
        write_all(firestore, FLUSHES)
        write_all(sqlite, FLUSHES)
        assert aliased_answers(firestore) == aliased_answers(sqlite)
    finally:
        firestore.close()
        sqlite.close()
