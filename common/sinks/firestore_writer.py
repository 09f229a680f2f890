"""The Firestore write side (also the emulator): one ``WriteBatch`` commit per flush, fenced by the offset.

One :meth:`FirestoreWriter.write` is one commit: first the partition's offset document, written with a
precondition (its last update time as read, or "must not exist"), then every count document of the plan
(:func:`common.sinks.firestore_layout.plan_flush`), with server-side transforms only. Firestore applies a
commit entirely or not at all, so a fenced or failed commit leaves no count behind. Commits are never
retried here: the caller retries with the same lease, and if a timed-out commit did apply, that retry is
refused by the precondition instead of counting twice. The same precondition makes this writer the only one
of its partition, which is why it may remember its quota of each count document between its commits.
"""

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from google.api_core import exceptions as api_errors
from google.cloud import firestore
from google.cloud.firestore_v1 import SERVER_TIMESTAMP, FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath, render_field_path
from google.cloud.firestore_v1.types import write as write_types
from google.protobuf.timestamp_pb2 import Timestamp

from common.keys import count_document_id, offset_key, publication_document_id
from common.sinks.base import (
    ALL_VIEWS,
    CountWriter,
    OffsetLease,
    PartitionFlush,
    SinkError,
    SinkFenced,
    SinkFlushTooLarge,
    SinkUnavailable,
    namespace_outdated,
    namespace_taken,
)
from common.sinks.count_documents import PARTITIONS_PER_GROUP
from common.sinks.firestore import (
    IN_VALUES,
    TRANSIENT,
    call_timeout,
    client_for,
    namespace_root,
    raw_documents,
    reading,
    retry_within,
    stored_layout,
)
from common.sinks.firestore_layout import (
    LAYOUT_VERSION,
    PUBLICATION_CONTAINER,
    DocumentId,
    DocumentPlan,
    FamilyCache,
    FlushEntries,
    plan_flush,
    stored_paths,
)
from common.sinks.reading import chunks

MAX_COMMIT_BYTES = 4 * 1024 * 1024 - 256 * 1024
"""Largest commit we send (sum of the encoded writes). Firestore takes requests up to 10 MiB, but the emulator
refuses gRPC messages over 4 MiB; one bound, under both with a margin for framing, behaves the same in
development and production. See docs/sinks.md for what a flush weighs."""

_FENCED = (api_errors.FailedPrecondition, api_errors.AlreadyExists, api_errors.NotFound)
"""What a commit raises when the offset document's precondition fails (only that write has one)."""

_WRITE = write_types.Write.pb()
_TRANSFORM = write_types.DocumentTransform.FieldTransform
_REQUEST_TIME = _TRANSFORM.ServerValue.REQUEST_TIME


@dataclass
class _Known:
    """What this writer knows of one partition's count documents: true while the lease it was read under,
    and the leases of this writer's own commits since, are current (nobody else wrote the partition)."""

    version: str | None
    families: FamilyCache = field(default_factory=FamilyCache)


