"""``GET /status``: the consumer group's lag from the real broker, the counting rate, the catch-up estimate and the
one-line summary people read."""

from collections.abc import Callable
from pathlib import Path

import pytest

from devservices.process import free_port
from producer.status import CountingRate, about, catch_up_seconds, summary
from tests.consumer.support import produce
from tests.producer.support import commit, service, settings_for


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_the_rate_is_the_growth_of_the_committed_offsets_over_the_last_minute() -> None:
    rate = CountingRate(window=60, minimum=3)
    assert rate.per_second() is None and rate.seconds == 0
    rate.add(0, 100)
    rate.add(2, 110)
    assert rate.per_second() is None  # readings 2 s apart: too close to say
    rate.add(10, 150)
    assert (rate.per_second(), rate.seconds) == (5.0, 10)
    rate.add(70, 450)  # the readings at 0 s and 2 s are older than a minute now
    assert (rate.per_second(), rate.seconds) == (5.0, 60)
    rate.add(75, 100)  # the topic was recreated: fewer offsets than before is no negative rate
    assert (rate.per_second(), rate.seconds) == (0.0, 5)


def test_the_catch_up_estimate_and_the_summary_line() -> None:
    assert catch_up_seconds(0, None) == 0.0
    assert catch_up_seconds(120, None) is None
    assert catch_up_seconds(120, 0.0) is None
    assert catch_up_seconds(120, 4.0) == 30.0
    assert [about(seconds) for seconds in (0.2, 45, 200, 7500)] == ["1s", "45s", "3m 20s", "2h 05m"]
    assert summary(0, None, None) == "all counted"
    assert summary(1234, 6.17, None) == "counting: 1,234 articles behind, ~3m 20s to catch up"
    assert summary(1234, None, None) == "counting: 1,234 articles behind, measuring the rate"
    assert summary(1234, 0.0, None) == (
        "counting: 1,234 articles behind, none counted in the last minute: is the consumer group running?"
    )
    assert summary(None, None, "no broker") == "counting: unknown, Kafka cannot be asked (no broker)"


@pytest.mark.integration
@pytest.mark.anyio
async def test_the_lag_is_the_records_written_minus_the_committed_offsets(
    kafka_bootstrap: str, fresh_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = fresh_topic("status", partitions=4)
    group = f"g-{topic}"
    ends = produce(kafka_bootstrap, topic, [(f"article-{n}".encode(), b"{}") for n in range(40)])
    assert sorted(ends) == [0, 1, 2, 3] and all(end > 3 for end in ends.values()), ends
    committed = {0: 3, 1: ends[1]}  # partition 0 partly counted, 1 all counted, 2 and 3 never committed
    commit(kafka_bootstrap, group, topic, committed)
    settings = settings_for(kafka_bootstrap, topic, tmp_path, kafka_group_id=group)

    async with service(settings) as client:
        behind = (await client.get("/status")).json()
        commit(kafka_bootstrap, group, topic, ends)
        caught_up = (await client.get("/status")).json()

    lag = sum(ends.values()) - committed[0] - committed[1]
    assert behind["partitions"] == [
        {"partition": p, "committed": committed.get(p), "end": ends[p], "lag": ends[p] - committed.get(p, 0)}
        for p in range(4)
    ]
    assert (behind["topic"], behind["group"], behind["lag"], behind["kafka"], behind["sink"]) == (
        topic,
        group,
        lag,
        "ok",
        "ok",
    )
    assert behind["summary"].startswith(f"counting: {lag} articles behind, "), behind["summary"]
    assert [p["lag"] for p in caught_up["partitions"]] == [0, 0, 0, 0]
    assert (caught_up["lag"], caught_up["catch_up_seconds"], caught_up["summary"]) == (0, 0.0, "all counted")


@pytest.mark.anyio
async def test_without_kafka_the_status_says_why_and_still_answers(tmp_path: Path) -> None:
    settings = settings_for(f"127.0.0.1:{free_port()}", "articles", tmp_path, ready_timeout="500ms")
    async with service(settings) as client:
        answer = await client.get("/status")

    assert answer.status_code == 200
    body = answer.json()
    assert (body["lag"], body["catch_up_seconds"], body["partitions"], body["sink"]) == (None, None, [], "ok")
    assert body["kafka"].startswith("Kafka at the bootstrap servers did not answer within 0.5s"), body["kafka"]
    assert body["summary"] == f"counting: unknown, Kafka cannot be asked ({body['kafka']})"
