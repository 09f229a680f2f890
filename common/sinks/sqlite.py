"""The embedded sink: one SQLite file in WAL mode that many worker processes write at once.

Each :meth:`SqliteWriter.write` is one ``BEGIN IMMEDIATE`` transaction: it takes the database's write lock,
checks the partition's offset row still has the lease's version, applies every increment (the windows and
their rollups, :mod:`common.sinks.rollups`), stores a new version and commits, so a fenced or failed write
leaves nothing behind. A version is a random token, not a counter, so a lease can never match another
partition's row or a row recreated after the file was reset. :class:`SqliteReader` answers through
:mod:`common.sinks.reading` with a connection per thread, so reads run in parallel (WAL readers never
block each other or the writers). Every row belongs to one counts namespace; keys come from
:mod:`common.keys`, and every value is a bound parameter. The aliased view is kept as its changes to the raw
rows, in tables of its own beside them. The layout is in docs/sinks.md.
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
    ALL_VIEWS,
    CountWriter,
    EntityCount,
    NamespaceRecord,
    OffsetLease,
    PartitionFlush,
    SinkError,
    SinkFenced,
    SinkUnavailable,
    View,
    namespace_taken,
)
from common.sinks.buckets import Bucket, Level, SignedCover, levels
from common.sinks.reading import (
    BucketRows,
    Header,
    IndexRows,
    Known,
    RollupReader,
    Row,
    Snapshot,
    add_source,
    change_row,
    fold,
)
from common.sinks.rollups import AliasedTally, dictionary_deltas, rollup_deltas

BUSY_TIMEOUT_MS = 30_000
"""How long a writer waits for another process's transaction before giving up (SinkUnavailable)."""

LAYOUT_VERSION = 4
"""``PRAGMA user_version`` of this layout (rollups, namespaces, undated articles and the aliased view); 3 is
the layout before the aliased view (upgraded in place: its namespaces hold the raw view only), 2 the one
without undated articles, 0 the one before rollups."""
_SET_LAYOUT_VERSION = "PRAGMA user_version = 4"
_RAW_ONLY = "raw"
"""``namespaces.views`` of a namespace counted before the aliased view existed."""

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
    created_at TEXT NOT NULL,
    views TEXT NOT NULL DEFAULT 'raw'
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
_ALIASED_SCHEMA = """
CREATE TABLE IF NOT EXISTS aliased_changes (
    ns TEXT NOT NULL, pub_key TEXT NOT NULL, level INTEGER NOT NULL, start INTEGER NOT NULL, entity_key TEXT NOT NULL,
    label TEXT NOT NULL, text TEXT NOT NULL, seen INTEGER, mentions INTEGER NOT NULL, articles INTEGER NOT NULL,
    PRIMARY KEY (ns, pub_key, level, start, entity_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS aliased_changes_by_entity ON aliased_changes (ns, entity_key, level, start);
CREATE TABLE IF NOT EXISTS aliased_sources (
    ns TEXT NOT NULL, pub_key TEXT NOT NULL, level INTEGER NOT NULL, start INTEGER NOT NULL, entity_key TEXT NOT NULL,
    source_label TEXT NOT NULL, source_text TEXT NOT NULL, mentions INTEGER NOT NULL,
    PRIMARY KEY (ns, pub_key, level, start, entity_key, source_label, source_text)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aliased_dictionary (
    ns TEXT NOT NULL, entity_key TEXT NOT NULL, label TEXT NOT NULL, text TEXT NOT NULL, seen INTEGER,
    folded TEXT NOT NULL, mentions INTEGER NOT NULL, articles INTEGER NOT NULL,
    PRIMARY KEY (ns, entity_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS aliased_dictionary_by_folded ON aliased_dictionary (ns, folded);
CREATE TABLE IF NOT EXISTS aliased_dictionary_sources (
    ns TEXT NOT NULL, entity_key TEXT NOT NULL, source_label TEXT NOT NULL, source_text TEXT NOT NULL,
    mentions INTEGER NOT NULL,
    PRIMARY KEY (ns, entity_key, source_label, source_text)
) WITHOUT ROWID;
"""
"""The aliased view's tables: its changes to the raw rows (``seen`` NULL: a change without a spelling) and
the raw rows of other keys each aliased row holds."""
_UPGRADE_FROM_3 = "ALTER TABLE namespaces ADD COLUMN views TEXT NOT NULL DEFAULT 'raw'"

