"""The Firestore read side (also the emulator): the primitive reads of :mod:`common.sinks.reading`.

Every answer reads one snapshot: its first read fixes a ``read_time`` and the others read the store as it
was then, so an article count and the entity sums beside it never come from different commits. Reads
project the fields of the buckets they need (``e.{bucket}``, ``n.{bucket}``, one entity's entries; in the
aliased view also its changes, ``ae.{bucket}`` ...), so a read decodes what it uses, not whole documents.
Count documents are read by id, not by query (:func:`common.sinks.firestore.raw_gets`): the ids of a
container's documents are known but for how many generations it has, which the reader remembers. The client
is thread-safe: one reader serves every thread, and the independent calls of one answer run in parallel
once the snapshot's time is fixed (an answer's latency is then about its slowest call, not the sum of them).
"""

import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1 import Query
from google.cloud.firestore_v1.field_path import FieldPath

from common.keys import count_document_id, publication_document_id
from common.sinks.base import NamespaceRecord, SourceForm, View, namespace_outdated
from common.sinks.buckets import Bucket, Level, bucket_at, epoch_of, levels
from common.sinks.count_documents import PARTITIONS_PER_GROUP
from common.sinks.firestore import (
    IN_VALUES,
    PING_TIMEOUT_SECONDS,
    READ_RETRY,
    client_for,
    namespace_root,
    raw_documents,
    raw_gets,
    reading,
    stored_layout,
)
from common.sinks.firestore_layout import (
    DICTIONARY,
    LAYOUT_VERSION,
    PUBLICATION_CONTAINER,
    index_container,
    publication_container,
    spelled,
    split_storage_key,
    storage_key,
)
from common.sinks.reading import BucketRows, Header, IndexRows, Known, RollupReader, Row, Snapshot, change_row, chunks

HEADER_FIELDS = ["name", "articles", "undated", "first", "last", "updated_at"]

MAX_PROJECTED_FIELDS = 400
"""Most field paths one query projects; a read of more buckets projects whole maps and keeps what it needs."""

PARALLEL_QUERIES = 8
"""Calls of one answer in flight at once (threads shared by every reader of the process)."""

GENERATIONS_KEPT = 100_000
"""Families whose generations a reader remembers; past that it forgets them all and asks again (two each)."""

_QUERIES = ThreadPoolExecutor(PARALLEL_QUERIES, thread_name_prefix="firestore-query")


class FirestoreReader(RollupReader):
    """The read side of one counts namespace."""

    subtracts_margins = True

    def __init__(self, client: firestore.Client, namespace: str, window_seconds: int) -> None:
        super().__init__(window_seconds)
        self._client = client
        self._root = namespace_root(client, namespace)
        self._lock = threading.Lock()
        self.documents_read = 0
        """Documents this reader has read so far (what Firestore bills reads by), for measurements."""
        self._layout_checked = False
        """Set once the namespace's record says it is of this layout (a namespace keeps its layout)."""
        self._generations: dict[tuple[str | None, str, int], int] = {}
        """(publication key, container, group) -> generations seen there (they only grow): how many to fetch."""

    def _counted(self, documents: int) -> None:
        with self._lock:
            self.documents_read += documents

    @classmethod
    def connect(cls, project: str, database: str, namespace: str, window_seconds: int) -> "FirestoreReader":
        return cls(client_for(project, database), namespace, window_seconds)

    @contextmanager
    def _snapshot(self, what: str, view: View = View.RAW) -> Iterator["_FirestoreSnapshot"]:
        snapshot = _FirestoreSnapshot(self._client, self._root, self.window_seconds, view, self._generations)
        try:
            with reading(what):
                if not self._layout_checked:
                    self._check_layout(snapshot)
                yield snapshot
        finally:
            self._counted(snapshot.documents)

    def _check_layout(self, snapshot: "_FirestoreSnapshot") -> None:
        """Refuse a namespace of another layout (its buckets are not where this version looks for them)."""
        stored = self._root.get(["name", "layout"], retry=READ_RETRY)
        snapshot.documents += 1
        if not stored.exists:  # nothing counted yet: ask again at the next answer
            return
        layout = stored_layout(stored)
        if layout != LAYOUT_VERSION:
            raise namespace_outdated(stored.get("name"), layout, LAYOUT_VERSION)
        self._layout_checked = True

    def ping(self) -> None:
        query = self._root.collection("offsets").select(["offset"]).limit(1)
        with reading("be read"):
            list(query.stream(retry=READ_RETRY, timeout=PING_TIMEOUT_SECONDS))

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]


