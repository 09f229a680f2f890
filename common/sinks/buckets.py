"""The rollup hierarchy both sinks keep: windows, UTC days, months, years and all time, and the cover of a range.

Every count a flush writes for a window is written to each bucket holding it: the window itself, its UTC
day, month and year, and all time. A range ``[start, end)`` is then answered from the fewest buckets that
tile it exactly (:func:`cover`): windows up to the first midnight, days up to the first month, months up
to the first year, whole years, and back down at the end. The range is first widened to whole windows
(the counts know nothing finer), and every answer says the range it covers. Pure arithmetic, no I/O.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum

from common.moments import as_utc

DAY_SECONDS = 86_400
HOUR_SECONDS = 3_600
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Level(IntEnum):
    """How long a bucket is; ordered finest first."""

    WINDOW = 0
    DAY = 1
    MONTH = 2
    YEAR = 3
    ALL = 4


@dataclass(frozen=True, order=True)
class Bucket:
    """One rollup bucket: ``[start, end)`` in epoch seconds (UTC); all time is ``(ALL, 0, 0)``."""

    level: Level
    start: int
    end: int

    @property
    def key(self) -> str:
        """Short, stable name of the bucket in a store (``w1699999200``, ``d20231114``, ``m202311``, ``y2023``,
        ``all``); it sorts in time order within a level."""
        if self.level is Level.ALL:
            return "all"
        if self.level is Level.WINDOW:
            return f"w{self.start}"
        moment = moment_of(self.start)
        if self.level is Level.DAY:
            return f"d{moment:%Y%m%d}"
        if self.level is Level.MONTH:
            return f"m{moment:%Y%m}"
        return f"y{moment:%Y}"


ALL_TIME = Bucket(Level.ALL, 0, 0)


class Step(StrEnum):
    """The length of one point of a series. Weeks start on Monday, UTC."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


def moment_of(seconds: int) -> datetime:
    """The aware UTC datetime of an epoch second (exact for any year datetime can hold)."""
    return _EPOCH + timedelta(seconds=seconds)


def epoch_of(moment: datetime) -> int:
    """Whole epoch seconds of a datetime (floor); a naive one means UTC."""
    return (as_utc(moment) - _EPOCH) // timedelta(seconds=1)


def epoch_ceiling(moment: datetime) -> int:
    """The smallest whole epoch second at or after a datetime (a naive one means UTC)."""
    floor = epoch_of(moment)
    return floor if as_utc(moment) == moment_of(floor) else floor + 1


def _month_start(seconds: int) -> int:
    moment = moment_of(seconds)
    return epoch_of(datetime(moment.year, moment.month, 1, tzinfo=UTC))


def _next_month(month_start: int) -> int:
    moment = moment_of(month_start)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return epoch_of(datetime(year, month, 1, tzinfo=UTC))


def _year_start(seconds: int) -> int:
    return epoch_of(datetime(moment_of(seconds).year, 1, 1, tzinfo=UTC))


def _next_year(year_start: int) -> int:
    return epoch_of(datetime(moment_of(year_start).year + 1, 1, 1, tzinfo=UTC))


def bucket_at(level: Level, seconds: int, window_seconds: int) -> Bucket:
    """The bucket of ``level`` holding the instant ``seconds``."""
    if level is Level.ALL:
        return ALL_TIME
    if level is Level.WINDOW:
        start = seconds - seconds % window_seconds
        return Bucket(level, start, start + window_seconds)
    if level is Level.DAY:
        start = seconds - seconds % DAY_SECONDS
        return Bucket(level, start, start + DAY_SECONDS)
    if level is Level.MONTH:
        start = _month_start(seconds)
        return Bucket(level, start, _next_month(start))
    start = _year_start(seconds)
    return Bucket(level, start, _next_year(start))


def levels(window_seconds: int) -> tuple[Level, ...]:
    """The levels kept for this window size, finest first: a window of a whole day is its day."""
    return tuple(Level) if window_seconds < DAY_SECONDS else tuple(Level)[1:]


def rollup_buckets(window_start: int, window_seconds: int) -> list[Bucket]:
    """Every bucket a count of the window starting at ``window_start`` is written to, finest first."""
    return [bucket_at(level, window_start, window_seconds) for level in levels(window_seconds)]


def check_window(window_seconds: int) -> None:
    """Windows must tile days, so that days, months and years are made of whole windows."""
    if window_seconds <= 0 or DAY_SECONDS % window_seconds:
        raise ValueError(f"a window of {window_seconds} s does not divide a day (86,400 s): use e.g. 30s, 5m, 1h, 1d")


@dataclass(frozen=True)
class Cover:
    """The buckets that tile ``[start, end)`` exactly, and that range (the request widened to whole units)."""

    start: int
    end: int
    buckets: tuple[Bucket, ...]


def widen(start: int, end: int, unit: int) -> tuple[int, int]:
    """``[start, end)`` widened to whole multiples of ``unit`` seconds (epoch-aligned)."""
    return start - start % unit, end + (-end) % unit


def cover(start: int, end: int, window_seconds: int, finest: Level = Level.WINDOW) -> Cover:
    """The fewest buckets, each of a level from ``finest`` up to years, that tile ``[start, end)`` widened to
    whole ``finest`` units (windows, or days when ``finest`` is DAY). Greedy from the left: at each point
    the largest bucket that starts there and ends within the range."""
    unit = window_seconds if finest is Level.WINDOW else DAY_SECONDS
    low, high = widen(start, end, unit)
    usable = [level for level in (Level.YEAR, Level.MONTH, Level.DAY, Level.WINDOW) if level >= finest]
    if window_seconds >= DAY_SECONDS:
        usable = [level for level in usable if level is not Level.WINDOW]
    buckets: list[Bucket] = []
    moment = low
    while moment < high:
        for level in usable:
            bucket = bucket_at(level, moment, window_seconds)
            if bucket.start == moment and bucket.end <= high:
                buckets.append(bucket)
                moment = bucket.end
                break
        else:  # unreachable for a range widened to whole units
            raise AssertionError(f"no bucket tiles {moment} within [{low}, {high})")
    return Cover(low, high, tuple(buckets))