class FirestoreWriter(CountWriter):
    """Counts of one consumer group into one counts namespace. Remembers, per partition it wrote, its quota of
    the count documents it writes (the last :data:`~common.sinks.firestore_layout.FAMILIES_KEPT` families)."""

    def __init__(self, client: firestore.Client, namespace: str, group_id: str, window_seconds: int) -> None:
        self._client = client
        self._namespace = namespace
        self._group = group_id
        self._window_seconds = window_seconds
        self._root = namespace_root(client, namespace)
        self._claimed = False
        self._groups_recorded = 0
        """The namespace's ``groups`` as this writer last raised it (0: not yet)."""
        self._known: dict[str, _Known] = {}

    @classmethod
    def connect(
        cls, project: str, database: str, namespace: str, group_id: str, window_seconds: int
    ) -> "FirestoreWriter":
        return cls(client_for(project, database), namespace, group_id, window_seconds)

    def _claim(self, timeout: float | None) -> None:
        """Make the namespace ours, or refuse when another group (or another window) counts into it (checked once
        per writer)."""
        if self._claimed:
            return
        with reading("claim the counts namespace"):
            try:
                self._root.create(
                    {
                        "name": self._namespace,
                        "group": self._group,
                        "window": self._window_seconds,
                        "views": sorted(view.value for view in ALL_VIEWS),
                        "layout": LAYOUT_VERSION,
                        "created_at": SERVER_TIMESTAMP,
                    },
                    retry=retry_within(timeout),
                    timeout=call_timeout(timeout),
                )
            except api_errors.AlreadyExists:
                stored = self._root.get(
                    ["group", "window", "layout"], retry=retry_within(timeout), timeout=call_timeout(timeout)
                )
                owner = (stored.get("group"), stored.get("window"))
                refused = namespace_taken(self._namespace, owner, (self._group, self._window_seconds))
                if refused is not None:
                    raise refused from None
                layout = stored_layout(stored)
                if layout != LAYOUT_VERSION:
                    raise namespace_outdated(self._namespace, layout, LAYOUT_VERSION) from None
        self._claimed = True

    def _record_group(self, partition: int, timeout: float | None) -> None:
        """Raise the namespace's ``groups`` (how many partition groups hold count documents) to cover this
        partition's, before its first commit: readers fetch count documents by id, group by group, and read
        ``groups`` in the same snapshot, so no count they could see lies in a group they do not fetch. The
        first time, also the groups of every stored offset (writers of the version before did not record
        theirs, and every commit writes its partition's offset)."""
        groups = partition // PARTITIONS_PER_GROUP + 1
        if groups <= self._groups_recorded:
            return
        with reading("record the partition groups of the counts namespace"):
            if not self._groups_recorded:
                offsets = self._root.collection("offsets").select(["partition"])
                for _, fields, _ in raw_documents(offsets, timeout=timeout):
                    groups = max(groups, fields["partition"].integer_value // PARTITIONS_PER_GROUP + 1)
            self._root.update(
                {"groups": firestore.Maximum(groups)}, retry=retry_within(timeout), timeout=call_timeout(timeout)
            )
        self._groups_recorded = groups

    def read_offset(self, group_id: str, topic: str, partition: int, *, timeout: float | None = None) -> OffsetLease:
        self._claim(timeout)
        reference = self._root.collection("offsets").document(offset_key(group_id, topic, partition))
        with reading("read an offset"):
            snapshot = reference.get(retry=retry_within(timeout), timeout=call_timeout(timeout))
        if not snapshot.exists:
            return OffsetLease(None, None)
        recent_ids = (snapshot.to_dict() or {}).get("recent_ids", [])
        return OffsetLease(snapshot.get("offset"), _version(snapshot.update_time), tuple(recent_ids))

    def write(self, flush: PartitionFlush, lease: OffsetLease, *, timeout: float | None = None) -> OffsetLease:
        started = time.monotonic()
        self._claim(timeout)
        self._record_group(flush.partition, timeout)
        offset_reference = self._root.collection("offsets").document(
            offset_key(flush.group_id, flush.topic, flush.partition)
        )
        shard = offset_reference.id
        # Taken out while writing: any failure below leaves it dropped, to be read again from Firestore.
        known = self._known.pop(shard, None)
        if known is None or known.version != lease.version:
            known = _Known(lease.version)
        entries = FlushEntries.of(flush)
        self._load(known.families, flush.partition, entries, timeout)
        if timeout is not None and time.monotonic() - started >= timeout:
            # What it read is whole and nothing was written: kept, the retry goes straight to the commit. (A
            # slow store otherwise spends every attempt's time reading the same documents again.)
            self._known[shard] = known
            raise SinkUnavailable(
                f"no time left to commit the flush of partition {flush.partition} after reading its documents; retry"
            )
        batch = self._client.batch()
        offset_fields = {
            "offset": flush.next_offset,
            "group": flush.group_id,
            "topic": flush.topic,
            "partition": flush.partition,
            "recent_ids": list(flush.recent_ids),
            "updated_at": SERVER_TIMESTAMP,
        }
        if lease.version is None:
            batch.create(offset_reference, offset_fields)
        else:
            precondition = self._client.write_option(last_update_time=_timestamp(lease.version))
            batch.update(offset_reference, offset_fields, option=precondition)
        plans = plan_flush(flush, known.families, entries)
        batch._add_write_pbs([count_write(self._path(plan.document), plan) for plan in plans])
        size = sum(type(write).pb(write).ByteSize() for write in batch._write_pbs)
        if size > MAX_COMMIT_BYTES:
            raise SinkFlushTooLarge(
                f"flush of partition {flush.partition} is {size} bytes in {len(batch)} documents, "
                f"over the {MAX_COMMIT_BYTES}-byte commit bound: flush more often (fewer pending entities)"
            )
        left = None if timeout is None else timeout - (time.monotonic() - started)
        if left is not None and left <= 0:
            raise SinkUnavailable(f"no time left to commit the flush of partition {flush.partition}; retry")
        try:
            results = batch.commit(retry=None, timeout=call_timeout(left))
        except (api_errors.GoogleAPICallError, *TRANSIENT) as error:
            raise _commit_failure(error, flush.partition, offset_reference.id) from error
        self.written = len(plans) + 1
        written = OffsetLease(flush.next_offset, _version(results[0].update_time), flush.recent_ids)
        known.version = written.version
        self._known[shard] = known
        return written

    def _reference(self, document: DocumentId) -> Any:
        if document.publication is None:
            return self._root.collection("index").document(
                count_document_id(document.container, document.group, document.generation)
            )
        pub_key = document.publication
        publication = self._root.collection("publications").document(publication_document_id(pub_key))
        if document.is_publication:
            return publication
        return publication.collection("rollups").document(
            count_document_id(document.container, document.group, document.generation)
        )

    def _path(self, document: DocumentId) -> str:
        return str(self._reference(document)._document_path)

    def _load(self, families: FamilyCache, partition: int, entries: FlushEntries, timeout: float | None) -> None:
        """Read what this writer does not know yet of the documents the flush writes: its recorded quota of
        each generation of a family (once per lease: a query per publication and one for the index, projected
        on ``gen`` and ``q.{slot}``), then, in the generation it would fill next, which of the flush's entries
        exist already (one batch read, projected on those entries), so that it charges its quota only for what
        it creates."""
        slot = str(partition % PARTITIONS_PER_GROUP)
        group = partition // PARTITIONS_PER_GROUP
        new: dict[str | None, list[str]] = {}
        for owner, container, _ in entries.counts.families():
            if (owner, container, group) not in families.families:
                new.setdefault(owner, []).append(container)
        with reading(f"read the count documents of partition {partition}"):
            for owner, containers in new.items():
                self._load_quotas(families, owner, group, slot, containers, timeout)
            self._load_entries(families, entries.unknown(families), timeout)

    def _load_quotas(
        self,
        families: FamilyCache,
        owner: str | None,
        group: int,
        slot: str,
        containers: list[str],
        timeout: float | None,
    ) -> None:
        for container in containers:
            families.get((owner, container, group))  # known from now on, even with nothing stored yet
        if owner is None:
            collection = self._root.collection("index")
        else:
            pub_key = owner
            publication = self._root.collection("publications").document(publication_document_id(pub_key))
            collection = publication.collection("rollups")
        queries = [
            collection.where(filter=FieldFilter("grp", "==", group)).where(filter=FieldFilter("cont", "in", list(part)))
            for part in chunks(sorted(containers), IN_VALUES)
        ]
        if owner is not None and group == 0 and PUBLICATION_CONTAINER in containers:
            publications = self._root.collection("publications")
            own = publications.document(publication_document_id(owner))
            queries.append(publications.where(filter=FieldFilter(FieldPath.document_id(), "==", own)))
        paths = ["gen", "cont", FieldPath("q", slot).to_api_repr()]
        for query in queries:
            for _, fields, _ in raw_documents(query.select(paths), timeout=timeout):
                quota = fields["q"].map_value.fields[slot].map_value.fields if "q" in fields else {}
                charges = (quota["f"].integer_value, quota["b"].integer_value) if quota else (0, 0)
                family = families.get((owner, fields["cont"].string_value, group))
                family.load(fields["gen"].integer_value, (), (), charges)

    def _load_entries(
        self, families: FamilyCache, wanted: dict[DocumentId, list[tuple[str, ...]]], timeout: float | None
    ) -> None:
        references = {self._path(document): (document, self._reference(document)) for document in wanted}
        mask = sorted({FieldPath(*names).to_api_repr() for names in itertools.chain(*wanted.values())})
        for part in _masks(mask):
            for snapshot in self._client.get_all(
                [reference for _, reference in references.values()],
                field_paths=part,
                retry=retry_within(timeout),
                timeout=call_timeout(timeout),
            ):
                if not snapshot.exists:
                    continue
                document, _ = references[snapshot.reference._document_path]
                stored, held = stored_paths(_shape(snapshot.to_dict() or {}))
                family = families.get((document.publication, document.container, document.group))
                family.load(document.generation, stored, held, None)

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]


