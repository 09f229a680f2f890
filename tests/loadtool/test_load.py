"""The load tool (``python -m loadtool``): reading, the article stream, pacing, statistics, and
sending to the real broker directly and through the real HTTP service."""

import asyncio
import gzip
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer

from common.article import Article, derive_article_id, parse_article
from loadtool.load import (
    Outgoing,
    Progress,
    Skew,
    SourceArticle,
    Summary,
    apply_skew,
    chunks,
    drop_published_at,
    due_offset,
    http_outcomes,
    interleave_publications,
    is_hot,
    main,
    parse_skew,
    percentile,
    read_articles,
    repeat_to_count,
    repetition_id,
    send_http,
    send_kafka,
)
from tests.loadtool.support import API_KEY, producer_process

GOOD = {"publication": "Vox", "content": "Angela Merkel met Emmanuel Macron.", "url": "https://vox.com/1"}


def source(publication: str, number: int) -> SourceArticle:
    url = f"https://example.com/{publication}/{number}"
    record = {"publication": publication, "content": f"text {number}", "url": url}
    return SourceArticle(record, derive_article_id(publication, url, record["content"]))


def write_lines(path: Path, lines: list[str]) -> Path:
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as file:
            file.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- reading -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["articles.jsonl", "articles.jsonl.gz"])
def test_read_articles_keeps_valid_lines_and_reports_bad_ones(tmp_path: Path, name: str) -> None:
    path = write_lines(
        tmp_path / name,
        [
            json.dumps(GOOD),
            "",
            '{"publication": "Vox"',
            "[1, 2]",
            json.dumps({"publication": "Vox"}),
            json.dumps({**GOOD, "id": "given-id"}),
        ],
    )
    read = read_articles([path])
    assert [(a.record, a.article_id) for a in read.articles] == [
        (GOOD, derive_article_id("Vox", GOOD["url"], GOOD["content"])),
        ({**GOOD, "id": "given-id"}, "given-id"),
    ]
    assert [(line.line, line.reason) for line in read.invalid] == [
        (3, "not JSON: Expecting ',' delimiter"),
        (4, "not a JSON object"),
        (5, "content: Field required"),
    ]
    assert str(read.invalid[2]) == f"{path}:5: content: Field required"


def test_read_articles_concatenates_files_in_order(tmp_path: Path) -> None:
    first = write_lines(tmp_path / "a.jsonl", [json.dumps({**GOOD, "id": "a"})])
    second = write_lines(tmp_path / "b.jsonl.gz", [json.dumps({**GOOD, "id": "b"})])
    assert [a.article_id for a in read_articles([first, second]).articles] == ["a", "b"]


# --- the stream ----------------------------------------------------------------------------------------


def test_interleave_takes_publications_round_robin() -> None:
    articles = [source("A", 1), source("A", 2), source("A", 3), source("B", 1), source("C", 1), source("C", 2)]
    mixed = interleave_publications(articles)
    assert [a.record["url"].split("/", 3)[3] for a in mixed] == ["A/1", "B/1", "C/1", "A/2", "C/2", "A/3"]


def test_repeat_gives_every_copy_a_fresh_explicit_id() -> None:
    articles = [source("A", 1), source("B", 1)]
    stream = list(repeat_to_count(articles, 5))
    ids = [outgoing.article_id for outgoing in stream]
    first, second = articles[0].article_id, articles[1].article_id
    assert ids == [first, second, f"{first}-r1", f"{second}-r1", f"{first}-r2"]
    assert stream[0].record == articles[0].record
    assert stream[2].record == {**articles[0].record, "id": f"{first}-r1"}
    assert [Article.model_validate(o.record).article_id for o in stream] == ids


def test_repeat_stops_at_count_below_the_input_size() -> None:
    assert len(list(repeat_to_count([source("A", n) for n in range(10)], 3))) == 3


def test_repeat_of_nothing_says_so() -> None:
    with pytest.raises(ValueError, match="no valid article"):
        list(repeat_to_count([], 1))


