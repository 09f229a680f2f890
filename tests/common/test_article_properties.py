"""Property-based tests of the message parser (any bytes either parse or raise InvalidArticle, never crash)
and of the publication name rule (normalizing is idempotent, canonical equivalents are one publication,
what is accepted holds no refused character)."""

import json
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.article import (
    MAX_PUBLICATION_CHARS,
    REFUSED_IN_PUBLICATIONS,
    Article,
    InvalidArticle,
    normalize_publication,
    parse_article,
    publication_problem,
)
from common.keys import publication_key

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
@given(
    st.text(min_size=1, max_size=50).filter(lambda s: publication_problem(normalize_publication(s)) is None),
    st.text(min_size=1, max_size=200),
)
def test_valid_articles_round_trip_through_json(publication: str, content: str) -> None:
    if not content.strip():
        return
    article = Article(publication=publication, content=content)
    again = parse_article(article.model_dump_json(exclude_none=True).encode())
    assert again == article
    assert again.article_id == article.article_id


TRICKY = [
    "e\u0301",  # e + combining acute: NFC composes it to é
    "\u00e9",
    "\u212b",  # ANGSTROM SIGN: NFC maps it to Å
    "\u1e9b\u0323",  # long s with dot above + dot below: NFC reorders and composes
    "\u0958",  # DEVANAGARI QA: NFC decomposes it (a composition exclusion)
    "\ufb01",  # the fi ligature: NFC keeps it (NFKC would make it "fi")
    "\uff23",  # FULLWIDTH C: NFC keeps it
    " ",
    "\u00a0",
    "\n",
    "\u2028",
    "\u200b",
    "\u200d",
    "\u202e",
    "\ufeff",
    "\x00",
    "\x1b",
    "\ue000",
    "\U000e0041",
    "\u0378",
    "/",
    ".",
    "%",
    "?",
    "#",
    "\U0001f680",
]
"""Characters that exercise the rule: composition, reordering, exclusions, whitespace, refused categories."""

names = st.lists(st.sampled_from(TRICKY) | st.characters(), max_size=40).map("".join)
encodable_names = st.lists(st.sampled_from(TRICKY) | st.characters(exclude_categories=["Cs"]), max_size=40).map("".join)
"""Names UTF-8 can encode (a lone surrogate cannot: such a name is refused before any key is made of it)."""


@relaxed
@given(names)
def test_normalizing_a_publication_is_idempotent(name: str) -> None:
    once = normalize_publication(name)
    assert normalize_publication(once) == once
    assert unicodedata.is_normalized("NFC", once)


@relaxed
@given(encodable_names)
def test_canonically_equivalent_names_are_one_publication(name: str) -> None:
    spellings = {unicodedata.normalize(form, name) for form in ("NFC", "NFD")} | {name}
    assert len({publication_key(spelling) for spelling in spellings}) == 1
    assert len({normalize_publication(spelling) for spelling in spellings}) == 1


@relaxed
@given(names)
def test_a_name_is_accepted_exactly_when_it_holds_no_refused_character(name: str) -> None:
    normalized = normalize_publication(name)
    refused = [char for char in normalized if unicodedata.category(char) in REFUSED_IN_PUBLICATIONS]
    problem = publication_problem(normalized)
    try:
        article = Article(publication=name, content="x")
    except ValueError as error:
        assert problem is not None and problem in str(error)
        if normalized and len(normalized) <= MAX_PUBLICATION_CHARS:
            assert refused and f"U+{ord(refused[0]):04X}" in problem
    else:
        assert problem is None and not refused
        assert article.publication == normalized
        assert normalized == normalized.strip() and "  " not in normalized