@lru_cache(maxsize=100_000)
def _segment(name: str) -> str:
    """One field name as a field path segment (quoted with backticks unless it is a simple name)."""
    return str(render_field_path([name]))


def field_path(names: tuple[str, ...]) -> str:
    return ".".join(_segment(name) for name in names)


MASK_BYTES = 256 * 1024
"""Most bytes of field paths one read's mask names (a request must stay well under 4 MiB)."""


def _masks(paths: list[str]) -> Iterator[list[str]]:
    """``paths`` in masks of at most :data:`MASK_BYTES`."""
    part: list[str] = []
    size = 0
    for path in paths:
        if part and size + len(path) > MASK_BYTES:
            yield part
            part, size = [], 0
        part.append(path)
        size += len(path)
    if part:
        yield part


def _shape(values: dict[str, Any]) -> dict[str, Any]:
    """The shape of decoded fields: name -> shape of its map, or None for any other value."""
    return {name: _shape(value) if isinstance(value, dict) else None for name, value in values.items()}


def count_write(name: str, plan: DocumentPlan) -> Any:
    """The ``Write`` of one count document: its plain fields set (merged: only those named in the mask) and
    its transforms, built directly as a protobuf (the client's merge takes time quadratic in the fields).
    ``name`` is the document's full resource name."""
    write = _WRITE()
    write.update.name = name
    for names, value in plan.values.items():
        fields = write.update.fields
        for outer in names[:-1]:
            fields = fields[outer].map_value.fields
        if isinstance(value, str):
            fields[names[-1]].string_value = value
        else:
            fields[names[-1]].integer_value = value
        write.update_mask.field_paths.append(field_path(names))
    for change in plan.changes:
        transform = write.update_transforms.add()
        transform.field_path = field_path(change.path)
        if change.kind == "increment":
            transform.increment.integer_value = change.value
        elif change.kind == "maximum":
            transform.maximum.integer_value = change.value
        elif change.kind == "minimum":
            transform.minimum.integer_value = change.value
        else:
            transform.set_to_server_value = _REQUEST_TIME
    return write_types.Write.wrap(write)


