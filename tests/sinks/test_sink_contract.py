"""The sink contract, run against both sinks: the real SQLite file and the real Firestore emulator.

Every test writes flushes the way the consumer group does and reads them back through the read side,
asserting exact values: counts, order, fencing (a refused write leaves nothing behind), range overlap,
hostile names, and exact sums when several processes write the same documents at once.
"""

import multiprocessing
import socket
import sqlite3
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from common.sinks.base import (
    OffsetLease,
    PublicationEntities,
    SinkError,
    SinkFenced,
    SinkFlushTooLarge,
    SinkUnavailable,
)
from common.sinks.tallies import documents_written, forget_documents_model
from tests.sinks.support import (
    GROUP,
    HOUR,
    TOPIC,
    Entities,
    SinkSpec,
    Store,
    at,
    delta,
    flush,
    open_store,
    stored_count_documents,
    stored_fields,
)

pytestmark = pytest.mark.integration

BASE = 1_699_999_200  # 2023-11-14T22:00:00Z, a multiple of an hour


def open_spec(spec: SinkSpec) -> Store:
    return open_store(spec)


def counts(result: PublicationEntities | None) -> list[tuple[str, str, int, int]]:
    assert result is not None
    return [(e.text, e.label, e.mentions, e.articles) for e in result.entities]


def state(sink: Store, names: list[str], partitions: range) -> Any:
    """Everything the read side can see, to compare before and after a refused write."""
    return (
        sink.publications(),
        [sink.entities(name, limit=0) for name in names],
        [sink.windows(name, limit=0) for name in names],
        [sink.read_offset(GROUP, TOPIC, partition) for partition in partitions],
    )


REUTERS = delta(
    "Reuters",
    {
        BASE: (3, [("Donald Trump", "PERSON", 5, 3), ("Fed", "ORG", 2, 1)]),
        BASE + HOUR: (2, [("donald trump", "PERSON", 1, 1), ("Berlin", "GPE", 4, 2)]),
    },
)
CNN = delta("CNN (Web News)", {BASE + HOUR: (1, [("Fed", "ORG", 7, 1)])})


def test_round_trip_is_exact(sink: Store) -> None:
    lease = sink.read_offset(GROUP, TOPIC, 3)
    assert lease == OffsetLease(None, None)

    written = sink.write(flush(3, 42, REUTERS, CNN), lease)

    assert written.next_offset == 42
    assert sink.read_offset(GROUP, TOPIC, 3) == written
    assert [(p.publication, p.articles) for p in sink.publications()] == [("Reuters", 5), ("CNN (Web News)", 1)]
    assert all(p.updated_at is not None for p in sink.publications())
    reuters = sink.entities("Reuters")
    assert reuters is not None and reuters.publication == "Reuters" and reuters.articles == 5
    # All time sums the windows; the text is the latest window's surface form.
    assert counts(reuters) == [("donald trump", "PERSON", 6, 4), ("Berlin", "GPE", 4, 2), ("Fed", "ORG", 2, 1)]
    assert counts(sink.entities("CNN (Web News)")) == [("Fed", "ORG", 7, 1)]
    windows = sink.windows("Reuters")
    assert windows is not None
    assert [(w.start, w.end, w.articles) for w in windows] == [
        (at(BASE), at(BASE + HOUR), 3),
        (at(BASE + HOUR), at(BASE + 2 * HOUR), 2),
    ]
    assert [[(e.text, e.mentions, e.articles) for e in w.entities] for w in windows] == [
        [("Donald Trump", 5, 3), ("Fed", 2, 1)],
        [("Berlin", 4, 2), ("donald trump", 1, 1)],
    ]


