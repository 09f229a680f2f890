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


_MODELS: dict[tuple[str, str, int], FamilyCache] = {}
"""What a Firestore writer of each partition would know, for :func:`documents_written`."""


def documents_written(flush: PartitionFlush) -> int:
    """Firestore documents a write of ``flush`` touches, as this process's model of the partition's writer
    plans it (given the flushes of the same partition it modelled before: which documents are full, which
    hold what): the offset, and per publication the documents of its months, years and all time, and the
    entity index's (docs/sinks.md). On a fresh store and partition, exactly what the write stores. The
    consumer logs it with each flush, whatever the sink; the bench counts it against the naive design."""
    model = _MODELS.setdefault((flush.group_id, flush.topic, flush.partition), FamilyCache())
    return 1 + len(plan_flush(flush, model))


def forget_documents_model() -> None:
    """Start :func:`documents_written`'s model afresh (as a new writer on an empty store)."""
    _MODELS.clear()
