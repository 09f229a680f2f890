"""The entity counting rules: how a named entity's text is normalized, what it is counted under, and what
one article contributes. Pure functions; the consumer group and its tests rely on them exactly.
"""

import unicodedata
from collections import Counter
from collections.abc import Iterable, Set
from dataclasses import dataclass, field

from common.sinks.base import EntityCountingKey

_POSSESSIVES = ("'s", "’s")


def normalize_entity_text(text: str) -> str:
    """NFKC; collapse whitespace; drop a leading "the " (any case) and a trailing "'s"/"’s"; trim.

    Repeated until nothing changes ("The the X's" -> "X"), so normalizing twice changes nothing. An empty
    result means the entity is not counted.
    """
    current = text
    while True:
        step = _normalize_once(current)
        if step == current:
            return step
        current = step


def _normalize_once(text: str) -> str:
    text = " ".join(unicodedata.normalize("NFKC", text).split())
    if text[:4].lower() == "the ":
        text = text[4:]
    if text.endswith(_POSSESSIVES):
        text = text[:-2]
    return text.strip()


def counting_key(normalized_text: str, label: str) -> EntityCountingKey:
    """What mentions are counted under: the normalized text case-folded, and the spaCy label."""
    return normalized_text.casefold(), label


@dataclass
class ArticleEntity:
    """One entity in one article: its label, how often it occurs and in which normalized spellings."""

    label: str
    mentions: int = 0
    surfaces: Counter[str] = field(default_factory=Counter)


def article_entities(
    entities: Iterable[tuple[str, str]], excluded_labels: Set[str]
) -> dict[EntityCountingKey, ArticleEntity]:
    """Group one article's (text, label) entities by counting key, skipping excluded labels and texts that
    normalize to nothing. Each key counts as one article mentioning it, with ``mentions`` occurrences."""
    found: dict[EntityCountingKey, ArticleEntity] = {}
    for text, label in entities:
        if label in excluded_labels:
            continue
        normalized = normalize_entity_text(text)
        if not normalized:
            continue
        entity = found.setdefault(counting_key(normalized, label), ArticleEntity(label))
        entity.mentions += 1
        entity.surfaces[normalized] += 1
    return found