def test_flushes_add_up_across_partitions_and_offsets_advance(sink: Store) -> None:
    first = sink.write(flush(0, 10, REUTERS), sink.read_offset(GROUP, TOPIC, 0))
    sink.write(flush(1, 7, REUTERS, CNN), sink.read_offset(GROUP, TOPIC, 1))
    second = sink.write(flush(0, 25, CNN), first)

    assert second.next_offset == 25 and second.version != first.version
    assert sink.read_offset(GROUP, TOPIC, 0) == second
    assert sink.read_offset(GROUP, TOPIC, 1).next_offset == 7
    assert [(p.publication, p.articles) for p in sink.publications()] == [("Reuters", 10), ("CNN (Web News)", 2)]
    assert counts(sink.entities("Reuters", limit=0)) == [
        ("donald trump", "PERSON", 12, 8),
        ("Berlin", "GPE", 8, 4),
        ("Fed", "ORG", 4, 2),
    ]
    assert counts(sink.entities("CNN (Web News)")) == [("Fed", "ORG", 14, 2)]
    windows = sink.windows("Reuters", limit=1)
    assert windows is not None
    assert [(w.articles, [(e.text, e.mentions)]) for w in windows for e in w.entities] == [
        (6, [("Donald Trump", 10)]),
        (4, [("Berlin", 8)]),
    ]


def test_recent_article_ids_are_stored_with_the_offset(sink: Store) -> None:
    first = sink.write(replace(flush(3, 10, REUTERS), recent_ids=("a1", "b2")), sink.read_offset(GROUP, TOPIC, 3))
    assert sink.read_offset(GROUP, TOPIC, 3) == first == OffsetLease(10, first.version, ("a1", "b2"))
    second = sink.write(replace(flush(3, 12), recent_ids=("b2", "c3")), first)
    assert sink.read_offset(GROUP, TOPIC, 3) == OffsetLease(12, second.version, ("b2", "c3"))
    assert sink.read_offset(GROUP, TOPIC, 4) == OffsetLease(None, None, ())


def test_offset_only_flush(sink: Store) -> None:
    lease = sink.write(flush(5, 3), sink.read_offset(GROUP, TOPIC, 5))

    assert sink.read_offset(GROUP, TOPIC, 5) == lease == OffsetLease(3, lease.version)
    assert sink.publications() == []


def test_stale_lease_is_fenced_and_writes_nothing(sink: Store) -> None:
    stale = sink.write(flush(2, 10, REUTERS), sink.read_offset(GROUP, TOPIC, 2))
    sink.write(flush(2, 20, CNN), stale)  # another worker took the partition over and wrote
    before = state(sink, ["Reuters", "CNN (Web News)"], range(3))

    with pytest.raises(SinkFenced):
        sink.write(flush(2, 30, REUTERS, CNN), stale)

    assert state(sink, ["Reuters", "CNN (Web News)"], range(3)) == before
    assert sink.read_offset(GROUP, TOPIC, 2).next_offset == 20


def test_two_first_writers_one_is_fenced(sink: Store, sink_spec: SinkSpec) -> None:
    other = open_spec(sink_spec)
    try:
        mine, theirs = sink.read_offset(GROUP, TOPIC, 4), other.read_offset(GROUP, TOPIC, 4)
        assert mine == theirs == OffsetLease(None, None)
        won = other.write(flush(4, 8, CNN), theirs)
        before = state(sink, ["Reuters", "CNN (Web News)"], range(5))

        with pytest.raises(SinkFenced):
            sink.write(flush(4, 9, REUTERS, CNN), mine)

        assert state(sink, ["Reuters", "CNN (Web News)"], range(5)) == before
        assert sink.read_offset(GROUP, TOPIC, 4) == won
    finally:
        other.close()


def test_a_lease_from_another_partition_is_fenced(sink: Store) -> None:
    sink.write(flush(0, 1, CNN), sink.read_offset(GROUP, TOPIC, 0))
    elsewhere = sink.write(flush(1, 1, CNN), sink.read_offset(GROUP, TOPIC, 1))

    with pytest.raises(SinkFenced):
        sink.write(flush(0, 2, CNN), elsewhere)
    assert counts(sink.entities("CNN (Web News)")) == [("Fed", "ORG", 14, 2)]


