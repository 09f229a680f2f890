"""What a flush means, computed once for both sinks: its rollups, its entity index and its dictionary.

The flush carries per-window deltas only (:class:`common.sinks.base.PartitionFlush`); both sinks derive
everything else here, so the SQLite and Firestore sinks cannot drift apart on what a flush means.

An entity's displayed text in a bucket is its spelling in the latest window of the bucket that wrote it,
ties (two spellings in one window) going to the larger one in code point order: ``(window, text)`` is kept
as its maximum, which is what both stores keep too, so the answer does not depend on the order of flushes.

The aliased view is kept as its changes to the raw counts (:class:`common.sinks.base.AliasedChange`), rolled
up the same way: a bucket's aliased counts are its raw ones plus its changes.
"""

from dataclasses import dataclass, field

from common.keys import entity_key
from common.sinks.base import AliasedChange, EntityTally, PartitionFlush, PublicationDelta, SourceForm
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
class AliasedTally:
    """An entity's aliased changes in one bucket: increments (negative where its raw rows went to other keys),
    the raw rows of other keys merged into it, and its aliased spelling: that of its latest window that had
    one (``seen`` None: none had)."""

    label: str
    text: str = ""
    seen: int | None = None
    mentions: int = 0
    articles: int = 0
    sources: dict[SourceForm, int] = field(default_factory=dict)

    def add(self, change: AliasedChange, window_start: int) -> None:
        self.mentions += change.mentions
        self.articles += change.articles
        for source, mentions in change.sources.items():
            self.sources[source] = self.sources.get(source, 0) + mentions
        if change.text and (self.seen is None or (window_start, change.text) > (self.seen, self.text)):
            self.text, self.seen = change.text, window_start


@dataclass
class BucketDelta:
    """A publication's increments in one bucket: articles (of them ``undated_articles`` without
    ``published_at``), and entities by :func:`common.keys.entity_key` (raw, and the aliased view's changes)."""

    articles: int = 0
    entities: dict[str, RollupTally] = field(default_factory=dict)
    aliased: dict[str, AliasedTally] = field(default_factory=dict)
    undated_articles: int = 0


@dataclass
class IndexDelta:
    """The entity index's increments in one bucket: articles per publication, and per entity and publication
    [mentions, articles]."""

    articles: dict[str, int] = field(default_factory=dict)
    entities: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    aliased: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    """The aliased view's changes, the same way."""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Window:
    """One window of a delta, its entities by entity key, with the label of their counting key: raw tallies
    and aliased changes."""

    start: int
    articles: int
    undated_articles: int
    entities: dict[str, tuple[str, EntityTally]]
    aliased: dict[str, tuple[str, AliasedChange]]


def _windows(delta: PublicationDelta) -> list[_Window]:
    """The delta's windows in time order."""
    return [
        _Window(
            start,
            delta.windows[start].articles,
            delta.windows[start].undated_articles,
            {entity_key(*key): (key[1], tally) for key, tally in delta.windows[start].entities.items()},
            {entity_key(*key): (key[1], change) for key, change in delta.windows[start].aliased.items()},
        )
        for start in sorted(delta.windows)
    ]


def rollup_deltas(delta: PublicationDelta, window_seconds: int) -> dict[Bucket, BucketDelta]:
    """One publication's increments in every bucket its windows roll up into (window, day, month, year, all)."""
    buckets: dict[Bucket, BucketDelta] = {}
    for window in _windows(delta):
        for bucket in rollup_buckets(window.start, window_seconds):
            counts = buckets.setdefault(bucket, BucketDelta())
            counts.articles += window.articles
            counts.undated_articles += window.undated_articles
            for key, (label, tally) in window.entities.items():
                counts.entities.setdefault(key, RollupTally(tally.text, label, window.start)).add(tally, window.start)
            for key, (label, change) in window.aliased.items():
                counts.aliased.setdefault(key, AliasedTally(label)).add(change, window.start)
    return buckets


def _add_to_index(
    found: dict[str, dict[str, list[int]]], entity: str, pub_key: str, mentions: int, articles: int
) -> None:
    total = found.setdefault(entity, {}).setdefault(pub_key, [0, 0])
    total[0] += mentions
    total[1] += articles


def index_deltas(flush: PartitionFlush) -> dict[Bucket, IndexDelta]:
    """The flush's increments of the entity index: per day, month and year, per entity and publication."""
    index: dict[Bucket, IndexDelta] = {}
    for pub_key, delta in flush.publications.items():
        for window in _windows(delta):
            for bucket in rollup_buckets(window.start, flush.window_seconds):
                if bucket.level not in INDEX_LEVELS:
                    continue
                counts = index.setdefault(bucket, IndexDelta())
                counts.articles[pub_key] = counts.articles.get(pub_key, 0) + window.articles
                for key, (label, tally) in window.entities.items():
                    counts.labels[key] = label
                    _add_to_index(counts.entities, key, pub_key, tally.mentions, tally.articles)
                for key, (label, change) in window.aliased.items():
                    counts.labels[key] = label
                    _add_to_index(counts.aliased, key, pub_key, change.mentions, change.articles)
    return index


def dictionary_deltas(flush: PartitionFlush) -> tuple[dict[str, RollupTally], dict[str, AliasedTally]]:
    """The flush's increments of every entity across publications, all time (for search): raw, and the aliased
    view's changes."""
    known: dict[str, RollupTally] = {}
    aliased: dict[str, AliasedTally] = {}
    for delta in flush.publications.values():
        for window in _windows(delta):
            for key, (label, tally) in window.entities.items():
                known.setdefault(key, RollupTally(tally.text, label, window.start)).add(tally, window.start)
            for key, (label, change) in window.aliased.items():
                aliased.setdefault(key, AliasedTally(label)).add(change, window.start)
    return known, aliased
