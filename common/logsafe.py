"""Log text that cannot forge or hide anything: :func:`escape_for_log`, applied to every line a service logs.

Ids, publication names and paths come from clients. Written raw, a newline would forge a second log line,
a terminal escape would rewrite what an operator sees, and bidi or zero-width characters would make a log
line read differently from what it holds.
"""

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def escape_for_log(text: str) -> str:
    """``text`` with every character that is not printable (control, format such as bidi and zero-width,
    separators other than the space, surrogates, private-use, unassigned) written as a Python escape
    (``\\x1b``, ``\\u202e``, ``\\U000e0041``), and the backslash doubled, so an escape seen in a log line was one."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape(char) for char in text)


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
