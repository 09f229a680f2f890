"""Load the spaCy pipeline once per worker with only what NER needs, and run it over an article in overlapping
pieces whose entities, spliced together, are exactly those spaCy finds reading the whole article at once.

spaCy's memory grows with the length of the document it reads (docs/consumer.md, "Bounded memory"), so long
content is read in pieces of at most ``NER_CHUNK_CHARS`` characters, each with some context from its neighbours.
Why the result is exact, for the CNN pipelines (``en_core_web_*`` other than ``trf``):

- The tokenizer splits text at whitespace first and never looks across it, so a piece that begins and ends where
  a word begins (after whitespace) has the tokens the whole article has there.
- A token's vector depends only on the tokens within the model's receptive field (:func:`receptive_field`:
  the encoder's depth times its window; the embedding is per token), so away from a piece's edges the vectors
  are those of the whole article, bit for bit.
- The entity recognizer reads the tokens left to right, greedily; its next decision depends on the current
  token's vector, the token after it, and the open entity (its tokens and label), if any. Where two runs
  are at the same token, both with no entity open and both away from their edges, they decide alike from there
  on. So the entities of two overlapping pieces are spliced at such a token (:func:`merge_pieces`): the left
  piece's before it, the right piece's from it. If an overlap holds no such token (e.g. an entity longer than
  the overlap), the context at that cut is widened and its two pieces read again; past the widest context, the
  left piece's entities are taken up to the cut itself, and the cut is reported as inexact.

The steps are separate so that a pool of processes can read one article's pieces in any order:
:func:`plan_pieces` (text only), :func:`piece_entities` (one piece read by spaCy: plain, picklable tuples),
:func:`merge_pieces` (pure, over all of an article's pieces) and :func:`widen_pieces` (the pieces to read again).
"""

import logging
import re
from bisect import bisect_left
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from consumer.logs import event
from consumer.model_check import missing_model_message

log = logging.getLogger(__name__)

NER_COMPONENT = "ner"
"""The one component kept, with the ``tok2vec`` component only when the NER listens to it; everything else
(tagger, parser, lemmatizer, and in ``en_core_web_sm`` even ``tok2vec``, whose output nothing reads: its NER
embeds tokens itself) is excluded: never loaded, never run. docs/consumer.md has what that saves."""

SPLICE_MARGIN_TOKENS = 16
"""Tokens kept between a splice point and the edges of both pieces it joins: four times the receptive field of
the ``en_core_web_*`` CNN pipelines (4 tokens: four encoder layers with a window of one token each side), which
:func:`load_ner` checks the model does not exceed."""

CONTEXT_CHARS = 200
"""Characters of context each piece reads beyond each of its cuts, extended to the nearest word start: room for
the margins on both sides of the cut and a splice point between them in most text (else see ``WIDENING``)."""

WIDENING = 4
"""How much the context at a cut grows each time its overlap held no splice point."""

WIDEST_CONTEXT_CHARS = CONTEXT_CHARS * WIDENING**2
"""The context is widened at most twice; a piece never reads past its neighbours' other cuts either."""

_WINDOW_ENCODERS = {
    *("spacy.MaxoutWindowEncoder.v1", "spacy.MaxoutWindowEncoder.v2", "spacy.MishWindowEncoder.v1"),
    *("spacy.MishWindowEncoder.v2", "spacy.HashEmbedCNN.v1", "spacy.HashEmbedCNN.v2"),
}
_LISTENER = "spacy.Tok2VecListener.v1"
_WORD_START = re.compile(r"(?<=\s)(?=\S)")
_LINE_START = re.compile(r"\n\s*(?=\S)")


class NerModelError(RuntimeError):
    """The configured model cannot be loaded, has no ``ner`` component, or cannot be read in exact pieces."""


