"""What one partition has counted since its last flush: the sink's own flush model, filled article by article,
in both views (raw, and the aliased view as its changes to the raw counts)."""

import hashlib
from collections import Counter, deque
from collections.abc import Sequence

from common.article import normalize_publication
from common.keys import publication_key
from common.sinks.base import (
    AliasedChange,
    EntityCountingKey,
    EntityTally,
    PartitionFlush,
    PublicationDelta,
    WindowDelta,
)
from consumer.aliases import AliasedArticle, alias_article, shipped_alias_table, view_changes
from consumer.entities import ArticleEntity

SurfaceKey = tuple[str, int, EntityCountingKey]
"""(publication key, window start, entity counting key): where the spellings of one pending tally are kept."""


class PendingPartition:
    """Count increments of one partition since its last flush, and the offset to resume from.

    The increments are kept as the :class:`~common.sinks.base.PublicationDelta` values the flush carries;
    only the spellings seen per entity live beside them, to pick each tally's ``text`` when the flush is made.
    ``next_offset`` is the offset after the last message processed (counted or dead-lettered), or the stored
    offset when nothing was processed since; None when the partition was never counted.
    """

    def __init__(self, next_offset: int | None, recent_ids: Sequence[str] = (), remember: int = 0) -> None:
        self.next_offset = next_offset
        self._remember = remember
        self._recent: deque[str] = deque(recent_ids[-remember:] if remember else (), maxlen=remember or None)
        """Digests of the last ``remember`` (publication, article id) pairs counted here, oldest first."""
        self._recent_set = set(self._recent)
        self.articles = 0
        self.entity_tallies = 0
        """Distinct (publication, window, entity) counts pending, raw ones and aliased changes: the size that
        bounds a flush."""
        self.processed = 0
        """Messages processed since the last flush (articles and dead letters)."""
        self.last_article_offset: int | None = None
        """Offset of the last article counted since the last flush."""
        self._publications: dict[str, PublicationDelta] = {}
        self._surfaces: dict[SurfaceKey, Counter[str]] = {}
        self._aliased_surfaces: dict[SurfaceKey, Counter[str]] = {}

    def seen(self, publication: str, article_id: str) -> bool:
        """True when the partition counted this article of this publication recently (a retry)."""
        return bool(self._remember) and article_digest(publication, article_id) in self._recent_set

    def accepts(self, offset: int) -> bool:
        """False for a message at or before what was already processed (a re-delivery after a seek)."""
        return self.next_offset is None or offset >= self.next_offset

    def add_article(
        self,
        offset: int,
        publication: str,
        window: int,
        entities: dict[EntityCountingKey, ArticleEntity],
        article_id: str | None = None,
        aliased: AliasedArticle | None = None,
        *,
        undated: bool = False,
    ) -> None:
        """Count one article of ``publication`` in the window starting at ``window`` (and remember its id):
        its raw ``entities``, and its ``aliased`` view of them (default: made with the shipped alias table);
        ``undated``: it has no ``published_at``, so the window is its Kafka record time's."""
        if self._remember and article_id is not None:
            self._remember_id(article_digest(publication, article_id))
        pub_key = publication_key(publication)
        delta = self._publications.setdefault(pub_key, PublicationDelta(name=publication))
        counts = delta.windows.setdefault(window, WindowDelta())
        counts.articles += 1
        if undated:
            counts.undated_articles += 1
        for key, found in entities.items():
            tally = counts.entities.get(key)
            if tally is None:
                tally = counts.entities[key] = EntityTally(text="", label=found.label)
                self.entity_tallies += 1
            tally.mentions += found.mentions
            tally.articles += 1
            self._surfaces.setdefault((pub_key, window, key), Counter()).update(found.surfaces)
        if aliased is None:
            aliased = alias_article(entities, shipped_alias_table())
        for key, change in view_changes(entities, aliased).items():
            total = counts.aliased.get(key)
            if total is None:
                total = counts.aliased[key] = AliasedChange(label=change.label)
                self.entity_tallies += 1
            total.mentions += change.mentions
            total.articles += change.articles
            for source, mentions in change.sources.items():
                total.sources[source] = total.sources.get(source, 0) + mentions
            if change.surfaces:
                self._aliased_surfaces.setdefault((pub_key, window, key), Counter()).update(change.surfaces)
        self.articles += 1
        self.last_article_offset = offset
        self._advance(offset)

    def skip(self, offset: int) -> None:
        """A message that is not counted (dead-lettered or a duplicate): only the offset moves on."""
        self._advance(offset)

    def _remember_id(self, digest: str) -> None:
        if len(self._recent) == self._remember:
            self._recent_set.discard(self._recent[0])
        self._recent.append(digest)
        self._recent_set.add(digest)

    def _advance(self, offset: int) -> None:
        self.next_offset = offset + 1
        self.processed += 1

    def to_flush(self, group_id: str, topic: str, partition: int, window_seconds: int) -> PartitionFlush:
        """The increments and new offset as one sink write. Each entity's ``text`` is its most frequent
        normalized spelling in this batch (ties: the first in code-point order), in each view."""
        if self.next_offset is None:
            raise ValueError("nothing was processed: there is no offset to flush")
        for (pub_key, window, key), surfaces in self._surfaces.items():
            self._publications[pub_key].windows[window].entities[key].text = _most_frequent(surfaces)
        for (pub_key, window, key), surfaces in self._aliased_surfaces.items():
            self._publications[pub_key].windows[window].aliased[key].text = _most_frequent(surfaces)
        return PartitionFlush(
            group_id=group_id,
            topic=topic,
            partition=partition,
            next_offset=self.next_offset,
            window_seconds=window_seconds,
            publications=self._publications,
            recent_ids=tuple(self._recent),
        )


def article_digest(publication: str, article_id: str) -> str:
    """64 bits of sha256 of (normalized publication, article id): dedup is per publication, so an article
    sent for one publication can never make another publication's article with the same id a "duplicate".
    Short enough to keep thousands per partition in its offset record; a collision within one partition's
    window of remembered ids is vanishingly unlikely (about n^2 / 2^65)."""
    name = normalize_publication(publication)
    source = f"{len(name)}:{name}{article_id}"  # length-prefixed: no (publication, id) pair reads as another
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def _most_frequent(surfaces: Counter[str]) -> str:
    return min(surfaces.items(), key=lambda item: (-item[1], item[0]))[0]
