"""Kafka outages against a private broker (never the shared one): while it is stopped the service answers
503 with Retry-After in bounded time and claims nothing; after it restarts, articles are accepted again, and
the topic holds exactly the articles that were answered 202.
"""

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devservices.kafka import KafkaBroker, create_topics, temporary_broker
from tests.producer.support import API_KEY, read_back, service, settings_for, topic_size

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.anyio]

AUTH = {"X-API-Key": API_KEY}
TOPIC = "articles"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def private_broker() -> Iterator[KafkaBroker]:
    with temporary_broker(f"kafka-producer-outage-{uuid.uuid4().hex[:8]}") as broker:
        create_topics(broker.bootstrap, {TOPIC: 4})
        yield broker


def article(n: int) -> dict[str, Any]:
    return {"publication": "Outage Daily", "content": f"Article number {n}.", "id": f"outage-{n}"}


async def test_503_while_the_broker_is_down_and_202_after_it_restarts(private_broker: KafkaBroker, tmp_path: Path):
    settings = settings_for(private_broker.bootstrap, TOPIC, tmp_path, produce_timeout="3s", retry_after=7)
    full_queue = settings_for(
        private_broker.bootstrap, TOPIC, tmp_path, produce_timeout="3s", retry_after=7, queue_max_messages=1
    )
    async with service(settings) as client, service(full_queue) as small_client:
        before = await client.post("/articles", json=article(0), headers=AUTH)
        assert before.status_code == 202

        private_broker.stop()

        down = await client.post("/articles", json=article(1), headers=AUTH)
        batch = await client.post("/articles/batch", json=[article(2), article(3), {"publication": "x"}], headers=AUTH)
        ready = await client.get("/readyz")
        health = await client.get("/healthz")
        crowded = await asyncio.gather(
            *(small_client.post("/articles", json=article(n), headers=AUTH) for n in (4, 5, 6))
        )

        assert down.status_code == 503
        assert down.headers["retry-after"] == "7"
        assert down.json()["detail"].endswith("; retry later")
        assert batch.status_code == 503
        assert batch.headers["retry-after"] == "7"
        assert [(r["index"], r["status"], r.get("id")) for r in batch.json()["results"]] == [
            (0, 503, "outage-2"),
            (1, 503, "outage-3"),
            (2, 422, None),
        ]
        assert batch.json()["accepted"] == 0
        assert ready.status_code == 503
        assert ready.json()["kafka"].startswith("Kafka at the bootstrap servers did not answer within 2s")
        assert health.status_code == 200
        assert [answer.status_code for answer in crowded] == [503, 503, 503]
        details = sorted(answer.json()["detail"] for answer in crowded)
        assert details[1:] == [
            "the producer's local queue is full (Kafka is slow or unreachable); retry later",
            "the producer's local queue is full (Kafka is slow or unreachable); retry later",
        ]

        private_broker.start()

        accepted = None
        for _ in range(60):  # what a client does: retry after a 503 until the broker is back
            answer = await client.post("/articles", json=article(7), headers=AUTH)
            assert answer.status_code in (202, 503)
            if answer.status_code == 202:
                accepted = answer.json()
                break
            await asyncio.sleep(1)
        assert accepted is not None and accepted["id"] == "outage-7"
        assert (await client.get("/readyz")).status_code == 200
        again = await client.post("/articles/batch", json=[article(8), article(9)], headers=AUTH)
        assert again.status_code == 202

    answered_202 = {"outage-0", "outage-7", "outage-8", "outage-9"}
    records = read_back(private_broker.bootstrap, TOPIC, topic_size(private_broker.bootstrap, TOPIC))
    assert {record.key() for record in records} == {key.encode() for key in answered_202}
