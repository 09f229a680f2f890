"""Helpers of the HTTP service tests: settings for a test topic, a running app, reading records back."""

import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from fastapi import FastAPI

from common.settings import SinkKind
from producer.app import create_app
from producer.settings import ProducerSettings

API_KEY = "nc-test-7f3a9c1e5b2d4f60a8e1c3b5d7f9a2c4"
SECOND_KEY = "nc-test-second-0b1c2d3e4f5a6b7c8d9e"

_LEADER_MOVING = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE}

ARTICLE_PLACES = [
    b"%s",
    b'{"publication": %s, "content": "x"}',
    b'{"publication": "P", "content": %s}',
    b'{"publication": "P", "content": "x", "id": %s}',
    b'{"publication": "P", "content": "x", "published_at": %s}',
    b'{"publication": "P", "content": "x", "unknown": %s}',
]
"""Where a raw JSON value goes in an article body (``place % value``): the whole body, or one of its fields."""


def settings_for(bootstrap: str, topic: str, tmp_path: Path, **overrides: Any) -> ProducerSettings:
    """Settings of a service on ``topic`` with a private SQLite sink, unless ``overrides`` say otherwise."""
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap,
        "kafka_topic": topic,
        "api_keys": f"{API_KEY},{SECOND_KEY}",
        "sink": SinkKind.SQLITE,
        "sqlite_path": tmp_path / "counts.sqlite3",
        "produce_timeout": "10s",
    }
    values.update(overrides)
    return ProducerSettings(**values)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan started, and a client talking to it in-process."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://newscounts.test") as client,
    ):
        yield client


@asynccontextmanager
async def service(settings: ProducerSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(settings)) as client:
        yield client


def read_back(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[Message]:
    """The first ``count`` records of ``topic`` (all partitions, from the beginning), by partition and offset."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-read-back-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, partition, 0) for partition in partitions])
        records: list[Message] = []
        while len(records) < count:
            batch = consumer.consume(count - len(records), timeout=timeout)
            if not batch:
                break
            records += [record for record in batch if record.error() is None]
        return sorted(records, key=lambda record: (record.partition() or 0, record.offset() or 0))
    finally:
        consumer.close()


def topic_size(bootstrap: str, topic: str, timeout: float = 30.0) -> int:
    """Records in the topic (sum of the partitions' high watermarks); waits out a new topic's leader election."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-size-{uuid.uuid4().hex[:8]}"})
    deadline = time.monotonic() + timeout
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        while True:
            try:
                return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
            except KafkaException as error:
                if error.args[0].code() not in _LEADER_MOVING or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        consumer.close()


def record_json(record: Message) -> dict[str, Any]:
    value = record.value()
    assert isinstance(value, bytes)
    decoded: dict[str, Any] = json.loads(value)
    return decoded


def commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit ``offsets`` (partition -> next offset) for ``group``, as the consumer does after a flush."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        done = consumer.commit(
            offsets=[TopicPartition(topic, partition, offset) for partition, offset in offsets.items()],
            asynchronous=False,
        )
        assert done is not None and all(partition.error is None for partition in done), done
    finally:
        consumer.close()
