"""The sink contract: what the consumer group writes (:class:`CountWriter`) and the read API reads
(:class:`CountReader`).

A sink stores, for one counts namespace, each publication's counts per window and their rollups (UTC
days, months, years and all time, :mod:`common.sinks.buckets`), an entity index across publications, and
each Kafka partition's next offset; the counts in two views, ``raw`` and ``aliased`` (:class:`View`).
:meth:`CountWriter.write` applies one partition's pending counts (both views) *and* its new offset in one
atomic write, fenced by the :class:`OffsetLease` the writer read when it was assigned the partition: a
writer whose lease is stale (another worker wrote since) is refused with :class:`SinkFenced` and writes
nothing. Implementations: :mod:`common.sinks.sqlite`,
:mod:`common.sinks.firestore`; :mod:`common.sinks.factory` opens them.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from common.sinks.buckets import Step

EntityCountingKey = tuple[str, str]
"""(normalized text case-folded, label): what the counts are keyed by."""

SourceForm = tuple[str, str]
"""(label, spelling) of a raw row counted under another key in the aliased view."""


class SinkError(Exception):
    """Base class of the errors a sink raises."""


class SinkUnavailable(SinkError):
    """A transient failure (sink down, timeout): retry later; nothing was written."""


class SinkFenced(SinkError):
    """The partition's offset changed since the lease was read: another worker owns it. Nothing was written."""


class SinkFlushTooLarge(SinkError):
    """The flush does not fit in one atomic write (Firestore: 10 MiB per commit). Nothing was written.

    Splitting it would break atomicity, so the writer must bound its pending state and flush sooner.
    """


class NamespaceTaken(SinkError):
    """The counts namespace belongs to another consumer group: counting into it too would mix two countings."""


class NamespaceOutdated(SinkError):
    """The counts namespace was counted in an older layout of the store, which this version neither reads nor
    writes: recount into a new namespace."""


def namespace_outdated(namespace: str, layout: int, current: int) -> NamespaceOutdated:
    """The error of a read or a write of a namespace recorded in layout ``layout`` by a version of ``current``."""
    return NamespaceOutdated(
        f"counts namespace {namespace!r} was counted in layout {layout} of this sink, this version reads and writes "
        f"layout {current}: recount the topic into a new namespace with `python -m consumer.recount --namespace "
        "NEW_NAME` and point COUNTS_NAMESPACE at it (docs/sinks.md, 'Upgrading')"
    )


def namespace_taken(namespace: str, owner: tuple[str, int], writer: tuple[str, int]) -> NamespaceTaken | None:
    """The error of a writer (group, window seconds) on a namespace recorded as ``owner``; None if it is the owner."""
    if owner[0] != writer[0]:
        return NamespaceTaken(
            f"counts namespace {namespace!r} belongs to consumer group {owner[0]!r}, not {writer[0]!r}: set "
            "COUNTS_NAMESPACE to a new name to count with this group (docs/sinks.md, 'Counts namespaces')"
        )
    if owner[1] != writer[1]:
        return NamespaceTaken(
            f"counts namespace {namespace!r} counts windows of {owner[1]}s, not {writer[1]}s (WINDOW): set "
            "COUNTS_NAMESPACE to a new name to count with another window (docs/sinks.md, 'Counts namespaces')"
        )
    return None


@dataclass(frozen=True)
class OffsetLease:
    """A partition's stored next offset and the version token that fences writers.

    ``next_offset`` is None when nothing of the partition has been counted yet (start from the beginning).
    ``version`` is opaque to callers (a row version in SQLite, an update time in Firestore).
    """

    next_offset: int | None
    version: str | None
    recent_ids: tuple[str, ...] = ()
    """Digests of the partition's most recently counted article ids, oldest first (see ``PartitionFlush``)."""


@dataclass
class EntityTally:
    """Counts of one entity in one window of one publication, pending a flush."""

    text: str
    """The surface form shown to users (normalized; case-folds to the counting key)."""
    label: str
    mentions: int = 0
    articles: int = 0