def _commit_failure(error: Exception, partition: int, offset_id: str) -> SinkError:
    """What a failed commit means. Firestore applied none of it, except that after a timeout it may have
    applied all of it: a retry with the same lease is then fenced, never counted twice."""
    message = str(error)
    # The emulator answers INVALID_ARGUMENT "Invalid base version" for a lease newer than the stored document
    # (e.g. one read from another partition's document) where Firestore answers FAILED_PRECONDITION.
    if isinstance(error, _FENCED) or (isinstance(error, api_errors.InvalidArgument) and "base version" in message):
        return SinkFenced(
            f"offset {offset_id} changed since the lease was read: another worker wrote partition {partition}; "
            f"drop its pending counts and re-read the offset ({message})"
        )
    if "exceeds maximum size" in message or "payload size exceeds" in message:
        return SinkFlushTooLarge(f"the flush of partition {partition} is too large for one commit: {message}")
    if isinstance(error, TRANSIENT):
        return SinkUnavailable(
            f"Firestore could not commit the flush of partition {partition}: {message}; retry with the same lease"
        )
    return SinkError(f"Firestore refused the flush of partition {partition}: {message}")


def _version(update_time: Any) -> str:
    """A document's update time as RFC 3339 with every nanosecond, the opaque ``OffsetLease.version``."""
    return str(update_time.timestamp_pb().ToJsonString())


def _timestamp(version: str) -> Timestamp:
    timestamp = Timestamp()
    timestamp.FromJsonString(version)
    return timestamp
