"""The embedded sink: one SQLite file in WAL mode that many worker processes write at once.

Each :meth:`SqliteSink.write` is one ``BEGIN IMMEDIATE`` transaction: it takes the database's write lock,
checks the partition's offset row still has the lease's version, applies every increment, stores a new
version and commits, so a fenced or failed write leaves nothing behind. A version is a random token, not a
counter, so a lease can never match another partition's row or a row recreated after the file was reset.
Tables mirror the Firestore layout (see docs/sinks.md); keys come from :mod:`common.keys` and every value
is a bound parameter.
"""

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

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
    SinkUnavailable,
    WindowSummary,
    rank,
)
from common.sinks.tallies import all_time_tallies, epoch_seconds, utc_from_epoch

BUSY_TIMEOUT_MS = 30_000
"""How long a writer waits for another process's transaction before giving up (SinkUnavailable)."""

_TRANSIENT_CODES = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
}
"""Primary result codes that mean "the file is busy or unreachable right now", not a bug."""

_BUSY_TIMEOUTS = (
    (30.0, "PRAGMA busy_timeout = 30000"),
    (10.0, "PRAGMA busy_timeout = 10000"),
    (3.0, "PRAGMA busy_timeout = 3000"),
    (1.0, "PRAGMA busy_timeout = 1000"),
    (0.0, "PRAGMA busy_timeout = 100"),
)
"""How long a call waits for another process's write lock, for a caller's time budget (constant statements:
no SQL is built at run time); the longest that fits the budget, at most :data:`BUSY_TIMEOUT_MS`."""

_FAR_PAST = -(2**62)
_FAR_FUTURE = 2**62

_SCHEMA = """
CREATE TABLE IF NOT EXISTS publications (
    pub_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    articles INTEGER NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS windows (
    pub_key TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    window_end INTEGER NOT NULL,
    articles INTEGER NOT NULL,
    PRIMARY KEY (pub_key, window_start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS window_entities (
    pub_key TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    entity_key TEXT NOT NULL,
    text TEXT NOT NULL,
    label TEXT NOT NULL,
    mentions INTEGER NOT NULL,
    articles INTEGER NOT NULL,
    PRIMARY KEY (pub_key, window_start, entity_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entities (
    pub_key TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    text TEXT NOT NULL,
    label TEXT NOT NULL,
    mentions INTEGER NOT NULL,
    articles INTEGER NOT NULL,
    PRIMARY KEY (pub_key, entity_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entities_by_rank ON entities (pub_key, mentions DESC, text, label);
CREATE INDEX IF NOT EXISTS entities_by_label_rank ON entities (pub_key, label, mentions DESC, text);
CREATE TABLE IF NOT EXISTS offsets (
    offset_key TEXT PRIMARY KEY,
    group_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    version TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    recent_ids TEXT NOT NULL DEFAULT '[]'
) WITHOUT ROWID;
"""

_UPSERT_PUBLICATION = """
INSERT INTO publications (pub_key, name, articles, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (pub_key) DO UPDATE SET
    name = excluded.name, articles = articles + excluded.articles, updated_at = excluded.updated_at
"""
_UPSERT_WINDOW = """
INSERT INTO windows (pub_key, window_start, window_end, articles) VALUES (?, ?, ?, ?)
ON CONFLICT (pub_key, window_start) DO UPDATE SET articles = articles + excluded.articles
"""
_UPSERT_WINDOW_ENTITY = """
INSERT INTO window_entities (pub_key, window_start, entity_key, text, label, mentions, articles)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (pub_key, window_start, entity_key) DO UPDATE SET
    text = excluded.text, mentions = mentions + excluded.mentions, articles = articles + excluded.articles
"""
_UPSERT_ENTITY = """
INSERT INTO entities (pub_key, entity_key, text, label, mentions, articles) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (pub_key, entity_key) DO UPDATE SET
    text = excluded.text, mentions = mentions + excluded.mentions, articles = articles + excluded.articles
"""
_UPSERT_OFFSET = """
INSERT INTO offsets (offset_key, group_id, topic, partition, next_offset, version, updated_at, recent_ids)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (offset_key) DO UPDATE SET
    next_offset = excluded.next_offset, version = excluded.version, updated_at = excluded.updated_at,
    recent_ids = excluded.recent_ids
"""

