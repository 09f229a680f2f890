"""Arithmetic both sinks share: all-time increments derived from a flush, and epoch/UTC conversions.

Kept in one place so that the SQLite and Firestore sinks cannot drift apart on what a flush means.
"""

from datetime import UTC, datetime

from common.sinks.base import EntityCountingKey, EntityTally, PartitionFlush, PublicationDelta


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
    """How many documents (rows) one write of ``flush`` touches: the offset, and per publication its
    document, its windows, their entities and its all-time entities. The consumer bounds this."""
    count = 1
    for delta in flush.publications.values():
        windows = delta.windows.values()
        count += 1 + len(delta.windows) + sum(len(window.entities) for window in windows)
        count += len({key for window in windows for key in window.entities})
    return count


def epoch_seconds(moment: datetime) -> float:
    """Seconds since the UTC epoch; a naive datetime means UTC (as in the article format)."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()


def utc_from_epoch(seconds: int) -> datetime:
    """The aware UTC datetime of a window boundary."""
    return datetime.fromtimestamp(seconds, UTC)