@dataclass
class AliasedChange:
    """How the aliased view of one entity in one window differs from its raw counts: what it adds to them
    (negative where the raw rows of this key were counted under another key), and the raw rows of other keys
    it holds. Only keys where the two views differ have one, so the aliased view costs little where aliasing
    changes little (docs/aliases.md, "How the aliased view is stored")."""

    label: str
    text: str = ""
    """Its spelling in the aliased view; empty when no article of the flush counts the key there (its raw
    rows all went to other keys)."""
    mentions: int = 0
    articles: int = 0
    sources: dict[SourceForm, int] = field(default_factory=dict)
    """The raw rows of other keys counted under this one: (label, spelling) -> mentions."""


@dataclass
class WindowDelta:
    """Count increments for one publication in one tumbling window, in both views."""

    articles: int = 0
    entities: dict[EntityCountingKey, EntityTally] = field(default_factory=dict)
    """The raw view."""
    aliased: dict[EntityCountingKey, AliasedChange] = field(default_factory=dict)
    """The aliased view, as its changes to ``entities``: the aliased counts are the raw ones plus these."""
    undated_articles: int = 0
    """Of ``articles``, those without ``published_at``: placed in the window by their Kafka record time."""


@dataclass
class PublicationDelta:
    """Count increments for one publication, per window start (epoch seconds, UTC)."""

    name: str
    windows: dict[int, WindowDelta] = field(default_factory=dict)


@dataclass
class PartitionFlush:
    """Everything one flush of one partition writes: increments plus the partition's new next offset."""

    group_id: str
    topic: str
    partition: int
    next_offset: int
    window_seconds: int
    publications: dict[str, PublicationDelta]
    """Keyed by :func:`common.keys.publication_key`."""
    recent_ids: tuple[str, ...] = ()
    """The partition's recently counted article id digests after this flush (bounded, oldest first), stored
    atomically with the offset: a retried article (same id, hence same key and partition) is counted once."""


class View(StrEnum):
    """Which counts a read serves: ``raw`` (each counting key as counted) or ``aliased`` (the spellings of one
    entity in an article brought together, consumer/aliases.py)."""

    RAW = "raw"
    ALIASED = "aliased"


ALL_VIEWS = frozenset(View)
"""What a namespace claimed by this version holds."""


class ViewUnavailable(SinkError):
    """A view the counts namespace does not hold (it was counted before that view existed): recount it."""


@dataclass(frozen=True)
class NamespaceRecord:
    """What a sink records of a counts namespace when its first writer claims it."""

    name: str
    group: str
    """The consumer group that owns it."""
    window_seconds: int
    views: frozenset[View]
    """The views its counts hold (a namespace counted before the aliased view existed: raw only)."""


def view_unavailable(record: NamespaceRecord, view: View) -> ViewUnavailable:
    """The error of a read of ``view`` in a namespace that does not hold it."""
    return ViewUnavailable(
        f"counts namespace {record.name!r} holds no {view.value} view (it was counted before that view existed): "
        f"ask for view=raw, or recount the topic into a new namespace with `python -m consumer.recount "
        f"--namespace NEW_NAME` and point COUNTS_NAMESPACE at it (docs/aliases.md, 'Recounting')"
    )