_ALL_TIME_ENTITIES = """
SELECT text, label, mentions, articles FROM entities WHERE pub_key = ?
ORDER BY mentions DESC, text, label LIMIT ?
"""
_ALL_TIME_ENTITIES_OF_LABEL = """
SELECT text, label, mentions, articles FROM entities WHERE pub_key = ? AND label = ?
ORDER BY mentions DESC, text, label LIMIT ?
"""
_OVERLAPPING_WINDOWS = """
SELECT window_start, window_end, articles FROM windows
WHERE pub_key = ? AND window_start < ? AND window_end > ?
ORDER BY window_start
"""
# With one max() aggregate, SQLite takes the bare column ``text`` from the row holding the max: the text of
# the latest window in the range, the rule the Firestore sink follows too. ``label = coalesce(?, label)``
# keeps one statement for "any label" and "this label" (the range scan is by pub_key and window either way).
_RANGE_ENTITIES = """
SELECT text, label, SUM(mentions) AS total_mentions, SUM(articles), MAX(window_start)
FROM window_entities
WHERE pub_key = ? AND label = coalesce(?, label) AND window_start IN (
    SELECT window_start FROM windows WHERE pub_key = ? AND window_start < ? AND window_end > ?
)
GROUP BY entity_key
ORDER BY total_mentions DESC, text, label
LIMIT ?
"""
_TOP_ENTITIES_PER_WINDOW = """
SELECT window_start, text, label, mentions, articles FROM (
    SELECT window_start, text, label, mentions, articles,
        ROW_NUMBER() OVER (PARTITION BY window_start ORDER BY mentions DESC, text, label) AS place
    FROM window_entities
    WHERE pub_key = ? AND window_start IN (
        SELECT window_start FROM windows WHERE pub_key = ? AND window_start < ? AND window_end > ?
    )
)
WHERE ? = 0 OR place <= ?
"""


