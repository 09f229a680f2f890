"""The Google Cloud Firestore sink (also the Firestore emulator): the layout is in docs/sinks.md.

Counts live in map documents ("count documents", :mod:`common.sinks.count_documents`): per partition, one
per (publication, window) and one per publication for all time, so a flush writes a few documents per
publication rather than one per entity. One :meth:`FirestoreSink.write` is one ``WriteBatch`` commit:
``Increment`` transforms for every count and, first in the batch, the partition's offset document written
with a precondition (its last update time as read, or "must not exist"). Firestore applies a commit
entirely or not at all, so a fenced or failed commit leaves no count behind. Commits are never retried
here: the caller retries with the same lease, and if a timed-out commit did apply, that retry is refused by
the precondition instead of counting twice. The same precondition makes the partition's owner the only
writer of its count documents, which is why it may remember how full they are between its commits.
"""

import heapq
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import google.auth.exceptions
from google.api_core import exceptions as api_errors
from google.api_core.retry import Retry, if_exception_type
from google.cloud import firestore
from google.cloud.firestore_v1 import SERVER_TIMESTAMP, FieldFilter, Increment
from google.cloud.firestore_v1.field_path import FieldPath
from google.cloud.firestore_v1.types import document as document_types
from google.cloud.firestore_v1.types import write as write_types
from google.protobuf.timestamp_pb2 import Timestamp

from common.keys import count_document_id, entity_key, offset_key, publication_key
from common.moments import as_utc
from common.sinks.base import (
    EntityCount,
    EntityCountingKey,
    EntityTally,
    OffsetLease,
    PartitionFlush,
    PublicationEntities,
    PublicationSummary,
    Sink,
    SinkError,
    SinkFenced,
    SinkFlushTooLarge,
    SinkUnavailable,
    WindowSummary,
    rank_key,
)
from common.sinks.count_documents import Shelf, entry_bytes
from common.sinks.tallies import all_time_tallies, utc_from_epoch

MAX_COMMIT_BYTES = 4 * 1024 * 1024 - 256 * 1024
"""Largest commit we send (sum of the encoded writes). Firestore takes requests up to 10 MiB, but the emulator
refuses gRPC messages over 4 MiB; one bound, under both with a margin for framing, behaves the same in
development and production. About 14,000 documents of ordinary names; see docs/sinks.md."""

CALL_TIMEOUT_SECONDS = 60.0
"""Deadline of one RPC (a commit, or a whole query stream such as ``limit=0`` over many entities)."""

PING_TIMEOUT_SECONDS = 5.0
"""Deadline of the readiness read."""

_RETRYABLE = (
    api_errors.ServiceUnavailable,
    api_errors.DeadlineExceeded,
    api_errors.InternalServerError,
    api_errors.ResourceExhausted,
    api_errors.Aborted,
    api_errors.Cancelled,
)
_TRANSIENT = (*_RETRYABLE, api_errors.RetryError, google.auth.exceptions.TransportError)
"""Errors that mean "Firestore is unreachable or overloaded right now": SinkUnavailable, retry later."""

_FENCED = (api_errors.FailedPrecondition, api_errors.AlreadyExists, api_errors.NotFound)
"""What a commit raises when the offset document's precondition fails (only that write has one)."""

_READ_RETRY = Retry(
    predicate=if_exception_type(*_RETRYABLE),
    initial=0.1,
    maximum=1.0,
    multiplier=2.0,
    timeout=3.0,
)
"""Reads are idempotent: retry brief blips, but give up within seconds so callers (and /readyz) answer."""

_WRITE = write_types.Write.pb()
_VALUE = document_types.Value.pb()
"""Raw protobuf classes (of the client's proto-plus types), for building count documents' writes quickly."""

_IN_VALUES = 30
"""Values one ``in`` filter takes (Firestore's limit)."""

WINDOW_SHELVES_KEPT = 1_024
"""Windows per partition whose count documents a writer remembers; an older one is read again when touched."""


