"""``GET /status``: how far behind the consumer group is, how fast it counts, and when it will have caught up.

Everything comes from Kafka. Per partition, the lag is the topic's end offset (high watermark) minus the offset
the group (KAFKA_GROUP_ID) committed, which the consumer commits only once the counts are in the sink; before
the group's first commit on a partition, every record the partition retains is behind. The counting rate is how
fast the committed offsets grew over the last minute, from readings the service takes every few seconds while
it runs (and at each request); the time to catch up is the lag at that rate. The health of the broker and the
sink is what ``/readyz`` checks.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, Field

from common.kafka_client import security_config
from producer.publisher import Publisher
from producer.reads import Reads
from producer.settings import ProducerSettings

log = logging.getLogger(__name__)

READING_INTERVAL_SECONDS = 5.0
"""How often the service reads the group's committed offsets in the background, for the rate."""
RATE_WINDOW_SECONDS = 60.0
"""The rate is measured over the readings of this many seconds (the last minute)."""
MIN_RATE_SECONDS = 3.0
"""Readings closer together than this give no rate yet: one commit more or less would swing it widely."""


# --- what Kafka says ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Positions:
    """One reading of the group on the topic: per partition the committed offset (None before the group's first
    commit there), the first retained offset and the end offset."""

    committed: dict[int, int | None]
    start: dict[int, int]
    end: dict[int, int]

    def counted_to(self, partition: int) -> int:
        """The next offset the group will count: its commit, or the first retained record before any."""
        committed = self.committed[partition]
        return self.start[partition] if committed is None else max(committed, self.start[partition])

    def lag(self, partition: int) -> int:
        return max(0, self.end[partition] - self.counted_to(partition))

    @property
    def total_lag(self) -> int:
        return sum(self.lag(partition) for partition in self.end)

    @property
    def counted(self) -> int:
        """Sum of :meth:`counted_to` over the partitions: it grows by one per record counted."""
        return sum(self.counted_to(partition) for partition in self.end)


def read_positions(consumer: Consumer, topic: str, timeout: float) -> Positions:
    """Ask Kafka where the consumer's group stands on ``topic`` (blocking, ``timeout`` seconds in all); raises
    :class:`KafkaException`, :class:`TimeoutError` or :class:`LookupError` (the topic is missing)."""
    deadline = time.monotonic() + timeout

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"Kafka did not give the consumer group's offsets within {timeout:g}s")
        return remaining

    metadata = consumer.list_topics(topic, timeout=left()).topics.get(topic)
    if metadata is None:
        raise LookupError(f"Kafka topic {topic!r} is not available: missing")
    if metadata.error is not None:
        raise LookupError(f"Kafka topic {topic!r} is not available: {metadata.error.str()}")
    partitions = [TopicPartition(topic, partition) for partition in sorted(metadata.partitions)]
    committed = {
        found.partition: found.offset if found.offset >= 0 else None
        for found in consumer.committed(partitions, timeout=left())
    }
    start: dict[int, int] = {}
    end: dict[int, int] = {}
    for partition in partitions:
        watermarks = consumer.get_watermark_offsets(partition, timeout=left(), cached=False)
        if watermarks is None:
            raise TimeoutError(f"Kafka did not give the consumer group's offsets within {timeout:g}s")
        start[partition.partition], end[partition.partition] = watermarks
    return Positions(committed, start, end)


# --- rate, estimate, summary --------------------------------------------------------------------------------


