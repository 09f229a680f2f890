"""Arithmetic both sinks and the consumer share: epoch/UTC conversions, and the documents a flush writes."""

from datetime import UTC, datetime

from common.moments import as_utc
from common.sinks.base import PartitionFlush
from common.sinks.firestore_layout import FamilyCache, plan_flush


def epoch_seconds(moment: datetime) -> float:
    """Seconds since the UTC epoch; a naive datetime means UTC (as in the article format)."""
    return as_utc(moment).timestamp()


def utc_from_epoch(seconds: int) -> datetime:
    """The aware UTC datetime of a window boundary."""
    return datetime.fromtimestamp(seconds, UTC)


def documents_written(flush: PartitionFlush) -> int:
    """Firestore documents one write of ``flush`` touches while its count documents have room (on a fresh
    store, exactly): the offset, per publication the documents of its months, years and all time, and the
    entity index's documents (docs/sinks.md). The consumer logs it with each flush; the bench counts it
    against the naive design."""
    return 1 + len(plan_flush(flush, FamilyCache()))
