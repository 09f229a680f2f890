"""The entity counting rules, exact values and properties (hypothesis)."""

import unicodedata
from collections import Counter

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from consumer.entities import ArticleEntity, article_entities, counting_key, normalize_entity_text
from tests.consumer.support import DEFAULT_EXCLUDED, reference_normalize


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("The White House", "White House"),
        ("THE Beatles", "Beatles"),
        ("tHe  United\u00a0States", "United States"),
        ("Trump's", "Trump"),
        ("Trump’s", "Trump"),
        ("the United States's", "United States"),
        ("  Angela \n  Merkel\t", "Angela Merkel"),
        ("ﬁrst Lady", "first Lady"),  # NFKC folds the ligature
        ("Ｎ Ａ Ｔ Ｏ", "N A T O"),  # NFKC folds full-width letters
        ("The The", "The"),  # only a leading "the " followed by more text is dropped
        ("the", "the"),
        ("Theresa May", "Theresa May"),
        ("Xi's's", "Xi"),  # repeated until stable, so normalizing is idempotent
        ("The the Guardian", "Guardian"),
        ("'s", ""),
        ("the 's", ""),
        ("   ", ""),
        ("Trump 's", "Trump"),
    ],
)
def test_normalize_entity_text(text: str, normalized: str) -> None:
    assert normalize_entity_text(text) == normalized


def test_counting_key_casefolds_the_normalized_text() -> None:
    assert counting_key("Straße", "GPE") == ("strasse", "GPE")


def test_article_entities_groups_by_key_and_skips_excluded_and_empty() -> None:
    found = article_entities(
        [
            ("The White House", "ORG"),
            ("White House", "ORG"),
            ("white house", "ORG"),
            ("White House", "FAC"),
            ("2020", "DATE"),
            ("'s", "PERSON"),
            ("Obama's", "PERSON"),
        ],
        DEFAULT_EXCLUDED,
    )
    assert found == {
        ("white house", "ORG"): ArticleEntity("ORG", 3, Counter({"White House": 2, "white house": 1})),
        ("white house", "FAC"): ArticleEntity("FAC", 1, Counter({"White House": 1})),
        ("obama", "PERSON"): ArticleEntity("PERSON", 1, Counter({"Obama": 1})),
    }


def test_article_entities_counts_every_label_when_none_is_excluded() -> None:
    assert article_entities([("2020", "DATE")], set()) == {
        ("2020", "DATE"): ArticleEntity("DATE", 1, Counter({"2020": 1}))
    }


entity_like = st.text(
    alphabet=st.sampled_from(list("TtHhEe sS'’\u00a0\t\nﬁＡa.-")) | st.characters(codec="utf-8"), max_size=30
)


@given(entity_like)
@example("The The The")
@example("the \u0301x")
def test_normalizing_twice_changes_nothing(text: str) -> None:
    once = normalize_entity_text(text)
    assert normalize_entity_text(once) == once


@given(entity_like)
def test_normalized_text_follows_every_rule(text: str) -> None:
    normalized = normalize_entity_text(text)
    assert normalized == normalized.strip()
    assert "  " not in normalized
    assert not any(char.isspace() and char != " " for char in normalized)
    assert normalized[:4].lower() != "the "
    assert not normalized.endswith(("'s", "’s"))
    assert unicodedata.normalize("NFKC", normalized) == normalized


@given(entity_like)
def test_normalization_agrees_with_the_independent_reference(text: str) -> None:
    assert normalize_entity_text(text) == reference_normalize(text)


@given(entity_like, st.sampled_from(["PERSON", "ORG", "GPE"]))
def test_every_surface_form_casefolds_to_its_key(text: str, label: str) -> None:
    for key, entity in article_entities([(text, label), (text.upper(), label)], set()).items():
        assert key[1] == label
        assert all(surface.casefold() == key[0] and surface for surface in entity.surfaces)
