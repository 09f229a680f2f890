"""The HTTP protocol the service runs under uvicorn: httptools with bounds on the request head and on time.

uvicorn's httptools protocol (a C parser) costs less CPU per request than its h11 one (a pure Python parser;
measured in docs/benchmarks.md). But httptools takes a request head (request line and headers) of any size into
memory (docs/reliability.md, "Unbounded request headers"), and neither protocol bounds how long a client may
take to send its request: a connection that sends part of a head, or part of a body, would stay open for
ever (slowloris), and one that sends nothing at all too. :class:`BoundedHeadProtocol`:

- counts the bytes received while a request's head is incomplete and answers 400, closing the connection,
  once they pass :data:`MAX_HEADER_BYTES`;
- closes a connection whose head is not complete ``HEAD_TIMEOUT`` after the connection opened or the head
  began: with a 408 once part of a head came, silently when nothing did;
- answers 408 and closes when no piece of a body came for ``BODY_TIMEOUT`` (time the service itself did not
  read, because the app had not taken the previous pieces yet, does not count). The app's request then
  ends as a disconnect, which :mod:`producer.errors` counts as 408 through :data:`TIMED_OUT`.
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from producer.security_headers import SECURITY_HEADERS

MAX_HEADER_BYTES = 64 * 1024
"""Largest request head accepted (request line plus headers); larger heads get 400 before they fill memory."""

TIMED_OUT = "newscounts.timed_out"
"""Scope key set on a request whose body timed out: the protocol answered 408, the app sees a disconnect."""

_SECURITY_HEADER_LINES = b"".join(
    f"{name.lower()}: {value}\r\n".encode("latin-1") for name, value in SECURITY_HEADERS.items()
)


class BoundedHeadProtocol(HttpToolsProtocol):
    """httptools, refusing a request whose head passes :data:`MAX_HEADER_BYTES`, and timing heads and bodies.

    Bytes are counted from the first chunk received while a head is incomplete until the parser reports
    the headers complete, so the head held in memory stays under the bound plus one read (at most 256 KiB).
    Use :func:`protocol_with_timeouts` for a class with the two timeouts set.
    """

    head_timeout: float
    body_timeout: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._head_begun = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_progress = 0.0
        """Loop time of the last piece of the current body (or of its head's end)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        self._stop_body_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
            self.logger.warning("Request head over %d bytes refused.", MAX_HEADER_BYTES)
            self.send_400_response(f"Request head too large: send at most {MAX_HEADER_BYTES} bytes of headers.")

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._head_begun = True
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_begun = False
        self._stop_head_timer()
        super().on_headers_complete()
        self._body_progress = self.loop.time()
        self._body_timer = self.loop.call_later(self.body_timeout, self._check_body)

    def on_body(self, body: bytes) -> None:
        self._body_progress = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._stop_body_timer()
        super().on_message_complete()

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a pipelined head stalled: close once the current answer is sent
            return
        if not self._head_begun:
            self.transport.close()  # nothing was sent: no one to answer
            return
        self.logger.warning("%s - the request head was not complete within HEAD_TIMEOUT: 408", self._client())
        self._refuse(408, f"Request head not complete within {self.head_timeout:g}s: send the whole head at once.")

    def _check_body(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return
        now = self.loop.time()
        if self.flow.read_paused:  # the app has not taken the pieces that came: not the client's delay
            self._body_progress = now
        waited = now - self._body_progress
        if waited < self.body_timeout:
            self._body_timer = self.loop.call_later(self.body_timeout - waited, self._check_body)
            return
        cycle = self.cycle  # the request whose body this is: the next one's head cannot begin before it ends
        where = f'{self._client()} - "{cycle.scope["method"]} {cycle.scope["path"]}"'
        if cycle.response_started:
            self.logger.info("%s: the rest of the request body did not come within BODY_TIMEOUT: closed", where)
            self.transport.close()
            return
        self.logger.warning("%s: the request body stalled for more than BODY_TIMEOUT: 408", where)
        cycle.scope[TIMED_OUT] = "body"  # type: ignore[literal-required]
        cycle.disconnected = True  # the app's answer, if any, is not sent after the 408
        cycle.message_event.set()
        self._refuse(408, f"Request body stalled for more than {self.body_timeout:g}s: send it without pauses.")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with ``message`` (text), with the security headers, and close the connection."""
        body = message.encode("utf-8")
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                _SECURITY_HEADER_LINES,
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()

    def _client(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "client"

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _stop_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None


def protocol_with_timeouts(head_timeout: float, body_timeout: float) -> type[BoundedHeadProtocol]:
    """The protocol class to give uvicorn (``http=``), with HEAD_TIMEOUT and BODY_TIMEOUT in seconds."""
    return type(
        "TimedBoundedHeadProtocol", (BoundedHeadProtocol,), {"head_timeout": head_timeout, "body_timeout": body_timeout}
    )
