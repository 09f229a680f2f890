"""The Firestore layout (docs/sinks.md): which documents and fields a flush writes, as a plan of writes.

Pure logic (no Firestore client): :func:`plan_flush` turns a flush and what the writer knows of the count
documents (:class:`FamilyCache`) into one :class:`DocumentPlan` per document, which
:mod:`common.sinks.firestore_writer` encodes and commits, and :func:`common.sinks.tallies.documents_written`
counts. Under ``namespaces/{namespace}``:

- ``publications/{pub}``: the publication's header (name, articles, first and last window, update time)
  and generation 0 of its all-time family; ``publications/{pub}/rollups/{container}.{group}.{gen}``: the
  other count documents of the publication. Containers: ``m{YYYYMM}`` holds the month's windows and days,
  ``y{YYYY}`` its months, ``all`` the years and all time. Maps: ``n.{bucket}`` articles, ``u.{bucket}`` those
  of them without ``published_at`` (only where there are some), ``e.{bucket}.{entity}`` = ``{m, a, s:
  {~spelling: window}}``.
- ``index/{container}.{group}.{gen}``: the entity index across publications. ``m{YYYYMM}`` days, ``y{YYYY}``
  months, ``all`` years: ``x.{entity}.{bucket}.{pub}`` = ``{m, a}`` and ``n.{bucket}.{pub}`` articles (and
  in ``all``, ``t.{year}``: every publication's articles that year);
  ``dict``: every entity's all-time ``s.{entity}`` = ``{m, a, t: {~spelling: window}}``, for search.
- The aliased view's changes to those counts, in the same documents: ``ae.{bucket}.{entity}`` = ``{m, a,
  s: {~spelling: window}, o: {label: {~spelling: mentions}}}`` beside ``e`` (``s`` only when the change has
  a spelling, ``o``: the raw rows of other keys it holds), ``ax`` beside ``x`` and ``as`` beside ``s`` (its
  spellings in ``t``, as in ``s``).

``{entity}`` is the entity key (32 hex digits) followed by its label; ``{bucket}`` a
:attr:`common.sinks.buckets.Bucket.key`.
"""

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

from common.sinks.base import PartitionFlush
from common.sinks.buckets import Bucket, Level, moment_of
from common.sinks.count_documents import (
    PARTITIONS_PER_GROUP,
    Entry,
    Family,
    Part,
    map_part,
    name_bytes,
    place,
    value_part,
)
from common.sinks.rollups import (
    AliasedTally,
    BucketDelta,
    IndexDelta,
    RollupTally,
    dictionary_deltas,
    index_deltas,
    rollup_deltas,
)

PUBLICATION_CONTAINER = "all"
"""The publication's all-time family; its generation 0 of group 0 is the publication document itself."""

LAYOUT_VERSION = 2
"""The count documents' layout a namespace records (``layout``); 1 (no field) kept a publication's years with its
all time, where an all-time read loaded every year's entries with it."""

DICTIONARY = "dict"
"""The entity index's container of every entity, all time."""

HEADER_TRANSFORMS = 5
"""A publication header's transforms in one commit: articles, undated articles, first and last window, update
time."""

MAX_SPELLING_BYTES = 1_000
"""Longest spelling kept as a map key (Firestore field paths are at most 1,500 bytes); longer ones are cut."""

FAMILIES_KEPT = 512
"""Families one partition's writer remembers; an older one is read again when a flush touches it."""

INTEGER_BYTES = 8
_SEP = "\x1f"
"""Joins field names into a :class:`Part` path (a unit separator cannot be in a field name here)."""

FamilyKey = tuple[str | None, str, int]
"""(publication key, or None for the entity index; container; group)."""


@dataclass(frozen=True)
class DocumentId:
    publication: str | None
    """The publication key, or None for a document of the entity index."""
    container: str
    group: int
    generation: int

    @property
    def is_publication(self) -> bool:
        """The publication's own document (its header and the first generation of all time)."""
        return (
            self.publication is not None
            and self.container == PUBLICATION_CONTAINER
            and self.group == 0
            and self.generation == 0
        )


@dataclass(frozen=True)
class Change:
    """One server-side transform of one field: ``path`` is the field's names, outermost first."""

    path: tuple[str, ...]
    kind: Literal["increment", "maximum", "minimum", "request_time"]
    value: int = 0


@dataclass
class DocumentPlan:
    """One document's write in a commit: plain fields set (merged), and transforms."""

    document: DocumentId
    values: dict[tuple[str, ...], str | int] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)