class CountingRate:
    """Records counted per second over the last :data:`RATE_WINDOW_SECONDS`, from readings of
    :attr:`Positions.counted` taken at known times (``time.monotonic()``)."""

    def __init__(self, window: float = RATE_WINDOW_SECONDS, minimum: float = MIN_RATE_SECONDS) -> None:
        self._window = window
        self._minimum = minimum
        self._readings: deque[tuple[float, int]] = deque()

    def add(self, at: float, counted: int) -> None:
        self._readings.append((at, counted))
        while self._readings[0][0] < at - self._window:
            self._readings.popleft()

    @property
    def seconds(self) -> float:
        """How many seconds the readings span."""
        return self._readings[-1][0] - self._readings[0][0] if self._readings else 0.0

    def per_second(self) -> float | None:
        """None until the readings span :data:`MIN_RATE_SECONDS`; never negative (a recreated topic starts over)."""
        if self.seconds < self._minimum:
            return None
        (first_at, first), (last_at, last) = self._readings[0], self._readings[-1]
        return max(0.0, (last - first) / (last_at - first_at))


def catch_up_seconds(lag: int, rate: float | None) -> float | None:
    """Seconds until nothing is behind at ``rate``: 0 when nothing is; None without a rate or when nothing moves."""
    if lag == 0:
        return 0.0
    if not rate:
        return None
    return lag / rate


