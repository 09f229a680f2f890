"""POST /articles and /articles/batch against the real broker: what is accepted lands in Kafka with the
article id as key; everything else gets the exact 4xx naming the problem, and nothing a client sends is a 500.
"""

import json
import logging
import random
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from common.article import Article, derive_article_id
from devservices.process import free_port
from tests.producer.support import API_KEY, SECOND_KEY, read_back, record_json, service, settings_for, topic_size

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

AUTH = {"X-API-Key": API_KEY}
NDJSON = {"X-API-Key": API_KEY, "Content-Type": "application/x-ndjson"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Ingest:
    client: httpx.AsyncClient
    bootstrap: str
    topic: str


@pytest.fixture
async def ingest(kafka_bootstrap: str, fresh_topic: Callable[..., str], tmp_path: Path) -> AsyncIterator[Ingest]:
    topic = fresh_topic("producer-ingest")
    settings = settings_for(kafka_bootstrap, topic, tmp_path, batch_max=5)
    async with service(settings) as client:
        yield Ingest(client, kafka_bootstrap, topic)


@pytest.fixture
async def small(kafka_bootstrap: str, fresh_topic: Callable[..., str], tmp_path: Path) -> AsyncIterator[Ingest]:
    """A service with tiny size limits: articles of at most 1,000 bytes, bodies of at most 2,000."""
    topic = fresh_topic("producer-small")
    settings = settings_for(kafka_bootstrap, topic, tmp_path, max_article_bytes=1000, max_body_bytes=2000)
    async with service(settings) as client:
        yield Ingest(client, kafka_bootstrap, topic)


def expected_value(article: dict[str, Any]) -> dict[str, Any]:
    """The record value the service must write: the validated article with its id filled in."""
    parsed = Article.model_validate(article)
    value: dict[str, Any] = json.loads(
        parsed.model_copy(update={"id": parsed.article_id}).model_dump_json(exclude_none=True)
    )
    return value


async def test_an_article_is_acknowledged_and_lands_in_kafka_keyed_by_its_id(
    ingest: Ingest, demo_articles: list[dict[str, Any]]
) -> None:
    article = demo_articles[0]
    answer = await ingest.client.post("/articles", json=article, headers=AUTH)

    assert answer.status_code == 202
    body = answer.json()
    article_id = derive_article_id(article["publication"], article["url"], article["content"])
    assert set(body) == {"id", "partition", "offset"}
    assert body["id"] == article_id
    (record,) = read_back(ingest.bootstrap, ingest.topic, 1)
    assert (record.partition(), record.offset()) == (body["partition"], body["offset"])
    assert record.key() == article_id.encode()
    assert record_json(record) == expected_value(article)


async def test_value_is_the_normalized_article_with_its_id_that_the_consumer_parses(ingest: Ingest) -> None:
    article = {
        "publication": "  CNN \n (Web  News) ",
        "content": "Storm heads north.",
        "published_at": "2020-07-20",
        "extra": "ignored",
    }
    answer = await ingest.client.post("/articles", json=article, headers=AUTH)

    assert answer.status_code == 202
    (record,) = read_back(ingest.bootstrap, ingest.topic, 1)
    assert record_json(record) == {
        "publication": "CNN (Web News)",
        "content": "Storm heads north.",
        "published_at": "2020-07-20T00:00:00Z",
        "id": derive_article_id("CNN (Web News)", None, "Storm heads north."),
    }


async def test_a_client_id_is_the_key_and_a_retry_lands_in_the_same_partition(ingest: Ingest) -> None:
    article = {"publication": "Reuters", "content": "Fed holds rates.", "id": "reuters-2020-07-20-fed"}
    first = (await ingest.client.post("/articles", json=article, headers=AUTH)).json()
    retry = (await ingest.client.post("/articles", json=article, headers={"X-API-Key": SECOND_KEY})).json()

    assert first["id"] == retry["id"] == "reuters-2020-07-20-fed"
    assert first["partition"] == retry["partition"]
    assert retry["offset"] == first["offset"] + 1
    records = read_back(ingest.bootstrap, ingest.topic, 2)
    assert [record.key() for record in records] == [b"reuters-2020-07-20-fed"] * 2


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({"publication": "Reuters"}, "content", "Field required"),
        ({"content": "x"}, "publication", "Field required"),
        ({"publication": "  \n ", "content": "x"}, "publication", "must not be empty or only whitespace"),
        ({"publication": "p" * 201, "content": "x"}, "publication", "must be at most 200 characters"),
        ({"publication": "Reuters", "content": " \n\t"}, "content", "must not be empty"),
        ({"publication": 5, "content": "x"}, "publication", "Input should be a valid string"),
        ({"publication": "Reuters", "content": ["x"]}, "content", "Input should be a valid string"),
        ({"publication": "Reuters", "content": "x", "url": 5}, "url", "Input should be a valid string"),
        (
            {"publication": "Reuters", "content": "x", "published_at": "yesterday"},
            "published_at",
            "Input should be a valid datetime or date, input is too short",
        ),
        (
            {"publication": "Reuters", "content": "x", "published_at": "2020-13-45"},
            "published_at",
            "month must be in 1..12",
        ),
        (
            {"publication": "Reuters", "content": "x", "id": "i" * 201},
            "id",
            "String should have at most 200 characters",
        ),
        ([], "body", "expected a JSON object (one article)"),
    ],
)
async def test_an_invalid_article_is_a_422_naming_the_field(
    ingest: Ingest, body: Any, field: str, problem: str
) -> None:
    answer = await ingest.client.post("/articles", json=body, headers=AUTH)

    assert answer.status_code == 422
    assert answer.json() == {"detail": f"{field}: {problem}", "errors": [{"field": field, "problem": problem}]}
    assert topic_size(ingest.bootstrap, ingest.topic) == 0


