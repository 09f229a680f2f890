"""Tumbling windows aligned to the UTC epoch, and the event time that picks an article's window."""

from datetime import UTC, datetime, timedelta

from common.article import EARLIEST_PUBLISHED_AT, LATEST_PUBLISHED_AT, Article
from common.moments import as_utc

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_EARLIEST_MS = (EARLIEST_PUBLISHED_AT - _EPOCH) // timedelta(milliseconds=1)
_LATEST_MS = (LATEST_PUBLISHED_AT - _EPOCH) // timedelta(milliseconds=1)

TIMESTAMP_OUT_OF_RANGE = "timestamp out of range"
"""Start of the dead-letter reason of an undated article whose Kafka timestamp cannot place it in a window."""


class EventTimeOutOfRange(ValueError):
    """An undated article whose Kafka record timestamp lies outside the years an article may be dated."""


def window_start(moment: datetime, window_seconds: int) -> int:
    """Start (epoch seconds) of the window holding ``moment``; exact integer arithmetic, any year.

    A naive ``moment`` means UTC, as in the article format.
    """
    seconds = (as_utc(moment) - _EPOCH) // _SECOND
    return seconds - seconds % window_seconds


def event_time(article: Article, record_timestamp_ms: int | None) -> datetime:
    """``published_at`` when the article has it, else the Kafka record timestamp (milliseconds since the
    epoch, None when the record has none: then the time it is processed).

    A record timestamp outside the years ``published_at`` may take (1000 to 8999) raises
    :class:`EventTimeOutOfRange`: the article becomes a dead letter rather than a count in a window no
    reader asks for (or a crash: the years beyond 9999 do not exist for ``datetime``)."""
    if article.published_at is not None:
        return article.published_at
    if record_timestamp_ms is None:
        return datetime.now(UTC)
    if not _EARLIEST_MS <= record_timestamp_ms < _LATEST_MS:
        raise EventTimeOutOfRange(
            f"{TIMESTAMP_OUT_OF_RANGE}: the article has no published_at and its Kafka timestamp "
            f"{record_timestamp_ms} ms is outside the years 1000 to 8999; set published_at"
        )
    return _EPOCH + timedelta(milliseconds=record_timestamp_ms)
