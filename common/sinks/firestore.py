"""The Google Cloud Firestore sink (also the Firestore emulator): the layout is in docs/sinks.md.

One :meth:`FirestoreSink.write` is one ``WriteBatch`` commit: ``Increment`` transforms for every count
and, first in the batch, the partition's offset document written with a precondition (its last update
time as read, or "must not exist"). Firestore applies a commit entirely or not at all, so a fenced or
failed commit leaves no count behind. Commits are never retried here: the caller retries with the same
lease, and if a timed-out commit did apply, that retry is refused by the precondition instead of
counting twice.
"""

import heapq
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import google.auth.exceptions
from google.api_core import exceptions as api_errors
from google.api_core.retry import Retry, if_exception_type
from google.cloud import firestore
from google.cloud.firestore_v1 import SERVER_TIMESTAMP, FieldFilter, Increment
from google.protobuf.timestamp_pb2 import Timestamp

from common.keys import entity_key, offset_key, publication_key
from common.sinks.base import (
    EntityCount,
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
    rank,
)
from common.sinks.tallies import all_time_tallies, documents_written, epoch_seconds, utc_from_epoch

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

_ENTITY_FIELDS = ["text", "label", "mentions", "articles"]
_DESCENDING = firestore.Query.DESCENDING


class FirestoreSink(Sink):
    """Counts and offsets in Firestore. The client is thread-safe, so the read API may share one instance."""

    def __init__(self, client: firestore.Client) -> None:
        self._client = client

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

    def read_offset(self, group_id: str, topic: str, partition: int) -> OffsetLease:
        reference = self._client.collection("offsets").document(offset_key(group_id, topic, partition))
        with _reading("read an offset"):
            snapshot = reference.get(retry=_READ_RETRY, timeout=CALL_TIMEOUT_SECONDS)
        if not snapshot.exists:
            return OffsetLease(None, None)
        recent_ids = (snapshot.to_dict() or {}).get("recent_ids", [])
        return OffsetLease(snapshot.get("offset"), _version(snapshot.update_time), tuple(recent_ids))

    def write(self, flush: PartitionFlush, lease: OffsetLease) -> OffsetLease:
        batch = self._client.batch()
        offset_reference = self._client.collection("offsets").document(
            offset_key(flush.group_id, flush.topic, flush.partition)
        )
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
        self._add_increments(batch, flush)
        size = sum(type(write).pb(write).ByteSize() for write in batch._write_pbs)
        if size > MAX_COMMIT_BYTES:
            raise SinkFlushTooLarge(
                f"flush of partition {flush.partition} is {size} bytes in {documents_written(flush)} documents, "
                f"over the {MAX_COMMIT_BYTES}-byte commit bound: flush more often (fewer pending entities)"
            )
        try:
            results = batch.commit(retry=None, timeout=CALL_TIMEOUT_SECONDS)
        except (api_errors.GoogleAPICallError, *_TRANSIENT) as error:
            raise _commit_failure(error, flush.partition, offset_reference.id) from error
        return OffsetLease(flush.next_offset, _version(results[0].update_time), flush.recent_ids)

    def _add_increments(self, batch: Any, flush: PartitionFlush) -> None:
        """One merge-set per document, each with at most two transforms (Firestore allows 500)."""
        publications = self._client.collection("publications")
        for pub_key, delta in flush.publications.items():
            publication = publications.document(pub_key)
            articles = sum(window.articles for window in delta.windows.values())
            batch.set(
                publication,
                {"name": delta.name, "articles": Increment(articles), "updated_at": SERVER_TIMESTAMP},
                merge=True,
            )
            for window_start, window in delta.windows.items():
                window_reference = publication.collection("windows").document(str(window_start))
                bounds = {
                    "start": utc_from_epoch(window_start),
                    "end": utc_from_epoch(window_start + flush.window_seconds),
                }
                batch.set(window_reference, {**bounds, "articles": Increment(window.articles)}, merge=True)
                for key, tally in window.entities.items():
                    batch.set(
                        window_reference.collection("entities").document(entity_key(*key)),
                        {
                            "text": tally.text,
                            "label": tally.label,
                            "mentions": Increment(tally.mentions),
                            "articles": Increment(tally.articles),
                            "pub_key": pub_key,
                            "window_start": window_start,
                        },
                        merge=True,
                    )
            for key, tally in all_time_tallies(delta).items():
                batch.set(
                    publication.collection("entities").document(entity_key(*key)),
                    {
                        "text": tally.text,
                        "label": tally.label,
                        "mentions": Increment(tally.mentions),
                        "articles": Increment(tally.articles),
                    },
                    merge=True,
                )

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
        pub_key = publication_key(publication)
        reference = self._client.collection("publications").document(pub_key)
        with _reading("read entities"):
            snapshot = reference.get(field_paths=["name", "articles"], retry=_READ_RETRY, timeout=CALL_TIMEOUT_SECONDS)
            if not snapshot.exists:
                return None
            if start is None and end is None:
                articles = snapshot.get("articles")
                entities = self._all_time_entities(reference, label, limit)
            else:
                windows = self._overlapping_windows(reference, start, end)
                articles = sum(window[2] for window in windows)
                entities = self._range_entities(pub_key, windows, label, limit)
        return PublicationEntities(publication=snapshot.get("name"), articles=articles, entities=rank(entities, limit))

    def _all_time_entities(self, publication: Any, label: str | None, limit: int) -> list[EntityCount]:
        """With a limit, the server orders exactly as :func:`rank` does (Firestore orders strings by UTF-8
        bytes, i.e. by code point, as Python does), so the first ``limit`` documents are the answer."""
        query = publication.collection("entities").select(_ENTITY_FIELDS)
        if label is not None:
            query = query.where(filter=FieldFilter("label", "==", label))
        if limit > 0:
            query = query.order_by("mentions", direction=_DESCENDING).order_by("text")
            query = (query if label is not None else query.order_by("label")).limit(limit)
        return [_entity(fields) for _, fields in _raw_documents(query)]

    def _overlapping_windows(
        self, publication: Any, start: datetime | None, end: datetime | None
    ) -> list[tuple[int, int, int]]:
        """(start, end, articles) in epoch seconds of the windows overlapping ``[start, end)``, in time order."""
        query = publication.collection("windows").select(["start", "end", "articles"])
        if end is not None:
            query = query.where(filter=FieldFilter("start", "<", _aware(end)))
        if start is not None:
            query = query.where(filter=FieldFilter("end", ">", _aware(start)))
        windows = []
        for snapshot in _stream(query):
            data = snapshot.to_dict() or {}
            windows.append((int(snapshot.id), int(epoch_seconds(data["end"])), data["articles"]))
        return sorted(windows)

    def _range_entities(
        self, pub_key: str, windows: list[tuple[int, int, int]], label: str | None, limit: int
    ) -> list[EntityCount]:
        """Merge the entities of ``windows`` with one collection-group query; the text kept is that of the
        latest window (as in the SQLite sink). Cut to ``limit`` on plain tuples before building models."""
        if not windows:
            return []
        starts = {window[0] for window in windows}
        query = (
            self._client.collection_group("entities")
            .where(filter=FieldFilter("pub_key", "==", pub_key))
            .where(filter=FieldFilter("window_start", ">=", windows[0][0]))
            .where(filter=FieldFilter("window_start", "<=", windows[-1][0]))
        )
        if label is not None:
            query = query.where(filter=FieldFilter("label", "==", label))
        merged: dict[str, list[Any]] = {}  # entity id -> [mentions, text, label, articles, latest window]
        for entity_id, fields in _raw_documents(query.select([*_ENTITY_FIELDS, "window_start"])):
            window_start = fields["window_start"].integer_value
            if window_start not in starts:
                continue
            mentions, articles = fields["mentions"].integer_value, fields["articles"].integer_value
            entry = merged.get(entity_id)
            if entry is None:
                text, label_value = fields["text"].string_value, fields["label"].string_value
                merged[entity_id] = [mentions, text, label_value, articles, window_start]
                continue
            entry[0] += mentions
            entry[3] += articles
            if window_start > entry[4]:
                entry[1], entry[4] = fields["text"].string_value, window_start
        rows: Iterable[list[Any]] = merged.values()
        if limit > 0:
            rows = heapq.nsmallest(limit, rows, key=lambda row: (-row[0], row[1], row[2]))
        return [
            EntityCount.model_construct(text=text, label=entity_label, mentions=mentions, articles=articles)
            for mentions, text, entity_label, articles, _ in rows
        ]

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
            # One small query per window (its top ``limit`` in rank order); a few in flight at once.
            with ThreadPoolExecutor(max_workers=8) as pool:
                tops = list(pool.map(lambda window: self._window_top(reference, window[0], limit), windows))
        return [
            WindowSummary(
                start=utc_from_epoch(window_start),
                end=utc_from_epoch(window_end),
                articles=articles,
                entities=rank(top, limit),
            )
            for (window_start, window_end, articles), top in zip(windows, tops, strict=True)
        ]

    def _window_top(self, publication: Any, window_start: int, limit: int) -> list[EntityCount]:
        query = publication.collection("windows").document(str(window_start)).collection("entities")
        query = query.select(_ENTITY_FIELDS)
        if limit > 0:
            query = query.order_by("mentions", direction=_DESCENDING).order_by("text").order_by("label").limit(limit)
        return [_entity(fields) for _, fields in _raw_documents(query)]

    def ping(self) -> None:
        query = self._client.collection("offsets").select(["offset"]).limit(1)
        with _reading("be read"):
            list(query.stream(retry=_READ_RETRY, timeout=PING_TIMEOUT_SECONDS))

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]


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