def load_ner(model: str) -> Language:
    """The pipeline ``model`` (an installed package or a model directory) with only its NER (and the ``tok2vec``
    it listens to, if it does), provided that NER can be read in pieces exactly (:func:`receptive_field`)."""
    path = _model_path(model)
    components = _components(path)
    if NER_COMPONENT not in components:
        raise NerModelError(f"NER_MODEL={model!r} has no 'ner' component (it has {components}): use an NER model")
    kept = {NER_COMPONENT, *_listened_to(path)}
    nlp = spacy.load(model, exclude=[name for name in components if name not in kept])
    if (field := receptive_field(nlp)) > SPLICE_MARGIN_TOKENS:
        raise NerModelError(
            f"NER_MODEL={model!r} sees {field} tokens around each token, more than the {SPLICE_MARGIN_TOKENS} "
            f"that long articles are read in pieces with: use an en_core_web_sm/md/lg model"
        )
    return nlp


def _model_path(model: str) -> Path:
    path = spacy.util.get_package_path(model) if spacy.util.is_package(model) else Path(model)
    if not (path / "meta.json").is_file():
        raise NerModelError(missing_model_message(model))
    return path


def _components(path: Path) -> list[str]:
    meta = spacy.util.load_meta(path / "meta.json")
    return list(meta.get("components") or meta.get("pipeline") or [])


def _listened_to(path: Path) -> list[str]:
    """The component whose output the NER reads (a ``Tok2VecListener``'s upstream), if any."""
    config = spacy.util.load_config(path / "config.cfg") if (path / "config.cfg").is_file() else {}
    tok2vec = config.get("components", {}).get(NER_COMPONENT, {}).get("model", {}).get("tok2vec", {})
    if tok2vec.get("@architectures") != _LISTENER:
        return []
    upstream = str(tok2vec.get("upstream", "*"))
    return ["tok2vec" if upstream == "*" else upstream]


def receptive_field(nlp: Language) -> int:
    """How many tokens on each side of a token its NER vector depends on, from the pipeline's config.

    The embedding (hash embeddings of the token's own attributes, static vectors) is per token; each of the
    ``depth`` layers of a window encoder mixes in ``window_size`` tokens on each side. Other encoders (e.g.
    transformers) raise :class:`NerModelError`."""
    components = nlp.config["components"]
    tok2vec: dict[str, Any] = components["ner"]["model"]["tok2vec"]
    if tok2vec.get("@architectures") == _LISTENER:
        tok2vec = components[tok2vec["upstream"]]["model"]
    encoder: dict[str, Any] = tok2vec.get("encode", tok2vec)  # a HashEmbedCNN is its own encoder
    architecture = encoder.get("@architectures")
    if architecture not in _WINDOW_ENCODERS:
        raise NerModelError(f"the NER of this model has no window encoder ({architecture}): use a CNN model")
    return int(encoder["depth"]) * int(encoder["window_size"])


# --- planning: which pieces of an article spaCy reads ---


class Piece(NamedTuple):
    """One text spaCy reads: ``content[start:end]`` (``end = start + len(text)``). It owns ``[own_start,
    own_end)`` (between two cuts) and shares ``[start, shared_before)`` with the previous piece and
    ``[shared_after, end)`` with the next."""

    text: str
    start: int
    own_start: int
    own_end: int
    shared_before: int
    shared_after: int
    context: int
    """Characters of context wanted at its cut ``own_end`` (0 for the last piece)."""


def plan_pieces(content: str, max_chars: int, context: int = CONTEXT_CHARS) -> list[Piece]:
    """The pieces spaCy reads for ``content``: one when it has at most ``max_chars`` characters, else one per
    core of at most ``max_chars`` characters (:func:`cut_points`), each with ``context`` characters beyond its
    cuts."""
    cuts = cut_points(content, max_chars)
    return _pieces(content, cuts, [context] * len(cuts))


def widen_pieces(content: str, pieces: Sequence[Piece], cuts: Collection[int]) -> list[Piece]:
    """``pieces`` with the context at the cuts numbered ``cuts`` (0: between the first two pieces) ``WIDENING``
    times wider, up to ``WIDEST_CONTEXT_CHARS``; the other pieces are unchanged (and need not be read again)."""
    contexts = [
        min(piece.context * WIDENING, WIDEST_CONTEXT_CHARS) if index in cuts else piece.context
        for index, piece in enumerate(pieces[:-1])
    ]
    return _pieces(content, [piece.own_end for piece in pieces[:-1]], contexts)


