"""Open the sink the settings name: the one place that maps ``SINK`` to an implementation."""

from common.settings import CommonSettings, SinkKind
from common.sinks.base import Sink


def open_sink(settings: CommonSettings) -> Sink:
    """The SQLite file at ``SQLITE_PATH`` or the Firestore database ``FIRESTORE_PROJECT``/``FIRESTORE_DATABASE``.

    Imports lazily so that a SQLite-only process never loads the Firestore client (gRPC).
    """
    if settings.sink is SinkKind.SQLITE:
        from common.sinks.sqlite import SqliteSink

        return SqliteSink(settings.sqlite_path)
    from common.sinks.firestore import FirestoreSink

    return FirestoreSink.connect(settings.firestore_project, settings.firestore_database)
