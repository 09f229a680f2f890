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
from producer.http_protocol import BoundedHeadProtocol
from producer.settings import ProducerSettings


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
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        workers=1,
        log_level=settings.log_level,
        http=BoundedHeadProtocol,  # httptools with a bound on the request head
    )


if __name__ == "__main__":
    main()
