"""Open the sink the settings name: the one place that maps ``SINK`` to an implementation, per side.

Imports lazily so that a SQLite-only process never loads the Firestore client (gRPC).
"""

from common.settings import CommonSettings, SinkKind
from common.sinks.base import CountReader, CountWriter


def open_writer(settings: CommonSettings) -> CountWriter:
    """The write side for one worker process: counts of KAFKA_GROUP_ID into the settings' counts namespace."""
    window_seconds = int(settings.window.total_seconds())
    if settings.sink is SinkKind.SQLITE:
        from common.sinks.sqlite import SqliteWriter

        return SqliteWriter(settings.sqlite_path, settings.namespace, settings.kafka_group_id, window_seconds)
    from common.sinks.firestore_writer import FirestoreWriter

    return FirestoreWriter.connect(
        settings.firestore_project,
        settings.firestore_database,
        settings.namespace,
        settings.kafka_group_id,
        window_seconds,
    )


def open_reader(settings: CommonSettings) -> CountReader:
    """The read side (thread-safe, one per process) of the settings' counts namespace."""
    window_seconds = int(settings.window.total_seconds())
    if settings.sink is SinkKind.SQLITE:
        from common.sinks.sqlite import SqliteReader

        return SqliteReader(settings.sqlite_path, settings.namespace, window_seconds)
    from common.sinks.firestore_reader import FirestoreReader

    return FirestoreReader.connect(
        settings.firestore_project, settings.firestore_database, settings.namespace, window_seconds
    )
