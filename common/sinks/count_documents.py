"""Which Firestore map document each entity count goes to: the write plan of :mod:`common.sinks.firestore`.

The Firestore sink keeps a publication's counts for one partition in a few *count documents* per scope
(the publication's all-time counts, or one of its windows), each holding a map of entity -> counts, so a
flush writes one document per scope instead of one per entity. Firestore bounds such documents: 500 field
transforms per document per commit (two ``Increment`` per entity, plus one for a window's articles), 1 MiB
and 20,000 fields per document. A :class:`Shelf` remembers which of a scope's documents holds each entity
and how full each one is, and places a flush's entities so that no document passes those bounds:

- an entity goes to the document that already holds it, while that document takes more in this commit;
- a new entity (or one whose document is full for this commit) goes to the last document, or to a new
  one when the last is full.

Only the partition's owner writes these documents (every write is fenced by the partition's offset), so
the shelf it loaded stays true until its lease changes. Pure logic, no I/O; unit-tested.
"""

from dataclasses import dataclass, field

ENTITIES_PER_COMMIT = 240
"""Entities one count document takes in one commit: 2 transforms each, under Firestore's 500 per document."""

ENTITIES_PER_DOCUMENT = 3_000
"""Entities one count document holds at most: 5 fields each (the map and its 4 values), under 20,000."""

BYTES_PER_DOCUMENT = 800_000
"""Estimated bytes one count document holds at most, under Firestore's 1 MiB (1,048,572 bytes)."""


def entry_bytes(key: str, text: str, label: str) -> int:
    """Firestore's stored size of one entity's map entry (field names + 1, strings + 1, integers 8), with
    a margin for a later spelling of the same key that is longer."""
    return len(key) + 1 + 2 + 2 * len(text.encode()) + 1 + 2 + len(label.encode()) + 1 + 2 * (2 + 8) + 16


@dataclass
class Shelf:
    """One scope's count documents for one partition: generation 0, 1, ... (the last one takes new entities)."""

    holder: dict[str, int] = field(default_factory=dict)
    """Entity key -> the generation that last took it."""
    entities: list[int] = field(default_factory=list)
    """Entities held, per generation."""
    sizes: list[int] = field(default_factory=list)
    """Estimated bytes of entries, per generation."""

    def record(self, generation: int, key: str, size: int) -> None:
        """Note that ``generation`` already holds ``key`` (loading a stored document)."""
        while len(self.entities) <= generation:
            self.entities.append(0)
            self.sizes.append(0)
        self.holder[key] = max(generation, self.holder.get(key, generation))
        self.entities[generation] += 1
        self.sizes[generation] += size

    def place(self, entries: dict[str, int]) -> dict[int, list[str]]:
        """Generation -> the keys it takes in this commit, for ``entries`` (entity key -> entry bytes); at
        least one generation, even for no entries (a window's article count needs a document).

        Updates the shelf as if the commit succeeds; a caller whose commit fails must drop the shelf."""
        placed: dict[int, list[str]] = {}
        if not entries:
            return {len(self.entities) - 1 if self.entities else self._open_generation(placed, 0): []}
        for key, size in entries.items():
            generation = self.holder.get(key)
            if generation is not None and len(placed.get(generation, ())) < ENTITIES_PER_COMMIT:
                placed.setdefault(generation, []).append(key)
                continue
            generation = self._open_generation(placed, size)
            placed.setdefault(generation, []).append(key)
            self.holder[key] = generation
            self.entities[generation] += 1
            self.sizes[generation] += size
        return placed

    def _open_generation(self, placed: dict[int, list[str]], size: int) -> int:
        """The last generation if it takes one more new entity in this commit, else a new one."""
        last = len(self.entities) - 1
        if (
            last >= 0
            and len(placed.get(last, ())) < ENTITIES_PER_COMMIT
            and self.entities[last] < ENTITIES_PER_DOCUMENT
            and self.sizes[last] + size <= BYTES_PER_DOCUMENT
        ):
            return last
        self.entities.append(0)
        self.sizes.append(0)
        return last + 1


def documents_for(entities: int) -> int:
    """Count documents a scope of ``entities`` entities touches in one commit when its shelf has room:
    what :func:`common.sinks.tallies.documents_written` counts."""
    return max(1, -(-entities // ENTITIES_PER_COMMIT))