def _path(*names: str) -> str:
    return FieldPath(*names).to_api_repr()


def _add_buckets(fields: Any, by_key: dict[str, Bucket], found: dict[Bucket, BucketRows]) -> None:
    """Add a stored document's buckets that are in ``by_key`` to ``found`` (and their aliased changes, when
    they were read)."""
    for bucket_key, articles in fields["n"].map_value.fields.items() if "n" in fields else ():
        if bucket_key in by_key:
            found[by_key[bucket_key]].articles += articles.integer_value
    for bucket_key, undated in fields["u"].map_value.fields.items() if "u" in fields else ():
        if bucket_key in by_key:
            found[by_key[bucket_key]].undated_articles += undated.integer_value
    for bucket_key, entities in fields["e"].map_value.fields.items() if "e" in fields else ():
        if bucket_key in by_key:
            _add_entries(entities, found[by_key[bucket_key]].entities)
    for bucket_key, entities in fields["ae"].map_value.fields.items() if "ae" in fields else ():
        if bucket_key in by_key:
            _add_changes(entities, found[by_key[bucket_key]].entities)


def _add_changes(entities: Any, rows: dict[str, Row], spellings: str = "s") -> None:
    """Add one bucket's (or the dictionary's) stored aliased changes (entity -> {m, a, s, o}; the dictionary
    keeps the spellings in ``t``) to ``rows``."""
    for key, entry in entities.map_value.fields.items():
        values = entry.map_value.fields
        text, seen = _latest(values[spellings]) if spellings in values else ("", None)
        row = change_row(key[32:], text, seen, values["m"].integer_value, values["a"].integer_value)
        if "o" in values:
            row.sources = _sources(values["o"])
        known = rows.get(key[:32])
        if known is None:
            rows[key[:32]] = row
        else:
            known.add(row)


def _sources(stored: Any) -> dict[SourceForm, int]:
    """The raw rows of other keys an aliased change holds: ``{label: {~spelling: mentions}}``."""
    return {
        (label, spelled(written)): mentions.integer_value
        for label, spellings in stored.map_value.fields.items()
        for written, mentions in spellings.map_value.fields.items()
    }


def _add_entries(entities: Any, rows: dict[str, Row]) -> None:
    """Add one bucket's stored entries (a map of entity -> {m, a, s}) to ``rows``: the sums, and the spelling
    with the latest window (then the larger). The hottest loop of a long read: keys are iterated and looked up
    (a protobuf map's ``items()`` is a Python-level view)."""
    stored = entities.map_value.fields
    known = rows.get
    for key in stored:
        values = stored[key].map_value.fields
        text, seen = _latest(values["s"])
        entity = key[:32]
        row = known(entity)
        if row is None:
            rows[entity] = Row(key[32:], text, seen, values["m"].integer_value, values["a"].integer_value)
            continue
        row.mentions += values["m"].integer_value
        row.articles += values["a"].integer_value
        if (seen, text) > (row.seen, row.text):
            row.seen, row.text = seen, text


def _latest(spellings: Any) -> tuple[str, int]:
    """(text, window) of the spelling with the latest window, then the larger text (one spelling, the usual
    case, without building a tuple)."""
    stored = spellings.map_value.fields
    if len(stored) == 1:
        for key in stored:
            return spelled(key), stored[key].integer_value
    seen, text = max((stored[key].integer_value, spelled(key)) for key in stored)
    return text, seen


