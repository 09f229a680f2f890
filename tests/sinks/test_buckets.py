"""The rollup hierarchy and the cover of a range: pure arithmetic, checked against calendars and brute force."""

from datetime import UTC, datetime
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.sinks.buckets import (
    ALL_TIME,
    DAY_SECONDS,
    LEVEL_COST,
    Bucket,
    Level,
    SignedCover,
    Step,
    bucket_at,
    cheapest_cover,
    check_window,
    count_points,
    cover,
    epoch_of,
    rollup_buckets,
    step_points,
)

HOUR = 3600


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return epoch_of(datetime(year, month, day, hour, minute, tzinfo=UTC))


def test_a_window_rolls_up_into_its_day_month_year_and_all_time() -> None:
    window = at(2024, 2, 29, 23)
    assert rollup_buckets(window, HOUR) == [
        Bucket(Level.WINDOW, window, window + HOUR),
        Bucket(Level.DAY, at(2024, 2, 29), at(2024, 3, 1)),
        Bucket(Level.MONTH, at(2024, 2, 1), at(2024, 3, 1)),
        Bucket(Level.YEAR, at(2024, 1, 1), at(2025, 1, 1)),
        ALL_TIME,
    ]
    # A window of a whole day is its day: no separate window level.
    assert [b.level for b in rollup_buckets(at(2024, 2, 29), DAY_SECONDS)] == [
        Level.DAY,
        Level.MONTH,
        Level.YEAR,
        Level.ALL,
    ]


def test_bucket_keys_name_the_bucket() -> None:
    assert [b.key for b in rollup_buckets(at(2023, 11, 14, 22), HOUR)] == [
        f"w{at(2023, 11, 14, 22)}",
        "d20231114",
        "m202311",
        "y2023",
        "all",
    ]
    assert bucket_at(Level.YEAR, at(1969, 7, 20), HOUR).key == "y1969"


@pytest.mark.parametrize("window", [1, 30, 300, 3600, 7200, 86_400])
def test_windows_that_divide_a_day_are_accepted(window: int) -> None:
    check_window(window)


@pytest.mark.parametrize("window", [7, 3601, 86_401, 172_800, 0])
def test_windows_that_do_not_divide_a_day_are_refused(window: int) -> None:
    with pytest.raises(ValueError, match="does not divide a day"):
        check_window(window)


def test_cover_of_an_unaligned_range_over_years() -> None:
    start, end = at(2021, 11, 30, 21, 30), at(2024, 2, 2, 1, 10)
    found = cover(start, end, HOUR)
    assert (found.start, found.end) == (at(2021, 11, 30, 21), at(2024, 2, 2, 2))
    assert [b.key for b in found.buckets] == [
        f"w{at(2021, 11, 30, 21)}",
        f"w{at(2021, 11, 30, 22)}",
        f"w{at(2021, 11, 30, 23)}",
        "m202112",
        "y2022",
        "y2023",
        "m202401",
        "d20240201",
        f"w{at(2024, 2, 2, 0)}",
        f"w{at(2024, 2, 2, 1)}",
    ]


def test_cover_in_days_for_the_cross_publication_index() -> None:
    found = cover(at(2023, 12, 30, 5), at(2024, 1, 2, 1), HOUR, finest=Level.DAY)
    assert (found.start, found.end) == (at(2023, 12, 30), at(2024, 1, 3))
    assert [b.key for b in found.buckets] == ["d20231230", "d20231231", "d20240101", "d20240102"]


def test_cover_of_aligned_ranges_is_one_bucket() -> None:
    assert [b.key for b in cover(at(2023, 1, 1), at(2024, 1, 1), HOUR).buckets] == ["y2023"]
    assert [b.key for b in cover(at(2023, 2, 1), at(2023, 3, 1), HOUR).buckets] == ["m202302"]
    assert [b.key for b in cover(at(2023, 2, 5), at(2023, 2, 6), HOUR).buckets] == ["d20230205"]
    assert [b.key for b in cover(at(2023, 2, 5, 7, 1), at(2023, 2, 5, 7, 2), HOUR).buckets] == [f"w{at(2023, 2, 5, 7)}"]