class InvalidRead(ValueError):
    """A read the sink cannot answer as asked (a cursor it did not issue, a step finer than the windows, too
    many points); ``field`` names the parameter, the message says what to send instead."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field


class MergedForm(BaseModel):
    """One raw row counted in an aliased row."""

    text: str = Field(description="The raw row's spelling (its most mentioned one).", examples=["Trump"])
    label: str = Field(description="The raw row's spaCy label.", examples=["ORG"])
    mentions: int = Field(description="Its mentions counted in the aliased row.", examples=[480])


def _absent(value: object) -> bool:
    return value is None


MERGED_DESCRIPTION = (
    "view=aliased only (absent in the raw view): the raw rows counted in this row, with their mentions, most "
    "first; its own raw row included. Empty when the row counts only its own raw row."
)
MERGED_EXAMPLE = [
    {"text": "Trump", "label": "ORG", "mentions": 480},
    {"text": "Trump", "label": "PERSON", "mentions": 326},
    {"text": "Donald Trump", "label": "PERSON", "mentions": 228},
]


class EntityCount(BaseModel):
    text: str = Field(description="Entity as written (a normalized surface form).", examples=["Donald Trump"])
    label: str = Field(description="spaCy entity label (PERSON, ORG, GPE, ...).", examples=["PERSON"])
    mentions: int = Field(description="Every occurrence.", examples=[1034])
    articles: int = Field(description="Articles that mention it at least once.", examples=[297])
    merged: list[MergedForm] | None = Field(
        None, exclude_if=_absent, description=MERGED_DESCRIPTION, examples=[MERGED_EXAMPLE]
    )


class PublicationSummary(BaseModel):
    publication: str = Field(examples=["Reuters"])
    articles: int = Field(description="Articles counted, all time.", examples=[200])
    undated_articles: int = Field(
        description="Of those, articles without `published_at` (counted at their Kafka time).", examples=[3]
    )
    updated_at: datetime | None = Field(description="Last time counts of this publication were written.")
    start: datetime | None = Field(None, description="Start of the first window with an article of it.")
    end: datetime | None = Field(None, description="End of the last window with an article of it.")


class PublicationPage(BaseModel):
    """One page of the publications, most articles first; ``next_cursor`` asks for the next page."""

    publications: list[PublicationSummary]
    next_cursor: str | None = Field(None, description="Opaque; None on the last page.")


class PublicationEntities(BaseModel):
    publication: str = Field(examples=["Reuters"])
    articles: int = Field(description="Articles in the range covered.", examples=[200])
    undated_articles: int = Field(
        description="Of those, articles without `published_at`, counted at the time Kafka received them.",
        examples=[3],
    )
    start: datetime | None = Field(
        None, description="Start of the range covered (the request widened to whole windows); null: unbounded."
    )
    end: datetime | None = Field(None, description="End of the range covered; null: unbounded.")
    entities: list[EntityCount]


class WindowSummary(BaseModel):
    start: datetime
    end: datetime
    articles: int
    entities: list[EntityCount] = Field(description="The window's top entities, mentions descending.")


class SeriesPoint(BaseModel):
    start: datetime
    end: datetime
    articles: int = Field(description="The publication's articles in this point (for shares).")
    undated_articles: int = Field(
        description="Of those, articles without `published_at`, counted at the time Kafka received them."
    )
    mentions: int = Field(description="Mentions of the entity in this point.")
    entity_articles: int = Field(description="Articles of this point that mention the entity.")


class EntitySeries(BaseModel):
    publication: str = Field(examples=["Reuters"])
    text: str = Field(examples=["Donald Trump"])
    label: str = Field(examples=["PERSON"])
    step: Step
    start: datetime = Field(description="Start of the first point (the request widened to whole steps).")
    end: datetime = Field(description="End of the last point.")
    points: list[SeriesPoint] = Field(description="One per step, in time order, zeros included.")
    merged: list[MergedForm] | None = Field(
        None, exclude_if=_absent, description=MERGED_DESCRIPTION + " Over the whole series."
    )


class EntityInPublication(BaseModel):
    publication: str = Field(examples=["Reuters"])
    mentions: int = Field(description="Mentions of the entity in this publication in the range covered.")
    articles: int = Field(description="Articles of this publication in the range that mention the entity.")
    publication_articles: int = Field(description="All articles of this publication in the range covered.")


class EntityPublications(BaseModel):
    text: str = Field(examples=["Donald Trump"])
    label: str = Field(examples=["PERSON"])
    start: datetime | None = Field(
        None, description="Start of the range covered (the request widened to whole UTC days); null: unbounded."
    )
    end: datetime | None = Field(None, description="End of the range covered; null: unbounded.")
    publications: list[EntityInPublication] = Field(description="Mentions descending, then publication name.")


class EntityMatch(BaseModel):
    text: str = Field(description="The most recent spelling.", examples=["Angela Merkel"])
    label: str = Field(examples=["PERSON"])
    mentions: int = Field(description="Mentions, all time, every publication.", examples=[1200])
    articles: int = Field(description="Articles that mention it, all time, every publication.", examples=[800])
    merged: list[MergedForm] | None = Field(
        None, exclude_if=_absent, description=MERGED_DESCRIPTION + " All time, every publication."
    )


def rank_key(mentions: int, text: str, label: str) -> tuple[int, str, str]:
    """Mentions descending, then text, then label: the one ordering every answer uses."""
    return -mentions, text, label


def rank(entities: list[EntityCount], limit: int) -> list[EntityCount]:
    """``entities`` in :func:`rank_key` order; ``limit=0`` keeps all."""
    ordered = sorted(entities, key=lambda e: rank_key(e.mentions, e.text, e.label))
    return ordered if limit == 0 else ordered[:limit]


class CountWriter(ABC):
    """The write side, used by the consumer group: one per worker process, called from one thread. It writes
    one counts namespace for one consumer group (see docs/sinks.md, "Counts namespaces")."""

    written: int = 0
    """What the last successful :meth:`write` stored, for the flush's log line: documents on Firestore (the
    offset's and the count documents of the commit), rows on SQLite (offset, publication, bucket, entity and
    dictionary rows)."""

    @abstractmethod
    def read_offset(self, group_id: str, topic: str, partition: int, *, timeout: float | None = None) -> OffsetLease:
        """The partition's stored next offset and version; raises :class:`SinkUnavailable` (also when it
        takes longer than ``timeout`` seconds, None: the sink's own bound)."""

    @abstractmethod
    def write(self, flush: PartitionFlush, lease: OffsetLease, *, timeout: float | None = None) -> OffsetLease:
        """Apply ``flush`` atomically if the stored offset still matches ``lease``; return the new lease.
        ``timeout``: the longest the call may wait for the sink (None: the sink's own bound).

        Raises :class:`SinkFenced` when the lease is stale, :class:`SinkUnavailable` on transient
        errors; in both cases nothing was written. (One exception: a Firestore commit that timed out may
        have been applied after all; retrying with the same lease is then fenced, never counted twice, so
        retry :class:`SinkUnavailable` with the same lease and answer :class:`SinkFenced` by re-reading the
        offset.) :class:`SinkFlushTooLarge` when the flush cannot be one write. See docs/sinks.md.
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections."""