LEVEL_COST = {Level.WINDOW: 1, Level.DAY: 8, Level.MONTH: 64, Level.YEAR: 256, Level.ALL: 512}
"""Rough cost of reading one bucket of each level, a window's being 1: how many entities it holds, to a factor of two.
``bench.trends``' busiest publication holds 13, 93, 524, 738 and 754 entities per window, day, month, year and
all time (few names, repeated); a news sample holds more distinct names the longer the bucket."""


@dataclass(frozen=True)
class SignedCover:
    """A range read as the sum of ``buckets`` less the sum of ``less`` (the parts of the buckets outside the
    range that can hold counts); ``tiles`` is its plain :func:`cover`, where what subtraction cannot give is
    read (which spelling was seen last before the range's end)."""

    buckets: tuple[Bucket, ...]
    less: tuple[Bucket, ...]
    tiles: tuple[Bucket, ...]

    @property
    def cost(self) -> int:
        return sum(LEVEL_COST[bucket.level] for bucket in (*self.buckets, *self.less))


def plain_cover(buckets: tuple[Bucket, ...]) -> SignedCover:
    """The cover ``buckets``, with nothing subtracted."""
    return SignedCover(buckets, (), buckets)


def cheapest_cover(start: int, end: int, first: int, stop: int, window_seconds: int) -> SignedCover:
    """The cheapest (:data:`LEVEL_COST`) way to read ``[start, end)`` (whole windows) of counts that lie in
    ``[first, stop)``: its plain cover; all time less ``[first, start)`` and ``[end, stop)``; or each partial
    year at the ends as its year less the part outside the range (and the whole years between them). Five
    years of data but for two days at each end: all time and four days of margins, not 22 months and 56 days."""

    def tiled(low: int, high: int) -> tuple[Bucket, ...]:
        return cover(low, high, window_seconds).buckets if low < high else ()

    def around(bucket: Bucket, low: int, high: int) -> SignedCover:
        """``[low, high)`` as ``bucket`` less what it holds outside (only where counts can be)."""
        begins, ends = (first, stop) if bucket.level is Level.ALL else (max(bucket.start, first), min(bucket.end, stop))
        return SignedCover((bucket,), tiled(begins, low) + tiled(high, ends), tiled(low, high))

    def plain(low: int, high: int) -> SignedCover:
        return plain_cover(tiled(low, high))

    options = [plain(start, end), around(ALL_TIME, start, end)]
    first_year, last_year = bucket_at(Level.YEAR, start, 1), bucket_at(Level.YEAR, end - 1, 1)
    if first_year == last_year:
        options.append(around(first_year, start, end))
    else:
        head = min(plain(start, first_year.end), around(first_year, start, first_year.end), key=_cost)
        tail = min(plain(last_year.start, end), around(last_year, last_year.start, end), key=_cost)
        middle = tiled(first_year.end, last_year.start)
        options.append(
            SignedCover(head.buckets + middle + tail.buckets, head.less + tail.less, head.tiles + middle + tail.tiles)
        )
    return min(options, key=_cost)  # the first of equal costs: the plain cover


def _cost(option: SignedCover) -> int:
    return option.cost


def step_points(start: int, end: int, step: Step) -> list[tuple[int, int]]:
    """The points ``[point_start, point_end)`` of a series over ``[start, end)`` widened to whole steps."""
    points = []
    moment = _step_start(start, step)
    while moment < end:
        following = _step_end(moment, step)
        points.append((moment, following))
        moment = following
    return points


def count_points(start: int, end: int, step: Step) -> int:
    """How many points :func:`step_points` gives, without building them (to refuse absurd requests)."""
    if step is Step.HOUR:
        low, high = widen(start, end, HOUR_SECONDS)
        return (high - low) // HOUR_SECONDS
    if step in (Step.DAY, Step.WEEK):
        unit = DAY_SECONDS * (1 if step is Step.DAY else 7)
        return -(-(end - _step_start(start, step)) // unit)
    first, last = moment_of(start), moment_of(end - 1)
    if step is Step.YEAR:
        return last.year - first.year + 1
    return (last.year - first.year) * 12 + last.month - first.month + 1


def _step_start(seconds: int, step: Step) -> int:
    if step is Step.HOUR:
        return seconds - seconds % HOUR_SECONDS
    if step is Step.DAY:
        return seconds - seconds % DAY_SECONDS
    if step is Step.WEEK:
        day = seconds // DAY_SECONDS
        return (day - (day + 3) % 7) * DAY_SECONDS  # 1970-01-01 was a Thursday: (day + 3) % 7 == 0 on Mondays
    if step is Step.MONTH:
        return _month_start(seconds)
    return _year_start(seconds)


def _step_end(step_start: int, step: Step) -> int:
    if step is Step.HOUR:
        return step_start + HOUR_SECONDS
    if step is Step.DAY:
        return step_start + DAY_SECONDS
    if step is Step.WEEK:
        return step_start + 7 * DAY_SECONDS
    if step is Step.MONTH:
        return _next_month(step_start)
    return _next_year(step_start)
