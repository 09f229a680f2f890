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


def test_canonically_equivalent_names_are_one_publication_and_compatibility_forms_are_not() -> None:
    composed = parse_article('{"publication": "Caf\u00e9", "content": "x"}'.encode())
    decomposed = parse_article(b'{"publication": "Cafe\\u0301", "content": "x"}')
    assert decomposed.publication == composed.publication == "Caf\u00e9"
    assert publication_key("Cafe\u0301") == publication_key("Caf\u00e9") == "p_Q2Fmw6k"
    assert decomposed.article_id == composed.article_id
    fullwidth = parse_article('{"publication": "\uff23\uff2e\uff2e", "content": "x"}'.encode())
    assert fullwidth.publication == "\uff23\uff2e\uff2e"  # NFC, not NFKC: "ＣＮＮ" stays itself


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        (
            "CNN\u200b",
            "an invisible format character (zero-width characters and bidi controls are refused): "
            "U+200B ZERO WIDTH SPACE at character 4",
        ),
        ("C\u200cNN", "U+200C ZERO WIDTH NON-JOINER at character 2"),
        ("C\u200dNN", "U+200D ZERO WIDTH JOINER at character 2"),
        ("C\u2060NN", "U+2060 WORD JOINER at character 2"),
        ("\ufeffCNN", "U+FEFF ZERO WIDTH NO-BREAK SPACE at character 1"),
        ("CNN\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE at character 4"),
        ("\u202aCNN", "U+202A LEFT-TO-RIGHT EMBEDDING at character 1"),
        ("CNN\u2066", "U+2066 LEFT-TO-RIGHT ISOLATE at character 4"),
        ("CNN\u2069", "U+2069 POP DIRECTIONAL ISOLATE at character 4"),
        ("CNN\u200e", "U+200E LEFT-TO-RIGHT MARK at character 4"),
        ("CNN\u200f", "U+200F RIGHT-TO-LEFT MARK at character 4"),
        ("CNN\x00", "a control character: U+0000 at character 4"),
        ("CNN\x1b[31m", "a control character: U+001B at character 4"),
        ("CNN\x7f", "a control character: U+007F at character 4"),
        ("CNN\ue000", "a private-use character: U+E000 at character 4"),
        ("CNN\U0010fffd", "a private-use character: U+10FFFD at character 4"),
        ("CNN\u0378", "a code point not assigned in Unicode"),
    ],
)
def test_names_with_invisible_control_private_or_unassigned_characters_are_refused(name: str, problem: str) -> None:
    with pytest.raises(InvalidArticle) as error:
        parse_article(json.dumps({"publication": name, "content": "x"}).encode())
    assert error.value.reason.startswith("publication: must not contain ")
    assert problem in error.value.reason
    assert error.value.reason.endswith("; remove it")


def test_a_lone_surrogate_is_refused_in_a_model_built_in_python() -> None:
    with pytest.raises(ValueError, match="must not contain a surrogate code point: U\\+D800 at character 2"):
        Article(publication="C\ud800", content="x")


def test_whitespace_of_any_kind_is_collapsed_not_refused() -> None:
    article = parse_article(json.dumps({"publication": "\u00a0CNN\u2028(Web\u3000News)\t", "content": "x"}).encode())
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
