"""Arithmetic both sinks share: all-time increments derived from a flush, and epoch/UTC conversions.

Kept in one place so that the SQLite and Firestore sinks cannot drift apart on what a flush means.
"""

from datetime import UTC, datetime

from common.moments import as_utc
from common.sinks.base import EntityCountingKey, EntityTally, PartitionFlush, PublicationDelta
from common.sinks.count_documents import documents_for


def all_time_tallies(delta: PublicationDelta) -> dict[EntityCountingKey, EntityTally]:
    """Sum one publication's per-window entity increments into its all-time increments.

    The flush carries only per-window deltas; the all-time documents get their sum. The ``text`` kept is
    the one of the latest window in the flush (every text of a key case-folds to the same key).
    """
    totals: dict[EntityCountingKey, EntityTally] = {}
    for window_start in sorted(delta.windows):
        for key, tally in delta.windows[window_start].entities.items():
            total = totals.setdefault(key, EntityTally(text=tally.text, label=tally.label))
            total.text = tally.text
            total.mentions += tally.mentions
            total.articles += tally.articles
    return totals


def documents_written(flush: PartitionFlush) -> int:
    """Firestore documents one write of ``flush`` touches while its count documents have room: the offset,
    and per publication its document, one count document per window and one for all time (one more per
    :data:`~common.sinks.count_documents.ENTITIES_PER_COMMIT` entities of a scope). The consumer logs it
    with each flush; the bench counts it against the naive design."""
    count = 1
    for delta in flush.publications.values():
        windows = delta.windows.values()
        count += 1 + sum(documents_for(len(window.entities)) for window in windows)
        all_time = len({key for window in windows for key in window.entities})
        count += documents_for(all_time) if all_time else 0
    return count


def epoch_seconds(moment: datetime) -> float:
    """Seconds since the UTC epoch; a naive datetime means UTC (as in the article format)."""
    return as_utc(moment).timestamp()


def utc_from_epoch(seconds: int) -> datetime:
    """The aware UTC datetime of a window boundary."""
    return datetime.fromtimestamp(seconds, UTC)