def test_repetition_id_stays_within_the_id_limit() -> None:
    assert repetition_id("abc", 7) == "abc-r7"
    long_id = "x" * 199
    shortened = repetition_id(long_id, 12)
    assert shortened.endswith("-r12")
    assert len(shortened) == 36
    assert shortened == repetition_id(long_id, 12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Vox:0.8", Skew(("Vox",), 0.8)),
        ("CNN (Web News), Fox Online News:1", Skew(("CNN (Web News)", "Fox Online News"), 1.0)),
        ("Time: The Magazine:0.5", Skew(("Time: The Magazine",), 0.5)),
    ],
)
def test_parse_skew(text: str, expected: Skew) -> None:
    assert parse_skew(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("Vox", "use PUB1,PUB2:SHARE"), (":0.5", "use PUB1,PUB2:SHARE"), ("Vox:lots", "use a number"), ("Vox:0", "> 0")],
)
def test_parse_skew_rejects_bad_text(text: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_skew(text)
    assert message.replace("> 0", "greater than 0") in str(error.value)


def test_hot_positions_are_spread_evenly() -> None:
    assert [is_hot(i, 0.5) for i in range(6)] == [False, True, False, True, False, True]
    assert sum(is_hot(i, 0.8) for i in range(1000)) == 800
    assert all(sum(is_hot(i, 0.8) for i in range(n)) == int(n * 0.8 + 1e-9) for n in range(1, 200))
    assert all(is_hot(i, 1.0) for i in range(50))


def test_skew_relabels_the_share_in_turn_and_pins_ids() -> None:
    stream = list(repeat_to_count([source("Z", n) for n in range(10)], 10))
    skewed = list(apply_skew(stream, Skew(("A", "B"), 0.8)))
    assert Counter(o.record["publication"] for o in skewed) == {"A": 4, "B": 4, "Z": 2}
    assert [o.record["publication"] for o in skewed[:5]] == ["Z", "A", "B", "A", "B"]
    assert [o.article_id for o in skewed] == [o.article_id for o in stream]
    assert [Article.model_validate(o.record).article_id for o in skewed] == [o.article_id for o in stream]
    assert [o.record["content"] for o in skewed] == [o.record["content"] for o in stream]


def test_drop_published_at() -> None:
    stream = [Outgoing({**GOOD, "published_at": "2020-01-01"}, "id1")]
    assert list(drop_published_at(stream)) == [Outgoing(GOOD, "id1")]


def test_chunks() -> None:
    stream = [Outgoing(GOOD, str(n)) for n in range(5)]
    assert [[o.article_id for o in chunk] for chunk in chunks(stream, 2)] == [["0", "1"], ["2", "3"], ["4"]]


# --- pacing and statistics ---------------------------------------------------------------------------


def test_due_offsets_follow_the_target_rate() -> None:
    assert [due_offset(i, 1, 4.0) for i in range(4)] == [0.0, 0.25, 0.5, 0.75]
    assert [due_offset(i, 10, 100.0) for i in range(3)] == [0.0, 0.1, 0.2]
    assert due_offset(99, 1, None) == 0.0


def test_percentile_interpolates_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0, 5.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 5.0
    assert percentile(values, 25) == 2.0
    assert percentile([1.0, 2.0], 50) == 1.5
    assert percentile([10.0, 20.0, 30.0, 40.0], 90) == pytest.approx(37.0)
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_summary_sorts_outcomes_into_accepted_rejected_errors() -> None:
    summary = Summary(target="t", sent=10, statuses=Counter({"202": 6, "422": 2, "503": 1, "ConnectError": 1}))
    summary.elapsed = 2.0
    summary.latencies = [0.010, 0.020, 0.030]
    assert (summary.accepted, summary.rejected, summary.errors, summary.rate) == (6, 2, 2, 3.0)
    figures = summary.as_dict()
    assert figures["latency_ms"] == {"p50": 20.0, "p95": 29.0, "p99": 29.8}
    assert figures["statuses"] == {"202": 6, "422": 2, "503": 1, "ConnectError": 1}


def test_batch_answers_count_each_item() -> None:
    body = {"accepted": 2, "rejected": 1, "results": [{"status": 202}, {"status": 422}, {"status": 202}]}
    assert http_outcomes(207, json.dumps(body).encode(), 3, batch=True) == {"202": 2, "422": 1}
    assert http_outcomes(401, b'{"detail": "no"}', 3, batch=True) == {"401": 3}
    assert http_outcomes(202, b'{"id": "x"}', 1, batch=False) == {"202": 1}
    assert http_outcomes(503, b"not json", 2, batch=True) == {"503": 2}


def test_main_refuses_input_without_valid_articles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_lines(tmp_path / "bad.jsonl", ["[]"])
    assert main([str(path), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"invalid line skipped: {path}:1: not a JSON object" in err
    assert "the input holds no valid article; nothing was sent" in err


# --- against the real broker and service ----------------------------------------------------------------


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list[tuple[str, bytes]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"test-load-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    received: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(received) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            key, value = message.key(), message.value()
            assert key is not None and value is not None
            received.append((key.decode(), value))
    finally:
        consumer.close()
    return received


def twenty_articles(demo_articles: list[dict[str, Any]]) -> list[Outgoing]:
    articles = [SourceArticle(r, Article.model_validate(r).article_id) for r in demo_articles[:10]]
    return list(repeat_to_count(articles, 20))


@pytest.mark.integration
def test_send_kafka_delivers_keyed_articles(
    kafka_bootstrap: str, fresh_topic: Callable[..., str], demo_articles: list[dict[str, Any]]
) -> None:
    topic = fresh_topic("load")
    stream = twenty_articles(demo_articles)
    summary = send_kafka(stream, bootstrap=kafka_bootstrap, topic=topic, rate=None, progress=Progress(20, False))
    assert (summary.sent, summary.accepted, summary.errors, len(summary.latencies)) == (20, 20, 0, 20)
    received = consume_all(kafka_bootstrap, topic, 20)
    assert sorted(key for key, _ in received) == sorted(o.article_id for o in stream)
    by_id = {o.article_id: o.record for o in stream}
    for key, value in received:
        article = parse_article(value)
        assert article.article_id == key
        assert (article.publication, article.content) == (by_id[key]["publication"], by_id[key]["content"])


@pytest.fixture
def producer_service(
    kafka_bootstrap: str, fresh_topic: Callable[..., str], tmp_path: Path
) -> Iterator[tuple[str, str]]:
    """``python -m producer`` on a free port, publishing to a fresh topic; yields (base URL, topic)."""
    topic = fresh_topic("load-http")
    with producer_process(kafka_bootstrap, topic, tmp_path) as url:
        yield url, topic


@pytest.mark.integration
def test_send_http_single_and_batch_reach_kafka(
    kafka_bootstrap: str, producer_service: tuple[str, str], demo_articles: list[dict[str, Any]]
) -> None:
    url, topic = producer_service
    stream = twenty_articles(demo_articles)
    answered: list[tuple[list[str], Counter[str]]] = []

    def send(requests: list[list[Outgoing]], batch: bool, api_key: str) -> Summary:
        return asyncio.run(
            send_http(
                requests,
                url=url,
                api_key=api_key,
                batch=batch,
                concurrency=4,
                rate=None,
                progress=Progress(10, False),
                on_response=lambda articles, outcomes, _at: answered.append(
                    ([a.article_id for a in articles], outcomes)
                ),
            )
        )

    refused = send([[o] for o in stream[:3]], batch=False, api_key="wrong")
    assert (refused.sent, refused.accepted, refused.rejected, dict(refused.statuses)) == (3, 0, 3, {"401": 3})
    single = send([[o] for o in stream[:10]], batch=False, api_key=API_KEY)
    assert (single.sent, single.accepted, single.errors, len(single.latencies)) == (10, 10, 0, 10)
    batch = send(list(chunks(stream[10:], 4)), batch=True, api_key=API_KEY)
    assert (batch.sent, batch.accepted, batch.rejected, len(batch.latencies)) == (10, 10, 0, 3)
    assert sorted(i for ids, outcomes in answered if outcomes == {"202": len(ids)} for i in ids) == sorted(
        o.article_id for o in stream
    )
    received = consume_all(kafka_bootstrap, topic, 20)
    assert sorted(key for key, _ in received) == sorted(o.article_id for o in stream)
