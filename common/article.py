"""The article wire format: the one definition that the HTTP service and the consumer group share.

A Kafka message value is a UTF-8 JSON object matching :class:`Article`. The same rules apply whether
the message came from ``POST /articles`` or from ``kafka-console-producer`` (no key).
"""

import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from common.moments import as_utc, date_means_midnight

DEFAULT_MAX_ARTICLE_BYTES = 1_000_000
"""Default bound on the UTF-8 size of ``content`` (the ``MAX_ARTICLE_BYTES`` setting)."""

EARLIEST_PUBLISHED_AT = datetime(1000, 1, 1, tzinfo=UTC)
LATEST_PUBLISHED_AT = datetime(9000, 1, 1, tzinfo=UTC)
"""``published_at`` lies in [EARLIEST, LATEST): every window of up to a year around it fits in the years 1..9999
that datetimes and Firestore timestamps can hold."""

MAX_PUBLICATION_CHARS = 200
MAX_ID_CHARS = 200

_WHITESPACE = re.compile(r"\s+")

REFUSED_IN_PUBLICATIONS = {
    "Cc": "a control character",
    "Cf": "an invisible format character (zero-width characters and bidi controls are refused)",
    "Cs": "a surrogate code point",
    "Co": "a private-use character",
    "Cn": "a code point not assigned in Unicode " + unicodedata.unidata_version,
}
"""Unicode general categories a publication name may not contain, and how an error names them."""

StrictText = Annotated[str, Field(strict=True)]


def normalize_publication(name: str) -> str:
    """NFC, then trim and collapse whitespace: the precomposed and the decomposed "Café" are one name, and so
    are ``" CNN \\n (Web  News)"`` and ``"CNN (Web News)"``.

    NFC rather than NFKC: canonical equivalents are the same text encoded two ways, while compatibility
    forms (fullwidth letters, ligatures, superscripts) look different and may be different names.
    """
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", name)).strip()


def publication_problem(name: str) -> str | None:
    """Why the normalized ``name`` cannot name a publication (empty, too long, or a refused character), or None.

    Invisible and control characters would make names that look alike count apart (and can disguise a name
    in logs and on screens); unassigned code points could change meaning, and their NFC form, in a later
    Unicode version.
    """
    if not name:
        return "must not be empty or only whitespace"
    if len(name) > MAX_PUBLICATION_CHARS:
        return f"must be at most {MAX_PUBLICATION_CHARS} characters"
    if name.isprintable():  # no character of a refused category (whitespace is a plain space by now)
        return None
    for position, char in enumerate(name, start=1):
        kind = REFUSED_IN_PUBLICATIONS.get(unicodedata.category(char))
        if kind is not None:
            described = " ".join(filter(None, (f"U+{ord(char):04X}", unicodedata.name(char, ""))))
            return f"must not contain {kind}: {described} at character {position}; remove it"
    return None


class Article(BaseModel):
    """One news article as it travels through Kafka (the message value, JSON)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "publication": "Reuters",
                    "title": "Fed holds rates steady",
                    "content": "WASHINGTON (Reuters) - The Federal Reserve left interest rates unchanged...",
                    "url": "https://www.reuters.com/article/us-usa-fed-idUSKBN1",
                    "published_at": "2020-07-20",
                }
            ]
        },
    )

    publication: StrictText = Field(
        description="Publication name; NFC-normalized, trimmed, inner whitespace collapsed; 1 to 200 characters; "
        "no control, invisible format (zero-width, bidi), private-use, surrogate or unassigned characters.",
        examples=["Reuters"],
    )
    content: StrictText = Field(
        description="Article body; non-empty; at most MAX_ARTICLE_BYTES bytes of UTF-8 (default 1 MB).",
    )
    title: StrictText | None = Field(default=None, description="Headline (not analysed).")
    url: StrictText | None = Field(default=None, description="Canonical URL; part of the derived article id.")
    published_at: datetime | None = Field(
        default=None,
        description="ISO 8601 date or date-time, years 1000 to 8999; no zone means UTC. The event time that picks "
        "the window; when absent, the Kafka record timestamp is used.",
    )
    id: StrictText | None = Field(
        default=None,
        max_length=MAX_ID_CHARS,
        description="Client-chosen article id (at most 200 characters); derived when absent.",
    )

    @field_validator("publication")
    @classmethod
    def _normalize_publication(cls, value: str) -> str:
        name = normalize_publication(value)
        problem = publication_problem(name)
        if problem is not None:
            raise ValueError(problem)
        return name

    @field_validator("content")
    @classmethod
    def _check_content(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        limit = (info.context or {}).get("max_article_bytes", DEFAULT_MAX_ARTICLE_BYTES)
        if len(value) > limit or len(value.encode("utf-8")) > limit:
            raise ValueError(f"must be at most {limit} bytes of UTF-8")
        return value

    @field_validator("published_at", mode="before")
    @classmethod
    def _date_means_midnight(cls, value: Any) -> Any:
        return date_means_midnight(value)

    @field_validator("published_at")
    @classmethod
    def _no_zone_means_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        if not EARLIEST_PUBLISHED_AT <= value < LATEST_PUBLISHED_AT:
            raise ValueError("must be between the years 1000 and 8999")
        return value

    @property
    def article_id(self) -> str:
        """``id`` when given, else a stable hash of the publication and the url (or the content)."""
        return self.id if self.id is not None else derive_article_id(self.publication, self.url, self.content)


def derive_article_id(publication: str, url: str | None, content: str) -> str:
    """Stable across processes and machines (sha256, never Python's ``hash()``)."""
    source = f"url\x1f{url}" if url else f"content\x1f{content}"
    digest = hashlib.sha256(f"{normalize_publication(publication)}\x1f{source}".encode()).hexdigest()
    return digest[:32]


class InvalidArticle(ValueError):
    """A message that is not a valid article; ``reason`` names the field and the problem."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad field and its problem, e.g. ``content: Field required``."""
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "body"
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def parse_article(value: bytes | None, max_article_bytes: int = DEFAULT_MAX_ARTICLE_BYTES) -> Article:
    """Decode one Kafka message value; raise :class:`InvalidArticle` with the reason when it is not valid."""
    if value is None:
        raise InvalidArticle("empty message: the value is null (a tombstone), expected a JSON object")
    # The JSON envelope may hold a little more than the content itself; anything far larger is rejected
    # before parsing so a huge message cannot cost much memory.
    if len(value) > max_article_bytes * 6 + 64_000:
        raise InvalidArticle(f"message too large: {len(value)} bytes")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidArticle(f"not UTF-8: {error}") from None
    try:
        return Article.model_validate_json(text, context={"max_article_bytes": max_article_bytes})
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise InvalidArticle(f"not JSON: {error.errors()[0]['msg']}") from None
        if any(item["type"] == "model_type" for item in error.errors()):
            raise InvalidArticle("not a JSON object") from None
        raise InvalidArticle(describe_validation_error(error)) from None