class _FirestoreSnapshot(Snapshot):
    def __init__(
        self,
        client: firestore.Client,
        root: Any,
        window_seconds: int,
        view: View,
        generations: dict[tuple[str | None, str, int], int],
    ) -> None:
        super().__init__(view)
        self._client = client
        self._root = root
        self._window_seconds = window_seconds
        self._generations = generations
        self._read_time: datetime | None = None
        """Fixed by the first read that returns a document; until then nothing was read that could disagree."""
        self._groups: int | None = None
        """Partition groups holding count documents (the namespace's ``groups``), once read."""
        self.documents = 0
        """Documents read in this snapshot (by a get: every one asked for, found or not)."""

    def _documents(self, query: Any) -> Iterator[tuple[str, Any]]:
        """Raw documents of ``query`` as of this snapshot (the first read of the snapshot fixes its time)."""
        for name, fields, read_time in raw_documents(query, self._read_time):
            self.documents += 1
            if self._read_time is None:
                self._read_time = read_time
            yield name, fields

    def namespace(self) -> NamespaceRecord | None:
        stored = self._root.get(["name", "group", "window", "views"], retry=READ_RETRY)
        self.documents += 1
        if not stored.exists:
            return None
        views = stored.get("views") if "views" in (stored.to_dict() or {}) else [View.RAW.value]
        return NamespaceRecord(
            stored.get("name"), stored.get("group"), stored.get("window"), frozenset(View(view) for view in views)
        )

    @property
    def _aliased(self) -> bool:
        return self.view is View.ALIASED

    def _publication(self, pub_key: str) -> Any:
        return self._root.collection("publications").document(publication_document_id(pub_key))

    @staticmethod
    def _header(pub_key: str, fields: Any) -> Header:
        updated = fields["updated_at"].timestamp_value.ToDatetime(tzinfo=UTC)
        return Header(
            pub_key,
            fields["name"].string_value,
            fields["articles"].integer_value,
            fields["first"].integer_value,
            fields["last"].integer_value,
            updated,
            fields["undated"].integer_value if "undated" in fields else 0,
        )

    def header(self, pub_key: str) -> Header | None:
        """The publication's header, read with the namespace's ``groups`` (one call, which fixes the snapshot's
        time when it is its first read)."""
        publication = self._publication(pub_key)._document_path
        found = self._got([self._root._document_path, publication], ["groups", *HEADER_FIELDS])
        self._note_groups(found[self._root._document_path])
        fields = found[publication]
        return None if fields is None or "name" not in fields else self._header(pub_key, fields)

    def _got(self, paths: Sequence[str], field_paths: Sequence[str] | None) -> dict[str, Any | None]:
        """Raw fields (None: no such document) of each of ``paths`` as of this snapshot, in one call."""
        found = {}
        for path, fields, read_time in raw_gets(self._client, paths, field_paths, self._read_time):
            self.documents += 1
            if self._read_time is None:
                self._read_time = read_time
            found[path] = fields
        return found

    def _note_groups(self, namespace: Any | None) -> None:
        """Take ``groups`` from the namespace's raw fields; a namespace written before it was recorded counts its
        groups from the partitions of its offsets (read at the snapshot's time)."""
        if namespace is not None and "groups" in namespace:
            self._groups = namespace["groups"].integer_value
            return
        offsets = self._root.collection("offsets").select(["partition"])
        partitions = [fields["partition"].integer_value for _, fields in self._documents(offsets)]
        self._groups = max(partitions) // PARTITIONS_PER_GROUP + 1 if partitions else 0

    def _partition_groups(self) -> int:
        if self._groups is None:
            self._note_groups(self._got([self._root._document_path], ["groups"])[self._root._document_path])
        assert self._groups is not None
        return self._groups

    def page(self, limit: int, after: tuple[int, str] | None) -> list[Header]:
        query = (
            self._root.collection("publications")
            .select(HEADER_FIELDS)
            .order_by("articles", direction=Query.DESCENDING)
            .order_by("name")
        )
        if after is not None:
            query = query.start_after({"articles": after[0], "name": after[1]})
        if limit:
            query = query.limit(limit)
        return [self._header(name, fields) for name, fields in self._documents(query)]

    def _rollup_documents(
        self, pub_key: str, buckets: Sequence[Bucket], entity: tuple[str, str] | None
    ) -> Iterator[Any]:
        """The raw fields of the publication's count documents holding ``buckets``, projected on them (and on the
        whole ``u`` map of each container: it holds only the buckets with undated articles)."""
        key = None if entity is None else storage_key(*entity)
        maps = ("e", "ae") if self._aliased else ("e",)
        per_container: dict[str, list[str]] = {}
        for bucket in buckets:
            paths = per_container.setdefault(publication_container(bucket), ["u"])
            paths.append(_path("n", bucket.key))
            paths += [_path(name, bucket.key) if key is None else _path(name, bucket.key, key) for name in maps]
        reads = [(containers, list(dict.fromkeys(paths))) for containers, paths in _projected_reads(per_container)]
        yield from self._count_documents(pub_key, reads)

    def _count_documents(self, pub_key: str | None, reads: Sequence[tuple[Sequence[str], list[str]]]) -> Iterator[Any]:
        """The raw fields of every count document of the publication (None: of the entity index) in each
        (containers, field paths) of ``reads``, projected on those paths: fetched by id, the calls of a round in
        parallel. A family's generations are numbered 0, 1, ... without gaps (a writer adds the one after the
        last it knows), so a round asks each family for the generations seen there before and one more (two
        when none were seen); a family whose last one asked for exists is asked for as many again next round."""
        rounds = [
            (paths, (container, group), 0, max(self._generations.get((pub_key, container, group), 0) + 1, 2))
            for containers, paths in reads
            for container in containers
            for group in range(self._partition_groups())
        ]
        while rounds:
            calls: dict[tuple[str, ...], dict[str, tuple[tuple[str, int], int, int]]] = {}
            for paths, (container, group), first, stop in rounds:
                asked = calls.setdefault(tuple(paths), {})
                for generation in range(first, stop):
                    path = self._count_document(pub_key, container, group, generation)._document_path
                    asked[path] = ((container, group), generation, stop)
            rounds = []
            for field_paths, path, fields in self._got_in_parallel(calls):
                if fields is None:
                    continue
                yield fields
                (container, group), generation, stop = calls[field_paths][path]
                key = (pub_key, container, group)
                if len(self._generations) >= GENERATIONS_KEPT and key not in self._generations:
                    self._generations.clear()
                self._generations[key] = max(self._generations.get(key, 0), generation + 1)
                if generation == stop - 1:
                    rounds.append((list(field_paths), (container, group), stop, 2 * stop))

    def _count_document(self, pub_key: str | None, container: str, group: int, generation: int) -> Any:
        if pub_key is None:
            return self._root.collection("index").document(count_document_id(container, group, generation))
        publication = self._publication(pub_key)
        if container == PUBLICATION_CONTAINER and group == 0 and generation == 0:
            return publication  # the publication's own document
        return publication.collection("rollups").document(count_document_id(container, group, generation))

    def _got_in_parallel(self, calls: dict[tuple[str, ...], Any]) -> Iterator[tuple[tuple[str, ...], str, Any | None]]:
        """(field paths, document path, raw fields or None) of the documents named by each call (field paths ->
        document paths), as of this snapshot; the calls run in parallel (:data:`PARALLEL_QUERIES`) once its time
        is fixed, each call's documents as soon as it has them all."""
        waiting = list(calls.items())
        while waiting and self._read_time is None:
            field_paths, paths = waiting.pop(0)
            for path, fields in self._got(list(paths), list(field_paths)).items():
                yield field_paths, path, fields
        fetches = {
            _QUERIES.submit(_gotten, self._client, list(paths), list(field_paths), self._read_time): field_paths
            for field_paths, paths in waiting
        }
        try:
            for fetched in as_completed(fetches):
                for path, fields, _ in fetched.result():
                    self.documents += 1
                    yield fetches[fetched], path, fields
        finally:  # a failed read (or a caller that stops early) leaves no call running for nothing
            for fetch in fetches:
                fetch.cancel()

    def rollups(
        self, pub_key: str, buckets: Sequence[Bucket], entity: tuple[str, str] | None = None
    ) -> dict[Bucket, BucketRows]:
        found = {bucket: BucketRows() for bucket in buckets}
        by_key = {bucket.key: bucket for bucket in buckets}
        for fields in self._rollup_documents(pub_key, buckets, entity):
            _add_buckets(fields, by_key, found)
        return found

    def sums(self, pub_key: str, groups: Sequence[Sequence[Bucket]]) -> list[tuple[int, int, dict[str, Row]]]:
        """Each stored bucket decoded straight into the sums of the groups that hold it: no row per bucket."""
        in_groups: dict[str, list[int]] = {}
        for number, group in enumerate(groups):
            for bucket in group:
                in_groups.setdefault(bucket.key, []).append(number)
        articles, undated = [0] * len(groups), [0] * len(groups)
        rows: list[dict[str, Row]] = [{} for _ in groups]
        buckets = tuple(dict.fromkeys(bucket for group in groups for bucket in group))
        for fields in self._rollup_documents(pub_key, buckets, None):
            for bucket_key, count in fields["n"].map_value.fields.items() if "n" in fields else ():
                for number in in_groups.get(bucket_key, ()):
                    articles[number] += count.integer_value
            for bucket_key, count in fields["u"].map_value.fields.items() if "u" in fields else ():
                for number in in_groups.get(bucket_key, ()):
                    undated[number] += count.integer_value
            for bucket_key, entities in fields["e"].map_value.fields.items() if "e" in fields else ():
                for number in in_groups.get(bucket_key, ()):
                    _add_entries(entities, rows[number])
            for bucket_key, entities in fields["ae"].map_value.fields.items() if "ae" in fields else ():
                for number in in_groups.get(bucket_key, ()):
                    _add_changes(entities, rows[number])
        return list(zip(articles, undated, rows, strict=True))

    def latest_spellings(
        self, pub_key: str, buckets: Sequence[Bucket], entities: dict[str, str]
    ) -> dict[str, tuple[int, str]]:
        """Container by container, the latest first, projected on the spellings of the entities not found yet.
        The buckets of a range's tiles in one container are one stretch of time (a month's windows and days, a
        year's months, the years), so the first container that holds an entity holds its latest spelling: the
        top entities of a range are usually all in its last month, one read."""
        per_container: dict[str, list[Bucket]] = {}
        for bucket in buckets:
            per_container.setdefault(publication_container(bucket), []).append(bucket)
        found: dict[str, tuple[int, str]] = {}
        for container, held in sorted(per_container.items(), key=lambda item: item[1][-1].end, reverse=True):
            keys = {storage_key(entity, label): entity for entity, label in entities.items() if entity not in found}
            if not keys:
                break
            paths = [_path("e", bucket.key, key, "s") for bucket in held for key in keys]
            latest: dict[str, tuple[int, str]] = {}
            for fields in self._count_documents(pub_key, list(_projected_reads({container: paths}))):
                for stored in fields["e"].map_value.fields.values() if "e" in fields else ():
                    for key, entry in stored.map_value.fields.items():
                        text, seen = _latest(entry.map_value.fields["s"])
                        entity = keys[key]
                        latest[entity] = max(latest.get(entity, (seen, text)), (seen, text))
            found.update(latest)
        return found

    def windows(self, pub_key: str, low: int, high: int) -> dict[Bucket, BucketRows]:
        months, moment = [], bucket_at(Level.MONTH, low, 1)
        while moment.start < high:  # the month containers, named by any of their days
            months.append(publication_container(bucket_at(Level.DAY, moment.start, 1)))
            moment = bucket_at(Level.MONTH, moment.end, 1)
        found: dict[Bucket, BucketRows] = {}
        maps = ["n", "e", "ae"] if self._aliased else ["n", "e"]
        for fields in self._count_documents(pub_key, [(part, maps) for part in chunks(months, IN_VALUES)]):
            by_key = {}
            named = [bucket_key for name in maps if name in fields for bucket_key in fields[name].map_value.fields]
            for bucket_key in named:  # a generation may hold a window's entities but not its article count
                bucket = self._finest_bucket(bucket_key)
                if bucket is not None and bucket.start < high and bucket.end > low:
                    by_key[bucket_key] = bucket
                    found.setdefault(bucket, BucketRows())
            _add_buckets(fields, by_key, found)
        return found

    def _finest_bucket(self, bucket_key: str) -> Bucket | None:
        """The finest-level bucket a key of a month container names (windows ``w…``, or days ``d…`` when a
        window is a whole day); None for the other keys."""
        finest = levels(self._window_seconds)[0]
        if finest is Level.WINDOW and bucket_key.startswith("w"):
            return bucket_at(Level.WINDOW, int(bucket_key[1:]), self._window_seconds)
        if finest is Level.DAY and bucket_key.startswith("d"):
            day = datetime.strptime(bucket_key[1:], "%Y%m%d").replace(tzinfo=UTC)
            return bucket_at(Level.DAY, epoch_of(day), self._window_seconds)
        return None

    def index_years(self) -> list[int]:
        years: set[int] = set()
        for fields in self._count_documents(None, [([PUBLICATION_CONTAINER], ["t"])]):
            years.update(_year_start(key) for key in (fields["t"].map_value.fields if "t" in fields else ()))
        return sorted(years)

    def index(self, entity: str, label: str, buckets: Sequence[Bucket]) -> dict[Bucket, IndexRows]:
        key = storage_key(entity, label)
        found = {bucket: IndexRows() for bucket in buckets}
        by_key = {bucket.key: bucket for bucket in buckets}
        maps = ("x", "ax") if self._aliased else ("x",)
        paths = [_path("n", b.key) for b in buckets] + [_path(name, key, b.key) for b in buckets for name in maps]
        if len(paths) > MAX_PROJECTED_FIELDS:
            paths = ["n", *(_path(name, key) for name in maps)]
        containers = sorted({index_container(bucket) for bucket in buckets})
        for fields in self._count_documents(None, [(part, paths) for part in chunks(containers, IN_VALUES)]):
            for bucket_key, publications in fields["n"].map_value.fields.items() if "n" in fields else ():
                if bucket_key in by_key:
                    articles = found[by_key[bucket_key]].articles
                    for pub_key, count in publications.map_value.fields.items():
                        articles[pub_key] = articles.get(pub_key, 0) + count.integer_value
            for name in maps:
                entries = fields[name].map_value.fields[key].map_value.fields if name in fields else {}
                for bucket_key, publications in entries.items():
                    if bucket_key in by_key:
                        mentioned = found[by_key[bucket_key]].entity
                        for pub_key, entry in publications.map_value.fields.items():
                            total = mentioned.setdefault(pub_key, [0, 0])
                            total[0] += entry.map_value.fields["m"].integer_value
                            total[1] += entry.map_value.fields["a"].integer_value
        return found

    def dictionary(self, folded_prefix: str, label: str | None) -> Iterable[Known]:
        merged: dict[str, Row] = {}
        for fields in self._count_documents(None, [([DICTIONARY], ["s", "as"] if self._aliased else ["s"])]):
            for key, entry in fields["s"].map_value.fields.items() if "s" in fields else ():
                entity, found_label = split_storage_key(key)
                if label is not None and found_label != label:
                    continue
                values = entry.map_value.fields
                row = Row(found_label, *_latest(values["t"]), values["m"].integer_value, values["a"].integer_value)
                known = merged.get(entity)
                if known is None:
                    merged[entity] = row
                else:
                    known.add(row)
            if "as" in fields:
                _add_changes(fields["as"], merged, spellings="t")
        return [Known(entity, row) for entity, row in merged.items() if label is None or row.label == label]


