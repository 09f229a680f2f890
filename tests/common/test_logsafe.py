"""escape_for_log: nothing a client sends can forge, hide or recolour a log line."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.logsafe import escape_for_log


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        ("CNN (Web News) é 日本 🚀", "CNN (Web News) é 日本 🚀"),
        ("a\nforged line", "a\\nforged line"),
        ("a\r\n", "a\\r\\n"),
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
        ("\x00\x7f\x85", "\\x00\\x7f\\x85"),
        ("abc\u202edcb", "abc\\u202edcb"),
        ("zero\u200bwidth\u200c\u200d\u2060\ufeff", "zero\\u200bwidth\\u200c\\u200d\\u2060\\ufeff"),
        ("\u2066isolate\u2069 \u200e\u200f", "\\u2066isolate\\u2069 \\u200e\\u200f"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("no\u00a0break", "no\\xa0break"),
        (
            "tag\U000e0041 private\ue000 unassigned\u0378 surrogate\ud800",
            "tag\\U000e0041 private\\ue000 unassigned\\u0378 surrogate\\ud800",
        ),
        ("already \\x1b escaped", "already \\\\x1b escaped"),
    ],
)
def test_unprintable_characters_are_escaped_and_backslashes_doubled(text: str, logged: str) -> None:
    assert escape_for_log(text) == logged


@given(st.text())
def test_an_escaped_text_is_one_printable_line_that_reads_back_as_the_original(text: str) -> None:
    logged = escape_for_log(text)
    assert logged.isprintable()
    assert logged.encode("ascii", "backslashreplace").decode("unicode_escape") == text
