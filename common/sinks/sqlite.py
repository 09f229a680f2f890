"""The embedded sink: one SQLite file in WAL mode that many worker processes write at once.

Each :meth:`SqliteWriter.write` is one ``BEGIN IMMEDIATE`` transaction: it takes the database's write lock,
checks the partition's offset row still has the lease's version, applies every increment (the windows and
their rollups, :mod:`common.sinks.rollups`), stores a new version and commits, so a fenced or failed write
leaves nothing behind. A version is a random token, not a counter, so a lease can never match another
partition's row or a row recreated after the file was reset. :class:`SqliteReader` answers through
:mod:`common.sinks.reading` with a connection per thread, so reads run in parallel (WAL readers never
block each other or the writers). Every row belongs to one counts namespace; keys come from
:mod:`common.keys`, and every value is a bound parameter. The layout is in docs/sinks.md.
"""

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from common.keys import namespace_key, offset_key
from common.sinks.base import (
    CountWriter,
    OffsetLease,
    PartitionFlush,
    SinkError,
    SinkFenced,
    SinkUnavailable,
    namespace_taken,
)
from common.sinks.buckets import Bucket, Level, levels
from common.sinks.reading import BucketRows, Header, IndexRows, Known, RollupReader, Row, Snapshot, fold
from common.sinks.rollups import dictionary_deltas, rollup_deltas

BUSY_TIMEOUT_MS = 30_000
"""How long a writer waits for another process's transaction before giving up (SinkUnavailable)."""

LAYOUT_VERSION = 3
"""``PRAGMA user_version`` of this layout (rollups, namespaces, undated articles); 2 is the layout without undated
articles, 0 the layout before rollups."""
_SET_LAYOUT_VERSION = "PRAGMA user_version = 3"

_TRANSIENT_CODES = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
}
"""Primary result codes that mean "the file is busy or unreachable right now", not a bug."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS namespaces (
    ns TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    owner_group TEXT NOT NULL,
    window_seconds INTEGER NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS publications (
    ns TEXT NOT NULL,
    pub_key TEXT NOT NULL,
    name TEXT NOT NULL,
    articles INTEGER NOT NULL,
    undated_articles INTEGER NOT NULL,
    first_window INTEGER NOT NULL,
    last_window INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (ns, pub_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS publications_by_articles ON publications (ns, articles DESC, name);
CREATE TABLE IF NOT EXISTS buckets (
    ns TEXT NOT NULL,
    pub_key TEXT NOT NULL,
    level INTEGER NOT NULL,
    start INTEGER NOT NULL,
    bucket_end INTEGER NOT NULL,
    articles INTEGER NOT NULL,
    undated_articles INTEGER NOT NULL,
    PRIMARY KEY (ns, pub_key, level, start)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS buckets_by_level ON buckets (ns, level, start);
CREATE TABLE IF NOT EXISTS bucket_entities (
    ns TEXT NOT NULL,
    pub_key TEXT NOT NULL,
    level INTEGER NOT NULL,
    start INTEGER NOT NULL,
    entity_key TEXT NOT NULL,
    label TEXT NOT NULL,
    text TEXT NOT NULL,
    seen INTEGER NOT NULL,
    mentions INTEGER NOT NULL,
    articles INTEGER NOT NULL,
    PRIMARY KEY (ns, pub_key, level, start, entity_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bucket_entities_by_entity ON bucket_entities (ns, entity_key, level, start);
CREATE TABLE IF NOT EXISTS dictionary (
    ns TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    label TEXT NOT NULL,
    text TEXT NOT NULL,
    seen INTEGER NOT NULL,
    folded TEXT NOT NULL,
    mentions INTEGER NOT NULL,
    articles INTEGER NOT NULL,
    PRIMARY KEY (ns, entity_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dictionary_by_folded ON dictionary (ns, folded);
CREATE TABLE IF NOT EXISTS offsets (
    ns TEXT NOT NULL,
    offset_key TEXT NOT NULL,
    group_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    version TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    recent_ids TEXT NOT NULL,
    PRIMARY KEY (ns, offset_key)
) WITHOUT ROWID;
"""

# The displayed text keeps the maximum of (window of the spelling, spelling): see common.sinks.rollups.
_KEEP_LATEST_TEXT = """
    text = CASE WHEN (excluded.seen, excluded.text) > (seen, text) THEN excluded.text ELSE text END,
    seen = max(seen, excluded.seen)"""