class FamilyCache:
    """What one partition's writer knows of the count documents it writes (most recently used last)."""

    def __init__(self) -> None:
        self.families: OrderedDict[FamilyKey, Family] = OrderedDict()

    def get(self, key: FamilyKey) -> Family:
        """The family, an empty one when never loaded (a fresh store, or the plan of documents_written)."""
        family = self.families.setdefault(key, Family())
        self.families.move_to_end(key)
        return family

    def forget_old(self) -> None:
        while len(self.families) > FAMILIES_KEPT:
            self.families.popitem(last=False)


def publication_container(bucket: Bucket) -> str:
    """Where a publication's bucket is kept: windows and days with their month, months and the year itself with
    their year, all time alone (with the header)."""
    moment = moment_of(bucket.start)
    if bucket.level in (Level.WINDOW, Level.DAY):
        return f"m{moment:%Y%m}"
    if bucket.level in (Level.MONTH, Level.YEAR):
        return f"y{moment:%Y}"
    return PUBLICATION_CONTAINER


def index_container(bucket: Bucket) -> str:
    """Where the entity index keeps a bucket: days with their month, months with their year, years together."""
    moment = moment_of(bucket.start)
    if bucket.level is Level.DAY:
        return f"m{moment:%Y%m}"
    if bucket.level is Level.MONTH:
        return f"y{moment:%Y}"
    return PUBLICATION_CONTAINER


def storage_key(entity: str, label: str) -> str:
    """An entity's map key: its :func:`common.keys.entity_key` followed by its label."""
    return entity + label


def split_storage_key(key: str) -> tuple[str, str]:
    """(entity key, label) of a map key."""
    return key[:32], key[32:]


def spelling(text: str) -> str:
    """The spelling as a map key: ``~`` and the text, cut to at most :data:`MAX_SPELLING_BYTES` of UTF-8 at a
    character (the ``~`` keeps names such as ``__x__``, which Firestore reserves, out)."""
    encoded = text.encode()
    kept = text if len(encoded) <= MAX_SPELLING_BYTES else encoded[:MAX_SPELLING_BYTES].decode(errors="ignore")
    return "~" + kept


def spelled(key: str) -> str:
    """The text a :func:`spelling` key holds."""
    return key[1:]


def path_of(*names: str) -> str:
    return _SEP.join(names)


@dataclass
class FlushCounts:
    """What a flush adds, computed once for its plan: per publication its buckets, the index, the dictionary."""

    group: int
    slot: int
    publications: dict[str, dict[Bucket, BucketDelta]]
    index: dict[Bucket, IndexDelta]
    dictionary: dict[str, RollupTally]
    aliased_dictionary: dict[str, AliasedTally]

    @classmethod
    def of(cls, flush: PartitionFlush) -> "FlushCounts":
        group, slot = divmod(flush.partition, PARTITIONS_PER_GROUP)
        return cls(
            group,
            slot,
            {pub_key: rollup_deltas(delta, flush.window_seconds) for pub_key, delta in flush.publications.items()},
            index_deltas(flush),
            *dictionary_deltas(flush),
        )

    def families(self) -> set[FamilyKey]:
        """The families the write touches (the writer reads its quotas there once per lease)."""
        families: set[FamilyKey] = {
            (pub_key, publication_container(bucket), self.group)
            for pub_key, buckets in self.publications.items()
            for bucket in buckets
        }
        families.update((None, index_container(bucket), self.group) for bucket in self.index)
        if self.dictionary or self.aliased_dictionary:
            families.add((None, DICTIONARY, self.group))
        return families


# --- the entries of each kind of count (what they may create, and their transforms) ---


_COUNTS_BYTES = 2 * (name_bytes("m") + INTEGER_BYTES)
"""An entry's ``m`` and ``a``."""
_MAPS = {name: map_part(name, name) for name in ("e", "n", "u", "x", "s", "t", "ae", "ax", "as")}


def _article_entry(counts: str, bucket_key: str, articles: int) -> tuple[Entry, list[Change]]:
    """The increment of a bucket's ``n`` (articles) or ``u`` (undated articles)."""
    return (
        Entry(
            path_of(counts, bucket_key),
            (_MAPS[counts], value_part(path_of(counts, bucket_key), bucket_key, INTEGER_BYTES)),
            1,
        ),
        [Change((counts, bucket_key), "increment", articles)],
    )


