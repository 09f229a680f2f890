"""The sink contract: what the consumer group writes and what the read API reads.

A sink stores, for each publication, all-time and per-window counts, and for each Kafka partition the
next offset to process. :meth:`Sink.write` applies one partition's pending counts *and* its new offset
in one atomic write, fenced by the :class:`OffsetLease` the writer read when it was assigned the
partition: a writer whose lease is stale (another worker wrote since) is refused with :class:`SinkFenced`
and writes nothing. Implementations: :mod:`common.sinks.sqlite`, :mod:`common.sinks.firestore`.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, Field

EntityCountingKey = tuple[str, str]
"""(normalized text case-folded, label): what the counts are keyed by."""


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
class WindowDelta:
    """Count increments for one publication in one tumbling window."""

    articles: int = 0
    entities: dict[EntityCountingKey, EntityTally] = field(default_factory=dict)


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


class EntityCount(BaseModel):
    text: str = Field(description="Entity as written (a normalized surface form).", examples=["Donald Trump"])
    label: str = Field(description="spaCy entity label (PERSON, ORG, GPE, ...).", examples=["PERSON"])
    mentions: int = Field(description="Every occurrence.", examples=[412])
    articles: int = Field(description="Articles that mention it at least once.", examples=[97])


class PublicationSummary(BaseModel):
    publication: str = Field(examples=["Reuters"])
    articles: int = Field(description="Articles counted, all time.", examples=[200])
    updated_at: datetime | None = Field(description="Last time counts of this publication were written.")


class PublicationEntities(BaseModel):
    publication: str = Field(examples=["Reuters"])
    articles: int = Field(description="Articles in the requested range.", examples=[200])
    entities: list[EntityCount]


class WindowSummary(BaseModel):
    start: datetime
    end: datetime
    articles: int
    entities: list[EntityCount] = Field(description="The window's top entities, mentions descending.")


def rank_key(mentions: int, text: str, label: str) -> tuple[int, str, str]:
    """Mentions descending, then text, then label: the one ordering every answer uses."""
    return -mentions, text, label


def rank(entities: list[EntityCount], limit: int) -> list[EntityCount]:
    """``entities`` in :func:`rank_key` order; ``limit=0`` keeps all."""
    ordered = sorted(entities, key=lambda e: rank_key(e.mentions, e.text, e.label))
    return ordered if limit == 0 else ordered[:limit]


class Sink(ABC):
    """Storage of counts and offsets. One instance per process; not shared between threads."""

    # --- the write side (consumer group) ---

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

    # --- the read side (HTTP read API) ---

    @abstractmethod
    def publications(self) -> list[PublicationSummary]:
        """Every publication, most articles first (then name)."""

    @abstractmethod
    def entities(
        self,
        publication: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        label: str | None = None,
        limit: int = 20,
    ) -> PublicationEntities | None:
        """Top entities of a publication (None if unknown): all time without start/end, else the windows
        overlapping ``[start, end)`` merged. Ordered by :func:`rank`; ``limit=0`` returns all."""

    @abstractmethod
    def windows(
        self,
        publication: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 10,
    ) -> list[WindowSummary] | None:
        """The publication's windows overlapping ``[start, end)`` in time order, each with its top
        ``limit`` entities; None if the publication is unknown."""

    @abstractmethod
    def ping(self) -> None:
        """A cheap read that raises :class:`SinkUnavailable` when the sink cannot be read (for /readyz)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""
