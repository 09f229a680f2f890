"""``python -m loadtool --wait``: the positions of the accepted articles, and following the real consumer group's
counting through the real service's ``GET /status`` until every one is counted."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devservices.process import free_port
from loadtool.load import http_positions, main
from loadtool.wait import Counting, by_partition, counted, format_counting
from tests.consumer.support import consumer_group, group_env, group_store
from tests.loadtool.support import API_KEY, producer_process


def test_the_answers_give_the_position_of_each_stored_article() -> None:
    batch = {
        "results": [
            {"index": 0, "status": 202, "id": "a", "partition": 3, "offset": 7},
            {"index": 1, "status": 422, "error": "content: Field required"},
            {"index": 2, "status": 503, "error": "Kafka is unavailable"},
            {"index": 3, "status": 202, "id": "b", "partition": 0, "offset": 0},
        ]
    }
    assert http_positions(207, json.dumps(batch).encode()) == [(3, 7), (0, 0)]
    assert http_positions(202, b'{"id": "x", "partition": 5, "offset": 12}') == [(5, 12)]
    assert http_positions(401, b'{"detail": "the API key is missing"}') == []
    assert http_positions(503, b"not json") == []


def test_an_article_is_counted_once_its_partitions_commit_passed_its_offset() -> None:
    sent = by_partition([(1, 5), (0, 2), (1, 3), (0, 0), (2, 9)])
    assert sent == {0: [0, 2], 1: [3, 5], 2: [9]}
    assert counted(sent, {}) == 0
    assert counted(sent, {0: 1, 1: None, 2: 9}) == 1  # offset 0 of partition 0; a commit of 9 means 0..8 done
    assert counted(sent, {0: 3, 1: 6, 2: 10}) == 5


def test_the_summary_after_the_wait_gives_both_rates() -> None:
    assert format_counting(Counting(294, 294, 49.0), 147.04) == (
        "Counted:   294 articles, all counted 49.0s after sending started\n"
        "Rates:     sent 147.0 articles/s, counted 6.0 articles/s"
    )
    assert format_counting(Counting(100, 294, 20.0), 147.0).startswith(
        "Counted:   100 of 294 articles after 20.0s (stopped waiting)\n"
    )


def test_wait_without_a_service_says_so_and_sends_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text('{"publication": "P", "content": "Angela Merkel"}\n')
    url = f"http://127.0.0.1:{free_port()}"
    assert main([str(path), "--url", url, "--wait", "--no-progress"]) == 1
    error = capsys.readouterr().err
    assert f"error: --wait follows GET {url}/status, which did not answer (" in error
    assert "is the HTTP service running (`make run`)? Nothing was sent." in error


@pytest.mark.integration
@pytest.mark.slow
def test_wait_follows_the_consumer_group_until_every_article_sent_is_counted(
    kafka_bootstrap: str,
    fresh_topic: Callable[..., str],
    tmp_path: Path,
    demo_articles: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    articles = sorted(demo_articles, key=lambda article: len(article["content"]))[:12]
    path = tmp_path / "articles.jsonl"
    path.write_text("".join(json.dumps(article) + "\n" for article in articles))
    topic = fresh_topic("load-wait", dlq=True)
    group = f"g-{topic}"
    sink = {"SINK": "sqlite", "SQLITE_PATH": str(tmp_path / "counts.sqlite3")}
    figures = tmp_path / "summary.json"

    with (
        producer_process(kafka_bootstrap, topic, tmp_path, group) as url,
        consumer_group(group_env(kafka_bootstrap, topic, group, sink, consumer_processes=1)),
    ):
        options = ["--url", url, "--api-key", API_KEY, "--batch", "5", "--wait", "--no-progress"]
        code = main([str(path), *options, "--summary-json", str(figures)])

    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads(figures.read_text())
    assert (summary["accepted"], summary["counted"]["articles"]) == (12, 12)
    assert "Counted:   12 articles, all counted " in out and "\nRates:     sent " in out
    store = group_store(("sqlite", str(tmp_path / "counts.sqlite3")))
    try:  # counted means in the sink: the group commits only after its sink write
        assert [(p.publication, p.articles) for p in store.publications()] == [("Wikinews", 12)]
    finally:
        store.close()