class SqliteSink(Sink):
    """Counts and offsets in one SQLite file; safe for many processes, and for threads of one process
    (calls are serialized on a lock, so the read API may share one instance)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SinkError(
                f"cannot create the folder of the SQLite sink {path}: {error}; check SQLITE_PATH"
            ) from error
        try:
            self._connection = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise SinkUnavailable(f"cannot open the SQLite sink {path}: {error}; check SQLITE_PATH") from error
        try:
            with self._guarded("be opened (check SQLITE_PATH)") as connection:
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = FULL")
                with self._transaction("BEGIN IMMEDIATE"):
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            connection.execute(statement)
                    offset_columns = {row[1] for row in connection.execute("PRAGMA table_info(offsets)")}
                    if "recent_ids" not in offset_columns:  # a file made before article-id deduplication
                        connection.execute("ALTER TABLE offsets ADD COLUMN recent_ids TEXT NOT NULL DEFAULT '[]'")
        except SinkError:
            self._connection.close()
            raise

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` (writes: take the write lock now, waiting up to the busy timeout) or ``BEGIN``
        (reads: one consistent snapshot for the several statements of an answer) ... ``COMMIT``; rolled
        back on any error, including a failed commit."""
        self._connection.execute(begin)
        try:
            yield
            self._connection.execute("COMMIT")
        except BaseException:
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
            raise

    @contextmanager
    def _guarded(self, what: str, timeout: float | None = None) -> Iterator[sqlite3.Connection]:
        """Serialize calls on this instance; a busy or unreachable file is SinkUnavailable, anything else
        (a corrupt file, not a database) SinkError. ``timeout`` bounds the wait for another writer's lock."""
        with self._lock:
            try:
                busy_timeout = _busy_timeout_statement(timeout)
                self._connection.execute(busy_timeout)
                yield self._connection
            except sqlite3.Error as error:
                if getattr(error, "sqlite_errorcode", 0) & 0xFF in _TRANSIENT_CODES:
                    raise SinkUnavailable(f"SQLite sink {self.path} could not {what}: {error}; retry") from error
                raise SinkError(f"SQLite sink {self.path} could not {what}: {error}") from error

    # --- the write side ---

    def read_offset(self, group_id: str, topic: str, partition: int, *, timeout: float | None = None) -> OffsetLease:
        with self._guarded("read an offset", timeout) as connection:
            row = connection.execute(
                "SELECT next_offset, version, recent_ids FROM offsets WHERE offset_key = ?",
                (offset_key(group_id, topic, partition),),
            ).fetchone()
        return OffsetLease(None, None) if row is None else OffsetLease(row[0], row[1], tuple(json.loads(row[2])))

    def write(self, flush: PartitionFlush, lease: OffsetLease, *, timeout: float | None = None) -> OffsetLease:
        key = offset_key(flush.group_id, flush.topic, flush.partition)
        now = datetime.now(UTC).isoformat()
        with self._guarded("write a flush", timeout) as connection, self._transaction("BEGIN IMMEDIATE"):
            row = connection.execute("SELECT version FROM offsets WHERE offset_key = ?", (key,)).fetchone()
            stored = None if row is None else row[0]
            if stored != lease.version:
                raise SinkFenced(
                    f"offset {key} is at version {stored}, the lease holds {lease.version}: "
                    "another worker wrote this partition; drop pending counts and re-read the offset"
                )
            self._apply_increments(connection, flush, now)
            version = uuid.uuid4().hex
            connection.execute(
                _UPSERT_OFFSET,
                (
                    key,
                    flush.group_id,
                    flush.topic,
                    flush.partition,
                    flush.next_offset,
                    version,
                    now,
                    json.dumps(flush.recent_ids),
                ),
            )
        return OffsetLease(flush.next_offset, version, flush.recent_ids)

    @staticmethod
    def _apply_increments(connection: sqlite3.Connection, flush: PartitionFlush, now: str) -> None:
        for pub_key, delta in flush.publications.items():
            articles = sum(window.articles for window in delta.windows.values())
            connection.execute(_UPSERT_PUBLICATION, (pub_key, delta.name, articles, now))
            connection.executemany(
                _UPSERT_WINDOW,
                [
                    (pub_key, start, start + flush.window_seconds, window.articles)
                    for start, window in delta.windows.items()
                ],
            )
            connection.executemany(
                _UPSERT_WINDOW_ENTITY,
                [
                    (pub_key, start, entity_key(*key), tally.text, tally.label, tally.mentions, tally.articles)
                    for start, window in delta.windows.items()
                    for key, tally in window.entities.items()
                ],
            )
            connection.executemany(
                _UPSERT_ENTITY,
                [
                    (pub_key, entity_key(*key), tally.text, tally.label, tally.mentions, tally.articles)
                    for key, tally in all_time_tallies(delta).items()
                ],
            )

    # --- the read side ---

    def publications(self) -> list[PublicationSummary]:
        with self._guarded("list publications") as connection:
            rows = connection.execute("SELECT name, articles, updated_at FROM publications").fetchall()
        summaries = [
            PublicationSummary(publication=name, articles=articles, updated_at=datetime.fromisoformat(updated))
            for name, articles, updated in rows
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
        sql_limit = limit if limit > 0 else -1
        with self._guarded("read entities") as connection, self._transaction("BEGIN"):
            row = connection.execute("SELECT name, articles FROM publications WHERE pub_key = ?", (pub_key,)).fetchone()
            if row is None:
                return None
            name, articles = row
            if start is None and end is None:
                rows = (
                    connection.execute(_ALL_TIME_ENTITIES, (pub_key, sql_limit))
                    if label is None
                    else connection.execute(_ALL_TIME_ENTITIES_OF_LABEL, (pub_key, label, sql_limit))
                ).fetchall()
            else:
                low, high = _bounds(start, end)
                windows = connection.execute(_OVERLAPPING_WINDOWS, (pub_key, high, low)).fetchall()
                articles = sum(window[2] for window in windows)
                rows = connection.execute(_RANGE_ENTITIES, (pub_key, label, pub_key, high, low, sql_limit)).fetchall()
        entities = [
            EntityCount.model_construct(text=row[0], label=row[1], mentions=row[2], articles=row[3]) for row in rows
        ]
        return PublicationEntities(publication=name, articles=articles, entities=rank(entities, limit))

    def windows(
        self,
        publication: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 10,
    ) -> list[WindowSummary] | None:
        pub_key = publication_key(publication)
        low, high = _bounds(start, end)
        with self._guarded("read windows") as connection, self._transaction("BEGIN"):
            if connection.execute("SELECT 1 FROM publications WHERE pub_key = ?", (pub_key,)).fetchone() is None:
                return None
            windows = connection.execute(_OVERLAPPING_WINDOWS, (pub_key, high, low)).fetchall()
            rows = connection.execute(_TOP_ENTITIES_PER_WINDOW, (pub_key, pub_key, high, low, limit, limit)).fetchall()
        per_window: dict[int, list[EntityCount]] = {window[0]: [] for window in windows}
        for window_start, text, label, mentions, articles in rows:
            per_window[window_start].append(
                EntityCount.model_construct(text=text, label=label, mentions=mentions, articles=articles)
            )
        return [
            WindowSummary(
                start=utc_from_epoch(window_start),
                end=utc_from_epoch(window_end),
                articles=articles,
                entities=rank(per_window[window_start], limit),
            )
            for window_start, window_end, articles in windows
        ]

    def ping(self) -> None:
        with self._guarded("be read") as connection:
            connection.execute("SELECT 1 FROM offsets LIMIT 1").fetchall()

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def _busy_timeout_statement(timeout: float | None) -> str:
    seconds = BUSY_TIMEOUT_MS / 1000 if timeout is None else timeout
    return next(statement for bound, statement in _BUSY_TIMEOUTS if seconds >= bound)


def _bounds(start: datetime | None, end: datetime | None) -> tuple[float, float]:
    """``[start, end)`` as epoch seconds, an absent bound being unbounded."""
    low = _FAR_PAST if start is None else epoch_seconds(start)
    high = _FAR_FUTURE if end is None else epoch_seconds(end)
    return low, high
