"""How a worker gives articles to spaCy: the pieces of long content (pure planning), the splice of their results
(pure), and the model checks. That the spliced entities equal spaCy's on whole articles: test_nlp_pieces.py."""

from itertools import pairwise
from pathlib import Path

import pytest
import spacy
from hypothesis import given
from hypothesis import strategies as st
from spacy.language import Language
from spacy.pipeline import EntityRecognizer

from consumer.nlp import (
    CONTEXT_CHARS,
    WIDEST_CONTEXT_CHARS,
    Entity,
    NerModelError,
    PieceEntities,
    cut_points,
    entities_per_text,
    load_ner,
    merge_pieces,
    ner_chunks,
    plan_pieces,
    receptive_field,
    widen_pieces,
)
from consumer.settings import ConsumerSettings


def is_word_start(content: str, position: int) -> bool:
    """Where whitespace gives way to a word, or either end: the tokenizer reads the same tokens from there."""
    if position in (0, len(content)):
        return True
    return content[position - 1].isspace() and not content[position].isspace()


def test_short_content_is_one_piece() -> None:
    assert ner_chunks("Angela Merkel met Emmanuel Macron.", 1000) == ["Angela Merkel met Emmanuel Macron."]
    assert ner_chunks("", 1000) == [""]
    (piece,) = plan_pieces("Angela Merkel", 1000)
    assert (piece.start, piece.own_start, piece.own_end, piece.shared_before, piece.shared_after) == (0, 0, 13, 0, 13)


def test_cuts_fall_after_a_line_break_in_the_second_half_else_at_the_last_word_start_else_at_the_bound() -> None:
    assert cut_points("aaaa\nbbbb\ncccc\ndddd", 10) == [10]
    assert cut_points("aaaaa\n b c dddddd", 10) == [7]  # after the line break and the spaces after it
    assert cut_points("a\nbbbbbb cc dddd", 10) == [9]  # the line break is in the first half: the last word start
    assert cut_points("one two three four five", 10) == [8, 14]
    assert cut_points("abcdefghijkl", 5) == [5, 10]


def test_each_piece_reads_context_beyond_its_cuts_from_word_start_to_word_start() -> None:
    words = " ".join(f"w{i:03}" for i in range(300))  # 1,499 characters, a word start every 5
    first, second = plan_pieces(words, 1000, context=100)
    assert (first.own_end, second.own_start) == (1000, 1000)
    assert (first.start, len(first.text), second.start, len(second.text)) == (0, 1100, 900, 599)
    assert (first.shared_after, second.shared_before) == (900, 1100)
    assert ner_chunks(words, 1000) == [words[: 1000 + CONTEXT_CHARS], words[1000 - CONTEXT_CHARS :]]


@given(
    st.text(alphabet=st.sampled_from("ab .\n\t\u00a0"), max_size=600),
    st.integers(min_value=1, max_value=80),
    st.integers(min_value=0, max_value=40),
)
def test_pieces_cover_the_content_and_stay_bounded(content: str, max_chars: int, context: int) -> None:
    pieces = plan_pieces(content, max_chars, context)
    assert pieces[0].own_start == 0 and pieces[-1].own_end == len(content)
    for piece, after in pairwise(pieces):
        assert piece.own_end == after.own_start
        assert (piece.shared_after, after.shared_before) == (after.start, piece.start + len(piece.text))
        assert piece.own_start <= after.start <= piece.own_end <= piece.start + len(piece.text) <= after.own_end
    for piece in pieces:
        end = piece.start + len(piece.text)
        assert content[piece.start : end] == piece.text
        assert piece.own_end - piece.own_start <= max_chars
        assert len(piece.text) <= max_chars + 4 * context
        cuts = (piece.own_start, piece.own_end)
        assert all(is_word_start(content, edge) or edge in cuts for edge in (piece.start, end))


def test_widening_one_cut_changes_only_its_two_pieces_up_to_the_widest_context() -> None:
    words = " ".join(f"w{i:03}" for i in range(1000))  # cut every 1,000 characters
    pieces = plan_pieces(words, 1000)
    wider = widen_pieces(words, pieces, [1])
    assert [piece == before for piece, before in zip(wider, pieces, strict=True)] == [True, False, False, True, True]
    assert (wider[1].context, len(wider[1].text) - len(pieces[1].text)) == (CONTEXT_CHARS * 4, CONTEXT_CHARS * 3)
    widest = pieces
    for _ in range(5):
        widest = widen_pieces(words, widest, [1])
    assert widest[1].context == WIDEST_CONTEXT_CHARS
    assert widest[1].start + len(widest[1].text) <= widest[2].own_end  # never past the next cut


# --- the splice, on made-up results: tokens every 10 characters ---


def made_up(own_end: int, entities: list[Entity], before: range, after: range) -> PieceEntities:
    return PieceEntities(own_end, tuple(entities), tuple(before), tuple(after))


ALPHA = Entity(100, 120, "ORG", "alpha")
BETA = Entity(490, 530, "PERSON", "beta")  # across the cut at 500
GAMMA = Entity(900, 910, "GPE", "gamma")


def test_pieces_are_spliced_at_the_cut_when_no_entity_is_open_there() -> None:
    left = made_up(500, [ALPHA, Entity(690, 700, "ORG", "wrong at the edge")], range(0), range(300, 700, 10))
    right = made_up(1000, [Entity(300, 310, "ORG", "wrong at the edge"), GAMMA], range(300, 700, 10), range(0))
    assert merge_pieces([left, right]) == ([ALPHA, GAMMA], [])