def _gotten(
    client: firestore.Client, paths: list[str], field_paths: list[str], read_time: datetime | None
) -> list[tuple[str, Any | None, datetime | None]]:
    """Every document of ``paths`` (in a thread of :data:`_QUERIES`)."""
    return list(raw_gets(client, paths, field_paths, read_time))


def _projected_reads(per_container: dict[str, list[str]]) -> Iterator[tuple[list[str], list[str]]]:
    """(containers, field paths) of the reads that fetch ``per_container``'s paths, run in parallel
    (:meth:`_FirestoreSnapshot._got_in_parallel`, one call each): a container of months or years (``y…``,
    ``all``: the whole vocabulary of each of its buckets, the largest reads) alone; month containers (windows
    and days: small documents) together while their paths stay under :data:`MAX_PROJECTED_FIELDS` (and 30
    containers); a container with more paths than that alone in several reads. (Chosen when reads were
    queries: five years not aligned to days 292-306 -> 223-225 ms against one query of every container. Read
    by id, splitting one container's documents over more parallel calls measured no faster: 2026-12-02, a
    year 20-21 ms in one call against 23-28 ms in calls of 3 documents.)"""
    containers: list[str] = []
    paths: list[str] = []
    for container, wanted in sorted(per_container.items()):
        if not container.startswith("m") or len(wanted) > MAX_PROJECTED_FIELDS:
            for first in range(0, len(wanted), MAX_PROJECTED_FIELDS):
                yield [container], wanted[first : first + MAX_PROJECTED_FIELDS]
            continue
        if containers and (len(paths) + len(wanted) > MAX_PROJECTED_FIELDS or len(containers) == IN_VALUES):
            yield containers, paths
            containers, paths = [], []
        containers.append(container)
        paths += wanted
    if containers:
        yield containers, paths


def _year_start(bucket_key: str) -> int:
    """Start of the year a year bucket's key (``y2023``) names."""
    return epoch_of(datetime(int(bucket_key[1:]), 1, 1, tzinfo=UTC))
