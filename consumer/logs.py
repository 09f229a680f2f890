"""One log line per event, ``key=value`` pairs a person can read and ``grep``/``awk`` can parse.

Example: ``worker=3 partition=7 event=flushed articles=12 entities=340 next_offset=98 ms=41``.
"""

import json
import logging
import sys


def configure_logging(level: str, process: str) -> None:
    """Log to stderr with ``process`` (``supervisor``, ``worker=N``, ``ner=N``) in front of every message."""
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)s {process} %(message)s",
        stream=sys.stderr,
        force=True,
    )


def event(name: str, partition: int | None = None, **fields: object) -> str:
    """``partition=7 event=flushed articles=12``: the partition first when there is one, then the event."""
    parts = [] if partition is None else [f"partition={partition}"]
    parts.append(f"event={name}")
    parts.extend(f"{key}={_value(value)}" for key, value in fields.items())
    return " ".join(parts)


def _value(value: object) -> str:
    text = str(value)
    if text and not any(char.isspace() or char in '="' for char in text):
        return text
    return json.dumps(text, ensure_ascii=False)
