"""The HTTP service's logging: one handler for its own lines, uvicorn's (access log included) and librdkafka's.

Every line goes through :class:`SafeFormatter`: client-controlled text is escaped
(:func:`common.logsafe.escape_for_log`: no raw control, bidi or zero-width character reaches the log), and in
the access log the value of a query parameter named like a secret (``api_key``, ``token``, ``password``, ...)
or equal to a configured API key shows as ``[redacted]``: a key sent in the URL by mistake is not written.
Keys are compared only through :func:`producer.auth.key_is_valid` (constant time, as for a request).
"""

import copy
import logging
import re
from types import TracebackType
from urllib.parse import unquote_plus

from common.logsafe import escape_for_log
from producer.auth import key_is_valid

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ACCESS_LOGGER = "uvicorn.access"
REDACTED = "[redacted]"
SECRET_PARAMETER = re.compile(
    r"(?:^|[-_.])(?:api_?key|key|token|secret|passw(?:or)?d|auth(?:orization)?|sig(?:nature)?|session|"
    r"credentials?|cookie)(?:$|[-_.])",
    re.IGNORECASE,
)
"""Query parameter names whose values are never logged: one of these words as a part of the name
(``api_key``, ``access_token``, ``X-Api-Key``, ``password``, ``session_id``), not inside a word (``author``)."""

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


class SafeFormatter(logging.Formatter):
    """:data:`LINE_FORMAT`, with the message and any traceback escaped and the access log's query redacted."""

    def __init__(self, api_keys: tuple[bytes, ...] = ()) -> None:
        super().__init__(LINE_FORMAT)
        self._keys = api_keys

    def format(self, record: logging.LogRecord) -> str:
        record = copy.copy(record)  # the caller's record stays as it was
        if record.name == ACCESS_LOGGER and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            record.args = (client, method, self.redact_query(str(path)), version, status)
        return super().format(record)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = escape_for_log(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: ExcInfo) -> str:  # noqa: N802 (logging's name)
        return self._escape_lines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 (logging's name)
        return self._escape_lines(super().formatStack(stack_info))

    def redact_query(self, target: str) -> str:
        """A request target with the values of secret-looking or key-holding query parameters redacted."""
        path, mark, query = target.partition("?")
        if not mark:
            return target
        parts = []
        for part in query.split("&"):
            name, equals, value = part.partition("=")
            if self._is_key(name):
                parts.append(REDACTED)
            elif equals and (SECRET_PARAMETER.search(unquote_plus(name)) or self._is_key(value)):
                parts.append(f"{name}={REDACTED}")
            else:
                parts.append(part)
        return f"{path}?{'&'.join(parts)}"

    def _is_key(self, encoded: str) -> bool:
        return bool(encoded) and key_is_valid(unquote_plus(encoded), self._keys)

    @staticmethod
    def _escape_lines(text: str) -> str:
        """A multi-line text (a traceback) escaped line by line: its own line breaks stay."""
        return "\n".join(escape_for_log(line) for line in text.split("\n"))


def configure_logging(level: str, api_keys: tuple[bytes, ...]) -> None:
    """Every logger of the process writes through one stderr handler with a :class:`SafeFormatter`."""
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter(api_keys))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