# The displayed text keeps the maximum of (window of the spelling, spelling): see common.sinks.rollups.
_KEEP_LATEST_TEXT = """
    text = CASE WHEN (excluded.seen, excluded.text) > (seen, text) THEN excluded.text ELSE text END,
    seen = max(seen, excluded.seen)"""

# An aliased change's spelling: kept as the maximum of (window, spelling) among the changes that have one.
_NEWER_ALIASED_TEXT = "excluded.seen IS NOT NULL AND (seen IS NULL OR (excluded.seen, excluded.text) > (seen, text))"
_KEEP_LATEST_ALIASED_TEXT = f"""
    text = CASE WHEN {_NEWER_ALIASED_TEXT} THEN excluded.text ELSE text END,
    seen = CASE WHEN {_NEWER_ALIASED_TEXT} THEN excluded.seen ELSE seen END"""

_CLAIM_NAMESPACE = (
    "INSERT INTO namespaces (ns, name, owner_group, window_seconds, created_at, views) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)
_NAMESPACE = "SELECT name, owner_group, window_seconds, views FROM namespaces WHERE ns = ?"
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


def _upsert_bucket_entity(table: str, keep_text: str) -> str:
    """The upsert of one entity's increments in one bucket into ``table`` (raw rows or aliased changes, which
    have the same columns), its spelling kept by ``keep_text``; made once, at import."""
    return (
        f"""
INSERT INTO {table} (ns, pub_key, level, start, entity_key, label, text, seen, mentions, articles)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ns, pub_key, level, start, entity_key) DO UPDATE SET
    mentions = mentions + excluded.mentions, articles = articles + excluded.articles,"""
        + keep_text
    )


_UPSERT_BUCKET_ENTITY = _upsert_bucket_entity("bucket_entities", _KEEP_LATEST_TEXT)
_UPSERT_ALIASED_CHANGE = _upsert_bucket_entity("aliased_changes", _KEEP_LATEST_ALIASED_TEXT)
_UPSERT_DICTIONARY = (
    """
INSERT INTO dictionary (ns, entity_key, label, text, seen, folded, mentions, articles) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ns, entity_key) DO UPDATE SET
    mentions = mentions + excluded.mentions, articles = articles + excluded.articles, folded = excluded.folded,"""
    + _KEEP_LATEST_TEXT
)
_UPSERT_ALIASED_SOURCE = """
INSERT INTO aliased_sources (ns, pub_key, level, start, entity_key, source_label, source_text, mentions)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ns, pub_key, level, start, entity_key, source_label, source_text) DO UPDATE SET
    mentions = mentions + excluded.mentions
"""
_UPSERT_ALIASED_DICTIONARY = (
    f"""
INSERT INTO aliased_dictionary (ns, entity_key, label, text, seen, folded, mentions, articles)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ns, entity_key) DO UPDATE SET
    mentions = mentions + excluded.mentions, articles = articles + excluded.articles,
    folded = CASE WHEN {_NEWER_ALIASED_TEXT} THEN excluded.folded ELSE folded END,"""
    + _KEEP_LATEST_ALIASED_TEXT
)
_UPSERT_ALIASED_DICTIONARY_SOURCE = """
INSERT INTO aliased_dictionary_sources (ns, entity_key, source_label, source_text, mentions) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (ns, entity_key, source_label, source_text) DO UPDATE SET mentions = mentions + excluded.mentions
"""
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
# The raw view's entities of a cover summed and ranked in SQLite (common.sinks.reading.top's order: mentions
# descending, then text, then label; UTF-8 sorts as code points do). The buckets of a cover are disjoint, so
# the rows of an entity have distinct windows in ``seen`` and max(seen) picks the spelling to show: SQLite
# takes a bare column (``text``) from the row of the one max() aggregate. ``+entity_key``: grouping by the bare
# column let the planner walk the entity index over the whole namespace to skip a sort (2 s, not 1 ms).
_RANKED_ENTITIES = (
    "SELECT label, text, max(seen), sum(mentions) AS total_mentions, sum(articles) FROM bucket_entities "
    "WHERE ns = ? AND pub_key = ? AND label = coalesce(?, label) AND " + _IN_BUCKETS + " "
    "GROUP BY +entity_key ORDER BY total_mentions DESC, text, label LIMIT ?"
)
# One bucket (a day, a year, all time: the usual aligned range) holds one row per entity: no grouping.
_RANKED_BUCKET_ENTITIES = """
SELECT label, text, seen, mentions, articles FROM bucket_entities
WHERE ns = ? AND pub_key = ? AND level = ? AND start = ? AND label = coalesce(?, label)
ORDER BY mentions DESC, text, label LIMIT ?
"""
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
_ALIASED_CHANGES = (
    "SELECT level, start, entity_key, label, text, seen, mentions, articles FROM aliased_changes "
    "WHERE ns = ? AND pub_key = ? AND " + _IN_BUCKETS
)
_ALIASED_CHANGE = (
    "SELECT level, start, entity_key, label, text, seen, mentions, articles FROM aliased_changes "
    "WHERE ns = ? AND pub_key = ? AND entity_key = ? AND " + _IN_BUCKETS
)
_ALIASED_SOURCES = (
    "SELECT level, start, entity_key, source_label, source_text, mentions FROM aliased_sources "
    "WHERE ns = ? AND pub_key = ? AND " + _IN_BUCKETS
)
_ALIASED_SOURCE = (
    "SELECT level, start, entity_key, source_label, source_text, mentions FROM aliased_sources "
    "WHERE ns = ? AND pub_key = ? AND entity_key = ? AND " + _IN_BUCKETS
)
_WINDOW_CHANGES = """
SELECT level, start, entity_key, label, text, seen, mentions, articles FROM aliased_changes
WHERE ns = ? AND pub_key = ? AND level = ? AND start < ? AND start >= ?
"""
_WINDOW_SOURCES = """
SELECT level, start, entity_key, source_label, source_text, mentions FROM aliased_sources
WHERE ns = ? AND pub_key = ? AND level = ? AND start < ? AND start >= ?
"""
_ENTITY_CHANGES = (
    "SELECT level, start, pub_key, mentions, articles FROM aliased_changes INDEXED BY aliased_changes_by_entity "
    "WHERE ns = ? AND entity_key = ? AND " + _IN_BUCKETS
)
# Search in the aliased view: the entities whose raw or aliased spelling matches, then both of their rows.
_SEARCH_CANDIDATES = """
SELECT entity_key FROM dictionary WHERE ns = ? AND folded >= ? AND folded < ? AND label = coalesce(?, label)
UNION
SELECT entity_key FROM aliased_dictionary WHERE ns = ? AND folded >= ? AND folded < ? AND label = coalesce(?, label)
"""
_DICTIONARY_OF = """
SELECT entity_key, label, text, seen, mentions, articles FROM dictionary
WHERE ns = ? AND entity_key IN (SELECT value FROM json_each(?))
"""
_ALIASED_DICTIONARY_OF = """
SELECT entity_key, label, text, seen, mentions, articles FROM aliased_dictionary
WHERE ns = ? AND entity_key IN (SELECT value FROM json_each(?))
"""
_ALIASED_DICTIONARY_SOURCES_OF = """
SELECT entity_key, source_label, source_text, mentions FROM aliased_dictionary_sources
WHERE ns = ? AND entity_key IN (SELECT value FROM json_each(?))
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
    """Create the tables in a new file, add the aliased view's to a file of layout 3 (its namespaces keep the
    raw view only), refuse anything else that is not this layout."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    tables = connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    if version == LAYOUT_VERSION:
        return
    if version == 3:
        connection.execute(_UPGRADE_FROM_3)
    elif version or tables:
        raise SinkError(
            f"the SQLite sink {path} holds counts in an older layout (version {version}, this is "
            f"{LAYOUT_VERSION}): move the file away and count again from the topic (docs/sinks.md, 'Upgrading')"
        )
    for statement in (_ALIASED_SCHEMA if version == 3 else _SCHEMA + _ALIASED_SCHEMA).split(";"):
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
        now = datetime.now(UTC).isoformat()
        claim = (self._ns, self._namespace, self._group, self._window_seconds, now, _views_text(ALL_VIEWS))
        connection.execute(_CLAIM_NAMESPACE, claim)
        _, owner, window_seconds, _ = connection.execute(_NAMESPACE, (self._ns,)).fetchone()
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
            aliased = [
                (b, entity, change) for b, counts in rollups.items() for entity, change in counts.aliased.items()
            ]
            changes = [
                (ns, pub_key, b.level, b.start, entity, c.label, c.text, c.seen, c.mentions, c.articles)
                for b, entity, c in aliased
            ]
            connection.executemany(_UPSERT_ALIASED_CHANGE, changes)
            sources = [
                (ns, pub_key, b.level, b.start, entity, label, text, mentions)
                for b, entity, c in aliased
                for (label, text), mentions in c.sources.items()
            ]
            connection.executemany(_UPSERT_ALIASED_SOURCE, sources)
            rows += 1 + len(buckets) + len(entities) + len(changes) + len(sources)
        known, aliased_known = dictionary_deltas(flush)
        dictionary = [
            (ns, entity, t.label, t.text, t.seen, fold(t.text), t.mentions, t.articles) for entity, t in known.items()
        ]
        connection.executemany(_UPSERT_DICTIONARY, dictionary)
        aliased_dictionary = [
            (ns, entity, c.label, c.text, c.seen, _folded(c), c.mentions, c.articles)
            for entity, c in aliased_known.items()
        ]
        connection.executemany(_UPSERT_ALIASED_DICTIONARY, aliased_dictionary)
        dictionary_sources = [
            (ns, entity, label, text, mentions)
            for entity, c in aliased_known.items()
            for (label, text), mentions in c.sources.items()
        ]
        connection.executemany(_UPSERT_ALIASED_DICTIONARY_SOURCE, dictionary_sources)
        return rows + len(dictionary) + len(aliased_dictionary) + len(dictionary_sources)

    def close(self) -> None:
        self._connection.close()