class FirestoreSink(Sink):
    """Counts and offsets in Firestore. The client is thread-safe, so the read API may share one instance;
    the write side (one writer per process) remembers, per partition it wrote, how full its count documents
    are (the partitions it ever owned: about 1 MB per 10,000 distinct entities)."""

    def __init__(self, client: firestore.Client) -> None:
        self._client = client
        self._shelves: dict[str, _PartitionShelves] = {}

    @classmethod
    def connect(cls, project: str, database: str) -> "FirestoreSink":
        """A sink on ``project``/``database``; the emulator when FIRESTORE_EMULATOR_HOST is set."""
        try:
            return cls(firestore.Client(project=project, database=database))
        except google.auth.exceptions.DefaultCredentialsError as error:
            raise SinkError(
                f"no Google credentials for Firestore project {project}: set GOOGLE_APPLICATION_CREDENTIALS, "
                "or FIRESTORE_EMULATOR_HOST for the emulator, or SINK=sqlite"
            ) from error

    # --- the write side ---

    def read_offset(self, group_id: str, topic: str, partition: int, *, timeout: float | None = None) -> OffsetLease:
        reference = self._client.collection("offsets").document(offset_key(group_id, topic, partition))
        with _reading("read an offset"):
            snapshot = reference.get(retry=_retry_within(timeout), timeout=_call_timeout(timeout))
        if not snapshot.exists:
            return OffsetLease(None, None)
        recent_ids = (snapshot.to_dict() or {}).get("recent_ids", [])
        return OffsetLease(snapshot.get("offset"), _version(snapshot.update_time), tuple(recent_ids))

    def write(self, flush: PartitionFlush, lease: OffsetLease, *, timeout: float | None = None) -> OffsetLease:
        offset_reference = self._client.collection("offsets").document(
            offset_key(flush.group_id, flush.topic, flush.partition)
        )
        shard = offset_reference.id  # names the partition's count documents too
        # Taken out while writing: any failure below leaves it dropped, to be read again from Firestore.
        shelves = self._shelves.pop(shard, None)
        if shelves is None or shelves.version != lease.version:
            shelves = _PartitionShelves(lease.version)
        started = time.monotonic()
        self._load_shelves(shelves, shard, flush, timeout)
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
        self._add_counts(batch, flush, shard, shelves)
        size = sum(type(write).pb(write).ByteSize() for write in batch._write_pbs)
        if size > MAX_COMMIT_BYTES:
            raise SinkFlushTooLarge(
                f"flush of partition {flush.partition} is {size} bytes in {len(batch)} documents, "
                f"over the {MAX_COMMIT_BYTES}-byte commit bound: flush more often (fewer pending entities)"
            )
        try:
            left = None if timeout is None else timeout - (time.monotonic() - started)
            if left is not None and left <= 0:
                raise SinkUnavailable(f"no time left to commit the flush of partition {flush.partition}; retry")
            results = batch.commit(retry=None, timeout=_call_timeout(left))
        except (api_errors.GoogleAPICallError, *_TRANSIENT) as error:
            raise _commit_failure(error, flush.partition, offset_reference.id) from error
        written = OffsetLease(flush.next_offset, _version(results[0].update_time), flush.recent_ids)
        shelves.version = written.version
        shelves.forget_old_windows()
        self._shelves[shard] = shelves
        return written

    def _load_shelves(
        self, shelves: "_PartitionShelves", shard: str, flush: PartitionFlush, timeout: float | None
    ) -> None:
        """Read the partition's count documents of the scopes ``flush`` touches that ``shelves`` lacks."""
        publications = self._client.collection("publications")
        with _reading(f"read the count documents of partition {flush.partition}"):
            for pub_key, delta in flush.publications.items():
                reference = publications.document(pub_key)
                if pub_key not in shelves.totals and any(window.entities for window in delta.windows.values()):
                    query = reference.collection("totals").where(filter=FieldFilter("shard", "==", shard))
                    shelf = shelves.totals[pub_key] = Shelf()
                    for _, fields in _raw_documents(query.select(["gen", "e"]), timeout):
                        _record(shelf, fields)
                missing = sorted(start for start in delta.windows if (pub_key, start) not in shelves.windows)
                for first in range(0, len(missing), _IN_VALUES):
                    found = {start: Shelf() for start in missing[first : first + _IN_VALUES]}
                    query = (
                        reference.collection("windows")
                        .where(filter=FieldFilter("shard", "==", shard))
                        .where(filter=FieldFilter("window_start", "in", list(found)))
                    )
                    for _, fields in _raw_documents(query.select(["window_start", "gen", "e"]), timeout):
                        _record(found[fields["window_start"].integer_value], fields)
                    shelves.windows.update(((pub_key, start), shelf) for start, shelf in found.items())

    def _add_counts(self, batch: Any, flush: PartitionFlush, shard: str, shelves: "_PartitionShelves") -> None:
        """Per publication: its document, one count document per window and one for all time (more when a
        scope's entities pass what one document takes in a commit, see :mod:`common.sinks.count_documents`)."""
        publications = self._client.collection("publications")
        for pub_key, delta in flush.publications.items():
            publication = publications.document(pub_key)
            articles = sum(window.articles for window in delta.windows.values())
            batch.set(
                publication,
                {"name": delta.name, "articles": Increment(articles), "updated_at": SERVER_TIMESTAMP},
                merge=True,
            )
            scope = {"publication": pub_key, "shard": shard}
            for window_start, window in delta.windows.items():
                shelves.windows.move_to_end((pub_key, window_start))
                fields = {
                    **scope,
                    "window_start": window_start,
                    "start": utc_from_epoch(window_start),
                    "end": utc_from_epoch(window_start + flush.window_seconds),
                }
                shelf = shelves.windows[(pub_key, window_start)]
                documents = publication.collection("windows")
                _set_counts(batch, documents, (shard, window_start), fields, shelf, window.entities, window.articles)
            totals = all_time_tallies(delta)
            if totals:
                documents = publication.collection("totals")
                _set_counts(batch, documents, (shard, None), scope, shelves.totals[pub_key], totals, None)

    # --- the read side ---

    def publications(self) -> list[PublicationSummary]:
        query = self._client.collection("publications").select(["name", "articles", "updated_at"])
        with _reading("list publications"):
            documents = [snapshot.to_dict() or {} for snapshot in _stream(query)]
        summaries = [
            PublicationSummary(
                publication=data["name"], articles=data["articles"], updated_at=_plain(data.get("updated_at"))
            )
            for data in documents
        ]
        return sorted(summaries, key=lambda summary: (-summary.articles, summary.publication))

    def entities(
        self,
        publication: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        label: str | None = None,
        limit: int = 20,
    ) -> PublicationEntities | None:
        reference = self._client.collection("publications").document(publication_key(publication))
        merged = _Merged(label)
        with _reading("read entities"):
            snapshot = reference.get(field_paths=["name", "articles"], retry=_READ_RETRY, timeout=CALL_TIMEOUT_SECONDS)
            if not snapshot.exists:
                return None
            if start is None and end is None:
                articles = snapshot.get("articles")
                for recency, fields in _raw_documents(reference.collection("totals").select(["e"])):
                    merged.add(fields, recency)
            else:
                articles = 0
                for window in self._overlapping_windows(reference, start, end):
                    articles += window.articles
                    merged.add_all(window.documents)
        return PublicationEntities(publication=snapshot.get("name"), articles=articles, entities=merged.top(limit))

    def _overlapping_windows(self, publication: Any, start: datetime | None, end: datetime | None) -> list["_Window"]:
        """The windows overlapping ``[start, end)`` with their count documents, in time order."""
        query = publication.collection("windows").select(["window_start", "end", "articles", "e"])
        if end is not None:
            query = query.where(filter=FieldFilter("start", "<", as_utc(end)))
        if start is not None:
            query = query.where(filter=FieldFilter("end", ">", as_utc(start)))
        windows: dict[int, _Window] = {}
        for recency, fields in _raw_documents(query):
            window_start = fields["window_start"].integer_value
            window = windows.setdefault(window_start, _Window(window_start))
            window.end = max(window.end, fields["end"].timestamp_value.seconds)
            window.articles += fields["articles"].integer_value
            window.documents.append(((window_start, *recency), fields))
        return [windows[window_start] for window_start in sorted(windows)]

    def windows(
        self,
        publication: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 10,
    ) -> list[WindowSummary] | None:
        reference = self._client.collection("publications").document(publication_key(publication))
        with _reading("read windows"):
            if not reference.get(field_paths=["articles"], retry=_READ_RETRY, timeout=CALL_TIMEOUT_SECONDS).exists:
                return None
            windows = self._overlapping_windows(reference, start, end)
        summaries = []
        for window in windows:
            merged = _Merged(None)
            merged.add_all(window.documents)
            summaries.append(
                WindowSummary(
                    start=utc_from_epoch(window.start),
                    end=utc_from_epoch(window.end),
                    articles=window.articles,
                    entities=merged.top(limit),
                )
            )
        return summaries

    def ping(self) -> None:
        query = self._client.collection("offsets").select(["offset"]).limit(1)
        with _reading("be read"):
            list(query.stream(retry=_READ_RETRY, timeout=PING_TIMEOUT_SECONDS))

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]


