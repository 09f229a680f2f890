"""Instants as the whole service reads them: a naive datetime means UTC, a bare date means its midnight, UTC."""

from datetime import UTC, date, datetime, time
from typing import Any


def as_utc(moment: datetime) -> datetime:
    """``moment`` made aware: a naive datetime means UTC (as in the article format and the read API)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def date_means_midnight(value: Any) -> Any:
    """A pydantic ``before`` validator: ``"2020-07-20"`` -> midnight UTC of that day; anything else unchanged."""
    if isinstance(value, str) and len(value) == 10:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    return value
