"""``python -m producer`` / ``newscounts-producer``: the HTTP service under uvicorn, one worker.

Settings come from the environment (see :class:`producer.settings.ProducerSettings`); a bad setting or a
missing API key stops the start with a message saying what to set.
"""

import sys

import uvicorn
from pydantic import ValidationError

from producer.app import create_app
from producer.auth import NoApiKeys
from producer.http_protocol import protocol_with_timeouts
from producer.logs import configure_logging
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
    try:
        app = create_app(settings)
    except NoApiKeys as error:
        sys.exit(f"newscounts-producer: {error}")
    configure_logging(settings.log_level, app.state.api_keys)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        workers=1,
        log_config=None,  # uvicorn's loggers write through the handler configured above
        log_level=settings.log_level,
        # httptools with a bound on the request head and timeouts on heads and bodies
        http=protocol_with_timeouts(settings.head_timeout.total_seconds(), settings.body_timeout.total_seconds()),
    )


if __name__ == "__main__":
    main()