@dataclass
class _PartitionShelves:
    """What this writer knows of one partition's count documents: true while the lease it was read under,
    and the leases of this writer's own commits since, are current (nobody else wrote the partition)."""

    version: str | None
    totals: dict[str, Shelf] = field(default_factory=dict)
    """Publication key -> its all-time count documents."""
    windows: OrderedDict[tuple[str, int], Shelf] = field(default_factory=OrderedDict)
    """(publication key, window start) -> the window's count documents, least recently written first."""

    def forget_old_windows(self) -> None:
        while len(self.windows) > WINDOW_SHELVES_KEPT:
            self.windows.popitem(last=False)


def _record(shelf: Shelf, fields: Any) -> None:
    """Note in ``shelf`` the entities a stored count document holds."""
    generation = fields["gen"].integer_value
    for key, value in fields["e"].map_value.fields.items():
        entry = value.map_value.fields
        shelf.record(generation, key, entry_bytes(key, entry["t"].string_value, entry["l"].string_value))


def _set_counts(
    batch: Any,
    documents: Any,
    place: tuple[str, int | None],
    scope: dict[str, Any],
    shelf: Shelf,
    tallies: dict[EntityCountingKey, EntityTally],
    articles: int | None,
) -> None:
    """Add one scope's increments to ``batch``: one merge-write per count document the shelf places them in,
    the first also carrying ``articles`` (a window's article count). ``place`` is (shard, window start or
    None for all time)."""
    keyed = {entity_key(*key): tally for key, tally in tallies.items()}
    placed = shelf.place({key: entry_bytes(key, tally.text, tally.label) for key, tally in keyed.items()})
    first = min(placed)
    for generation, keys in placed.items():
        reference = documents.document(count_document_id(*place, generation))
        counts = [(key, keyed[key]) for key in keys]
        increment = articles if generation == first else None
        batch._add_write_pbs([count_write(reference._document_path, {**scope, "gen": generation}, counts, increment)])


