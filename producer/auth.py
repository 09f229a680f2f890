"""API keys: where they come from and how a request's ``X-API-Key`` is checked.

Keys are compared in constant time against every configured key (no early exit that would reveal which
key or how much of it matched), and never logged or echoed back.
"""

import hmac
from pathlib import Path
from typing import Annotated

from fastapi import HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from producer.settings import ProducerSettings

API_KEY_HEADER = "X-API-Key"

api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="An API key from API_KEYS or API_KEYS_FILE.",
)


class NoApiKeys(ValueError):
    """No key is configured: nobody could write, so the service refuses to start."""


def load_api_keys(settings: ProducerSettings) -> tuple[bytes, ...]:
    """The keys of API_KEYS (comma-separated) plus those of API_KEYS_FILE (one per line, # comments)."""
    keys = [key.strip() for key in settings.api_keys.get_secret_value().split(",")]
    if settings.api_keys_file is not None:
        keys += [line.strip() for line in _read_key_file(settings.api_keys_file).splitlines()]
    usable = tuple(dict.fromkeys(key.encode("utf-8") for key in keys if key and not key.startswith("#")))
    if not usable:
        raise NoApiKeys(
            "no API key configured: set API_KEYS=<key>[,<key>...] or API_KEYS_FILE=<file with one key per line>; "
            "create a key with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return usable


def _read_key_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise NoApiKeys(f"cannot read API_KEYS_FILE {str(path)!r}: {error.strerror}") from None


def key_is_valid(candidate: str, keys: tuple[bytes, ...]) -> bool:
    """Constant time over all keys: every key is compared, whatever matched before."""
    given = candidate.encode("utf-8")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key)
    return matched


def check_api_key(request: Request, candidate: str | None) -> None:
    """Raise 401 unless ``candidate`` is one of the app's keys."""
    if not candidate:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"missing API key: send it in the {API_KEY_HEADER} header (ask the operator for one)",
        )
    if not key_is_valid(candidate, request.app.state.api_keys):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"invalid API key in the {API_KEY_HEADER} header: check it for typos or ask the operator",
        )


async def require_api_key(request: Request, key: Annotated[str | None, Security(api_key_header)]) -> None:
    """Dependency of the write endpoints."""
    check_api_key(request, key)


async def require_read_key(request: Request, key: Annotated[str | None, Security(api_key_header)]) -> None:
    """Dependency of the read endpoints: open unless READ_REQUIRES_KEY is set."""
    if request.app.state.settings.read_requires_key:
        check_api_key(request, key)
