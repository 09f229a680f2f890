"""Human durations for settings: ``500ms``, ``10s``, ``5m``, ``1h``, ``1d`` (or plain seconds)."""

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: Any) -> timedelta:
    """Parse ``10s``-style text, a number of seconds, or a timedelta; reject zero and negatives."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _PATTERN.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    else:
        raise ValueError(f"invalid duration {value!r}: use a number with a unit, e.g. 500ms, 10s, 5m, 1h, 1d")
    if seconds <= 0:
        raise ValueError(f"invalid duration {value!r}: it must be greater than zero")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling of a duration, e.g. ``timedelta(hours=1)`` -> ``1h``."""
    ms = round(value.total_seconds() * 1000)
    for unit, factor in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % factor == 0:
            return f"{ms // factor}{unit}"
    return f"{ms}ms"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]
"""A settings field type that accepts ``500ms``/``10s``/``5m``/``1h``/``1d``."""