async def test_every_bad_field_is_named(ingest: Ingest) -> None:
    answer = await ingest.client.post("/articles", json={"publication": "", "title": 3}, headers=AUTH)

    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"field": "publication", "problem": "must not be empty or only whitespace"},
        {"field": "content", "problem": "Field required"},
        {"field": "title", "problem": "Input should be a valid string"},
    ]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", "Invalid JSON: EOF while parsing a value at line 1 column 0"),
        (b"{", "Invalid JSON: EOF while parsing an object at line 1 column 1"),
        (b"\xff\xfe{}", "Invalid JSON: expected value at line 1 column 1"),
        (b'{"publication": "Reuters", "content": "x",}', "Invalid JSON: trailing comma at line 1 column 43"),
    ],
)
async def test_a_body_that_is_not_json_is_a_422(ingest: Ingest, raw: bytes, problem: str) -> None:
    answer = await ingest.client.post("/articles", content=raw, headers={**AUTH, "Content-Type": "application/json"})

    assert answer.status_code == 422
    assert answer.json() == {"detail": f"body: {problem}", "errors": [{"field": "body", "problem": problem}]}


async def test_a_large_article_is_stored_whole_and_a_large_invalid_one_refused(ingest: Ingest) -> None:
    content = "Lorem ipsum dolor sit amet. " * 20_000  # 560 kB: parsed off the event loop
    accepted = await ingest.client.post("/articles", json={"publication": "R", "content": content}, headers=AUTH)
    refused = await ingest.client.post("/articles", json={"publication": 7, "content": content}, headers=AUTH)

    assert accepted.status_code == 202
    assert refused.status_code == 422
    assert refused.json()["detail"] == "publication: Input should be a valid string"
    (record,) = read_back(ingest.bootstrap, ingest.topic, 1)
    assert record_json(record)["content"] == content


async def test_content_over_max_article_bytes_is_a_422(small: Ingest) -> None:
    answer = await small.client.post("/articles", json={"publication": "R", "content": "é" * 501}, headers=AUTH)

    assert answer.status_code == 422
    assert answer.json()["detail"] == "content: must be at most 1000 bytes of UTF-8"


async def test_a_body_over_max_body_bytes_is_a_413_with_or_without_content_length(small: Ingest) -> None:
    oversized = json.dumps({"publication": "R", "content": "x" * 900, "title": "t" * 1200}).encode()
    assert len(oversized) > 2000
    declared = await small.client.post(
        "/articles", content=oversized, headers={**AUTH, "Content-Type": "application/json"}
    )

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(oversized), 500):
            yield oversized[start : start + 500]

    streamed = await small.client.post(
        "/articles/batch", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
    )

    detail = "the request body is larger than MAX_BODY_BYTES (2000 bytes): send fewer or smaller articles"
    assert declared.status_code == streamed.status_code == 413
    assert declared.json() == streamed.json() == {"detail": detail}
    assert "content-length" not in streamed.request.headers
    assert topic_size(small.bootstrap, small.topic) == 0