def _rollup_entries(bucket: Bucket, counts: BucketDelta) -> list[tuple[Entry, list[Change]]]:
    bucket_key = bucket.key
    entries = [_article_entry("n", bucket_key, counts.articles)]
    if counts.undated_articles:
        entries.append(_article_entry("u", bucket_key, counts.undated_articles))
    bucket_map = map_part(path_of("e", bucket_key), bucket_key)
    entity_maps = _MAPS["e"]
    for entity, tally in counts.entities.items():
        key = storage_key(entity, tally.label)
        entry_path = path_of("e", bucket_key, key)
        written = spelling(tally.text)
        parts = (
            entity_maps,
            bucket_map,
            Part(entry_path, 4, len(key) + 1 + _COUNTS_BYTES + 2),
            value_part(path_of(entry_path, "s", written), written, INTEGER_BYTES),
        )
        changes = [
            Change(("e", bucket_key, key, "m"), "increment", tally.mentions),
            Change(("e", bucket_key, key, "a"), "increment", tally.articles),
            Change(("e", bucket_key, key, "s", written), "maximum", tally.seen),
        ]
        entries.append((Entry(entry_path, parts, 3), changes))
    return entries


def _aliased_entry(
    names: tuple[str, ...], tally: AliasedTally, spellings: str, outer: tuple[Part, ...]
) -> tuple[Entry, list[Change]]:
    """One aliased change at ``names`` (its map's names, outermost first; ``outer``: the maps holding it): its
    increments, its spelling's window in map ``spellings`` when it has one, and the raw rows of other keys
    it holds in map ``o``, by label and spelling."""
    entry_path = path_of(*names)
    parts = [*outer, Part(entry_path, 3, len(names[-1]) + 1 + _COUNTS_BYTES)]
    changes = [Change((*names, "m"), "increment", tally.mentions), Change((*names, "a"), "increment", tally.articles)]
    if tally.seen is not None:
        written = spelling(tally.text)
        parts += [
            map_part(path_of(entry_path, spellings), spellings),
            value_part(path_of(entry_path, spellings, written), written, INTEGER_BYTES),
        ]
        changes.append(Change((*names, spellings, written), "maximum", tally.seen))
    if tally.sources:
        parts.append(map_part(path_of(entry_path, "o"), "o"))
    for label in sorted({label for label, _ in tally.sources}):
        parts.append(map_part(path_of(entry_path, "o", label), label))
    for (label, text), mentions in tally.sources.items():
        written = spelling(text)
        parts.append(value_part(path_of(entry_path, "o", label, written), written, INTEGER_BYTES))
        changes.append(Change((*names, "o", label, written), "increment", mentions))
    return Entry(entry_path, tuple(parts), len(changes)), changes


def _aliased_rollup_entries(bucket: Bucket, changes: dict[str, AliasedTally]) -> list[tuple[Entry, list[Change]]]:
    bucket_key = bucket.key
    outer = (_MAPS["ae"], map_part(path_of("ae", bucket_key), bucket_key))
    return [
        _aliased_entry(("ae", bucket_key, storage_key(entity, tally.label)), tally, "s", outer)
        for entity, tally in changes.items()
    ]


def _index_entries(bucket: Bucket, counts: IndexDelta) -> list[tuple[Entry, list[Change]]]:
    bucket_key = bucket.key
    entries = []
    if bucket.level is Level.YEAR:  # the namespace's articles per year: which years hold counts at all
        leaf = path_of("t", bucket_key)
        total = (_MAPS["t"], value_part(leaf, bucket_key, INTEGER_BYTES))
        entries.append((Entry(leaf, total, 1), [Change(("t", bucket_key), "increment", sum(counts.articles.values()))]))
    for pub_key, articles in counts.articles.items():
        leaf = path_of("n", bucket_key, pub_key)
        counted = (_MAPS["n"], map_part(path_of("n", bucket_key), bucket_key), value_part(leaf, pub_key, 8))
        entries.append((Entry(leaf, counted, 1), [Change(("n", bucket_key, pub_key), "increment", articles)]))
    for index_map, found in (("x", counts.entities), ("ax", counts.aliased)):
        for entity, publications in found.items():
            key = storage_key(entity, counts.labels[entity])
            entity_map = map_part(path_of(index_map, key), key)
            entity_bucket = map_part(path_of(index_map, key, bucket_key), bucket_key)
            for pub_key, (mentions, articles) in publications.items():
                leaf = path_of(index_map, key, bucket_key, pub_key)
                parts = (
                    _MAPS[index_map],
                    entity_map,
                    entity_bucket,
                    Part(leaf, 3, len(pub_key) + 1 + _COUNTS_BYTES),
                )
                changes = [
                    Change((index_map, key, bucket_key, pub_key, "m"), "increment", mentions),
                    Change((index_map, key, bucket_key, pub_key, "a"), "increment", articles),
                ]
                entries.append((Entry(leaf, parts, 2), changes))
    return entries


