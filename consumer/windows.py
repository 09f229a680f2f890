"""Tumbling windows aligned to the UTC epoch, and the event time that picks an article's window."""

from datetime import UTC, datetime, timedelta

from common.article import Article
from common.moments import as_utc

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def window_start(moment: datetime, window_seconds: int) -> int:
    """Start (epoch seconds) of the window holding ``moment``; exact integer arithmetic, any year.

    A naive ``moment`` means UTC, as in the article format.
    """
    seconds = (as_utc(moment) - _EPOCH) // _SECOND
    return seconds - seconds % window_seconds


def event_time(article: Article, record_timestamp_ms: int | None) -> datetime:
    """``published_at`` when the article has it, else the Kafka record timestamp (milliseconds since the
    epoch, None when the record has none: then the time it is processed)."""
    if article.published_at is not None:
        return article.published_at
    if record_timestamp_ms is not None:
        return _EPOCH + timedelta(milliseconds=record_timestamp_ms)
    return datetime.now(UTC)
