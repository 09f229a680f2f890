"""``python -m producer`` / ``newscounts-producer``: the HTTP service under uvicorn, one worker.

Settings come from the environment (see :class:`producer.settings.ProducerSettings`); a bad setting or a
missing API key stops the start with a message saying what to set.
"""

import logging
import sys

import uvicorn
from pydantic import ValidationError

from common.article import describe_validation_error
from producer.app import create_app
from producer.auth import NoApiKeys
from producer.settings import ProducerSettings


def main() -> None:
    try:
        settings = ProducerSettings()
    except ValidationError as error:
        sys.exit(f"newscounts-producer: invalid settings: {describe_validation_error(error)}")
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(settings)
    except NoApiKeys as error:
        sys.exit(f"newscounts-producer: {error}")
    uvicorn.run(app, host=settings.host, port=settings.port, workers=1, log_level=settings.log_level)


if __name__ == "__main__":
    main()
