"""``python -m consumer`` / ``newscounts-consumer``: run the consumer group (see consumer.supervisor)."""

import sys

from pydantic import ValidationError

from consumer.aliases import AliasFileError, load_alias_table
from consumer.exit import exit_after_stop
from consumer.logs import configure_logging
from consumer.model_check import missing_model
from consumer.settings import ConsumerSettings
from consumer.supervisor import Supervisor


def main() -> None:
    try:
        settings = ConsumerSettings()
    except ValidationError as error:
        print(f"newscounts-consumer: invalid settings (environment variables):\n{error}", file=sys.stderr)
        sys.exit(2)
    if (problem := missing_model(settings.ner_model)) is not None:
        print(f"newscounts-consumer: {problem}", file=sys.stderr)
        sys.exit(2)
    try:
        load_alias_table(settings.aliases_file)  # each worker loads it again: refuse a bad file once, here
    except AliasFileError as error:
        print(f"newscounts-consumer: the alias table cannot be used: {error}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level, process="supervisor")
    exit_after_stop(Supervisor(settings).run())


if __name__ == "__main__":
    main()