async def test_a_body_of_exactly_max_body_bytes_is_accepted(small: Ingest) -> None:
    body = {"publication": "R", "content": "x" * 900, "title": ""}
    padding = 2000 - len(json.dumps(body).encode())
    body["title"] = "t" * padding
    raw = json.dumps(body).encode()
    assert len(raw) == 2000

    answer = await small.client.post("/articles", content=raw, headers={**AUTH, "Content-Type": "application/json"})

    assert answer.status_code == 202


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"])
async def test_other_content_types_are_a_415(ingest: Ingest, content_type: str | None) -> None:
    headers = dict(AUTH) if content_type is None else {**AUTH, "Content-Type": content_type}
    single = await ingest.client.post("/articles", content=b'{"publication":"R","content":"x"}', headers=headers)
    batch = await ingest.client.post("/articles/batch", content=b'[{"publication":"R","content":"x"}]', headers=headers)

    shown = "none" if content_type is None else repr(content_type)
    assert single.status_code == batch.status_code == 415
    assert single.json() == {"detail": f"Content-Type {shown} is not accepted here: send application/json"}
    assert batch.json() == {
        "detail": f"Content-Type {shown} is not accepted here: send application/json or application/x-ndjson"
    }
    assert topic_size(ingest.bootstrap, ingest.topic) == 0


async def test_json_with_a_charset_parameter_is_accepted(ingest: Ingest) -> None:
    answer = await ingest.client.post(
        "/articles",
        content=b'{"publication":"R","content":"x"}',
        headers={**AUTH, "Content-Type": "Application/JSON; charset=utf-8"},
    )

    assert answer.status_code == 202


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "missing API key: send it in the X-API-Key header (ask the operator for one)"),
        ({"X-API-Key": ""}, "missing API key: send it in the X-API-Key header (ask the operator for one)"),
        (
            {"X-API-Key": API_KEY[:-1] + "5"},
            "invalid API key in the X-API-Key header: check it for typos or ask the operator",
        ),
        (
            {"X-API-Key": f"{API_KEY},{SECOND_KEY}"},
            "invalid API key in the X-API-Key header: check it for typos or ask the operator",
        ),
        (
            {"X-API-Key": "ключ".encode()},
            "invalid API key in the X-API-Key header: check it for typos or ask the operator",
        ),
    ],
)
async def test_write_endpoints_need_a_valid_key(ingest: Ingest, headers: Any, detail: str) -> None:
    article = {"publication": "R", "content": "x"}
    single = await ingest.client.post("/articles", json=article, headers=headers)
    batch = await ingest.client.post("/articles/batch", json=[article], headers=headers)

    assert single.status_code == batch.status_code == 401
    assert single.json() == batch.json() == {"detail": detail}
    assert topic_size(ingest.bootstrap, ingest.topic) == 0


async def test_keys_from_a_file_are_accepted(kafka_bootstrap: str, fresh_topic: Callable[..., str], tmp_path: Path):
    keys = tmp_path / "keys"
    keys.write_text("# newsroom keys\n\nfile-key-one\n  file-key-two  \n")
    settings = settings_for(kafka_bootstrap, fresh_topic("producer-keys"), tmp_path, api_keys="", api_keys_file=keys)
    async with service(settings) as client:
        article = {"publication": "R", "content": "x"}
        one = await client.post("/articles", json=article, headers={"X-API-Key": "file-key-one"})
        two = await client.post("/articles", json=article, headers={"X-API-Key": "file-key-two"})
        comment = await client.post("/articles", json=article, headers={"X-API-Key": "# newsroom keys"})

    assert (one.status_code, two.status_code, comment.status_code) == (202, 202, 401)


