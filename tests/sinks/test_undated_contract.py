"""Articles without ``published_at`` (counted at their Kafka record time), counted apart on both sinks: per
publication all time, per range of ``entities`` and per point of a series, with exact values."""

from datetime import UTC, datetime

import pytest

from common.sinks.base import PartitionFlush, PublicationDelta
from common.sinks.buckets import Step, epoch_of
from tests.sinks.support import TOPIC, Entities, SinkSpec, Store, delta, flush, stored_count_documents

pytestmark = pytest.mark.integration

UNDATED, DATED = "Undated Daily", "Dated Only"
MERKEL = ("Angela Merkel", "PERSON")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


A, B, C, D = (
    epoch_of(at(*moment)) for moment in ((2023, 12, 31, 23), (2024, 1, 1, 0), (2024, 1, 15, 10), (2024, 2, 1))
)
"""Hourly windows: the last of 2023, the first of 2024, one in mid-January (a Monday), the first of February."""


def with_undated(name: str, windows: dict[int, tuple[int, int, Entities]]) -> tuple[str, PublicationDelta]:
    """A publication's increments: window start -> (articles, of them undated, entities)."""
    key, counts = delta(name, {start: (articles, entities) for start, (articles, _, entities) in windows.items()})
    for start, (_, undated, _) in windows.items():
        counts.windows[start].undated_articles = undated
    return key, counts


FLUSHES = [
    flush(
        0,
        1,
        with_undated(UNDATED, {A: (3, 2, [(*MERKEL, 2, 1)]), B: (2, 0, [])}),
        with_undated(DATED, {A: (2, 0, [(*MERKEL, 1, 1)])}),
    ),
    flush(1, 1, with_undated(UNDATED, {A: (1, 1, [(*MERKEL, 1, 1)]), C: (4, 3, [(*MERKEL, 4, 2)])})),
    flush(0, 2, with_undated(UNDATED, {D: (5, 5, [])})),
]


def write(store: Store, flushes: list[PartitionFlush]) -> None:
    for written in flushes:
        store.write(written, store.read_offset(written.group_id, TOPIC, written.partition))


@pytest.fixture
def counted(sink: Store) -> Store:
    write(sink, FLUSHES)
    return sink


def test_publications_carry_their_undated_articles(counted: Store) -> None:
    assert [(p.publication, p.articles, p.undated_articles) for p in counted.publications()] == [
        (UNDATED, 15, 11),
        (DATED, 2, 0),
    ]


@pytest.mark.parametrize(
    ("start", "end", "articles", "undated"),
    [
        (None, None, 15, 11),  # all time
        (at(2024, 1, 1), at(2024, 2, 1), 6, 3),  # a month: B and C
        (at(2023, 12, 31, 22, 30), at(2024, 1, 1, 0, 30), 6, 3),  # widened to A and B, over a year boundary
        (at(2023, 1, 1), at(2024, 1, 1), 4, 3),  # a year: A
        (at(2024, 1, 15, 10, 20), at(2024, 1, 15, 10, 40), 4, 3),  # inside C
        (None, at(2024, 1, 15), 6, 3),
        (at(2024, 1, 1), None, 11, 8),
        (at(2024, 2, 2), None, 0, 0),
    ],
)
def test_a_range_answers_its_undated_articles(
    counted: Store, start: datetime | None, end: datetime | None, articles: int, undated: int
) -> None:
    answer = counted.reader.entities(UNDATED, start=start, end=end, limit=0)
    assert answer is not None and (answer.articles, answer.undated_articles) == (articles, undated)
    dated = counted.reader.entities(DATED, start=start, end=end)
    assert dated is not None and dated.undated_articles == 0


@pytest.mark.parametrize(
    ("step", "start", "end", "points"),
    [
        # (start, articles, undated articles, mentions, entity articles) per point
        (
            Step.MONTH,
            at(2023, 12, 1),
            at(2024, 3, 1),
            [(at(2023, 12, 1), 4, 3, 3, 2), (at(2024, 1, 1), 6, 3, 4, 2), (at(2024, 2, 1), 5, 5, 0, 0)],
        ),
        (Step.YEAR, None, None, [(at(2023, 1, 1), 4, 3, 3, 2), (at(2024, 1, 1), 11, 8, 4, 2)]),
        (
            Step.HOUR,
            at(2023, 12, 31, 22),
            at(2024, 1, 1, 2),
            [
                (at(2023, 12, 31, 22), 0, 0, 0, 0),
                (at(2023, 12, 31, 23), 4, 3, 3, 2),
                (at(2024, 1, 1, 0), 2, 0, 0, 0),
                (at(2024, 1, 1, 1), 0, 0, 0, 0),
            ],
        ),
        (Step.WEEK, at(2024, 1, 8), at(2024, 1, 22), [(at(2024, 1, 8), 0, 0, 0, 0), (at(2024, 1, 15), 4, 3, 4, 2)]),
        (Step.DAY, at(2024, 1, 31), at(2024, 2, 2), [(at(2024, 1, 31), 0, 0, 0, 0), (at(2024, 2, 1), 5, 5, 0, 0)]),
    ],
)
def test_series_points_carry_their_undated_articles(
    counted: Store,
    step: Step,
    start: datetime | None,
    end: datetime | None,
    points: list[tuple[datetime, int, int, int, int]],
) -> None:
    series = counted.reader.series(UNDATED, *MERKEL, step=step, start=start, end=end)
    assert series is not None
    assert [(p.start, p.articles, p.undated_articles, p.mentions, p.entity_articles) for p in series.points] == points
    dated = counted.reader.series(DATED, *MERKEL, step=step, start=start, end=end)
    assert dated is not None and {p.undated_articles for p in dated.points} == {0}


@pytest.mark.parametrize("sink_spec", ["firestore"], indirect=True)
def test_dated_articles_write_no_undated_fields_in_firestore(sink_spec: SinkSpec, sink: Store) -> None:
    """The undated counts are written only where there are some: a flush of dated articles writes what it wrote
    before (no ``u`` map, no header ``undated``), so its cost is unchanged."""
    write(sink, [flush(0, 1, with_undated(DATED, {A: (2, 0, [(*MERKEL, 1, 1)]), D: (1, 0, [])}))])
    documents = stored_count_documents(sink_spec[1])
    assert documents and not any("u" in document or "undated" in document for document in documents)
    write(sink, [flush(1, 1, with_undated(DATED, {B: (3, 1, [])}))])
    documents = stored_count_documents(sink_spec[1])
    stored = [document["u"] for document in documents if "u" in document]
    assert sorted(stored, key=sorted) == [{"all": 1}, {"w1704067200": 1, "d20240101": 1}, {"m202401": 1, "y2024": 1}]
    assert [document["undated"] for document in documents if "undated" in document] == [1]