def _aliased_dictionary_entries(changes: dict[str, AliasedTally]) -> list[tuple[Entry, list[Change]]]:
    outer = (_MAPS["as"],)
    return [
        _aliased_entry(("as", storage_key(entity, tally.label)), tally, "t", outer) for entity, tally in changes.items()
    ]


def _dictionary_entries(known: dict[str, RollupTally]) -> list[tuple[Entry, list[Change]]]:
    entries = []
    for entity, tally in known.items():
        key = storage_key(entity, tally.label)
        entry_path = path_of("s", key)
        written = spelling(tally.text)
        parts = (
            _MAPS["s"],
            Part(entry_path, 4, len(key) + 1 + _COUNTS_BYTES + 2),
            value_part(path_of(entry_path, "t", written), written, INTEGER_BYTES),
        )
        changes = [
            Change(("s", key, "m"), "increment", tally.mentions),
            Change(("s", key, "a"), "increment", tally.articles),
            Change(("s", key, "t", written), "maximum", tally.seen),
        ]
        entries.append((Entry(entry_path, parts, 3), changes))
    return entries


# --- the plan ---


@dataclass
class FlushEntries:
    """A flush's entries per family (with their transforms) and its publications' headers: built once, then
    checked against the store (:meth:`unknown`) and placed (:func:`plan_flush`)."""

    flush: PartitionFlush
    counts: FlushCounts
    per_family: dict[FamilyKey, list[tuple[Entry, list[Change]]]]
    headers: dict[str, list[Change]]

    @classmethod
    def of(cls, flush: PartitionFlush) -> "FlushEntries":
        counts = FlushCounts.of(flush)
        group = counts.group
        per_family: dict[FamilyKey, list[tuple[Entry, list[Change]]]] = {}
        headers: dict[str, list[Change]] = {}
        for pub_key, buckets in counts.publications.items():
            for bucket, bucket_counts in buckets.items():
                where = (pub_key, publication_container(bucket), group)
                family_entries = per_family.setdefault(where, [])
                family_entries.extend(_rollup_entries(bucket, bucket_counts))
                family_entries.extend(_aliased_rollup_entries(bucket, bucket_counts.aliased))
            delta = flush.publications[pub_key]
            starts = sorted(delta.windows)
            undated = sum(window.undated_articles for window in delta.windows.values())
            headers[pub_key] = [
                Change(("articles",), "increment", sum(window.articles for window in delta.windows.values())),
                *([Change(("undated",), "increment", undated)] if undated else []),
                Change(("first",), "minimum", starts[0]),
                Change(("last",), "maximum", starts[-1]),
                Change(("updated_at",), "request_time"),
            ]
        for bucket, index in counts.index.items():
            per_family.setdefault((None, index_container(bucket), group), []).extend(_index_entries(bucket, index))
        if counts.dictionary or counts.aliased_dictionary:
            per_family[(None, DICTIONARY, group)] = [
                *_dictionary_entries(counts.dictionary),
                *_aliased_dictionary_entries(counts.aliased_dictionary),
            ]
        return cls(flush, counts, per_family, headers)

    def unknown(self, cache: FamilyCache) -> dict[DocumentId, list[tuple[str, ...]]]:
        """Per family, the generation this partition would fill next and the fields of the flush's entries
        it does not know there (as names): what the writer reads before it places them, so that it charges
        its quota only for what does not exist yet (other partitions create most shared entries)."""
        wanted: dict[DocumentId, list[tuple[str, ...]]] = {}
        for key, entries in self.per_family.items():
            family = cache.families.get(key)
            generation = 0 if family is None else min(family.cursor, max(len(family.generations) - 1, 0))
            seen = set() if family is None or not family.generations else family.generations[generation].seen
            held = {} if family is None else family.holder
            fields = [
                tuple(part.path.split(_SEP))
                for entry, _ in entries
                if entry.key not in held
                for part in entry.parts
                if part.path.startswith(entry.key) and part.path not in seen
            ]
            if fields:
                wanted[DocumentId(key[0], key[1], key[2], generation)] = fields
        return wanted


