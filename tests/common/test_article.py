"""The shared wire format: validation messages, normalization, ids and event times."""

import json
from datetime import UTC, datetime

import pytest

from common.article import Article, InvalidArticle, derive_article_id, parse_article
from common.durations import format_duration, parse_duration
from common.keys import entity_key, namespace_key, offset_key, publication_key, publication_name


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"publication": "CNN"', "not JSON"),
        (b'{"content": "text"}', "publication: Field required"),
        (b'{"publication": 5, "content": "text"}', "publication: Input should be a valid string"),
        (b'{"publication": "  ", "content": "text"}', "publication: must not be empty or only whitespace"),
        (b'{"publication": "CNN", "content": " "}', "content: must not be empty"),
        (b'{"publication": "CNN", "content": "x", "published_at": "yesterday"}', "published_at:"),
        (None, "empty message"),
    ],
)
def test_invalid_messages_name_the_problem(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidArticle) as error:
        parse_article(raw)
    assert error.value.reason.startswith(reason)


def test_content_limit_counts_utf8_bytes() -> None:
    assert parse_article('{"publication": "P", "content": "ééé"}'.encode(), max_article_bytes=6).content == "ééé"
    with pytest.raises(InvalidArticle, match="content: must be at most 5 bytes of UTF-8"):
        parse_article('{"publication": "P", "content": "ééé"}'.encode(), max_article_bytes=5)


def test_publication_is_trimmed_and_whitespace_collapsed() -> None:
    article = parse_article(b'{"publication": "  CNN \\n (Web\\t News) ", "content": "x", "extra": 1}')
    assert article.publication == "CNN (Web News)"


def test_published_at_date_or_naive_datetime_means_utc() -> None:
    assert parse_article(b'{"publication": "P", "content": "x", "published_at": "2020-07-20"}').published_at == (
        datetime(2020, 7, 20, tzinfo=UTC)
    )
    naive = parse_article(b'{"publication": "P", "content": "x", "published_at": "2020-07-20T10:30:00"}')
    assert naive.published_at == datetime(2020, 7, 20, 10, 30, tzinfo=UTC)


def test_article_id_is_given_or_derived_stably() -> None:
    given = Article(publication="P", content="x", id="abc")
    assert given.article_id == "abc"
    derived = Article(publication=" P ", content="body", url="https://e.x/1")
    assert derived.article_id == derive_article_id("P", "https://e.x/1", "other body")
    assert derived.article_id == "bc2463c7785f08c31876331313c50511"
    assert Article(publication="P", content="body").article_id != Article(publication="Q", content="body").article_id


def test_keys_are_stable_and_safe() -> None:
    assert publication_key("CNN (Web News)") == "p_Q05OIChXZWIgTmV3cyk"
    assert publication_key(" CNN  (Web News) ") == publication_key("CNN (Web News)")
    assert set(publication_key("a/b.c'; DROP TABLE x;--").removeprefix("p_")) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert entity_key("donald trump", "PERSON") != entity_key("donald trump", "ORG")
    assert offset_key("g", "articles", 3) == "g.articles.3"
    assert offset_key("team/a b", "articles", 0) == "team%2Fa%20b.articles.0"
    # dots are escaped, so no two (group, topic) pairs share a key
    assert offset_key("a.b", "c", 0) == "a%2Eb.c.0" != offset_key("a", "b.c", 0) == "a.b%2Ec.0"
    assert publication_name(publication_key(" CNN  (Web News) ")) == "CNN (Web News)"
    assert namespace_key("newscounts") == "n_bmV3c2NvdW50cw" != namespace_key("newscounts-blue")


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("10s", 10), ("5m", 300), ("1h", 3600), ("1d", 86400), ("2", 2), (3, 3)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


def test_duration_round_trip_and_errors() -> None:
    assert format_duration(parse_duration("1h")) == "1h"
    assert format_duration(parse_duration("1500ms")) == "1500ms"
    for bad in ("", "ten seconds", "0s", "-1s", "5 weeks"):
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(bad)


@pytest.mark.parametrize("moment", ["9999-12-31", "9000-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "0999-12-31"])
def test_published_at_outside_storable_windows_is_invalid(moment: str) -> None:
    raw = json.dumps({"publication": "P", "content": "x", "published_at": moment}).encode()
    with pytest.raises(InvalidArticle, match=r"^published_at: must be between the years 1000 and 8999$"):
        parse_article(raw)