def _raw_documents(query: Any) -> Iterator[tuple[str, Any]]:
    """(document id, raw protobuf fields) of each result, for queries that may return tens of thousands of
    entities: skipping the client's snapshots and value decoding makes ``limit=0`` about 3x faster and
    frees the CPU. Uses the query's own (private) stream helper; the contract tests cover it on every run.
    A failure mid-stream raises (SinkUnavailable via :func:`_reading`) rather than resuming."""
    responses, _ = query._get_stream_iterator(None, _READ_RETRY, CALL_TIMEOUT_SECONDS)
    for response in responses:
        message = type(response).pb(response)
        if message.HasField("document"):
            yield message.document.name.rpartition("/")[2], message.document.fields


def _entity(fields: Any) -> EntityCount:
    return EntityCount.model_construct(
        text=fields["text"].string_value,
        label=fields["label"].string_value,
        mentions=fields["mentions"].integer_value,
        articles=fields["articles"].integer_value,
    )


def _version(update_time: Any) -> str:
    """A document's update time as RFC 3339 with every nanosecond, the opaque ``OffsetLease.version``."""
    return str(update_time.timestamp_pb().ToJsonString())


def _timestamp(version: str) -> Timestamp:
    timestamp = Timestamp()
    timestamp.FromJsonString(version)
    return timestamp


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _plain(moment: datetime | None) -> datetime | None:
    """Firestore's ``DatetimeWithNanoseconds`` as a plain aware datetime (microseconds)."""
    return None if moment is None else datetime.fromisoformat(moment.isoformat())
