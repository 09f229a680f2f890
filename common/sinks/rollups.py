"""What a flush means, computed once for both sinks: its rollups, its entity index and its dictionary.

The flush carries per-window deltas only (:class:`common.sinks.base.PartitionFlush`); both sinks derive
everything else here, so the SQLite and Firestore sinks cannot drift apart on what a flush means.

An entity's displayed text in a bucket is its spelling in the latest window of the bucket that wrote it,
ties (two spellings in one window) going to the larger one in code point order: ``(window, text)`` is kept
as its maximum, which is what both stores keep too, so the answer does not depend on the order of flushes.
"""

from dataclasses import dataclass, field

from common.keys import entity_key
from common.sinks.base import EntityTally, PartitionFlush, PublicationDelta
from common.sinks.buckets import Bucket, Level, rollup_buckets

INDEX_LEVELS = (Level.DAY, Level.MONTH, Level.YEAR)
"""The levels of the entity index across publications: its answers cover whole UTC days."""


@dataclass
class RollupTally:
    """An entity's increments in one bucket, and the spelling to show: that of its latest window."""

    text: str
    label: str
    seen: int
    """Start of the window whose spelling ``text`` is."""
    mentions: int = 0
    articles: int = 0

    def add(self, tally: EntityTally, window_start: int) -> None:
        self.mentions += tally.mentions
        self.articles += tally.articles
        if (window_start, tally.text) > (self.seen, self.text):
            self.text, self.seen = tally.text, window_start


@dataclass
class BucketDelta:
    """A publication's increments in one bucket: articles, and entities by :func:`common.keys.entity_key`."""

    articles: int = 0
    entities: dict[str, RollupTally] = field(default_factory=dict)


@dataclass
class IndexDelta:
    """The entity index's increments in one bucket: articles per publication, and per entity and publication
    [mentions, articles]."""

    articles: dict[str, int] = field(default_factory=dict)
    entities: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


def _windows(delta: PublicationDelta) -> list[tuple[int, dict[str, tuple[str, EntityTally]]]]:
    """The delta's windows in time order, each with its entities as entity key -> (label, tally)."""
    return [
        (start, {entity_key(*key): (key[1], tally) for key, tally in delta.windows[start].entities.items()})
        for start in sorted(delta.windows)
    ]


def rollup_deltas(delta: PublicationDelta, window_seconds: int) -> dict[Bucket, BucketDelta]:
    """One publication's increments in every bucket its windows roll up into (window, day, month, year, all)."""
    buckets: dict[Bucket, BucketDelta] = {}
    for start, entities in _windows(delta):
        articles = delta.windows[start].articles
        for bucket in rollup_buckets(start, window_seconds):
            counts = buckets.setdefault(bucket, BucketDelta())
            counts.articles += articles
            for key, (label, tally) in entities.items():
                total = counts.entities.setdefault(key, RollupTally(tally.text, label, start))
                total.add(tally, start)
    return buckets


def index_deltas(flush: PartitionFlush) -> dict[Bucket, IndexDelta]:
    """The flush's increments of the entity index: per day, month and year, per entity and publication."""
    index: dict[Bucket, IndexDelta] = {}
    for pub_key, delta in flush.publications.items():
        for start, entities in _windows(delta):
            articles = delta.windows[start].articles
            for bucket in rollup_buckets(start, flush.window_seconds):
                if bucket.level not in INDEX_LEVELS:
                    continue
                counts = index.setdefault(bucket, IndexDelta())
                counts.articles[pub_key] = counts.articles.get(pub_key, 0) + articles
                for key, (label, tally) in entities.items():
                    counts.labels[key] = label
                    total = counts.entities.setdefault(key, {}).setdefault(pub_key, [0, 0])
                    total[0] += tally.mentions
                    total[1] += tally.articles
    return index


def dictionary_deltas(flush: PartitionFlush) -> dict[str, RollupTally]:
    """The flush's increments of every entity across publications, all time (for search)."""
    known: dict[str, RollupTally] = {}
    for delta in flush.publications.values():
        for start, entities in _windows(delta):
            for key, (label, tally) in entities.items():
                known.setdefault(key, RollupTally(tally.text, label, start)).add(tally, start)
    return known
