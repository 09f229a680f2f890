"""Helpers of the sink tests: one store opened as both sides (writer and reader), and flushes built from tables."""

import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.keys import namespace_key, publication_key
from common.settings import CommonSettings, SinkKind
from common.sinks.base import (
    CountReader,
    CountWriter,
    EntityTally,
    OffsetLease,
    PartitionFlush,
    PublicationDelta,
    PublicationEntities,
    PublicationSummary,
    WindowDelta,
    WindowSummary,
)
from common.sinks.factory import open_reader, open_writer

HOUR = 3600
GROUP, TOPIC = "contract", "articles"

SinkSpec = tuple[str, str]
"""How to open the same store again, e.g. in another process: ("sqlite", path) or ("firestore", project)."""

Entities = Sequence[tuple[str, str, int, int]]
"""(text, label, mentions, articles) of one window."""


def settings_of(spec: SinkSpec, **overrides: Any) -> CommonSettings:
    kind, where = spec
    values: dict[str, Any] = {"kafka_group_id": GROUP, "window": "1h", **overrides}
    if kind == "sqlite":
        return CommonSettings(sink=SinkKind.SQLITE, sqlite_path=Path(where), **values)
    return CommonSettings(sink=SinkKind.FIRESTORE, firestore_project=where, **values)


class Store:
    """Both sides of one store: its reader, and a writer per consumer group (opened when first used, as a
    worker of that group opens one); the old single-object calls forward to the side that serves them."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.reader: CountReader = open_reader(settings)
        self._writers: dict[str, CountWriter] = {}

    @property
    def writer(self) -> CountWriter:
        """The writer of the settings' own consumer group."""
        return self.writer_of(self.settings.kafka_group_id)

    def writer_of(self, group_id: str) -> CountWriter:
        if group_id not in self._writers:
            self._writers[group_id] = open_writer(self.settings.model_copy(update={"kafka_group_id": group_id}))
        return self._writers[group_id]

    def read_offset(self, group_id: str, topic: str, partition: int) -> OffsetLease:
        return self.writer_of(group_id).read_offset(group_id, topic, partition)

    def write(self, flush: PartitionFlush, lease: OffsetLease) -> OffsetLease:
        return self.writer_of(flush.group_id).write(flush, lease)

    def publications(self) -> list[PublicationSummary]:
        return self.reader.publications().publications

    def entities(self, publication: str, **options: Any) -> PublicationEntities | None:
        return self.reader.entities(publication, **options)

    def windows(self, publication: str, **options: Any) -> list[WindowSummary] | None:
        return self.reader.windows(publication, **options)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self.reader.close()


def open_store(spec: SinkSpec, **overrides: Any) -> Store:
    return Store(settings_of(spec, **overrides))


def delta(name: str, windows: Mapping[int, tuple[int, Entities]]) -> tuple[str, PublicationDelta]:
    """A publication's increments: window start -> (articles, entities)."""
    return publication_key(name), PublicationDelta(
        name=name,
        windows={
            start: WindowDelta(
                articles=articles,
                entities={
                    (text.casefold(), label): EntityTally(text=text, label=label, mentions=mentions, articles=count)
                    for text, label, mentions, count in entities
                },
            )
            for start, (articles, entities) in windows.items()
        },
    )


def flush(
    partition: int, next_offset: int, *deltas: tuple[str, PublicationDelta], window: int = HOUR
) -> PartitionFlush:
    return PartitionFlush(
        group_id=GROUP,
        topic=TOPIC,
        partition=partition,
        next_offset=next_offset,
        window_seconds=window,
        publications=dict(deltas),
    )


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def stored_count_documents(project: str) -> list[dict[str, Any]]:
    """Every count document in the emulator project (publications, their rollups, the index), as stored."""
    from google.cloud import firestore

    client = firestore.Client(project=project)
    try:
        return [
            doc.to_dict() or {}
            for name in ("publications", "rollups", "index")
            for doc in client.collection_group(name).stream()
        ]
    finally:
        client.close()


def stored_fields(fields: dict[str, Any]) -> int:
    """Firestore's count of a document's fields: every field, and every field inside a map."""
    return sum(1 + (stored_fields(value) if isinstance(value, dict) else 0) for value in fields.values())


def read_while_writing(write: Callable[[], None], read: Callable[[], None], readers: int) -> list[BaseException]:
    """Run ``write`` once while ``readers`` threads call ``read`` again and again until it is done; the errors
    of both (none: every read agreed with itself while the writes landed)."""
    errors: list[BaseException] = []
    done = threading.Event()

    def keep_writing() -> None:
        try:
            write()
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()

    def keep_reading() -> None:
        try:
            while not done.is_set():
                read()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=keep_writing), *(threading.Thread(target=keep_reading) for _ in range(readers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return errors


def forget_the_aliased_view(spec: SinkSpec, namespace: str) -> None:
    """Make ``namespace``'s record what a namespace counted before the aliased view existed has (raw only)."""
    if spec[0] == "sqlite":
        with sqlite3.connect(spec[1]) as connection:
            connection.execute("UPDATE namespaces SET views = 'raw' WHERE ns = ?", (namespace_key(namespace),))
        return
    from google.cloud import firestore

    client = firestore.Client(project=spec[1])
    try:
        client.collection("namespaces").document(namespace_key(namespace)).update({"views": firestore.DELETE_FIELD})
    finally:
        client.close()
