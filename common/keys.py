"""Stable, safe document ids / primary keys for publications and entities.

Names are never concatenated into sink paths or SQL: a publication's key is the URL-safe base64 of its
normalized name (reversible, only ``[A-Za-z0-9_-]``), an entity's key a sha256 of its counting key.
Both are the same in every process and on every machine.
"""

import base64
import hashlib
from urllib.parse import quote

from common.article import normalize_publication


def publication_key(name: str) -> str:
    """``"CNN (Web News)"`` -> ``"p_Q05OIChXZWIgTmV3cyk"``; the ``p_`` prefix keeps Firestore's ``__x__`` ids out."""
    encoded = base64.urlsafe_b64encode(normalize_publication(name).encode("utf-8")).decode("ascii")
    return "p_" + encoded.rstrip("=")


def entity_key(text_key: str, label: str) -> str:
    """Document id for the counting key (case-folded normalized text, label)."""
    return hashlib.sha256(f"{label}\x1f{text_key}".encode()).hexdigest()[:32]


def offset_key(group_id: str, topic: str, partition: int) -> str:
    """Document id of a partition's committed offset in the sink, e.g. ``newscounts.articles.3``.

    Topic names are limited to ``[a-zA-Z0-9._-]`` by Kafka; group ids are free text, so they are percent-encoded
    (a ``/`` would otherwise split a Firestore path).
    """
    return f"{quote(group_id, safe='')}.{topic}.{partition}"


def count_document_id(shard: str, window_start: int | None, generation: int) -> str:
    """Document id of a count document (docs/sinks.md): ``all.{shard}.{generation}`` for all time,
    ``{window_start}.{shard}.{generation}`` for a window, where ``shard`` is an :func:`offset_key`."""
    return f"{'all' if window_start is None else window_start}.{shard}.{generation}"
