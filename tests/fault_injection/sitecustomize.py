"""Test-only fault injection, loaded by every Python process started with this folder on PYTHONPATH
(``tests.consumer.support.crash_after_sink_write``): nothing of it is in the service's code.

With ``NEWSCOUNTS_TEST_CRASH_FILE`` set, the sink writers the consumer opens are wrapped: when that file exists after a
successful sink write, the first process to delete it logs ``event=injected_crash`` and dies with exit code 137
(as if killed by SIGKILL) between the sink write and the Kafka commit.
"""

import logging
import os
import sys
from pathlib import Path
from typing import Any

CRASH_FILE = os.environ.get("NEWSCOUNTS_TEST_CRASH_FILE")
EXIT_CODE = 137


def _install(crash_file: Path) -> None:
    import common.sinks.factory as factory
    from consumer.logs import event

    open_writer = factory.open_writer

    class CrashingWriter:
        """Delegates everything to the real writer; dies once right after a write when the file exists."""

        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        def write(self, flush: Any, lease: Any, **options: Any) -> Any:
            written = self._inner.write(flush, lease, **options)
            try:
                crash_file.unlink()
            except FileNotFoundError:
                return written
            logging.getLogger("consumer.checkpoint").error(
                event("injected_crash", flush.partition, next_offset=flush.next_offset, stage="after sink write")
            )
            logging.shutdown()
            os._exit(EXIT_CODE)

    def open_crashing_writer(settings: Any) -> Any:
        return CrashingWriter(open_writer(settings))

    factory.open_writer = open_crashing_writer


if CRASH_FILE:
    # Site customization runs before ``python -m`` puts the working directory on sys.path: without this, the
    # imports below would find whichever checkout an installed package points to, not the one being run.
    sys.path.insert(0, str(Path.cwd()))
    _install(Path(CRASH_FILE))
