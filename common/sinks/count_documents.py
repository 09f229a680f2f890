"""Which Firestore document each count goes to: the write plan of :mod:`common.sinks.firestore_writer`.

Counts live in map documents shared by every partition ("count documents"): a family of documents per
container (a publication's month, year or all time; the entity index's month, year, all time or
dictionary), generations 0, 1, ... of one family holding the same kind of maps. Every partition adds to
the same entries with server-side transforms (``Increment``, ``Maximum``), so an entity's count in a bucket
is usually one entry, whatever the number of partitions: reads decode each entry once.

Firestore bounds a document (1 MiB, 20,000 fields, 500 field transforms per commit) and the emulator does
not enforce it, so this module does. Each partition (its offset-fenced single writer) owns a *quota* of
every document of its group of 16 partitions: at most a 16th of the fields and bytes, minus a reserve for
the header. It charges against its quota every field it may create in a document (every path it did not
see there when it loaded the document), whoever else creates the same field, and records its charges in
the document (``q.<slot>``), so a later lease continues from them. The sum of the charges bounds the
document's size, although no writer knows what the others wrote. A :class:`Family` is what one partition
knows of one family; :func:`place` decides where each entry of a commit goes:

- an entry goes to the newest generation that holds it, if that one is still being filled by this
  partition (at or after its *cursor*, or already written in this commit) and takes more in this commit;
- else to the first generation, from the cursor on, that has room; else to a new one. The cursor moves
  past a generation once the partition's quota there cannot take an entry, so every partition fills
  generations 0, 1, 2, ... in turn, and counts written at about the same time share documents.

An entry held by a generation the partition has moved past is written again in the current one (reads add
the two up): a commit then touches the few generations being filled, not every generation that ever took
one of its entities.

Pure logic, no I/O; unit-tested.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

PARTITIONS_PER_GROUP = 16
"""Partitions sharing one family of documents (each with a quota); more partitions use more groups."""

TRANSFORMS_PER_COMMIT = 500
"""Field transforms Firestore applies to one document in one commit."""

DOCUMENT_FIELDS = 18_000
"""Fields one document may hold, under Firestore's 20,000 (every map and every value in a map counts)."""

DOCUMENT_BYTES = 900_000
"""Estimated bytes one document may hold, under Firestore's 1 MiB (1,048,576 bytes, name included)."""

RESERVED_FIELDS = 200
"""Fields kept out of the quotas: a publication's header, the family fields and the 16 quota records."""

RESERVED_BYTES = 8_192
"""Bytes kept out of the quotas, for the same (a header holds the publication's name, up to 800 bytes)."""


def quota_fields() -> int:
    """Fields one partition may charge in one document."""
    return (DOCUMENT_FIELDS - RESERVED_FIELDS) // PARTITIONS_PER_GROUP


def quota_bytes() -> int:
    """Bytes one partition may charge in one document."""
    return (DOCUMENT_BYTES - RESERVED_BYTES) // PARTITIONS_PER_GROUP


@dataclass(frozen=True)
class Part:
    """One field an entry may create: a map or a value, with Firestore's stored size of it."""

    path: str
    """A name unique in the document (the field path), to know whether it is there already."""
    fields: int
    bytes: int


@dataclass(frozen=True)
class Entry:
    """What one count adds to a document: the fields it may create (outermost first) and its transforms."""

    key: str
    """The entry's own path: where its increments go (the last of its parts that it always creates)."""
    parts: tuple[Part, ...]
    transforms: int


def name_bytes(name: str) -> int:
    """Stored size of a field name: its UTF-8 bytes plus one."""
    return len(name.encode()) + 1


def map_part(path: str, name: str) -> Part:
    """A map field named ``name`` at ``path``."""
    return Part(path, 1, name_bytes(name))


def value_part(path: str, name: str, value_bytes: int) -> Part:
    """A value field (integers and timestamps take 8 bytes, a string its UTF-8 bytes plus one)."""
    return Part(path, 1, name_bytes(name) + value_bytes)