async def test_a_batch_with_good_and_bad_items_accepts_the_good_ones(
    ingest: Ingest, demo_articles: list[dict[str, Any]]
) -> None:
    good = demo_articles[1:3]
    items = [good[0], {"publication": "Reuters"}, 42, good[1], {"publication": " ", "content": "x", "url": 1}]
    answer = await ingest.client.post("/articles/batch", json=items, headers=AUTH)

    assert answer.status_code == 207
    assert "retry-after" not in answer.headers
    records = {record.key(): record for record in read_back(ingest.bootstrap, ingest.topic, 2)}
    ids = [derive_article_id(item["publication"], item["url"], item["content"]) for item in good]
    placed = {key.decode(): (record.partition(), record.offset()) for key, record in records.items() if key}
    assert answer.json() == {
        "accepted": 2,
        "rejected": 3,
        "results": [
            {"index": 0, "status": 202, "id": ids[0], "partition": placed[ids[0]][0], "offset": placed[ids[0]][1]},
            {
                "index": 1,
                "status": 422,
                "error": "content: Field required",
                "errors": [{"field": "content", "problem": "Field required"}],
            },
            {
                "index": 2,
                "status": 422,
                "error": "item: expected a JSON object (one article)",
                "errors": [{"field": "item", "problem": "expected a JSON object (one article)"}],
            },
            {"index": 3, "status": 202, "id": ids[1], "partition": placed[ids[1]][0], "offset": placed[ids[1]][1]},
            {
                "index": 4,
                "status": 422,
                "error": "publication: must not be empty or only whitespace; url: Input should be a valid string",
                "errors": [
                    {"field": "publication", "problem": "must not be empty or only whitespace"},
                    {"field": "url", "problem": "Input should be a valid string"},
                ],
            },
        ],
    }
    assert [record_json(records[article_id.encode()]) for article_id in ids] == [expected_value(a) for a in good]
    assert topic_size(ingest.bootstrap, ingest.topic) == 2


async def test_a_batch_of_only_good_items_is_a_202(ingest: Ingest, demo_articles: list[dict[str, Any]]) -> None:
    answer = await ingest.client.post("/articles/batch", json=demo_articles[:5], headers=AUTH)

    assert answer.status_code == 202
    body = answer.json()
    assert (body["accepted"], body["rejected"]) == (5, 0)
    assert [result["status"] for result in body["results"]] == [202] * 5
    records = read_back(ingest.bootstrap, ingest.topic, 5)
    assert sorted((r["partition"], r["offset"]) for r in body["results"]) == [
        (record.partition(), record.offset()) for record in records
    ]


async def test_a_batch_of_only_bad_items_is_a_207_and_publishes_nothing(ingest: Ingest) -> None:
    answer = await ingest.client.post("/articles/batch", json=[{}, "x"], headers=AUTH)

    assert answer.status_code == 207
    assert [(r["index"], r["status"], r["error"]) for r in answer.json()["results"]] == [
        (0, 422, "publication: Field required; content: Field required"),
        (1, 422, "item: expected a JSON object (one article)"),
    ]
    assert topic_size(ingest.bootstrap, ingest.topic) == 0


async def test_an_ndjson_batch_is_one_article_per_line(ingest: Ingest, demo_articles: list[dict[str, Any]]) -> None:
    lines = [json.dumps(demo_articles[3]), "", '{"publication": "R", "content": ', json.dumps(demo_articles[4])]
    answer = await ingest.client.post("/articles/batch", content="\n".join(lines) + "\n", headers=NDJSON)

    assert answer.status_code == 207
    problem = "Invalid JSON: EOF while parsing a value at line 1 column 32"
    assert [(r["index"], r["status"], r.get("error")) for r in answer.json()["results"]] == [
        (0, 202, None),
        (1, 422, f"item: {problem}"),
        (2, 202, None),
    ]
    records = read_back(ingest.bootstrap, ingest.topic, 2)
    assert sorted(record_json(record)["url"] for record in records) == sorted(
        [demo_articles[3]["url"], demo_articles[4]["url"]]
    )