def _folded(change: AliasedTally) -> str:
    """What search matches an aliased change by: its spelling folded; nothing for a change without one (it is
    found through its raw row)."""
    return "" if change.seen is None else fold(change.text)


def _views_text(views: frozenset[View]) -> str:
    return ",".join(sorted(views))


def _record(row: tuple[str, str, int, str]) -> NamespaceRecord:
    name, group, window_seconds, views = row
    return NamespaceRecord(name, group, window_seconds, frozenset(View(view) for view in views.split(",")))


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
    def _snapshot(self, what: str, view: View = View.RAW) -> Iterator[Snapshot]:
        with _errors(self.path, what):
            connection = self._connection()
            with _transaction(connection, "BEGIN"):
                yield _SqliteSnapshot(connection, self._ns, levels(self.window_seconds)[0], view)

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
    def __init__(self, connection: sqlite3.Connection, ns: str, finest: Level, view: View) -> None:
        super().__init__(view)
        self._connection = connection
        self._ns = ns
        self._finest = finest

    def namespace(self) -> NamespaceRecord | None:
        row = self._connection.execute(_NAMESPACE, (self._ns,)).fetchone()
        return None if row is None else _record(row)

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

    def _changes(
        self,
        changes: Iterable[tuple[int, int, str, str, str, int | None, int, int]],
        sources: Iterable[tuple[int, int, str, str, str, int]],
        found: dict[Bucket, BucketRows],
    ) -> None:
        """Add the aliased changes (then the raw rows of other keys they hold) to the raw rows in ``found``."""
        index = {(int(b.level), b.start): b for b in found}
        for level, start, entity, label, text, seen, mentions, articles in changes:
            found[index[(level, start)]].add(entity, change_row(label, text, seen, mentions, articles))
        for level, start, entity, source_label, source_text, mentions in sources:
            found[index[(level, start)]].add_source(entity, (source_label, source_text), mentions)

    def ranked(
        self, pub_key: str, signed: SignedCover, label: str | None, limit: int
    ) -> tuple[int, int, list[EntityCount]]:
        """In the raw view, summed and ranked by SQLite, which returns only the entities asked for (five years:
        the first 20 of thousands); the aliased view adds its changes to the rows first (and margins to
        subtract, which only the tests ask of SQLite, are subtracted in Python as on Firestore)."""
        if self.view is not View.RAW or signed.less:
            return super().ranked(pub_key, signed, label, limit)
        buckets = signed.buckets
        wanted = _bucket_list(buckets)
        articles = undated = 0
        for _, _, counted, without_date in self._connection.execute(_BUCKET_ARTICLES, (self._ns, pub_key, wanted)):
            articles, undated = articles + counted, undated + without_date
        if len(buckets) == 1:
            rows = self._connection.execute(
                _RANKED_BUCKET_ENTITIES,
                (self._ns, pub_key, int(buckets[0].level), buckets[0].start, label, limit or -1),
            )
        else:
            rows = self._connection.execute(_RANKED_ENTITIES, (self._ns, pub_key, label, wanted, limit or -1))
        ranked = [
            EntityCount.model_construct(text=text, label=row_label, mentions=mentions, articles=mentioned)
            for row_label, text, _, mentions, mentioned in rows
        ]
        return articles, undated, ranked

    def rollups(
        self, pub_key: str, buckets: Sequence[Bucket], entity: tuple[str, str] | None = None
    ) -> dict[Bucket, BucketRows]:
        wanted = _bucket_list(buckets)
        found = {bucket: BucketRows() for bucket in buckets}
        index = {(int(b.level), b.start): b for b in buckets}
        for level, start, articles, undated in self._connection.execute(_BUCKET_ARTICLES, (self._ns, pub_key, wanted)):
            counts = found[index[(level, start)]]
            counts.articles, counts.undated_articles = articles, undated
        execute = self._connection.execute
        if entity is None:
            self._rows(execute(_BUCKET_ENTITIES, (self._ns, pub_key, wanted)), found)
        else:
            self._rows(execute(_BUCKET_ENTITY, (self._ns, pub_key, entity[0], wanted)), found)
        if self.view is View.RAW:
            return found
        if entity is None:
            changes = execute(_ALIASED_CHANGES, (self._ns, pub_key, wanted)).fetchall()
            self._changes(changes, execute(_ALIASED_SOURCES, (self._ns, pub_key, wanted)), found)
        else:
            changes = execute(_ALIASED_CHANGE, (self._ns, pub_key, entity[0], wanted)).fetchall()
            self._changes(changes, execute(_ALIASED_SOURCE, (self._ns, pub_key, entity[0], wanted)), found)
        return found

    def windows(self, pub_key: str, low: int, high: int) -> dict[Bucket, BucketRows]:
        level = int(self._finest)
        found = {
            Bucket(Level(level), start, end): BucketRows(articles)
            for level, start, end, articles in self._connection.execute(_WINDOWS, (self._ns, pub_key, level, high, low))
        }
        earliest = min((bucket.start for bucket in found), default=high)
        window = (self._ns, pub_key, level, high, earliest)
        self._rows(self._connection.execute(_WINDOW_ENTITIES, window), found)
        if self.view is not View.RAW:
            changes = self._connection.execute(_WINDOW_CHANGES, window).fetchall()
            self._changes(changes, self._connection.execute(_WINDOW_SOURCES, window), found)
        return found

    def index_years(self) -> list[int]:
        rows = self._connection.execute(_YEARS, (self._ns, int(Level.YEAR)))
        return [start for (start,) in rows]

    def index(self, entity: str, label: str, buckets: Sequence[Bucket]) -> dict[Bucket, IndexRows]:
        wanted = _bucket_list(buckets)
        found = {bucket: IndexRows() for bucket in buckets}
        index = {(int(b.level), b.start): b for b in buckets}
        publications: set[str] = set()
        rows = self._connection.execute(_ENTITY_PUBLICATIONS, (self._ns, entity, wanted)).fetchall()
        if self.view is not View.RAW:
            rows += self._connection.execute(_ENTITY_CHANGES, (self._ns, entity, wanted)).fetchall()
        for level, start, pub_key, mentions, articles in rows:
            total = found[index[(level, start)]].entity.setdefault(pub_key, [0, 0])
            total[0] += mentions
            total[1] += articles
            publications.add(pub_key)
        for level, start, pub_key, articles in self._connection.execute(
            _PUBLICATION_ARTICLES, (self._ns, json.dumps(sorted(publications)), wanted)
        ):
            found[index[(level, start)]].articles[pub_key] = articles
        return found

    def dictionary(self, folded_prefix: str, label: str | None) -> Iterable[Known]:
        matching = (self._ns, folded_prefix, folded_prefix + _LAST_CHARACTER, label)
        if self.view is View.RAW:
            rows = self._connection.execute(_DICTIONARY, matching)
            return [Known(entity, Row(found_label, text, seen, m, a)) for entity, found_label, text, seen, m, a in rows]
        execute = self._connection.execute
        candidates = json.dumps([entity for (entity,) in execute(_SEARCH_CANDIDATES, matching + matching)])
        found: dict[str, Row] = {}
        for entity, found_label, text, seen, mentions, articles in execute(_DICTIONARY_OF, (self._ns, candidates)):
            found[entity] = Row(found_label, text, seen, mentions, articles)
        for entity, found_label, text, seen, mentions, articles in execute(
            _ALIASED_DICTIONARY_OF, (self._ns, candidates)
        ):
            change = change_row(found_label, text, seen, mentions, articles)
            known = found.get(entity)
            if known is None:
                found[entity] = change
            else:
                known.add(change)
        for entity, source_label, source_text, mentions in execute(
            _ALIASED_DICTIONARY_SOURCES_OF, (self._ns, candidates)
        ):
            add_source(found[entity], (source_label, source_text), mentions)
        return [Known(entity, row) for entity, row in found.items()]
