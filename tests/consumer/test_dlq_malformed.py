"""Malformed Kafka messages, sent with a raw producer between valid articles, against the real consumer group.

tests/consumer/test_group.py covers one message of each kind the issue names (not UTF-8, truncated JSON, not
an object, a missing field, a wrong type, an empty publication, oversized content, a null value). This file
adds what it lacks: random bytes, UTF-8 broken inside an otherwise valid article, the other fields with wrong
types, bad dates, over-long ids and names, names with invisible characters, JSON that is not one object, a
message larger than any article could be, and dates whose window lies outside what the sinks can store. Each
must land in the dead-letter topic with its original bytes and an ``error`` header, and every valid article
around them must be counted.
"""

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from tests.chaos.support import expected_for
from tests.consumer.support import (
    STORE_ENV,
    article_records,
    assert_counts_equal,
    consumer_group,
    group_env,
    group_store,
    produce,
    sink_counts,
    wait_until_flushed,
)
from tests.sinks.support import Store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY = 86_400
MAX_ARTICLE_BYTES = 20_000
"""The consumer's limit in these tests: a message over 6 x this + 64 kB is refused before parsing."""

VALID = json.dumps({"publication": "P", "content": "Angela Merkel met Emmanuel Macron in Paris."}).encode()


def _random_bytes() -> list[tuple[bytes, str]]:
    noise = random.Random(20260430)
    return [(b"\xff" + noise.randbytes(noise.randint(0, 400)), "not UTF-8") for _ in range(10)]


POISON: list[tuple[bytes, str]] = [
    *_random_bytes(),
    (b"", "not JSON"),
    (b"   ", "not JSON"),
    (b"null", "not a JSON object"),
    (b'"an article"', "not a JSON object"),
    (b"42", "not a JSON object"),
    (b"\xef\xbb\xbf" + VALID, "not JSON"),
    (VALID + b" trailing", "not JSON"),
    (VALID + VALID, "not JSON"),
    (b'{"publication": "P", "content": "Angela \xc3\x28 Merkel"}', "not UTF-8"),
    (b'{"publication": "P\xc0\xaf", "content": "Angela Merkel"}', "not UTF-8"),
    (b'{"publication": "P\xed\xa0\x80", "content": "Angela Merkel"}', "not UTF-8"),
    (b'{"publication": "P", "content": "Angela \\ud800 Merkel"}', "not JSON"),
    (b'{"publication": "P", "content": "Angela \\x41"}', "not JSON"),
    (b'{"publication": "P", "content": "Angela\nMerkel"}', "not JSON"),
    (b'{"publication": "P", "content": "x", "extra": ' + b"[" * 5000 + b"]" * 5000 + b"}", "not JSON"),
    (b'{"publication": "P", "content": 12}', "content: Input should be a valid string"),
    (b'{"publication": "P", "content": null}', "content: Input should be a valid string"),
    (b'{"publication": null, "content": "x"}', "publication: Input should be a valid string"),
    (b'{"publication": "P", "content": "x", "title": 5}', "title: Input should be a valid string"),
    (b'{"publication": "P", "content": "x", "url": []}', "url: Input should be a valid string"),
    (b'{"publication": "P", "content": "x", "id": {}}', "id: Input should be a valid string"),
    (b'{"publication": "P", "content": "x", "published_at": true}', "published_at: Input should be a valid datetime"),
    (b'{"publication": "P", "content": "x", "published_at": NaN}', "published_at: Input should be a valid datetime"),
    (b'{"publication": "P", "content": "x", "published_at": "2020-13-45"}', "published_at: month must be in 1..12"),
    (b'{"publication": "P", "content": "x", "published_at": "yesterday"}', "published_at: Input should be a valid"),
    (json.dumps({"publication": "P", "content": "x", "id": "i" * 201}).encode(), "id: String should have at most"),
    (json.dumps({"publication": "P" * 201, "content": "x"}).encode(), "publication: must be at most 200 characters"),
    (json.dumps({"publication": "P\u200b", "content": "x"}).encode(), "publication: must not contain an invisible"),
    (json.dumps({"publication": "P\u202eQ", "content": "x"}).encode(), "U+202E RIGHT-TO-LEFT OVERRIDE"),
    (json.dumps({"publication": "P", "content": "\u00e9" * 10_001}).encode(), "content: must be at most 20000 bytes"),
    (json.dumps({"publication": "P", "content": "x", "title": "t" * 190_000}).encode(), "message too large"),
]

OUT_OF_RANGE_DATES = ["9999-12-31", "9999-12-31T23:59:59", "0001-01-01T00:00:00+14:00"]
"""Valid ISO 8601 dates whose 1-day window does not fit in years 1..9999 (the window's end, or its start, is
outside what Python's datetime and Firestore's timestamps can hold)."""


@pytest.fixture
def topic(fresh_topic: Callable[..., str]) -> str:
    return fresh_topic("malformed", partitions=4, dlq=True)