async def test_a_batch_over_batch_max_is_refused_whole(ingest: Ingest) -> None:
    items = [{"publication": "R", "content": f"article {n}"} for n in range(6)]
    over = await ingest.client.post("/articles/batch", json=items, headers=AUTH)
    over_ndjson = await ingest.client.post(
        "/articles/batch", content="\n".join(json.dumps(item) for item in items), headers=NDJSON
    )

    detail = "the batch holds more than BATCH_MAX (5) articles: split it into batches of at most 5"
    assert over.status_code == over_ndjson.status_code == 413
    assert over.json() == over_ndjson.json() == {"detail": detail}
    assert topic_size(ingest.bootstrap, ingest.topic) == 0
    at_max = await ingest.client.post("/articles/batch", json=items[:5], headers=AUTH)
    assert at_max.status_code == 202
    assert topic_size(ingest.bootstrap, ingest.topic) == 5


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            b'{"publication": "R", "content": "x"}',
            "expected a JSON array of articles (or NDJSON with Content-Type: application/x-ndjson), got a JSON object",
        ),
        (
            b'"articles"',
            "expected a JSON array of articles (or NDJSON with Content-Type: application/x-ndjson), got a JSON string",
        ),
        (b"[{}", "Invalid JSON: expected ',' or ']' at line 1 column 4"),
        (b"[{", "Invalid JSON: Expecting property name enclosed in double quotes at line 1 column 3"),
        (b"[{}] []", "Invalid JSON: unexpected data after the array at line 1 column 6"),
        (b"\xff[]", "Invalid JSON: not UTF-8 (invalid start byte at byte 0)"),
        (
            b" \n ",
            "expected a JSON array of articles (or NDJSON with Content-Type: application/x-ndjson), got an empty body",
        ),
        (b"[" * 5000, "Invalid JSON: nested too deeply at line 1 column 2"),
    ],
)
async def test_a_batch_body_that_is_not_an_array_is_a_422(ingest: Ingest, raw: bytes, problem: str) -> None:
    answer = await ingest.client.post(
        "/articles/batch", content=raw, headers={**AUTH, "Content-Type": "application/json"}
    )

    assert answer.status_code == 422
    assert answer.json() == {"detail": f"body: {problem}", "errors": [{"field": "body", "problem": problem}]}


