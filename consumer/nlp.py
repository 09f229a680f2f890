"""Load the spaCy pipeline once per worker with only what NER needs, and run it over articles piece by piece."""

from collections.abc import Iterator, Sequence
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from consumer.model_check import missing_model_message

KEPT_COMPONENTS = ("tok2vec", "ner")
"""Everything else (tagger, parser, lemmatizer, ...) is excluded: never loaded, never run."""


class NerModelError(RuntimeError):
    """The configured model cannot be loaded or has no ``ner`` component."""


def load_ner(model: str) -> Language:
    """The pipeline ``model`` (an installed package or a model directory) with only tok2vec and ner."""
    components = _components(model)
    if "ner" not in components:
        raise NerModelError(f"NER_MODEL={model!r} has no 'ner' component (it has {components}): use an NER model")
    return spacy.load(model, exclude=[name for name in components if name not in KEPT_COMPONENTS])


def _components(model: str) -> list[str]:
    path = spacy.util.get_package_path(model) if spacy.util.is_package(model) else Path(model)
    meta_file = path / "meta.json"
    if not meta_file.is_file():
        raise NerModelError(missing_model_message(model))
    meta = spacy.util.load_meta(meta_file)
    return list(meta.get("components") or meta.get("pipeline") or [])


def doc_entities(doc: Doc) -> list[tuple[str, str]]:
    """The (text, label) of each named entity spaCy found, in document order."""
    return [(entity.text, entity.label_) for entity in doc.ents]


def entities_per_text(
    nlp: Language, texts: Sequence[str], *, batch_size: int, chunk_chars: int
) -> Iterator[list[tuple[str, str]]]:
    """Each text's (text, label) entities in order, found piece by piece (:func:`ner_chunks`).

    Lazy: spaCy runs as the caller advances, so a caller can stop after any text."""
    pieces = [ner_chunks(text, chunk_chars) for text in texts]
    docs = nlp.pipe((piece for text_pieces in pieces for piece in text_pieces), batch_size=batch_size)
    for text_pieces in pieces:
        yield [pair for _ in text_pieces for pair in doc_entities(next(docs))]


def ner_chunks(content: str, max_chars: int) -> list[str]:
    """``content`` cut into consecutive pieces of at most ``max_chars`` characters for NER, joined back exactly.

    spaCy's memory grows with the length of a document (~15 KB per token in ``tok2vec``: a 1 MB article
    would need gigabytes), so a worker runs NER piece by piece. Cuts fall after the last line break before
    the bound (entities across line breaks are rare); a longer line is cut after its last sentence end, else
    its last space.
    """
    pieces: list[str] = []
    start = 0
    while len(content) - start > max_chars:
        end = start + max_chars
        cut = content.rfind("\n", start, end) + 1
        if cut <= start:
            cut = content.rfind(". ", start, end - 1) + 2
        if cut <= start + 1:
            cut = content.rfind(" ", start, end) + 1
        if cut <= start:
            cut = end
        pieces.append(content[start:cut])
        start = cut
    pieces.append(content[start:])
    return pieces
