"""``python -m producer`` / ``newscounts-producer``: the HTTP service under uvicorn, one worker.

Settings come from the environment (see :class:`producer.settings.ProducerSettings`); a bad setting or a
missing API key stops the start with a message saying what to set.
"""

import logging
import sys

import uvicorn
from pydantic import ValidationError

from producer.app import create_app
from producer.auth import NoApiKeys
from producer.settings import ProducerSettings

MAX_HEADER_BYTES = 64 * 1024
"""Largest request line plus headers accepted; larger heads are refused with 400 before they fill memory."""


def describe_settings_error(error: ValidationError) -> str:
    """Name each bad setting by its environment variable, never echoing the value (it may be a key)."""
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        variable = "_".join(str(part) for part in item["loc"][:1]).upper() or "settings"
        parts.append(f"{variable}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def main() -> None:
    try:
        settings = ProducerSettings()
    except ValidationError as error:
        sys.exit(f"newscounts-producer: invalid settings: {describe_settings_error(error)}")
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(settings)
    except NoApiKeys as error:
        sys.exit(f"newscounts-producer: {error}")
    # h11 bounds a request's head (MAX_HEADER_BYTES); uvicorn's default parser, httptools, accepts headers of any
    # size into memory.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        workers=1,
        log_level=settings.log_level,
        http="h11",
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )


if __name__ == "__main__":
    main()