async def test_a_record_larger_than_the_topic_accepts_is_a_413(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = f"producer-tiny-records-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"max.message.bytes": "2000"})])[topic].result(timeout=30)
    noise = random.Random(7)
    incompressible = "".join(noise.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(20_000))
    async with service(settings_for(kafka_bootstrap, topic, tmp_path)) as client:
        too_large = await client.post("/articles", json={"publication": "R", "content": incompressible}, headers=AUTH)
        batch = await client.post(
            "/articles/batch", json=[{"publication": "R", "content": incompressible}], headers=AUTH
        )
        after = await client.post("/articles", json={"publication": "R", "content": "still works"}, headers=AUTH)

    detail = "the article is larger than the Kafka broker accepts; send a smaller one"
    assert too_large.status_code == 413
    assert too_large.json() == {"detail": detail}
    assert batch.status_code == 207
    assert [(r["status"], r.get("error")) for r in batch.json()["results"]] == [(413, detail)]
    assert after.status_code == 202


GARBAGE_BODIES: list[bytes] = [
    b"",
    b"null",
    b"true",
    b"0",
    b"-1e999999",
    b"NaN",
    b'"\\ud800"',
    b'{"publication": "\\u0000", "content": "\\u0000"}',
    b'{"publication": {"$ne": 1}, "content": {"$gt": ""}}',
    b'{"publication": "R", "content": "x", "published_at": 1e308}',
    b'{"publication": "R", "content": "x", "published_at": "9999-99-99T99:99:99"}',
    b'{"publication": "R", "content": "x", "published_at": -99999999999999999999999}',
    b'{"publication": "R", "content": "x", "id": null, "url": null, "title": null}',
    b'{"publication": "R", "content": "x", "__proto__": {"admin": true}}',
    b'{"' + b"k" * 10_000 + b'": 1}',
    b"[" * 100_000,
    b"{" * 100_000,
    b"[" + b"{}," * 10_000 + b"{}]",
    b"\x00\x01\x02\x03",
    b"\xef\xbb\xbf{}",
    b'{"publication": "R", "content": "x"}\n{"publication": "R", "content": "y"}',
    b"\n\n\n",
]


async def test_garbage_never_gets_a_500(ingest: Ingest) -> None:
    noise = random.Random(20260430)
    bodies = GARBAGE_BODIES + [noise.randbytes(noise.randint(1, 3000)) for _ in range(40)]
    content_types = ["application/json", "application/x-ndjson", "application/json; charset=latin-1", "text/html"]
    statuses: set[int] = set()
    for body in bodies:
        for path in ("/articles", "/articles/batch"):
            for content_type in content_types:
                answer = await ingest.client.post(path, content=body, headers={**AUTH, "Content-Type": content_type})
                statuses.add(answer.status_code)
                assert answer.status_code in {202, 207, 413, 415, 422}, (path, content_type, body[:80], answer.text)
                payload = answer.json()
                assert {"id", "detail", "results"} & set(payload)
    assert statuses == {202, 207, 413, 415, 422}


async def test_keys_never_appear_in_logs_answers_or_metrics(ingest: Ingest, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    near_miss = API_KEY[:-4] + "0000"
    answers = [
        await ingest.client.post("/articles", json={"publication": "R", "content": "x"}, headers=AUTH),
        await ingest.client.post("/articles", json={"publication": "R"}, headers={"X-API-Key": SECOND_KEY}),
        await ingest.client.post(
            "/articles", json={"publication": "R", "content": "x"}, headers={"X-API-Key": near_miss}
        ),
        await ingest.client.post("/articles/batch", json=[{}, 1], headers=AUTH),
        await ingest.client.post("/articles", content=b"\xff", headers={**AUTH, "Content-Type": "application/json"}),
        await ingest.client.get("/metrics"),
        await ingest.client.get("/openapi.json"),
        await ingest.client.get("/readyz"),
    ]

    assert [answer.status_code for answer in answers] == [202, 422, 401, 207, 422, 200, 200, 200]
    settings = ingest.client._transport.app.state.settings  # type: ignore[attr-defined]
    visible = caplog.text + "".join(answer.text for answer in answers) + repr(settings) + str(settings)
    visible += json.dumps(settings.model_dump(mode="json"))
    for secret in (API_KEY, SECOND_KEY, near_miss):
        assert secret not in visible


async def test_metrics_count_requests_deliveries_and_rejections(ingest: Ingest) -> None:
    await ingest.client.post("/articles", json={"publication": "R", "content": "x"}, headers=AUTH)
    await ingest.client.post("/articles", json={"publication": "R", "content": "x"}, headers={"X-API-Key": "nope"})
    await ingest.client.post("/articles/batch", json=[{"publication": "R", "content": "y"}, {}], headers=AUTH)
    await ingest.client.get("/no/such/page")

    text = (await ingest.client.get("/metrics")).text

    for line in (
        'newscounts_http_requests_total{method="POST",route="/articles",status="202"} 1.0',
        'newscounts_http_requests_total{method="POST",route="/articles",status="401"} 1.0',
        'newscounts_http_requests_total{method="POST",route="/articles/batch",status="207"} 1.0',
        'newscounts_http_requests_total{method="GET",route="unmatched",status="404"} 1.0',
        'newscounts_http_request_duration_seconds_count{method="POST",route="/articles"} 2.0',
        "newscounts_articles_accepted_total 2.0",
        'newscounts_articles_rejected_total{reason="invalid"} 1.0',
        "newscounts_delivery_latency_seconds_count 2.0",
        "newscounts_producer_queue_depth 0.0",
    ):
        assert line in text.splitlines()


async def test_healthz_and_readyz_answer_when_kafka_and_the_sink_are_fine(ingest: Ingest) -> None:
    health = await ingest.client.get("/healthz")
    ready = await ingest.client.get("/readyz")

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "kafka": "ok", "sink": "ok"})


async def test_readyz_fails_naming_a_missing_topic(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = f"producer-missing-{uuid.uuid4().hex[:10]}"
    async with service(settings_for(kafka_bootstrap, topic, tmp_path)) as client:
        ready = await client.get("/readyz")

    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "kafka": f"Kafka topic {topic!r} is not available: Broker: Unknown topic or partition",
        "sink": "ok",
    }
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    assert topic not in admin.list_topics(timeout=10).topics


async def test_readyz_fails_when_no_broker_answers(tmp_path: Path) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    settings = settings_for(nobody, "articles", tmp_path, ready_timeout="1s", produce_timeout="1s")
    async with service(settings) as client:
        ready = await client.get("/readyz")
        health = await client.get("/healthz")

    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["kafka"].startswith("Kafka at the bootstrap servers did not answer within 1s: ")
    assert ready.json()["sink"] == "ok"
    assert health.status_code == 200