def plan_flush(flush: PartitionFlush, cache: FamilyCache, entries: FlushEntries | None = None) -> list[DocumentPlan]:
    """Every count document one write of ``flush`` touches and what it writes there, in document order
    (``entries``: :meth:`FlushEntries.of` the flush, when the caller has it already).

    Updates the families in ``cache`` as if the commit succeeds; a writer whose commit fails drops them."""
    entries = entries or FlushEntries.of(flush)
    slot = entries.counts.slot
    plans: dict[DocumentId, DocumentPlan] = {}
    for family_key in sorted(entries.per_family, key=lambda key: (key[0] or "", key[1], key[2])):
        owner, container, family_group = family_key
        family_entries = entries.per_family[family_key]
        family = cache.get(family_key)
        header = owner is not None and container == PUBLICATION_CONTAINER and family_group == 0
        placed = place(family, (entry for entry, _ in family_entries), {0: HEADER_TRANSFORMS} if header else None)
        changes = {entry.key: entry_changes for entry, entry_changes in family_entries}
        for generation, share in sorted(placed.items()):
            document = DocumentId(owner, container, family_group, generation)
            plan = plans.setdefault(document, _new_plan(document))
            for entry in share.entries:
                plan.changes.extend(changes[entry.key])
            known_generation = family.generations[generation]
            plan.values[("q", str(slot), "f")] = known_generation.fields
            plan.values[("q", str(slot), "b")] = known_generation.bytes
    for pub_key, header_changes in entries.headers.items():  # a partition of another group writes the header only
        document = DocumentId(pub_key, PUBLICATION_CONTAINER, 0, 0)
        plan = plans.setdefault(document, _new_plan(document))
        plan.values[("name",)] = flush.publications[pub_key].name
        plan.changes[:0] = header_changes
    cache.forget_old()
    return [plans[document] for document in sorted(plans, key=_order)]


def _new_plan(document: DocumentId) -> DocumentPlan:
    values: dict[tuple[str, ...], str | int] = {
        ("cont",): document.container,
        ("grp",): document.group,
        ("gen",): document.generation,
    }
    return DocumentPlan(document, values)


def _order(document: DocumentId) -> tuple[str, str, int, int]:
    return document.publication or "", document.container, document.group, document.generation


StoredMaps = dict[str, "StoredMaps | None"]
"""The shape of a stored document's maps: each field name -> its map's shape, or None for a value."""


def stored_paths(document: StoredMaps) -> tuple[set[str], set[str]]:
    """The :class:`~common.sinks.count_documents.Part` paths a stored count document holds, and its entry keys:
    what a writer loading it has seen there (the same paths :func:`plan_flush` names)."""
    paths: set[str] = set()
    entries: set[str] = set()

    def walk(prefix: tuple[str, ...], maps: StoredMaps | None, entry_depth: int) -> None:
        for name, inner in (maps or {}).items():
            path = (*prefix, name)
            paths.add(path_of(*path))
            if len(path) == entry_depth:
                entries.add(path_of(*path))
                walk_all(path, inner)
            elif len(path) < entry_depth:
                walk(path, inner, entry_depth)

    def walk_all(prefix: tuple[str, ...], maps: StoredMaps | None) -> None:
        """Every map and value inside an entry (its spellings, the raw rows an aliased change holds)."""
        for name, inner in (maps or {}).items():
            paths.add(path_of(*prefix, name))
            walk_all((*prefix, name), inner)

    for top_name, inner in document.items():
        if top_name == "t":
            paths.add("t")
            walk(("t",), inner, 2)
        elif top_name == "n":
            paths.add("n")
            index = any(value is not None for value in (inner or {}).values())
            walk(("n",), inner, 3 if index else 2)
        elif top_name == "u":
            paths.add("u")
            walk(("u",), inner, 2)
        elif top_name in _ENTRY_DEPTHS:
            paths.add(top_name)
            walk((top_name,), inner, _ENTRY_DEPTHS[top_name])
    return paths, entries


_ENTRY_DEPTHS = {"e": 3, "x": 4, "s": 2, "ae": 3, "ax": 4, "as": 2}
"""The depth of an entry in each map of counts (``e.{bucket}.{entity}``, ``x.{entity}.{bucket}.{pub}``, ...)."""