def count_write(name: str, scope: dict[str, Any], counts: list[tuple[str, EntityTally]], articles: int | None) -> Any:
    """The ``Write`` of one count document: what ``batch.set(reference, fields, merge=True)`` sends for the
    scope's fields, each entity's ``e.{key}.t``/``l`` and ``Increment`` of its ``m``/``a`` (and of ``articles``),
    built directly: the client's merge takes time quadratic in the fields, this linear (docs/sinks.md has the
    figures). ``tests/sinks/test_firestore_writes.py`` checks both give the same protobuf. ``name`` is the
    document's full resource name."""
    write = _WRITE()
    write.update.name = name
    fields = write.update.fields
    mask = list(scope)
    for field_name, value in scope.items():
        fields[field_name].CopyFrom(_value(value))
    transforms = [] if articles is None else [("articles", articles)]
    if counts:  # without entities, no map at all: the merge leaves the stored one as it is
        entities = fields["e"].map_value.fields
        for key, tally in counts:
            entry = entities[key].map_value.fields
            entry["t"].string_value = tally.text
            entry["l"].string_value = tally.label
            path = FieldPath("e", key).to_api_repr()
            mask += (f"{path}.l", f"{path}.t")
            transforms += ((f"{path}.a", tally.articles), (f"{path}.m", tally.mentions))
    write.update_mask.field_paths.extend(mask)
    for field_path, amount in transforms:
        transform = write.update_transforms.add()
        transform.field_path = field_path
        transform.increment.integer_value = amount
    return write_types.Write.wrap(write)


def _value(value: str | int | datetime) -> Any:
    """A Firestore ``Value`` protobuf of a scope field (string, integer or timestamp)."""
    encoded = _VALUE()
    if isinstance(value, str):
        encoded.string_value = value
    elif isinstance(value, datetime):
        encoded.timestamp_value.FromDatetime(value)
    else:
        encoded.integer_value = value
    return encoded


@dataclass
class _Window:
    """One window of a publication as read: its count documents (every partition's, every generation)."""

    start: int
    end: int = 0
    articles: int = 0
    documents: list[tuple[tuple[int, ...], Any]] = field(default_factory=list)
    """(recency, raw fields) of each count document."""


