"""Property-based tests of the message parser: any bytes either parse or raise InvalidArticle, never crash."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.article import MAX_PUBLICATION_CHARS, Article, InvalidArticle, normalize_publication, parse_article

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
field_values = json_values | st.text(max_size=300) | st.dates().map(str) | st.datetimes().map(lambda d: d.isoformat())
# CI machines are small and busy: no timing-based health checks or deadlines (the properties are what matter).
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=300)

messages = st.fixed_dictionaries(
    {},
    optional={name: field_values for name in ("publication", "content", "title", "url", "published_at", "id", "extra")},
)


@relaxed
@given(st.binary(max_size=400))
def test_any_bytes_parse_or_raise_invalid_article(raw: bytes) -> None:
    try:
        article = parse_article(raw)
    except InvalidArticle as error:
        assert error.reason
    else:
        assert isinstance(article, Article)


@relaxed
@given(messages)
def test_any_json_object_parses_or_names_the_problem(message: dict[str, object]) -> None:
    raw = json.dumps(message).encode()
    try:
        article = parse_article(raw, max_article_bytes=200)
    except InvalidArticle as error:
        assert error.reason
    else:
        assert isinstance(message["publication"], str) and isinstance(message["content"], str)
        assert article.publication == normalize_publication(message["publication"])
        assert 0 < len(article.publication) <= MAX_PUBLICATION_CHARS
        assert article.content == message["content"] and article.content.strip()
        assert len(article.content.encode()) <= 200
        assert article.published_at is None or article.published_at.tzinfo is not None


@relaxed
@given(st.text(min_size=1, max_size=50).filter(lambda s: s.strip()), st.text(min_size=1, max_size=200))
def test_valid_articles_round_trip_through_json(publication: str, content: str) -> None:
    if not content.strip():
        return
    article = Article(publication=publication, content=content)
    again = parse_article(article.model_dump_json(exclude_none=True).encode())
    assert again == article
    assert again.article_id == article.article_id