@given(
    st.integers(min_value=at(1999, 1, 1), max_value=at(2031, 1, 1)),
    st.integers(min_value=1, max_value=3 * 366 * DAY_SECONDS),
    st.sampled_from([300, 3600, 7200, DAY_SECONDS]),
)
def test_cover_tiles_the_widened_range_exactly(start: int, length: int, window: int) -> None:
    found = cover(start, start + length, window)
    assert found.start <= start and found.end >= start + length
    assert found.start % window == 0 and found.end % window == 0
    assert found.start > start - window and found.end < start + length + window
    moment = found.start
    for bucket in found.buckets:  # contiguous, in order, each a real bucket of its level
        assert bucket.start == moment and bucket == bucket_at(bucket.level, bucket.start, window)
        moment = bucket.end
    assert moment == found.end
    # never more than the edge windows, days and months, plus whole years
    counts = {level: sum(1 for b in found.buckets if b.level is level) for level in Level}
    assert counts[Level.WINDOW] <= 2 * (DAY_SECONDS // window - 1)
    assert counts[Level.DAY] <= 2 * 30 and counts[Level.MONTH] <= 2 * 11 and counts[Level.ALL] == 0


def test_weeks_start_on_monday() -> None:
    points = step_points(at(2024, 1, 3), at(2024, 1, 17), Step.WEEK)  # a Wednesday to a Wednesday
    assert points == [
        (at(2024, 1, 1), at(2024, 1, 8)),
        (at(2024, 1, 8), at(2024, 1, 15)),
        (at(2024, 1, 15), at(2024, 1, 22)),
    ]
    assert datetime.fromtimestamp(points[0][0], UTC).weekday() == 0


@pytest.mark.parametrize(
    ("step", "start", "end", "first", "last_end", "count"),
    [
        (Step.HOUR, at(2024, 1, 1, 0, 30), at(2024, 1, 1, 3), at(2024, 1, 1), at(2024, 1, 1, 3), 3),
        (Step.DAY, at(2024, 2, 28, 12), at(2024, 3, 1, 1), at(2024, 2, 28), at(2024, 3, 2), 3),
        (Step.MONTH, at(2023, 11, 15), at(2024, 2, 1), at(2023, 11, 1), at(2024, 2, 1), 3),
        (Step.YEAR, at(2019, 6, 1), at(2024, 6, 1), at(2019, 1, 1), at(2025, 1, 1), 6),
        (Step.WEEK, at(2024, 1, 1), at(2024, 1, 8), at(2024, 1, 1), at(2024, 1, 8), 1),
    ],
)
def test_series_points_widen_to_whole_steps(
    step: Step, start: int, end: int, first: int, last_end: int, count: int
) -> None:
    points = step_points(start, end, step)
    assert (points[0][0], points[-1][1], len(points)) == (first, last_end, count)
    assert count_points(start, end, step) == count
    assert all(a[1] == b[0] for a, b in pairwise(points))


@given(
    st.integers(min_value=at(2000, 1, 1), max_value=at(2030, 1, 1)),
    st.integers(min_value=1, max_value=800 * DAY_SECONDS),
    st.sampled_from(list(Step)),
)
def test_count_points_matches_the_points(start: int, length: int, step: Step) -> None:
    assert count_points(start, start + length, step) == len(step_points(start, start + length, step))


# --- ranges as larger buckets less their margins ---


def coverage(signed: SignedCover, first: int, stop: int) -> dict[tuple[int, int], int]:
    """How many times the signed cover counts each stretch of ``[first, stop)`` between two bucket bounds."""

    def span(bucket: Bucket) -> tuple[int, int]:
        return (first, stop) if bucket.level is Level.ALL else (max(bucket.start, first), min(bucket.end, stop))

    spans = [(span(b), 1) for b in signed.buckets] + [(span(b), -1) for b in signed.less]
    points = sorted({first, stop, *(bound for (low, high), _ in spans for bound in (low, high))})
    return {
        (low, high): sum(sign for (a, b), sign in spans if a <= low and high <= b)
        for low, high in pairwise(points)
        if first <= low < high <= stop
    }


@given(
    st.integers(0, 3 * 366 * 24),
    st.integers(1, 3 * 366 * 24),
    st.integers(0, 366 * 24),
    st.integers(0, 366 * 24),
    st.sampled_from([HOUR, 4 * HOUR, DAY_SECONDS]),
)
def test_a_signed_cover_counts_every_window_of_the_range_once_and_nothing_else(
    offset: int, length: int, before: int, after: int, window: int
) -> None:
    start = at(2022, 1, 1) + offset * HOUR
    start -= start % window
    end = start + max(window, length * HOUR - length * HOUR % window)
    first, stop = start - before * HOUR, end + after * HOUR
    first -= first % window
    stop += -stop % window
    signed = cheapest_cover(start, end, first, stop, window)
    counted = coverage(signed, first, stop)
    assert {part: count for part, count in counted.items() if count} == {
        part: 1 for part in counted if start <= part[0] and part[1] <= end
    }
    assert signed.tiles == cover(start, end, window).buckets
    assert signed.cost <= sum(LEVEL_COST[b.level] for b in signed.tiles)
    for bucket in signed.less:  # a margin is outside the range and inside the data
        assert bucket.end <= start or bucket.start >= end
        assert first <= bucket.start and bucket.end <= stop


def test_five_years_but_two_days_at_each_end_are_all_time_less_the_margins() -> None:
    first, stop = at(2021, 1, 1), at(2026, 1, 1)
    start, end = at(2021, 1, 3, 5), at(2025, 12, 29, 5)
    signed = cheapest_cover(start, end, first, stop, HOUR)
    assert signed.buckets == (ALL_TIME,)
    assert [b.key for b in signed.less] == [
        "d20210101",
        "d20210102",
        *(f"w{at(2021, 1, 3, hour)}" for hour in range(5)),
        *(f"w{at(2025, 12, 29, hour)}" for hour in range(5, 24)),
        "d20251230",
        "d20251231",
    ]
    # with ten years of data, each partial year at the ends is its year less the two days outside
    signed = cheapest_cover(start, end, at(2016, 1, 1), at(2031, 1, 1), HOUR)
    assert [b.key for b in signed.buckets] == ["y2021", "y2022", "y2023", "y2024", "y2025"]
    assert len(signed.less) == 2 + 5 + 19 + 2


def test_a_range_that_is_cheap_to_tile_is_read_as_its_tiles() -> None:
    first, stop = at(2021, 1, 1), at(2026, 1, 1)
    for start, end in (
        (at(2024, 6, 15, 5), at(2025, 6, 15, 5)),  # a year not aligned to days
        (at(2025, 6, 15, 5), at(2025, 7, 15, 5)),  # a month
        (at(2025, 6, 15, 5), at(2025, 6, 16, 5)),  # a day
    ):
        signed = cheapest_cover(start, end, first, stop, HOUR)
        assert signed == SignedCover(cover(start, end, HOUR).buckets, (), cover(start, end, HOUR).buckets)