RANGE = delta(
    "Range Times",
    {
        BASE: (1, [("Alpha", "ORG", 1, 1), ("Beta", "PERSON", 3, 1)]),
        BASE + HOUR: (2, [("alpha", "ORG", 4, 2), ("Gamma", "GPE", 2, 1)]),
        BASE + 2 * HOUR: (4, [("ALPHA", "ORG", 1, 1), ("Beta", "PERSON", 1, 1)]),
    },
)


@pytest.mark.parametrize(
    ("start", "end", "articles", "expected"),
    [
        # Exactly the middle window: the first ends at start, the last starts at end (half-open).
        (BASE + HOUR, BASE + 2 * HOUR, 2, [("alpha", "ORG", 4, 2), ("Gamma", "GPE", 2, 1)]),
        # One second earlier reaches into the first window; one second later into the last.
        (
            BASE + HOUR - 1,
            BASE + 2 * HOUR,
            3,
            [("alpha", "ORG", 5, 3), ("Beta", "PERSON", 3, 1), ("Gamma", "GPE", 2, 1)],
        ),
        (
            BASE + HOUR,
            BASE + 2 * HOUR + 1,
            6,
            [("ALPHA", "ORG", 5, 3), ("Gamma", "GPE", 2, 1), ("Beta", "PERSON", 1, 1)],
        ),
        # Inside one window.
        (BASE + 10, BASE + 20, 1, [("Beta", "PERSON", 3, 1), ("Alpha", "ORG", 1, 1)]),
        # Unbounded on one side.
        (None, BASE + HOUR, 1, [("Beta", "PERSON", 3, 1), ("Alpha", "ORG", 1, 1)]),
        (BASE + 2 * HOUR, None, 4, [("ALPHA", "ORG", 1, 1), ("Beta", "PERSON", 1, 1)]),
        # Nothing there.
        (BASE + 3 * HOUR, BASE + 9 * HOUR, 0, []),
        (BASE - 9 * HOUR, BASE, 0, []),
    ],
)
def test_range_merges_the_overlapping_windows(
    sink: Store, start: int | None, end: int | None, articles: int, expected: list[tuple[str, str, int, int]]
) -> None:
    sink.write(flush(0, 1, RANGE), OffsetLease(None, None))

    result = sink.entities(
        "Range Times", start=None if start is None else at(start), end=None if end is None else at(end), limit=0
    )

    assert result is not None and result.articles == articles
    assert counts(result) == expected
    windows = sink.windows(
        "Range Times", start=None if start is None else at(start), end=None if end is None else at(end)
    )
    assert windows is not None and sum(w.articles for w in windows) == articles


def test_range_with_label_and_limit(sink: Store) -> None:
    sink.write(flush(0, 1, RANGE), OffsetLease(None, None))
    start, end = at(BASE), at(BASE + 3 * HOUR)

    assert counts(sink.entities("Range Times", start=start, end=end, label="PERSON")) == [("Beta", "PERSON", 4, 2)]
    assert counts(sink.entities("Range Times", start=start, end=end, limit=1)) == [("ALPHA", "ORG", 6, 4)]
    assert counts(sink.entities("Range Times", start=start, end=end, label="NORP")) == []
    naive = sink.entities("Range Times", start=datetime(2023, 11, 14, 23, 0), end=datetime(2023, 11, 15, 0, 0))
    assert counts(naive) == [("alpha", "ORG", 4, 2), ("Gamma", "GPE", 2, 1)]