_CLAIM_NAMESPACE = (
    "INSERT INTO namespaces (ns, name, owner_group, window_seconds, created_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)
_NAMESPACE_OWNER = "SELECT owner_group, window_seconds FROM namespaces WHERE ns = ?"
_UPSERT_PUBLICATION = """
INSERT INTO publications (ns, pub_key, name, articles, undated_articles, first_window, last_window, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ns, pub_key) DO UPDATE SET
    name = excluded.name, articles = articles + excluded.articles,
    undated_articles = undated_articles + excluded.undated_articles,
    first_window = min(first_window, excluded.first_window), last_window = max(last_window, excluded.last_window),
    updated_at = excluded.updated_at
"""
_UPSERT_BUCKET = """
INSERT INTO buckets (ns, pub_key, level, start, bucket_end, articles, undated_articles) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ns, pub_key, level, start) DO UPDATE SET
    articles = articles + excluded.articles, undated_articles = undated_articles + excluded.undated_articles
"""
_UPSERT_BUCKET_ENTITY = (
    """
INSERT INTO bucket_entities (ns, pub_key, level, start, entity_key, label, text, seen, mentions, articles)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ns, pub_key, level, start, entity_key) DO UPDATE SET
    mentions = mentions + excluded.mentions, articles = articles + excluded.articles,"""
    + _KEEP_LATEST_TEXT
)
_UPSERT_DICTIONARY = (
    """
INSERT INTO dictionary (ns, entity_key, label, text, seen, folded, mentions, articles) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ns, entity_key) DO UPDATE SET
    mentions = mentions + excluded.mentions, articles = articles + excluded.articles, folded = excluded.folded,"""
    + _KEEP_LATEST_TEXT
)
_UPSERT_OFFSET = """
INSERT INTO offsets (ns, offset_key, group_id, topic, partition, next_offset, version, updated_at, recent_ids)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ns, offset_key) DO UPDATE SET
    next_offset = excluded.next_offset, version = excluded.version, updated_at = excluded.updated_at,
    recent_ids = excluded.recent_ids
"""
_OFFSET = "SELECT next_offset, version, recent_ids FROM offsets WHERE ns = ? AND offset_key = ?"

_HEADER = """
SELECT pub_key, name, articles, first_window, last_window, updated_at, undated_articles FROM publications
WHERE ns = ? AND pub_key = ?
"""
_PAGE = """
SELECT pub_key, name, articles, first_window, last_window, updated_at, undated_articles FROM publications
WHERE ns = ? AND (? IS NULL OR articles < ? OR (articles = ? AND name > ?))
ORDER BY articles DESC, name
LIMIT ?
"""
# Buckets are passed as one JSON array of [level, start] pairs, so the statements stay constant text.
_IN_BUCKETS = "(level, start) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))"
_BUCKET_ARTICLES = (
    "SELECT level, start, articles, undated_articles FROM buckets WHERE ns = ? AND pub_key = ? AND " + _IN_BUCKETS
)
_BUCKET_ENTITIES = (
    "SELECT level, start, entity_key, label, text, seen, mentions, articles FROM bucket_entities "
    "WHERE ns = ? AND pub_key = ? AND " + _IN_BUCKETS
)
_BUCKET_ENTITY = (
    "SELECT level, start, entity_key, label, text, seen, mentions, articles FROM bucket_entities "
    "WHERE ns = ? AND pub_key = ? AND entity_key = ? AND " + _IN_BUCKETS
)
_WINDOWS = """
SELECT level, start, bucket_end, articles FROM buckets
WHERE ns = ? AND pub_key = ? AND level = ? AND start < ? AND bucket_end > ?
"""
_WINDOW_ENTITIES = """
SELECT level, start, entity_key, label, text, seen, mentions, articles FROM bucket_entities
WHERE ns = ? AND pub_key = ? AND level = ? AND start < ? AND start >= ?
"""
_YEARS = "SELECT DISTINCT start FROM buckets WHERE ns = ? AND level = ?"
# INDEXED BY: without it the planner scans the namespace's rows for the IN list rather than look each bucket
# up in the entity's index (docs/benchmarks.md, "Trends", has the figures).
_ENTITY_PUBLICATIONS = (
    "SELECT level, start, pub_key, mentions, articles FROM bucket_entities INDEXED BY bucket_entities_by_entity "
    "WHERE ns = ? AND entity_key = ? AND " + _IN_BUCKETS
)
_PUBLICATION_ARTICLES = """
SELECT level, start, pub_key, articles FROM buckets
WHERE ns = ? AND pub_key IN (SELECT value FROM json_each(?)) AND (level, start) IN (
    SELECT value ->> 0, value ->> 1 FROM json_each(?)
)
"""
_DICTIONARY = """
SELECT entity_key, label, text, seen, mentions, articles FROM dictionary
WHERE ns = ? AND folded >= ? AND folded < ? AND label = coalesce(?, label)
"""
_PING = "SELECT 1 FROM offsets LIMIT 1"

_BUSY_TIMEOUTS = (
    (30.0, "PRAGMA busy_timeout = 30000"),
    (10.0, "PRAGMA busy_timeout = 10000"),
    (3.0, "PRAGMA busy_timeout = 3000"),
    (1.0, "PRAGMA busy_timeout = 1000"),
    (0.0, "PRAGMA busy_timeout = 100"),
)
"""How long a call waits for another process's write lock, for a caller's time budget (constant statements:
no SQL is built at run time); the longest that fits the budget, at most :data:`BUSY_TIMEOUT_MS`."""

_LAST_CHARACTER = "\U0010ffff"


def _open(path: Path, what: str) -> sqlite3.Connection:
    """A connection to the sink's file (created with its folder and tables when missing)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SinkError(f"cannot create the folder of the SQLite sink {path}: {error}; check SQLITE_PATH") from error
    try:
        connection = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as error:
        raise SinkUnavailable(f"cannot open the SQLite sink {path}: {error}; check SQLITE_PATH") from error
    try:
        with _errors(path, what):
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            with _transaction(connection, "BEGIN IMMEDIATE"):
                _check_layout(connection, path)
    except SinkError:
        connection.close()
        raise
    return connection


def _check_layout(connection: sqlite3.Connection, path: Path) -> None:
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    tables = connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    if version == LAYOUT_VERSION:
        return
    if version or tables:
        raise SinkError(
            f"the SQLite sink {path} holds counts in an older layout (version {version}, this is "
            f"{LAYOUT_VERSION}): move the file away and count again from the topic (docs/sinks.md, 'Upgrading')"
        )
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            connection.execute(statement)
    connection.execute(_SET_LAYOUT_VERSION)


@contextmanager
def _transaction(connection: sqlite3.Connection, begin: str) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` (writes: take the write lock now, waiting up to the busy timeout) or ``BEGIN``
    (reads: one consistent snapshot for the several statements of an answer) ... ``COMMIT``; rolled back on
    any error, including a failed commit."""
    connection.execute(begin)
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


@contextmanager
def _errors(path: Path, what: str) -> Iterator[None]:
    """A busy or unreachable file is SinkUnavailable, anything else (a corrupt file, not a database) SinkError."""
    try:
        yield
    except sqlite3.Error as error:
        if getattr(error, "sqlite_errorcode", 0) & 0xFF in _TRANSIENT_CODES:
            raise SinkUnavailable(f"SQLite sink {path} could not {what}: {error}; retry") from error
        raise SinkError(f"SQLite sink {path} could not {what}: {error}") from error


class SqliteWriter(CountWriter):
    """The write side of one counts namespace for one consumer group; one per worker process."""

    def __init__(self, path: Path, namespace: str, group_id: str, window_seconds: int) -> None:
        self.path = path
        self._namespace = namespace
        self._ns = namespace_key(namespace)
        self._group = group_id
        self._window_seconds = window_seconds
        self._claimed = False
        self._connection = _open(path, "be opened (check SQLITE_PATH)")

    def _claim(self, connection: sqlite3.Connection) -> None:
        """Make the namespace ours, or refuse when another group (or another window) counts into it (checked once
        per writer)."""
        if self._claimed:
            return
        claim = (self._ns, self._namespace, self._group, self._window_seconds, datetime.now(UTC).isoformat())
        connection.execute(_CLAIM_NAMESPACE, claim)
        owner, window_seconds = connection.execute(_NAMESPACE_OWNER, (self._ns,)).fetchone()
        refused = namespace_taken(self._namespace, (owner, window_seconds), (self._group, self._window_seconds))
        if refused is not None:
            raise refused
        self._claimed = True

    def read_offset(self, group_id: str, topic: str, partition: int, *, timeout: float | None = None) -> OffsetLease:
        busy_timeout = _busy_timeout_statement(timeout)
        with _errors(self.path, "read an offset"):
            self._connection.execute(busy_timeout)
        with _errors(self.path, "read an offset"), _transaction(self._connection, "BEGIN IMMEDIATE"):
            self._claim(self._connection)
            row = self._connection.execute(_OFFSET, (self._ns, offset_key(group_id, topic, partition))).fetchone()
        return OffsetLease(None, None) if row is None else OffsetLease(row[0], row[1], tuple(json.loads(row[2])))

    def write(self, flush: PartitionFlush, lease: OffsetLease, *, timeout: float | None = None) -> OffsetLease:
        key = offset_key(flush.group_id, flush.topic, flush.partition)
        now = datetime.now(UTC).isoformat()
        connection = self._connection
        busy_timeout = _busy_timeout_statement(timeout)
        with _errors(self.path, "write a flush"):
            connection.execute(busy_timeout)
        with _errors(self.path, "write a flush"), _transaction(connection, "BEGIN IMMEDIATE"):
            self._claim(connection)
            row = connection.execute(_OFFSET, (self._ns, key)).fetchone()
            stored = None if row is None else row[1]
            if stored != lease.version:
                raise SinkFenced(
                    f"offset {key} is at version {stored}, the lease holds {lease.version}: "
                    "another worker wrote this partition; drop pending counts and re-read the offset"
                )
            rows = self._apply(connection, flush, now)
            version = uuid.uuid4().hex
            recent = json.dumps(flush.recent_ids)
            connection.execute(
                _UPSERT_OFFSET,
                (self._ns, key, flush.group_id, flush.topic, flush.partition, flush.next_offset, version, now, recent),
            )
        self.written = rows + 1
        return OffsetLease(flush.next_offset, version, flush.recent_ids)

    def _apply(self, connection: sqlite3.Connection, flush: PartitionFlush, now: str) -> int:
        """Add the flush's counts; the rows written."""
        ns = self._ns
        rows = 0
        for pub_key, delta in flush.publications.items():
            starts = sorted(delta.windows)
            articles = sum(window.articles for window in delta.windows.values())
            undated = sum(window.undated_articles for window in delta.windows.values())
            connection.execute(
                _UPSERT_PUBLICATION, (ns, pub_key, delta.name, articles, undated, starts[0], starts[-1], now)
            )
            rollups = rollup_deltas(delta, flush.window_seconds)
            buckets = [
                (ns, pub_key, b.level, b.start, b.end, counts.articles, counts.undated_articles)
                for b, counts in rollups.items()
            ]
            connection.executemany(_UPSERT_BUCKET, buckets)
            entities = [
                (ns, pub_key, b.level, b.start, entity, t.label, t.text, t.seen, t.mentions, t.articles)
                for b, counts in rollups.items()
                for entity, t in counts.entities.items()
            ]
            connection.executemany(_UPSERT_BUCKET_ENTITY, entities)
            rows += 1 + len(buckets) + len(entities)
        dictionary = [
            (ns, entity, t.label, t.text, t.seen, fold(t.text), t.mentions, t.articles)
            for entity, t in dictionary_deltas(flush).items()
        ]
        connection.executemany(_UPSERT_DICTIONARY, dictionary)
        return rows + len(dictionary)

    def close(self) -> None:
        self._connection.close()


def _busy_timeout_statement(timeout: float | None) -> str:
    seconds = BUSY_TIMEOUT_MS / 1000 if timeout is None else timeout
    return next(statement for bound, statement in _BUSY_TIMEOUTS if seconds >= bound)


class SqliteReader(RollupReader):
    """The read side of one counts namespace: thread-safe, with one connection per thread."""

    def __init__(self, path: Path, namespace: str, window_seconds: int) -> None:
        super().__init__(window_seconds)
        self.path = path
        self._ns = namespace_key(namespace)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connection()  # fail now (a wrong path, an old layout), not at the first read

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = _open(self.path, "be opened (check SQLITE_PATH)")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    @contextmanager
    def _snapshot(self, what: str) -> Iterator[Snapshot]:
        with _errors(self.path, what):
            connection = self._connection()
            with _transaction(connection, "BEGIN"):
                yield _SqliteSnapshot(connection, self._ns, levels(self.window_seconds)[0])

    def ping(self) -> None:
        with _errors(self.path, "be read"):
            self._connection().execute(_PING).fetchall()

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()


def _bucket_list(buckets: Iterable[Bucket]) -> str:
    return json.dumps([[int(bucket.level), bucket.start] for bucket in buckets])


class _SqliteSnapshot(Snapshot):
    def __init__(self, connection: sqlite3.Connection, ns: str, finest: Level) -> None:
        self._connection = connection
        self._ns = ns
        self._finest = finest

    def _header(self, row: tuple[str, str, int, int, int, str, int]) -> Header:
        pub_key, name, articles, first, last, updated, undated = row
        return Header(pub_key, name, articles, first, last, datetime.fromisoformat(updated), undated)

    def header(self, pub_key: str) -> Header | None:
        row = self._connection.execute(_HEADER, (self._ns, pub_key)).fetchone()
        return None if row is None else self._header(row)

    def page(self, limit: int, after: tuple[int, str] | None) -> list[Header]:
        articles, name = after if after is not None else (None, None)
        rows = self._connection.execute(_PAGE, (self._ns, articles, articles, articles, name, limit or -1))
        return [self._header(row) for row in rows]

    def _rows(
        self, rows: Iterable[tuple[int, int, str, str, str, int, int, int]], found: dict[Bucket, BucketRows]
    ) -> None:
        index = {(int(b.level), b.start): b for b in found}
        for level, start, entity, label, text, seen, mentions, articles in rows:
            found[index[(level, start)]].add(entity, Row(label, text, seen, mentions, articles))

    def rollups(
        self, pub_key: str, buckets: Sequence[Bucket], entity: tuple[str, str] | None = None
    ) -> dict[Bucket, BucketRows]:
        wanted = _bucket_list(buckets)
        found = {bucket: BucketRows() for bucket in buckets}
        index = {(int(b.level), b.start): b for b in buckets}
        for level, start, articles, undated in self._connection.execute(_BUCKET_ARTICLES, (self._ns, pub_key, wanted)):
            counts = found[index[(level, start)]]
            counts.articles, counts.undated_articles = articles, undated
        rows = (
            self._connection.execute(_BUCKET_ENTITIES, (self._ns, pub_key, wanted))
            if entity is None
            else self._connection.execute(_BUCKET_ENTITY, (self._ns, pub_key, entity[0], wanted))
        )
        self._rows(rows, found)
        return found

    def windows(self, pub_key: str, low: int, high: int) -> dict[Bucket, BucketRows]:
        level = int(self._finest)
        found = {
            Bucket(Level(level), start, end): BucketRows(articles)
            for level, start, end, articles in self._connection.execute(_WINDOWS, (self._ns, pub_key, level, high, low))
        }
        earliest = min((bucket.start for bucket in found), default=high)
        self._rows(self._connection.execute(_WINDOW_ENTITIES, (self._ns, pub_key, level, high, earliest)), found)
        return found

    def index_years(self) -> list[int]:
        rows = self._connection.execute(_YEARS, (self._ns, int(Level.YEAR)))
        return [start for (start,) in rows]

    def index(self, entity: str, label: str, buckets: Sequence[Bucket]) -> dict[Bucket, IndexRows]:
        wanted = _bucket_list(buckets)
        found = {bucket: IndexRows() for bucket in buckets}
        index = {(int(b.level), b.start): b for b in buckets}
        publications: set[str] = set()
        for level, start, pub_key, mentions, articles in self._connection.execute(
            _ENTITY_PUBLICATIONS, (self._ns, entity, wanted)
        ):
            found[index[(level, start)]].entity[pub_key] = [mentions, articles]
            publications.add(pub_key)
        for level, start, pub_key, articles in self._connection.execute(
            _PUBLICATION_ARTICLES, (self._ns, json.dumps(sorted(publications)), wanted)
        ):
            found[index[(level, start)]].articles[pub_key] = articles
        return found

    def dictionary(self, folded_prefix: str, label: str | None) -> Iterable[Known]:
        rows = self._connection.execute(_DICTIONARY, (self._ns, folded_prefix, folded_prefix + _LAST_CHARACTER, label))
        for entity, found_label, text, seen, mentions, articles in rows:
            yield Known(entity, Row(found_label, text, seen, mentions, articles))