@dataclass
class Generation:
    """One document of a family as this partition knows it."""

    seen: set[str] = field(default_factory=set)
    """Paths present in the document when it was loaded, and paths this partition wrote since."""
    fields: int = 0
    """This partition's charges (``q.<slot>.f`` in the document)."""
    bytes: int = 0
    """This partition's charges (``q.<slot>.b``)."""

    def cost(self, entry: Entry) -> tuple[int, int]:
        """Fields and bytes ``entry`` would charge here."""
        fields = size = 0
        for part in entry.parts:
            if part.path not in self.seen:
                fields += part.fields
                size += part.bytes
        return fields, size


@dataclass
class Family:
    """What one partition knows of one family of count documents (one container, one group)."""

    generations: list[Generation] = field(default_factory=list)
    holder: dict[str, int] = field(default_factory=dict)
    """Entry key -> the newest generation known to hold it."""
    cursor: int = 0
    """The first generation where this partition's quota may still take an entry."""

    def load(
        self, generation: int, paths: Iterable[str], entry_keys: Iterable[str], charges: tuple[int, int] | None
    ) -> None:
        """Note what a stored generation holds (some of its paths, their entries) and, when ``charges`` is given,
        this partition's recorded charges there (fields, bytes)."""
        while len(self.generations) <= generation:
            self.generations.append(Generation())
        loaded = self.generations[generation]
        loaded.seen.update(paths)
        if charges is not None:
            loaded.fields, loaded.bytes = charges
        for key in entry_keys:
            self.holder[key] = max(generation, self.holder.get(key, generation))


@dataclass
class Placed:
    """One document's share of a commit: the entries it takes and the transforms they and the fixed ones make."""

    entries: list[Entry] = field(default_factory=list)
    transforms: int = 0


def place(family: Family, entries: Iterable[Entry], used: dict[int, int] | None = None) -> dict[int, Placed]:
    """Generation -> what it takes in this commit, for ``entries``. ``used`` holds transforms some generations
    already make in this commit (a publication's header in its generation 0); those are in the answer even
    when they take no entry.

    Updates ``family`` as if the commit succeeds (charges and seen paths); a caller whose commit fails must
    drop the family and load it again."""
    placed = {generation: Placed(transforms=count) for generation, count in (used or {}).items()}
    for generation in placed:
        while len(family.generations) <= generation:
            family.generations.append(Generation())
    for entry in entries:
        generation = _choose(family, placed, entry)
        share = placed.setdefault(generation, Placed())
        share.entries.append(entry)
        share.transforms += entry.transforms
        chosen = family.generations[generation]
        fields, size = chosen.cost(entry)
        chosen.fields += fields
        chosen.bytes += size
        chosen.seen.update(part.path for part in entry.parts)
        family.holder[entry.key] = max(generation, family.holder.get(entry.key, generation))
    return placed


def _fits(family: Family, placed: dict[int, Placed], generation: int, entry: Entry) -> tuple[bool, bool]:
    """(whether ``entry`` fits in ``generation`` in this commit, whether the quota is what refuses it)."""
    known = family.generations[generation]
    fields, size = known.cost(entry)
    used = placed[generation].transforms if generation in placed else 0
    quota = known.fields + fields <= quota_fields() and known.bytes + size <= quota_bytes()
    return quota and used + entry.transforms <= TRANSFORMS_PER_COMMIT, not quota


def _choose(family: Family, placed: dict[int, Placed], entry: Entry) -> int:
    holder = family.holder.get(entry.key)
    current = holder is not None and (holder >= family.cursor or holder in placed)
    if current and holder is not None and _fits(family, placed, holder, entry)[0]:
        return holder
    for generation in range(family.cursor, len(family.generations)):
        fits, full = _fits(family, placed, generation, entry)
        if fits:
            return generation
        if full and generation == family.cursor:
            family.cursor += 1
    family.generations.append(Generation())
    if not _fits(family, placed, len(family.generations) - 1, entry)[0]:
        raise ValueError(f"one entry ({entry.key!r}) is larger than a partition's quota of a document")
    return len(family.generations) - 1
