"""SafeFormatter: every line the service logs is escaped, and no API key from a URL reaches the access log."""

import logging
import sys

import pytest

from producer.logs import SafeFormatter
from tests.producer.support import API_KEY, SECOND_KEY

KEYS = (API_KEY.encode(), SECOND_KEY.encode())


def record(name: str, message: str, *args: object, exc_info: bool = False) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, args, sys.exc_info() if exc_info else None)


def message_of(line: str) -> str:
    return line.split(": ", 1)[1]


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/publications?limit=5&label=ORG", "/publications?limit=5&label=ORG"),
        ("/p?author=Ann&design=1&keynote=2&monkey=3", "/p?author=Ann&design=1&keynote=2&monkey=3"),
        (
            "/p?access_token=a&X-Api-Key=b&apikey=c&client.secret=d",
            "/p?access_token=[redacted]&X-Api-Key=[redacted]&apikey=[redacted]&client.secret=[redacted]",
        ),
        (f"/publications?api_key={API_KEY}", "/publications?api_key=[redacted]"),
        (
            "/p?token=abc&Authorization=x&password=y&sig=z&session_id=1",
            "/p?token=[redacted]&Authorization=[redacted]&password=[redacted]&sig=[redacted]&session_id=[redacted]",
        ),
        (f"/p?x={SECOND_KEY}&y=1", "/p?x=[redacted]&y=1"),
        (f"/p?x={API_KEY.replace('-', '%2D')}", "/p?x=[redacted]"),  # compared decoded
        (f"/p?{API_KEY}&limit=1", "/p?[redacted]&limit=1"),
        (f"/p?x={API_KEY}0", f"/p?x={API_KEY}0"),  # not a key: the key check is exact
        ("/no-query", "/no-query"),
    ],
)
def test_the_access_log_redacts_secret_named_and_key_valued_query_parameters(target: str, logged: str) -> None:
    line = SafeFormatter(KEYS).format(
        record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', "1.2.3.4:5", "GET", target, "1.1", 200)
    )
    assert message_of(line) == f'1.2.3.4:5 - "GET {logged} HTTP/1.1" 200'


def test_any_logger_s_message_and_arguments_are_escaped() -> None:
    line = SafeFormatter().format(record("producer.errors", "bad name %s in %s", "A\u202eB", "/p/\x1b[2J\nforged"))
    assert line.isprintable()
    assert message_of(line) == "bad name A\\u202eB in /p/\\x1b[2J\\nforged"


def test_a_traceback_keeps_its_lines_and_each_line_is_escaped() -> None:
    try:
        raise ValueError("id\x1b]0;title\x07 \u200b")
    except ValueError:
        line = SafeFormatter().format(record("producer.errors", "failed on %s", "x\ny", exc_info=True))
    first, *traceback = line.split("\n")
    assert message_of(first) == "failed on x\\ny"
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "ValueError: id\\x1b]0;title\\x07 \\u200b"
    assert all(part.isprintable() for part in traceback)


def test_the_callers_record_is_left_as_it_was() -> None:
    original = record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', "c", "GET", f"/p?api_key={API_KEY}", "1.1", 200)
    SafeFormatter(KEYS).format(original)
    assert original.args == ("c", "GET", f"/p?api_key={API_KEY}", "1.1", 200)
    assert original.getMessage().endswith(f'/p?api_key={API_KEY} HTTP/1.1" 200')