def test_an_entity_open_at_the_cut_moves_the_splice_to_the_nearest_token_outside_entities() -> None:
    left = made_up(500, [ALPHA, BETA, Entity(650, 700, "ORG", "cut short")], range(0), range(300, 700, 10))
    right = made_up(1000, [Entity(300, 340, "ORG", "made up"), BETA, GAMMA], range(300, 700, 10), range(0))
    assert merge_pieces([left, right]) == ([ALPHA, BETA, GAMMA], [])


def test_no_splice_point_is_reported_and_the_cut_falls_back_to_the_left_piece_then_the_right() -> None:
    long_left = Entity(320, 690, "ORG", "the whole overlap")
    long_right = Entity(310, 680, "ORG", "the whole overlap, another way")
    after = Entity(680, 690, "ORG", "after it")
    left = made_up(500, [ALPHA, long_left], range(0), range(300, 700, 10))
    right = made_up(1000, [long_right, after, Entity(695, 700, "ORG", "after"), GAMMA], range(300, 700, 10), range(0))
    assert merge_pieces([left, right]) == ([ALPHA, long_left, Entity(695, 700, "ORG", "after"), GAMMA], [0])


def test_pieces_whose_tokens_differ_or_overlap_too_little_are_not_spliced() -> None:
    left = made_up(500, [ALPHA], range(0), range(300, 700, 10))
    assert merge_pieces([left, made_up(1000, [GAMMA], range(300, 700, 5), range(0))]).inexact_cuts == [0]
    short = made_up(500, [ALPHA], range(0), range(400, 700, 10))
    assert merge_pieces([short, made_up(1000, [GAMMA], range(400, 700, 10), range(0))]).inexact_cuts == [0]
    assert merge_pieces([short, made_up(1000, [GAMMA], range(400, 700, 10), range(0))], margin=10).inexact_cuts == []


def test_entities_that_disagree_after_the_splice_point_rule_it_out() -> None:
    left = made_up(500, [ALPHA, Entity(520, 530, "ORG", "x")], range(0), range(300, 700, 10))
    right = made_up(1000, [Entity(520, 530, "GPE", "x"), GAMMA], range(300, 700, 10), range(0))
    merged = merge_pieces([left, right])
    assert merged == ([ALPHA, Entity(520, 530, "ORG", "x"), GAMMA], [])  # spliced after the disagreement


def test_one_piece_takes_all_of_its_entities() -> None:
    assert merge_pieces([made_up(1000, [ALPHA, GAMMA], range(0), range(0))]) == ([ALPHA, GAMMA], [])


# --- the model ---


@pytest.fixture(scope="module")
def nlp() -> Language:
    return load_ner(ConsumerSettings(_env_file=None).ner_model)


def test_the_receptive_field_of_the_default_model_is_four_tokens(nlp: Language) -> None:
    assert receptive_field(nlp) == 4  # 4 layers, 1 token each side: the config of en_core_web_sm 3.8


def test_a_model_whose_ner_sees_too_far_is_refused(tmp_path: Path) -> None:
    wide = spacy.blank("en")
    wide.add_pipe("tok2vec", config={"model": {"@architectures": "spacy.HashEmbedCNN.v2", "window_size": 5}})
    listener = {"@architectures": "spacy.Tok2VecListener.v1", "width": 96, "upstream": "tok2vec"}
    parser = {"@architectures": "spacy.TransitionBasedParser.v2", "tok2vec": listener, **PARSER}
    ner = wide.add_pipe("ner", config={"model": parser})
    assert isinstance(ner, EntityRecognizer)
    ner.add_label("PERSON")
    wide.initialize()
    assert receptive_field(wide) == 20
    wide.to_disk(tmp_path)
    with pytest.raises(NerModelError, match="sees 20 tokens around each token"):
        load_ner(str(tmp_path))


PARSER = {"state_type": "ner", "extra_state_tokens": False, "hidden_width": 8, "maxout_pieces": 2, "use_upper": True}


def test_entities_of_a_cut_article_are_those_of_the_whole_article(nlp: Language) -> None:
    first = "Angela Merkel spoke in Berlin on Monday.\n"
    second = "Microsoft opened an office in Paris.\n"
    content = (first + second) * 30
    found = list(entities_per_text(nlp, [content, "Nothing here."], batch_size=1, chunk_chars=len(first) * 10))
    assert found == [[(entity.text, entity.label_) for entity in nlp(content).ents], []]
    assert ("Angela Merkel", "PERSON") in found[0] and ("Paris", "GPE") in found[0]


def test_the_default_model_loads_only_its_ner_and_finds_what_the_ner_with_tok2vec_finds(nlp: Language) -> None:
    """en_core_web_sm's NER embeds tokens itself (nothing listens to its tok2vec component), so tok2vec is not
    loaded: the entities are those of the pipeline with it."""
    assert nlp.pipe_names == ["ner"]
    others = ["tagger", "parser", "senter", "attribute_ruler", "lemmatizer"]
    with_tok2vec = spacy.load(ConsumerSettings(_env_file=None).ner_model, exclude=others)
    assert with_tok2vec.pipe_names == ["tok2vec", "ner"]
    texts = [
        "Angela Merkel met Emmanuel Macron in Paris on Monday, and the European Union welcomed the deal.",
        "WASHINGTON (Reuters) - The Federal Reserve left rates unchanged, Jerome Powell told reporters.",
        "Microsoft and OpenAI signed an agreement in Redmond; Satya Nadella called it historic for Seattle.",
        "The BBC reported that Boris Johnson spoke with Joe Biden about NATO and the war in Ukraine.",
    ]
    found = [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]
    reference = [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in with_tok2vec.pipe(texts)]
    assert found == reference and sum(map(len, found)) >= 15