def about(seconds: float) -> str:
    """A rough duration for people: ``45s``, ``3m 20s``, ``2h 05m``."""
    whole = max(1, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def summary(lag: int | None, rate: float | None, kafka_problem: str | None) -> str:
    """The one line people read (the dashboard, ``make status``, the load tool's ``--wait``)."""
    if lag is None:
        return f"counting: unknown, Kafka cannot be asked ({kafka_problem})"
    if lag == 0:
        return "all counted"
    behind = f"counting: {lag:,} articles behind"
    if rate is None:
        return f"{behind}, measuring the rate"
    estimate = catch_up_seconds(lag, rate)
    if estimate is None:
        return f"{behind}, none counted in the last minute: is the consumer group running?"
    return f"{behind}, ~{about(estimate)} to catch up"


# --- the endpoint ---------------------------------------------------------------------------------------


class PartitionStatus(BaseModel):
    partition: int = Field(examples=[0])
    committed: int | None = Field(
        description="The next offset the group will count, as it committed it to Kafka; null before its first "
        "commit on this partition.",
        examples=[180],
    )
    end: int = Field(description="The partition's end offset (high watermark).", examples=[200])
    lag: int = Field(
        description="Records written and not counted yet: `end` minus `committed` (minus the first retained "
        "offset before the first commit).",
        examples=[20],
    )


class Status(BaseModel):
    summary: str = Field(
        description="One line for people: `all counted`, or how many articles are behind and how long catching "
        "up should take.",
        examples=["counting: 1,234 articles behind, ~3m 20s to catch up"],
    )
    topic: str = Field(description="KAFKA_TOPIC.", examples=["articles"])
    group: str = Field(description="KAFKA_GROUP_ID, the consumer group.", examples=["newscounts"])
    lag: int | None = Field(
        description="Records in the topic the group has not counted yet (invalid ones, bound for the dead-letter "
        "topic, included); null when Kafka cannot be asked.",
        examples=[1234],
    )
    rate: float | None = Field(
        description="Records counted per second (growth of the committed offsets) over the last minute; null until "
        "the service has readings a few seconds apart.",
        examples=[6.2],
    )
    rate_seconds: float = Field(description="Seconds the rate is measured over (at most 60).", examples=[60.0])
    catch_up_seconds: float | None = Field(
        description="Estimated seconds until `lag` is 0 at `rate`: 0 when nothing is behind, null when unknown "
        "(no rate yet, or nothing counted in the last minute).",
        examples=[199.0],
    )
    kafka: str = Field(description="`ok`, or why the broker is not usable (as in /readyz).", examples=["ok"])
    sink: str = Field(description="`ok`, or why the counts store cannot be read (as in /readyz).", examples=["ok"])
    partitions: list[PartitionStatus] = Field(description="Per partition, in order; empty when Kafka cannot be asked.")


class GroupProgress:
    """The service's view of the consumer group: reads its positions from Kafka, keeps the rate's readings.

    A Kafka consumer in the group that never subscribes (so it never joins the group, and commits nothing)
    asks for the committed offsets and the watermarks; one reading at a time.
    """

    def __init__(self, settings: ProducerSettings) -> None:
        self.topic = settings.kafka_topic
        self.group = settings.kafka_group_id
        self._timeout = settings.ready_timeout.total_seconds()
        self._consumer = Consumer(
            {
                **security_config(settings),
                "bootstrap.servers": settings.kafka_bootstrap_servers,
                "group.id": settings.kafka_group_id,
                "client.id": "newscounts-status",
                "enable.auto.commit": False,
                "log_level": 0,  # a broker that is down shows in the answer, as does the producer's log
            }
        )
        self._one_at_a_time = asyncio.Lock()
        self.rate = CountingRate()

    async def read(self) -> Positions:
        """A fresh reading (also kept for the rate); raises when Kafka cannot answer."""
        async with self._one_at_a_time:
            positions = await asyncio.to_thread(read_positions, self._consumer, self.topic, self._timeout)
        self.rate.add(time.monotonic(), positions.counted)
        return positions

    async def try_read(self) -> tuple[Positions | None, str | None]:
        """:meth:`read`, or None and why Kafka could not answer."""
        try:
            return await self.read(), None
        except KafkaException as error:
            reason = error.args[0].str() if error.args and isinstance(error.args[0], KafkaError) else str(error)
            return None, f"the consumer group's offsets cannot be read: {reason}"
        except (LookupError, TimeoutError) as error:
            return None, str(error)

    async def keep_reading(self) -> None:
        """Read every :data:`READING_INTERVAL_SECONDS` until cancelled, so the rate is known at the first request."""
        while True:
            _, problem = await self.try_read()
            if problem:
                log.debug("status: %s", problem)
            await asyncio.sleep(READING_INTERVAL_SECONDS)

    async def close(self) -> None:
        async with self._one_at_a_time:
            await asyncio.to_thread(self._consumer.close)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    progress = GroupProgress(app.state.settings)
    app.state.group_progress = progress
    reader = asyncio.create_task(progress.keep_reading(), name="group-progress")
    try:
        yield
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await progress.close()


router = APIRouter(tags=["operations"], lifespan=lifespan)


@router.get(
    "/status",
    response_model=Status,
    summary="How far behind counting is, how fast it goes, when it will have caught up",
)
async def status(request: Request) -> Status:
    """Lag of the consumer group per partition and in total, the counting rate over the last minute, an
    estimate of the time to catch up, and the health of the broker and the sink. Always 200: when Kafka cannot
    be asked, `lag` is null and `kafka` says why."""
    settings: ProducerSettings = request.app.state.settings
    progress: GroupProgress = request.app.state.group_progress
    publisher: Publisher = request.app.state.publisher
    reads: Reads = request.app.state.reads
    timeout = settings.ready_timeout.total_seconds()
    (positions, reading_problem), broker_problem, sink_problem = await asyncio.gather(
        progress.try_read(), asyncio.to_thread(publisher.check_broker, timeout), reads.problem(timeout)
    )
    kafka_problem = broker_problem or reading_problem
    lag = None if positions is None else positions.total_lag
    rate = progress.rate.per_second()
    return Status(
        summary=summary(lag, rate, kafka_problem),
        topic=progress.topic,
        group=progress.group,
        lag=lag,
        rate=None if rate is None else round(rate, 2),
        rate_seconds=round(progress.rate.seconds, 1),
        catch_up_seconds=None if lag is None else _rounded(catch_up_seconds(lag, rate)),
        kafka=kafka_problem or "ok",
        sink=sink_problem or "ok",
        partitions=[] if positions is None else partition_statuses(positions),
    )


def partition_statuses(positions: Positions) -> list[PartitionStatus]:
    return [
        PartitionStatus(
            partition=partition,
            committed=positions.committed[partition],
            end=positions.end[partition],
            lag=positions.lag(partition),
        )
        for partition in sorted(positions.end)
    ]


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)
