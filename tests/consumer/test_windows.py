"""Tumbling windows aligned to the UTC epoch, and which time picks the window."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from common.article import Article
from consumer.windows import EventTimeOutOfRange, event_time, window_start

HOUR = 3600


@pytest.mark.parametrize(
    ("moment", "seconds", "start"),
    [
        (datetime(2020, 1, 1, 0, 30, tzinfo=UTC), HOUR, 1_577_836_800),
        (datetime(2020, 1, 1, 0, 0, tzinfo=UTC), HOUR, 1_577_836_800),
        (datetime(2019, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), HOUR, 1_577_833_200),
        (datetime(2020, 1, 1, 0, 30), HOUR, 1_577_836_800),  # naive means UTC
        (datetime(2020, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=2))), HOUR, 1_577_833_200),
        (datetime(2020, 1, 1, 0, 0, 44, tzinfo=UTC), 30, 1_577_836_830),
        (datetime(2020, 1, 1, 13, 0, tzinfo=UTC), 86_400, 1_577_836_800),
        (datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), HOUR, -3600),  # before the epoch: still floor
        (datetime(1, 1, 1, tzinfo=UTC), 86_400, -62_135_596_800),
    ],
)
def test_window_start(moment: datetime, seconds: int, start: int) -> None:
    assert window_start(moment, seconds) == start


def test_event_time_is_published_at_when_present() -> None:
    article = Article(publication="P", content="c", published_at=datetime(2014, 6, 9, tzinfo=UTC))
    assert event_time(article, 1_600_000_000_000) == datetime(2014, 6, 9, tzinfo=UTC)


def test_event_time_is_the_record_timestamp_without_published_at() -> None:
    article = Article(publication="P", content="c")
    assert event_time(article, 1_600_000_000_250) == datetime(2020, 9, 13, 12, 26, 40, 250_000, tzinfo=UTC)


def test_event_time_without_any_timestamp_is_now() -> None:
    before = datetime.now(UTC)
    moment = event_time(Article(publication="P", content="c"), None)
    assert before <= moment <= datetime.now(UTC)


@pytest.mark.parametrize("timestamp_ms", [-62_135_596_800_001, -(2**63), 2**63 - 1, 253_402_300_800_000])
def test_an_undated_article_with_a_kafka_timestamp_outside_the_accepted_years_is_refused(timestamp_ms: int) -> None:
    with pytest.raises(EventTimeOutOfRange, match=r"^timestamp out of range"):
        event_time(Article(publication="P", content="c"), timestamp_ms)


def test_a_dated_article_ignores_an_absurd_kafka_timestamp() -> None:
    article = Article(publication="P", content="c", published_at=datetime(2014, 6, 9, tzinfo=UTC))
    assert event_time(article, -(2**63)) == datetime(2014, 6, 9, tzinfo=UTC)


def test_the_accepted_years_bound_the_kafka_timestamp() -> None:
    article = Article(publication="P", content="c")
    assert event_time(article, -30_610_224_000_000) == datetime(1000, 1, 1, tzinfo=UTC)
    with pytest.raises(EventTimeOutOfRange):
        event_time(article, 221_845_392_000_000)  # 9000-01-01