def ner_chunks(content: str, max_chars: int) -> list[str]:
    """The texts spaCy reads for ``content`` (:func:`plan_pieces`), in order."""
    return [piece.text for piece in plan_pieces(content, max_chars)]


def cut_points(content: str, max_chars: int) -> list[int]:
    """Where ``content`` is cut into cores of at most ``max_chars`` characters: each cut is the last word start
    after a line break in the second half of the next ``max_chars`` characters, else their last word start, else
    (no whitespace at all) ``max_chars`` on, in the middle of a word."""
    cuts: list[int] = []
    start = 0
    while len(content) - start > max_chars:
        bound = start + max_chars
        cut = _last(_LINE_START, content, start + max_chars // 2, bound)
        if cut is None:
            cut = _last(_WORD_START, content, start + 1, bound)
        start = bound if cut is None else cut
        cuts.append(start)
    return cuts


def _last(pattern: re.Pattern[str], content: str, lo: int, hi: int) -> int | None:
    """The last end of a match of ``pattern`` in ``[lo, hi]`` (lookarounds see past both)."""
    last = None
    for match in pattern.finditer(content, lo, hi + 1):
        if match.end() <= hi:
            last = match.end()
    return last


def _word_starts(content: str, lo: int, hi: int) -> list[int]:
    """Where a piece may begin or end in ``[lo, hi]``: where a word follows whitespace, and both ends."""
    found = [match.start() for match in _WORD_START.finditer(content, lo, hi + 1)]
    return ([0] if lo == 0 else []) + found + ([len(content)] if hi == len(content) else [])


def _pieces(content: str, cuts: Sequence[int], contexts: Sequence[int]) -> list[Piece]:
    bounds = [0, *cuts, len(content)]
    starts = [0] + [_left_edge(content, bounds[i], bounds[i + 1], contexts[i]) for i in range(len(cuts))]
    ends = [_right_edge(content, bounds[i + 1], bounds[i + 2], contexts[i]) for i in range(len(cuts))]
    ends.append(len(content))
    return [
        Piece(
            text=content[starts[i] : ends[i]],
            start=starts[i],
            own_start=bounds[i],
            own_end=bounds[i + 1],
            shared_before=ends[i - 1] if i else starts[i],
            shared_after=starts[i + 1] if i < len(cuts) else ends[i],
            context=contexts[i] if i < len(cuts) else 0,
        )
        for i in range(len(cuts) + 1)
    ]


def _left_edge(content: str, floor: int, cut: int, context: int) -> int:
    """Where the piece after ``cut`` begins: the last word start at least ``context`` characters before the cut
    (at most twice that, never before the previous cut ``floor``), else the first one after that, else the cut."""
    target = max(cut - context, floor)
    starts = _word_starts(content, max(cut - 2 * context, floor), cut)
    before = [position for position in starts if position <= target]
    return before[-1] if before else starts[0] if starts else cut


def _right_edge(content: str, cut: int, ceiling: int, context: int) -> int:
    """Where the piece before ``cut`` ends: the mirror image of :func:`_left_edge`, never past the next cut."""
    target = min(cut + context, ceiling)
    starts = _word_starts(content, cut, min(cut + 2 * context, ceiling))
    after = [position for position in starts if position >= target]
    return after[0] if after else starts[-1] if starts else cut


# --- reading one piece ---


class Entity(NamedTuple):
    """One named entity with its character offsets in the article."""

    start: int
    end: int
    label: str
    text: str


class PieceEntities(NamedTuple):
    """What spaCy found in one piece, in article offsets: its entities, and where its tokens start in the text
    it shares with each neighbour (what :func:`merge_pieces` needs to splice it)."""

    own_end: int
    entities: tuple[Entity, ...]
    tokens_before: tuple[int, ...]
    tokens_after: tuple[int, ...]


def piece_entities(doc: Doc, piece: Piece) -> PieceEntities:
    """The result of spaCy reading ``piece.text`` as ``doc``, in article offsets."""
    offset = piece.start
    starts = [offset + token.idx for token in doc]
    before = tuple(starts[: bisect_left(starts, piece.shared_before)])
    after = tuple(starts[bisect_left(starts, piece.shared_after) :])
    entities = tuple(Entity(offset + e.start_char, offset + e.end_char, e.label_, e.text) for e in doc.ents)
    return PieceEntities(piece.own_end, entities, before, after)


# --- splicing an article's pieces ---


class Merged(NamedTuple):
    """An article's entities in order, and the cuts (numbered from 0) where no splice point was found: there the
    left piece's entities starting before the cut are taken, then the right piece's after them."""

    entities: list[Entity]
    inexact_cuts: list[int]


def merge_pieces(pieces: Sequence[PieceEntities], margin: int = SPLICE_MARGIN_TOKENS) -> Merged:
    """The article's entities from all of its pieces' results (in article order), spliced at each cut."""
    entities: list[Entity] = []
    inexact: list[int] = []
    taken_from = 0
    for index, piece in enumerate(pieces):
        if index + 1 == len(pieces):
            entities.extend(entity for entity in piece.entities if entity.start >= taken_from)
            break
        until = _splice_point(piece, pieces[index + 1], taken_from, margin)
        if until is None:
            inexact.append(index)
            until = max(piece.own_end, taken_from)
        taken = [entity for entity in piece.entities if taken_from <= entity.start < until]
        entities.extend(taken)
        taken_from = max([until, *(entity.end for entity in taken)])
    return Merged(entities, inexact)


def _splice_point(left: PieceEntities, right: PieceEntities, taken_from: int, margin: int) -> int | None:
    """The token start in the two pieces' shared text closest to their cut where both are sure to decide as on
    the whole article from there on: the same tokens, at least ``margin`` tokens from both edges, no entity open
    in either, and the same entities after it (a check of the above); None when there is none."""
    tokens = left.tokens_after
    if tokens != right.tokens_before or len(tokens) < 2 * margin:
        return None
    sure_until = tokens[-margin]
    shared = [
        [entity for entity in piece.entities if entity.end > tokens[0] and entity.start < tokens[-1]]
        for piece in (left, right)
    ]
    candidates = [start for start in tokens[margin : len(tokens) - margin + 1] if start >= taken_from]
    for start in sorted(candidates, key=lambda start: abs(start - left.own_end)):
        if any(entity.start < start < entity.end for found in shared for entity in found):
            continue
        after = [[entity for entity in found if entity.start >= start and entity.end <= sure_until] for found in shared]
        if after[0] == after[1]:
            return start
    return None


# --- reading whole articles ---


def doc_entities(doc: Doc) -> list[tuple[str, str]]:
    """The (text, label) of each named entity spaCy found, in document order."""
    return [(entity.text, entity.label_) for entity in doc.ents]


def entities_per_text(
    nlp: Language, texts: Sequence[str], *, batch_size: int, chunk_chars: int
) -> Iterator[list[tuple[str, str]]]:
    """Each text's (text, label) entities in order, as spaCy finds them in the whole text, read in pieces.

    Lazy: spaCy runs as the caller advances, so a caller can stop after any text."""
    for merged in merged_per_text(nlp, texts, batch_size=batch_size, chunk_chars=chunk_chars):
        yield [(entity.text, entity.label) for entity in merged.entities]


def merged_per_text(nlp: Language, texts: Sequence[str], *, batch_size: int, chunk_chars: int) -> Iterator[Merged]:
    """Each text's entities with their offsets, and its inexact cuts (logged), read piece by piece."""
    plans = [plan_pieces(text, chunk_chars) for text in texts]
    docs = nlp.pipe((piece.text for plan in plans for piece in plan), batch_size=batch_size)
    for text, pieces in zip(texts, plans, strict=True):
        results = [piece_entities(next(docs), piece) for piece in pieces]
        merged = merge_pieces(results)
        while merged.inexact_cuts:
            wider = widen_pieces(text, pieces, merged.inexact_cuts)
            again = [index for index, piece in enumerate(wider) if piece != pieces[index]]
            if not again:
                log.warning(event("ner_cuts_inexact", cuts=len(merged.inexact_cuts), chars=len(text)))
                break
            for index, doc in zip(again, nlp.pipe((wider[i].text for i in again), batch_size=batch_size), strict=True):
                results[index] = piece_entities(doc, wider[index])
            pieces, merged = wider, merge_pieces(results)
        yield merged
