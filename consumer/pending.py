"""What one partition has counted since its last flush, ready to become one :class:`PartitionFlush`."""

import hashlib
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from common.keys import publication_key
from common.sinks.base import EntityCountingKey, EntityTally, PartitionFlush, PublicationDelta, WindowDelta
from consumer.entities import ArticleEntity


@dataclass
class _PendingEntity:
    label: str
    mentions: int = 0
    articles: int = 0
    surfaces: Counter[str] = field(default_factory=Counter)


@dataclass
class _PendingWindow:
    articles: int = 0
    entities: dict[EntityCountingKey, _PendingEntity] = field(default_factory=dict)


@dataclass
class _PendingPublication:
    name: str
    windows: dict[int, _PendingWindow] = field(default_factory=dict)


class PendingPartition:
    """Count increments of one partition since its last flush, and the offset to resume from.

    ``next_offset`` is the offset after the last message processed (counted or dead-lettered), or the
    stored offset when nothing was processed since; None when the partition was never counted.
    """

    def __init__(self, next_offset: int | None, recent_ids: Sequence[str] = (), remember: int = 0) -> None:
        self.next_offset = next_offset
        self._remember = remember
        self._recent: deque[str] = deque(recent_ids[-remember:] if remember else (), maxlen=remember or None)
        """Digests of the last ``remember`` article ids counted in this partition, oldest first."""
        self._recent_set = set(self._recent)
        self.articles = 0
        self.entity_tallies = 0
        """Distinct (publication, window, entity) counts pending: the size that bounds a flush."""
        self.processed = 0
        """Messages processed since the last flush (articles and dead letters)."""
        self._publications: dict[str, _PendingPublication] = {}

    def seen(self, article_id: str) -> bool:
        """True when the partition counted this article id recently (a retried or repeated article)."""
        return bool(self._remember) and article_digest(article_id) in self._recent_set

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
    ) -> None:
        """Count one article of ``publication`` in the window starting at ``window`` (and remember its id)."""
        if self._remember and article_id is not None:
            digest = article_digest(article_id)
            if len(self._recent) == self._remember:
                self._recent_set.discard(self._recent[0])
            self._recent.append(digest)
            self._recent_set.add(digest)
        pending = self._publications.setdefault(publication_key(publication), _PendingPublication(publication))
        counts = pending.windows.setdefault(window, _PendingWindow())
        counts.articles += 1
        for key, found in entities.items():
            entity = counts.entities.get(key)
            if entity is None:
                entity = counts.entities[key] = _PendingEntity(found.label)
                self.entity_tallies += 1
            entity.mentions += found.mentions
            entity.articles += 1
            entity.surfaces.update(found.surfaces)
        self.articles += 1
        self._advance(offset)

    def skip(self, offset: int) -> None:
        """A message that is not counted (dead-lettered): only the offset moves on."""
        self._advance(offset)

    def _advance(self, offset: int) -> None:
        self.next_offset = offset + 1
        self.processed += 1

    def to_flush(self, group_id: str, topic: str, partition: int, window_seconds: int) -> PartitionFlush:
        """The increments and new offset as one sink write. Each entity's ``text`` is its most frequent
        normalized spelling in this batch (ties: the first in code-point order)."""
        if self.next_offset is None:
            raise ValueError("nothing was processed: there is no offset to flush")
        return PartitionFlush(
            group_id=group_id,
            topic=topic,
            partition=partition,
            next_offset=self.next_offset,
            window_seconds=window_seconds,
            publications={
                key: PublicationDelta(
                    name=pending.name,
                    windows={
                        start: WindowDelta(
                            articles=window.articles,
                            entities={
                                entity_key: EntityTally(
                                    text=_most_frequent(entity.surfaces),
                                    label=entity.label,
                                    mentions=entity.mentions,
                                    articles=entity.articles,
                                )
                                for entity_key, entity in window.entities.items()
                            },
                        )
                        for start, window in pending.windows.items()
                    },
                )
                for key, pending in self._publications.items()
            },
            recent_ids=tuple(self._recent),
        )


def article_digest(article_id: str) -> str:
    """64 bits of sha256: short enough to keep thousands per partition in its offset record, and a collision
    within one partition's window of remembered ids is vanishingly unlikely (about n^2 / 2^65)."""
    return hashlib.sha256(article_id.encode("utf-8")).hexdigest()[:16]


def _most_frequent(surfaces: Counter[str]) -> str:
    return min(surfaces.items(), key=lambda item: (-item[1], item[0]))[0]
