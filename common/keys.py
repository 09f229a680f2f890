"""Stable, safe document ids / primary keys for publications and entities.

Names are never concatenated into sink paths or SQL: a publication's key is the URL-safe base64 of its
normalized name (reversible, only ``[A-Za-z0-9_-]``), an entity's key a sha256 of its counting key.
Both are the same in every process and on every machine.
"""

import base64
import hashlib
import re
from urllib.parse import quote

from common.article import normalize_publication


def publication_key(name: str) -> str:
    """``"CNN (Web News)"`` -> ``"p_Q05OIChXZWIgTmV3cyk"``; the ``p_`` prefix keeps Firestore's ``__x__`` ids out."""
    encoded = base64.urlsafe_b64encode(normalize_publication(name).encode("utf-8")).decode("ascii")
    return "p_" + encoded.rstrip("=")


def entity_key(text_key: str, label: str) -> str:
    """Document id for the counting key (case-folded normalized text, label)."""
    return hashlib.sha256(f"{label}\x1f{text_key}".encode()).hexdigest()[:32]


def publication_name(key: str) -> str:
    """The normalized name a :func:`publication_key` was made from."""
    encoded = key.removeprefix("p_")
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")


def namespace_key(name: str) -> str:
    """Document id / key of a counts namespace: ``n_`` + the URL-safe base64 of its name (any text)."""
    return "n_" + base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii").rstrip("=")


def _dotless(part: str) -> str:
    """Percent-encoding that also encodes ``.``, so that ``.`` can separate the parts of a key."""
    return quote(part, safe="").replace(".", "%2E")


def offset_key(group_id: str, topic: str, partition: int) -> str:
    """Document id of a partition's committed offset in the sink, e.g. ``newscounts.articles.3``.

    Group id and topic are percent-encoded, dots included (``a.b``/``c`` is ``a%2Eb.c.0``, ``a``/``b.c`` is
    ``a.b%2Ec.0``), so the key names one (group, topic, partition) and is a safe Firestore document id.
    """
    return f"{_dotless(group_id)}.{_dotless(topic)}.{partition}"


def count_document_id(container: str, group: int, generation: int) -> str:
    """Document id of a count document (docs/sinks.md): ``{container}.{group}.{generation}``, e.g. ``m202311.0.2``;
    containers are ``m{YYYYMM}``, ``y{YYYY}``, ``all`` or ``dict``, so the id is always a safe path segment."""
    return f"{container}.{group}.{generation}"


_PUBLICATION_KEY = re.compile(r"p_[A-Za-z0-9_-]+")


def publication_document_id(key: str) -> str:
    """``key`` checked to be a :func:`publication_key` (a single safe path segment) before it names a document."""
    if not _PUBLICATION_KEY.fullmatch(key):
        raise ValueError(f"not a publication key: {key!r}")
    return key
