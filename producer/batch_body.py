"""Splits a batch body (JSON array or NDJSON) into its items, never holding more than BATCH_MAX + 1 of them.

Parsing the whole array first would let an 8 MiB body of ``{},{},...`` become millions of Python objects
(hundreds of MB, seconds of CPU) before the item count could be checked. Instead the array is walked one
element at a time (C-speed ``raw_decode`` to find each element's end), and NDJSON lines are found by a
regular expression that skips blank lines in C; both stop at the first item over the limit. Each item is
returned as its raw JSON text, to be validated exactly like a single article (and like the consumer does).
"""

import json
import re

from fastapi import HTTPException, status

from producer.errors import FieldProblem, InvalidInput

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NON_BLANK_LINE = re.compile(rb"(?m)^[ \t\r\f\v]*+\S[^\n]*+")
_DECODER = json.JSONDecoder(parse_int=float)
"""Finds where each element ends; its numbers are never used. ``int()`` of more than 4,300 digits raises
ValueError (Python's limit on int-string conversion), ``float()`` of any number of digits does not."""

JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}


def split_json_array(body: bytes, limit: int) -> list[str]:
    """The raw text of each element of the JSON array in ``body``; 422 if it is not one, 413 over ``limit``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _invalid(f"Invalid JSON: not UTF-8 ({error.reason} at byte {error.start})") from None
    position = _skip_whitespace(text, 0)
    if not text.startswith("[", position):
        raise _invalid(
            f"expected a JSON array of articles (or NDJSON with Content-Type: application/x-ndjson), "
            f"got {_describe_value(text, position)}"
        )
    items: list[str] = []
    position = _skip_whitespace(text, position + 1)
    if text.startswith("]", position):
        return _after_array(text, position + 1, items)
    while True:
        end = _value_end(text, position)
        items.append(text[position:end])
        if len(items) > limit:
            raise too_many_items(limit)
        position = _skip_whitespace(text, end)
        if text.startswith(",", position):
            position = _skip_whitespace(text, position + 1)
        elif text.startswith("]", position):
            return _after_array(text, position + 1, items)
        else:
            raise _invalid(f"Invalid JSON: expected ',' or ']' {_where(text, position)}")


def split_ndjson(body: bytes, limit: int) -> list[bytes]:
    """Each non-blank line of ``body``; 413 over ``limit`` lines. A line may be invalid: it fails on its own."""
    lines: list[bytes] = []
    for match in _NON_BLANK_LINE.finditer(body):
        lines.append(match.group())
        if len(lines) > limit:
            raise too_many_items(limit)
    return lines


def too_many_items(limit: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"the batch holds more than BATCH_MAX ({limit}) articles: split it into batches of at most {limit}",
    )


def _after_array(text: str, position: int, items: list[str]) -> list[str]:
    rest = _skip_whitespace(text, position)
    if rest != len(text):
        raise _invalid(f"Invalid JSON: unexpected data after the array {_where(text, rest)}")
    return items


def _value_end(text: str, position: int) -> int:
    try:
        return int(_DECODER.raw_decode(text, position)[1])
    except json.JSONDecodeError as error:
        raise _invalid(f"Invalid JSON: {error.msg} {_where(text, error.pos)}") from None
    except RecursionError:
        raise _invalid(f"Invalid JSON: nested too deeply {_where(text, position)}") from None


def _describe_value(text: str, position: int) -> str:
    if position == len(text):
        return "an empty body"
    try:
        value = _DECODER.raw_decode(text, position)[0]
    except (json.JSONDecodeError, RecursionError):
        return f"something that is not JSON {_where(text, position)}"
    return f"a JSON {JSON_TYPES.get(type(value), 'null')}"


def _skip_whitespace(text: str, position: int) -> int:
    match = _WHITESPACE.match(text, position)
    return position if match is None else match.end()


def _where(text: str, position: int) -> str:
    line = text.count("\n", 0, position) + 1
    column = position - text.rfind("\n", 0, position)
    return f"at line {line} column {column}"


def _invalid(problem: str) -> InvalidInput:
    return InvalidInput([FieldProblem(field="body", problem=problem)])