class _Merged:
    """Entity counts summed over count documents. An entity shows the text of its most recent document (the
    latest window, then the latest update): the most recently flushed spelling, as in the SQLite sink."""

    def __init__(self, label: str | None) -> None:
        self._label = label
        self._rows: dict[str, list[Any]] = {}  # entity key -> [mentions, text, label, articles, recency]

    def add(self, fields: Any, recency: tuple[int, ...]) -> None:
        if "e" not in fields:
            return
        for key, value in fields["e"].map_value.fields.items():
            entry = value.map_value.fields
            label = entry["l"].string_value
            if self._label is not None and label != self._label:
                continue
            mentions, articles = entry["m"].integer_value, entry["a"].integer_value
            row = self._rows.get(key)
            if row is None:
                self._rows[key] = [mentions, entry["t"].string_value, label, articles, recency]
                continue
            row[0] += mentions
            row[3] += articles
            if recency > row[4]:
                row[1], row[4] = entry["t"].string_value, recency

    def add_all(self, documents: list[tuple[tuple[int, ...], Any]]) -> None:
        for recency, fields in documents:
            self.add(fields, recency)

    def top(self, limit: int) -> list[EntityCount]:
        """In :func:`common.sinks.base.rank_key` order; ``limit=0``: all. Cut on plain lists before building
        models."""
        key = lambda row: rank_key(row[0], row[1], row[2])  # noqa: E731
        rows = sorted(self._rows.values(), key=key) if limit == 0 else heapq.nsmallest(limit, self._rows.values(), key)
        return [
            EntityCount.model_construct(text=text, label=label, mentions=mentions, articles=articles)
            for mentions, text, label, articles, _ in rows
        ]


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
    if isinstance(error, _TRANSIENT):
        return SinkUnavailable(
            f"Firestore could not commit the flush of partition {partition}: {message}; retry with the same lease"
        )
    return SinkError(f"Firestore refused the flush of partition {partition}: {message}")


@contextmanager
def _reading(what: str) -> Iterator[None]:
    """Turn Firestore's errors on reads into sink errors that say what failed and what to do."""
    try:
        yield
    except _TRANSIENT as error:
        raise SinkUnavailable(f"Firestore could not {what}: {error}; retry later") from error
    except api_errors.FailedPrecondition as error:
        raise SinkError(
            f"Firestore could not {what}: {error.message}; deploy the indexes in firestore.indexes.json"
        ) from error
    except api_errors.GoogleAPICallError as error:
        raise SinkError(f"Firestore could not {what}: {error}") from error


def _stream(query: Any) -> Any:
    return query.stream(retry=_READ_RETRY, timeout=CALL_TIMEOUT_SECONDS)


def _raw_documents(query: Any, timeout: float | None = None) -> Iterator[tuple[tuple[int, int], Any]]:
    """(update time as (seconds, nanos), raw protobuf fields) of each result, for count documents that hold
    thousands of entities each: skipping the client's snapshots and value decoding costs a third of the
    CPU. Uses the query's own (private) stream helper; the contract tests cover it on every run. A failure
    mid-stream raises (SinkUnavailable via :func:`_reading`) rather than resuming."""
    responses, _ = query._get_stream_iterator(None, _retry_within(timeout), _call_timeout(timeout))
    for response in responses:
        message = type(response).pb(response)
        if message.HasField("document"):
            updated = message.document.update_time
            yield (updated.seconds, updated.nanos), message.document.fields


def _call_timeout(timeout: float | None) -> float:
    """One RPC's deadline: ``timeout`` when the caller has a time budget, else :data:`CALL_TIMEOUT_SECONDS`."""
    return CALL_TIMEOUT_SECONDS if timeout is None else max(0.001, min(timeout, CALL_TIMEOUT_SECONDS))


def _retry_within(timeout: float | None) -> Retry:
    """The read retry, giving up within ``timeout`` when the caller has a time budget."""
    return _READ_RETRY if timeout is None else _READ_RETRY.with_timeout(max(0.001, min(timeout, 3.0)))


def _version(update_time: Any) -> str:
    """A document's update time as RFC 3339 with every nanosecond, the opaque ``OffsetLease.version``."""
    return str(update_time.timestamp_pb().ToJsonString())


def _timestamp(version: str) -> Timestamp:
    timestamp = Timestamp()
    timestamp.FromJsonString(version)
    return timestamp


def _plain(moment: datetime | None) -> datetime | None:
    """Firestore's ``DatetimeWithNanoseconds`` as a plain aware datetime (microseconds)."""
    return None if moment is None else datetime.fromisoformat(moment.isoformat())