# Ties on mentions break by text in code point order (as Python compares strings), then by label.
TIES = delta(
    "Ties Daily",
    {
        BASE: (
            9,
            [
                ("😀 smile", "ORG", 2, 1),
                ("\ue000 private", "ORG", 2, 1),
                ("Émile", "PERSON", 2, 2),
                ("zeta", "ORG", 2, 1),
                ("Zürich", "GPE", 2, 2),
                ("Zurich", "GPE", 2, 1),
                ("Georgia", "PERSON", 2, 1),
                ("Georgia", "GPE", 2, 1),
                ("Top", "ORG", 9, 9),
                ("Low", "ORG", 1, 1),
            ],
        )
    },
)
TIES_ORDER = [
    ("Top", "ORG", 9, 9),
    ("Georgia", "GPE", 2, 1),
    ("Georgia", "PERSON", 2, 1),
    ("Zurich", "GPE", 2, 1),
    ("Zürich", "GPE", 2, 2),
    ("zeta", "ORG", 2, 1),
    ("Émile", "PERSON", 2, 2),
    ("\ue000 private", "ORG", 2, 1),
    ("😀 smile", "ORG", 2, 1),
    ("Low", "ORG", 1, 1),
]


@pytest.mark.parametrize("limit", [0, 1, 2, 3, 5, 8, 9, 10, 50])
def test_all_time_order_and_limit_break_ties_by_text(sink: Store, limit: int) -> None:
    sink.write(flush(0, 1, TIES), OffsetLease(None, None))

    expected = TIES_ORDER if limit == 0 else TIES_ORDER[:limit]
    assert counts(sink.entities("Ties Daily", limit=limit)) == expected
    ranged = sink.entities("Ties Daily", start=at(BASE), end=at(BASE + HOUR), limit=limit)
    assert counts(ranged) == expected
    windows = sink.windows("Ties Daily", limit=limit)
    assert windows is not None
    assert [(e.text, e.label, e.mentions, e.articles) for e in windows[0].entities] == expected


def test_label_filter_all_time(sink: Store) -> None:
    sink.write(flush(0, 1, TIES), OffsetLease(None, None))

    assert counts(sink.entities("Ties Daily", label="GPE", limit=2)) == [
        ("Georgia", "GPE", 2, 1),
        ("Zurich", "GPE", 2, 1),
    ]
    assert counts(sink.entities("Ties Daily", label="ORG", limit=0)) == [row for row in TIES_ORDER if row[1] == "ORG"]
    result = sink.entities("Ties Daily", label="LAW")
    assert result is not None and result.articles == 9 and result.entities == []


def test_unknown_publication_is_none(sink: Store) -> None:
    sink.write(flush(0, 1, REUTERS), OffsetLease(None, None))

    assert sink.entities("Reuters UK") is None
    assert sink.entities("Reuters UK", start=at(BASE)) is None
    assert sink.windows("Reuters UK") is None
    assert sink.windows("reuters") is None


def test_publication_name_is_normalized_on_read(sink: Store) -> None:
    sink.write(flush(0, 1, CNN), OffsetLease(None, None))

    result = sink.entities("  CNN \n (Web   News) ")
    assert result is not None and result.publication == "CNN (Web News)"
    assert counts(result) == [("Fed", "ORG", 7, 1)]
    assert sink.windows("CNN  (Web News)") is not None


def test_publications_most_articles_first_then_name(sink: Store) -> None:
    sink.write(
        flush(
            0,
            1,
            delta("b", {BASE: (2, [])}),
            delta("a", {BASE: (2, [])}),
            delta("Z", {BASE: (2, [])}),
            delta("c", {BASE: (5, [])}),
            delta("d", {BASE: (1, [])}),
        ),
        OffsetLease(None, None),
    )

    assert [(p.publication, p.articles) for p in sink.publications()] == [
        ("c", 5),
        ("Z", 2),
        ("a", 2),
        ("b", 2),
        ("d", 1),
    ]


HOSTILE_NAMES = [
    "a/b",
    "a/b/",
    "/",
    ".",
    "..",
    "a.b",
    "__x__",
    "__name__",
    'Quote "q" and \'s',
    "Robert'); DROP TABLE publications;--",
    "1 OR 1=1",
    "%s %d {0} $1 ?",
    "日本経済新聞",
    "Ünïcödé 🚀 News",
    "x" * 200,
    "é" * 200,
]


