"""How a worker gives articles to spaCy: long content in pieces cut at line breaks, entities read back in order."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from spacy.language import Language

from consumer.nlp import entities_per_text, load_ner, ner_chunks
from consumer.settings import ConsumerSettings


def test_short_content_is_one_piece() -> None:
    assert ner_chunks("Angela Merkel met Emmanuel Macron.", 1000) == ["Angela Merkel met Emmanuel Macron."]
    assert ner_chunks("", 1000) == [""]


def test_cuts_fall_after_the_last_line_break_before_the_bound() -> None:
    content = "aaaa\nbbbb\ncccc\ndddd"
    assert ner_chunks(content, 10) == ["aaaa\nbbbb\n", "cccc\ndddd"]


def test_a_long_line_is_cut_after_a_sentence_end_else_a_space_else_at_the_bound() -> None:
    assert ner_chunks("One two. Three four five", 15) == ["One two. ", "Three four five"]
    assert ner_chunks("one two three four", 10) == ["one two ", "three four"]
    assert ner_chunks("abcdefghijkl", 5) == ["abcde", "fghij", "kl"]


@given(st.text(alphabet=st.sampled_from("ab .\n"), max_size=400), st.integers(min_value=1, max_value=60))
def test_pieces_join_back_exactly_and_respect_the_bound(content: str, max_chars: int) -> None:
    pieces = ner_chunks(content, max_chars)
    assert "".join(pieces) == content
    assert all(0 < len(piece) <= max_chars for piece in pieces) or pieces == [""]


@pytest.fixture(scope="module")
def nlp() -> Language:
    return load_ner(ConsumerSettings(_env_file=None).ner_model)


def test_entities_of_a_cut_article_are_those_of_its_pieces_in_order(nlp: Language) -> None:
    first = "Angela Merkel spoke in Berlin on Monday.\n"
    second = "Microsoft opened an office in Paris.\n"
    found = list(entities_per_text(nlp, [first + second, "Nothing here."], batch_size=1, chunk_chars=len(first)))
    alone = [next(entities_per_text(nlp, [text], batch_size=1, chunk_chars=1000)) for text in (first, second)]
    assert found == [alone[0] + alone[1], []]
    assert ("Angela Merkel", "PERSON") in found[0] and ("Paris", "GPE") in found[0]