class CountReader(ABC):
    """The read side, used by the read API: one per process, **thread-safe** (every method may be called from
    many threads at once). Each answer is read from one consistent snapshot of the store, so an article
    count and the entity sums beside it always agree. Times are aware UTC datetimes; a ``view`` the
    namespace does not hold raises :class:`ViewUnavailable`."""

    @abstractmethod
    def namespace(self) -> NamespaceRecord | None:
        """What the sink records of the namespace; None when no writer has claimed it yet."""

    @abstractmethod
    def publications(self, *, limit: int = 0, cursor: str | None = None, view: View = View.RAW) -> PublicationPage:
        """Publications, most articles first (then name), ``limit`` per page (0: all) from ``cursor`` (a
        previous page's ``next_cursor``); raises :class:`InvalidRead` for a cursor it did not issue."""

    @abstractmethod
    def entities(
        self,
        publication: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        label: str | None = None,
        limit: int = 20,
        view: View = View.RAW,
    ) -> PublicationEntities | None:
        """Top entities of a publication (None if unknown) over ``[start, end)`` widened to whole windows
        (either bound may be None: unbounded). Ordered by :func:`rank`; ``limit=0`` returns all."""

    @abstractmethod
    def windows(
        self,
        publication: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 10,
        view: View = View.RAW,
    ) -> list[WindowSummary] | None:
        """The publication's windows overlapping ``[start, end)`` in time order, each with its top
        ``limit`` entities; None if the publication is unknown."""

    @abstractmethod
    def series(
        self,
        publication: str,
        text: str,
        label: str,
        *,
        step: Step,
        start: datetime | None = None,
        end: datetime | None = None,
        view: View = View.RAW,
    ) -> EntitySeries | None:
        """One point per ``step`` over ``[start, end)`` widened to whole steps (unbounded sides: the
        publication's first and last window), zeros included; None if the publication is unknown."""

    @abstractmethod
    def entity_publications(
        self,
        text: str,
        label: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 20,
        view: View = View.RAW,
    ) -> EntityPublications:
        """The publications that mention the entity over ``[start, end)`` widened to whole UTC days, mentions
        descending (then name); ``limit=0`` returns all."""

    @abstractmethod
    def search(
        self, prefix: str, *, label: str | None = None, limit: int = 10, view: View = View.RAW
    ) -> list[EntityMatch]:
        """Known entities whose text starts with ``prefix``, ignoring case and accents; most mentioned first."""

    @abstractmethod
    def ping(self) -> None:
        """A cheap read that raises :class:`SinkUnavailable` when the sink cannot be read (for /readyz)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""