@pytest.fixture(params=["sqlite", "firestore"])
def sink(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[dict[str, str], Store]]:
    if request.param == "sqlite":
        path = tmp_path / "counts.sqlite3"
        sqlite = group_store(("sqlite", str(path)))
        yield {"SINK": "sqlite", "SQLITE_PATH": str(path), **STORE_ENV}, sqlite
        sqlite.close()
        return
    from devservices.firestore import clear_emulator

    host: str = request.getfixturevalue("firestore_emulator")
    project = f"malformed-{uuid.uuid4().hex[:10]}"
    firestore = group_store(("firestore", project))
    yield {"SINK": "firestore", "FIRESTORE_PROJECT": project, "FIRESTORE_EMULATOR_HOST": host, **STORE_ENV}, firestore
    firestore.close()
    clear_emulator(host, project)


def short_articles(articles: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The ``count`` shortest of ``articles`` (their entities are quick to compute)."""
    return sorted(articles, key=lambda article: len(article["content"]))[:count]


def interleave(
    valid: list[tuple[bytes | None, bytes | None]], poison: list[bytes]
) -> list[tuple[bytes | None, bytes | None]]:
    """Each valid record followed by its share of the poison messages (each keyed ``poison-<index>``)."""
    records: list[tuple[bytes | None, bytes | None]] = []
    for turn, record in enumerate(valid):
        records.append(record)
        records += [
            (f"poison-{index}".encode(), value) for index, value in enumerate(poison) if index % len(valid) == turn
        ]
    return records


def dead_letters(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list[dict[str, Any]]:
    """The records of the dead-letter topic (all of them: waits 2 s after the last to be sure)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex}"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    letters: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5 if len(letters) < expected else 2)
            if message is None:
                if len(letters) >= expected:
                    break
                continue
            assert message.error() is None, message.error()
            letters.append({"key": message.key(), "value": message.value(), "headers": dict(message.headers() or [])})
    finally:
        consumer.close()
    return letters


def test_malformed_messages_land_in_the_dead_letter_topic_and_the_rest_is_counted(
    kafka_bootstrap: str, topic: str, tmp_path: Path, demo_articles: list[dict[str, Any]]
) -> None:
    path = tmp_path / "counts.sqlite3"
    sink = group_store(("sqlite", str(path)))
    articles = short_articles(demo_articles, 10)
    records = interleave(article_records(articles), [value for value, _ in POISON])
    ends = produce(kafka_bootstrap, topic, records, headers=[("origin", b"malformed-test"), ("empty", None)])
    group = f"g-{topic}"
    env = group_env(
        kafka_bootstrap,
        topic,
        group,
        {"SINK": "sqlite", "SQLITE_PATH": str(path), **STORE_ENV},
        consumer_processes=1,
        max_article_bytes=MAX_ARTICLE_BYTES,
    )
    with consumer_group(env) as run:
        wait_until_flushed(sink, group, topic, ends, run)
        assert run.stop() == 0

    assert_counts_equal(sink_counts(sink), expected_for(articles, DAY))
    sink.close()
    letters = dead_letters(kafka_bootstrap, f"{topic}.dlq", len(POISON))
    assert sorted((letter["key"], letter["value"]) for letter in letters) == sorted(
        (f"poison-{index}".encode(), value) for index, (value, _) in enumerate(POISON)
    )
    for letter in letters:
        index = int(letter["key"].decode().removeprefix("poison-"))
        headers = letter["headers"]
        assert POISON[index][1] in headers["error"].decode(), (index, headers["error"])
        assert headers["origin"] == b"malformed-test" and headers["empty"] is None
        assert headers["source-topic"] == topic.encode()
    assert run.events("stats")[-1]["dead_letters"] == str(len(POISON))


def test_a_date_whose_window_cannot_be_stored_is_dead_lettered_not_a_crash(
    kafka_bootstrap: str, topic: str, sink: tuple[dict[str, str], Store], demo_articles: list[dict[str, Any]]
) -> None:
    """Valid ISO dates, but a window [start, start + 1 day) that ends after 9999-12-31 or starts before
    0001-01-01: no sink can store or serve it. It must be a dead letter saying so, and the group must go on."""
    env, store = sink
    articles = short_articles(demo_articles, 4)
    poison = [
        json.dumps({"publication": "Far Future", "content": "Angela Merkel in Paris.", "published_at": moment}).encode()
        for moment in OUT_OF_RANGE_DATES
    ]
    ends = produce(kafka_bootstrap, topic, interleave(article_records(articles), poison))
    group = f"g-{topic}"
    with consumer_group(group_env(kafka_bootstrap, topic, group, env, consumer_processes=1)) as run:
        wait_until_flushed(store, group, topic, ends, run)
        assert run.stop() == 0
    assert not run.events("worker_died"), run.log_tail()
    letters = dead_letters(kafka_bootstrap, f"{topic}.dlq", len(poison))
    assert sorted(letter["value"] for letter in letters) == sorted(poison)
    assert all(letter["headers"]["error"].decode().startswith("published_at") for letter in letters), letters
    assert_counts_equal(sink_counts(store), expected_for(articles, DAY))