def test_hostile_names_round_trip_and_stay_isolated(sink: Store) -> None:
    deltas = [
        delta(name, {BASE: (index + 1, [(name, "ORG", index + 1, 1), ("Same Entity", "PERSON", 1, 1)])})
        for index, name in enumerate(HOSTILE_NAMES)
    ]
    sink.write(flush(0, 1, *deltas), OffsetLease(None, None))

    expected = sorted(((name, index + 1) for index, name in enumerate(HOSTILE_NAMES)), key=lambda p: (-p[1], p[0]))
    assert [(p.publication, p.articles) for p in sink.publications()] == expected
    for index, name in enumerate(HOSTILE_NAMES):
        result = sink.entities(name, limit=0)
        assert result is not None and result.publication == name and result.articles == index + 1
        assert {(e.text, e.mentions) for e in result.entities} == {(name, index + 1), ("Same Entity", 1)}
        assert counts(sink.entities(name, start=at(BASE), label="ORG")) == [(name, "ORG", index + 1, 1)]
        windows = sink.windows(name)
        assert windows is not None and [w.articles for w in windows] == [index + 1]
    assert sink.entities("a") is None and sink.entities("a/b/c") is None


def _write_increments(spec: SinkSpec, partition: int, flushes: int, start: Any) -> None:
    """One writer process: ``flushes`` flushes of its own partition, all to the same documents.

    Retries SinkUnavailable with the same lease, as the consumer does; if a retried write had in fact
    been applied, the retry is fenced and the stored offset shows it.
    """
    sink = open_spec(spec)
    lease = sink.read_offset(GROUP, TOPIC, partition)
    start.wait()
    for number in range(1, flushes + 1):
        windows: dict[int, tuple[int, Entities]] = {BASE: (1, [("Alpha", "ORG", 2, 1), ("Beta", "PERSON", 1, 1)])}
        if number % 2:
            windows[BASE + HOUR] = (1, [("Alpha", "ORG", 1, 1)])
        shared = delta("Shared Post", windows)
        while True:
            try:
                lease = sink.write(flush(partition, number, shared), lease)
                break
            except SinkUnavailable:
                continue
            except SinkFenced:
                lease = sink.read_offset(GROUP, TOPIC, partition)
                assert lease.next_offset == number
                break
    sink.close()


@pytest.mark.slow
def test_concurrent_processes_sum_exactly(sink: Store, sink_spec: SinkSpec) -> None:
    processes, flushes = 3, 12
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=_write_increments, args=(sink_spec, partition, flushes, start))
        for partition in range(processes)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=300)
    assert [worker.exitcode for worker in workers] == [0] * processes

    # Every flush adds one article to window BASE; odd-numbered flushes one more to window BASE + HOUR.
    writes, odd = processes * flushes, processes * ((flushes + 1) // 2)
    assert [(p.publication, p.articles) for p in sink.publications()] == [("Shared Post", writes + odd)]
    assert counts(sink.entities("Shared Post")) == [
        ("Alpha", "ORG", 2 * writes + odd, writes + odd),
        ("Beta", "PERSON", writes, writes),
    ]
    windows = sink.windows("Shared Post", limit=0)
    assert windows is not None
    assert [(w.articles, [(e.text, e.mentions, e.articles) for e in w.entities]) for w in windows] == [
        (writes, [("Alpha", 2 * writes, writes), ("Beta", writes, writes)]),
        (odd, [("Alpha", odd, odd)]),
    ]
    assert [sink.read_offset(GROUP, TOPIC, p).next_offset for p in range(processes)] == [flushes] * processes


def test_documents_written_counts_every_count_document() -> None:
    # offset + per publication its month, year and all-time documents + the index's month, year, all time
    # and dictionary (Reuters' two windows share their day, month and year; CNN's one window too)
    assert documents_written(flush(0, 1, REUTERS, CNN)) == 1 + 3 + 3 + 4
    assert documents_written(flush(1, 1)) == 1
    # 241 entities in one window take more than one document per family: 500 transforms per document and
    # commit (3 per entity: mentions, articles, spelling), and a partition's quota of each document
    wide = delta("Wide", {BASE: (1, [(f"Entity {n}", "ORG", 1, 1) for n in range(241)])})
    assert documents_written(flush(2, 1, wide)) == 1 + (3 + 2 + 3) + (2 + 2 + 2 + 2)
    # a window without entities still has its article counts (and no dictionary entry)
    assert documents_written(flush(3, 1, delta("Quiet", {BASE: (2, [])}))) == 1 + 3 + 3


def test_documents_written_models_the_writer_of_each_partition() -> None:
    """The count follows what the partition's writer knows after the flushes before: the same counts again
    go to the same documents; once its quota of the first generation is used, the next one opens."""
    assert documents_written(flush(0, 1, REUTERS)) == documents_written(flush(0, 2, REUTERS)) == 1 + 3 + 4
    counts = [
        documents_written(flush(5, n, delta("Wide", {BASE: (1, entity_rows(40 * n, 40 * n + 40))}))) for n in range(12)
    ]
    # 40 new entities a flush: a family whose generation fills mid-commit writes two documents; every fourth
    # or sixth flush several roll over at once
    assert counts == [8, 8, 10, 8, 8, 15, 9, 9, 11, 9, 9, 16]
    forget_documents_model()
    assert documents_written(flush(5, 1, delta("Wide", {BASE: (1, entity_rows(0, 40))}))) == counts[0]


def test_a_window_without_entities_counts_its_articles(sink: Store) -> None:
    lease = sink.write(flush(0, 1, delta("Quiet", {BASE: (2, [])})), sink.read_offset(GROUP, TOPIC, 0))
    sink.write(flush(0, 2, delta("Quiet", {BASE: (1, [("Fed", "ORG", 1, 1)])})), lease)

    windows = sink.windows("Quiet")
    assert windows is not None
    assert [(w.start, w.articles, [(e.text, e.mentions) for e in w.entities]) for w in windows] == [
        (at(BASE), 3, [("Fed", 1)])
    ]
    quiet = sink.entities("Quiet")
    assert quiet is not None and quiet.articles == 3 and counts(quiet) == [("Fed", "ORG", 1, 1)]


def entity_rows(start: int, stop: int, mentions: int = 1) -> Entities:
    return [(f"Entity {n:04d}", "ORG", mentions, 1) for n in range(start, stop)]


@pytest.mark.usefixtures("small_count_documents")
def test_counts_spread_over_many_count_documents_add_up_exactly(sink: Store, sink_spec: SinkSpec) -> None:
    """Many entities per scope, over several flushes, two owners and a fenced zombie: the counts stay exact
    and (Firestore) no count document takes more than it may."""
    first = sink.write(flush(0, 1, delta("Wide", {BASE: (2, entity_rows(0, 20))})), sink.read_offset(GROUP, TOPIC, 0))
    first = sink.write(flush(0, 2, delta("Wide", {BASE: (1, entity_rows(10, 30))})), first)
    # A new owner (another instance: it knows the documents only from the store) takes the partition over.
    successor = open_spec(sink_spec)
    try:
        taken = successor.write(
            flush(0, 3, delta("Wide", {BASE: (1, entity_rows(25, 40, 2)), BASE + HOUR: (1, entity_rows(0, 5))})),
            successor.read_offset(GROUP, TOPIC, 0),
        )
        with pytest.raises(SinkFenced):  # the old owner, a zombie now, writes nothing
            sink.write(flush(0, 4, delta("Wide", {BASE: (1, entity_rows(0, 40))})), first)
        successor.write(flush(0, 4, delta("Wide", {BASE: (1, entity_rows(35, 45))})), taken)
        # the old owner gets the partition back
        sink.write(flush(0, 5, delta("Wide", {BASE: (1, entity_rows(0, 3))})), sink.read_offset(GROUP, TOPIC, 0))
    finally:
        successor.close()

    expected = {f"Entity {n:04d}": 0 for n in range(45)}
    for start, stop, mentions in [(0, 20, 1), (10, 30, 1), (25, 40, 2), (0, 5, 1), (35, 45, 1), (0, 3, 1)]:
        for n in range(start, stop):
            expected[f"Entity {n:04d}"] += mentions
    found = sink.entities("Wide", limit=0)
    assert found is not None and found.articles == 7
    assert {entity.text: entity.mentions for entity in found.entities} == expected
    windows = sink.windows("Wide", limit=2)
    assert windows is not None
    assert [(w.articles, [(e.text, e.mentions) for e in w.entities]) for w in windows] == [
        (6, [("Entity 0025", 3), ("Entity 0026", 3)]),
        (1, [("Entity 0000", 1), ("Entity 0001", 1)]),
    ]
    if sink_spec[0] == "firestore":
        import common.sinks.count_documents as limits

        stored = stored_count_documents(sink_spec[1])
        assert max(stored_fields(document) for document in stored) <= limits.DOCUMENT_FIELDS
        assert max(slot["f"] for document in stored for slot in document["q"].values()) <= limits.quota_fields()
        assert max(slot["b"] for document in stored for slot in document["q"].values()) <= limits.quota_bytes()
        assert sum(1 for document in stored if document["cont"] == "m202311") >= 45 * 5 * 2 // 40


@pytest.mark.parametrize("sink_spec", ["firestore"], indirect=True)
def test_one_write_stores_the_documents_it_counts(sink: Store, sink_spec: SinkSpec) -> None:
    """``documents_written`` is what Firestore stores on a first write, more than one document per family
    when the entities pass what one document takes in a commit."""
    wide = delta("Wide", {BASE: (4, entity_rows(0, 500)), BASE + HOUR: (1, entity_rows(0, 2))})
    written = flush(0, 1, wide, CNN)
    sink.write(written, sink.read_offset(GROUP, TOPIC, 0))

    from google.cloud import firestore

    client = firestore.Client(project=sink_spec[1])
    try:
        stored = sum(1 for _ in client.collection_group("offsets").stream())
    finally:
        client.close()
    stored += len(stored_count_documents(sink_spec[1]))
    assert stored == documents_written(written) == sink.writer.written == 1 + (7 + 4 + 7) + 3 + (3 + 3 + 3 + 4)
    found = sink.entities("Wide", limit=0)
    assert found is not None and len(found.entities) == 500 and found.articles == 5
    assert {(e.mentions, e.articles) for e in found.entities} == {(1, 1)} | {(2, 2)}


@pytest.mark.parametrize("sink_spec", ["sqlite"], indirect=True)
def test_the_sqlite_writer_reports_the_rows_it_wrote(sink: Store) -> None:
    """The offset, per publication its row, its buckets (window, day, month, year, all time) and their
    entity rows, and a dictionary row per entity: what the flush log line calls documents on SQLite."""
    sink.write(flush(0, 1, REUTERS, CNN), sink.read_offset(GROUP, TOPIC, 0))
    # Reuters: 2 windows of one day, + day, month, year, all time = 6 buckets; entity rows 2 + 2 in the windows,
    # 3 in each of the 4 others. CNN: 1 window + 4 = 5 buckets, 1 entity each. Dictionary: Trump, Fed, Berlin.
    assert sink.writer.written == 1 + 2 + (6 + 5) + (2 + 2 + 4 * 3 + 5) + 3


@pytest.mark.slow  # six calls, each giving up after its bounded retries (about 3 s)
def test_unreachable_firestore_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{closed_port}")
    sink = open_spec(("firestore", "sink-contract-nowhere"))
    try:
        for read in (
            sink.reader.ping,
            sink.publications,
            lambda: sink.read_offset(GROUP, TOPIC, 0),
            lambda: sink.entities("Reuters"),
            lambda: sink.windows("Reuters"),
            lambda: sink.write(flush(0, 1, REUTERS), OffsetLease(None, None)),
        ):
            with pytest.raises(SinkUnavailable):
                read()
    finally:
        sink.close()


def test_busy_sqlite_is_unavailable_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import common.sinks.sqlite

    monkeypatch.setattr(common.sinks.sqlite, "BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "busy.sqlite3"
    sink = open_spec(("sqlite", str(path)))
    lease = sink.write(flush(0, 1, CNN), OffsetLease(None, None))
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock past the busy timeout
        with pytest.raises(SinkUnavailable):
            sink.write(flush(0, 2, REUTERS), lease)
        holder.execute("ROLLBACK")

        assert sink.entities("Reuters") is None
        assert sink.read_offset(GROUP, TOPIC, 0) == lease
        assert sink.write(flush(0, 2, REUTERS), lease).next_offset == 2  # the same lease works afterwards
    finally:
        holder.close()
        sink.close()


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("these are not the counts you are looking for\n" * 100)
    with pytest.raises(SinkError, match=r"notes\.txt") as raised:
        open_spec(("sqlite", str(not_a_database)))
    assert not isinstance(raised.value, SinkUnavailable)

    (tmp_path / "file").write_text("")
    with pytest.raises(SinkError, match="SQLITE_PATH"):
        open_spec(("sqlite", str(tmp_path / "file" / "sink.sqlite3")))


@pytest.mark.parametrize("sink_spec", ["firestore"], indirect=True)
def test_firestore_refuses_a_flush_too_large_for_one_commit(
    sink_spec: SinkSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    import common.sinks.firestore_writer

    monkeypatch.setattr(common.sinks.firestore_writer, "MAX_COMMIT_BYTES", 20_000)
    sink = open_spec(sink_spec)
    try:
        many = delta("Huge", {BASE: (1, [(f"Entity {n}", "ORG", 1, 1) for n in range(100)])})
        with pytest.raises(SinkFlushTooLarge):
            sink.write(flush(0, 1, many), OffsetLease(None, None))

        assert sink.publications() == []
        assert sink.read_offset(GROUP, TOPIC, 0) == OffsetLease(None, None)
        assert sink.write(flush(0, 1, CNN), OffsetLease(None, None)).next_offset == 1
    finally:
        sink.close()


@pytest.mark.slow
@pytest.mark.parametrize("sink_spec", ["firestore"], indirect=True)
def test_a_commit_the_server_refuses_as_too_large_is_flush_too_large(
    sink_spec: SinkSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    import common.sinks.firestore_writer

    monkeypatch.setattr(common.sinks.firestore_writer, "MAX_COMMIT_BYTES", 1 << 30)  # let the server decide
    sink = open_spec(sink_spec)
    try:
        huge = delta("Huge", {BASE: (1, [(f"Entity {n:05d} " + "x" * 200, "ORG", 1, 1) for n in range(12_000)])})
        with pytest.raises(SinkFlushTooLarge):  # the emulator takes 4 MiB per message, Firestore 10 MiB
            sink.write(flush(0, 1, huge), OffsetLease(None, None))

        assert sink.publications() == []
        assert sink.read_offset(GROUP, TOPIC, 0) == OffsetLease(None, None)
    finally:
        sink.close()


def test_the_factories_follow_the_settings(sink_spec: SinkSpec) -> None:
    from common.sinks.firestore_reader import FirestoreReader
    from common.sinks.firestore_writer import FirestoreWriter
    from common.sinks.sqlite import SqliteReader, SqliteWriter

    store = open_spec(sink_spec)
    try:
        sqlite = sink_spec[0] == "sqlite"
        assert isinstance(store.writer, SqliteWriter if sqlite else FirestoreWriter)
        assert isinstance(store.reader, SqliteReader if sqlite else FirestoreReader)
        store.reader.ping()
    finally:
        store.close()
