"""The HTTP protocol the service runs under uvicorn: httptools with a bound on the request head.

uvicorn's httptools protocol (a C parser) costs less CPU per request than its h11 one (a pure Python parser;
measured in docs/benchmarks.md). But httptools takes a request head (request line and headers) of any size into
memory (docs/reliability.md, "Unbounded request headers"). :class:`BoundedHeadProtocol` counts the
bytes received while a request's head is incomplete and answers 400, closing the connection, once they pass
:data:`MAX_HEADER_BYTES`.
"""

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024
"""Largest request head accepted (request line plus headers); larger heads get 400 before they fill memory."""


class BoundedHeadProtocol(HttpToolsProtocol):
    """httptools, refusing a request whose head passes :data:`MAX_HEADER_BYTES`.

    Bytes are counted from the first chunk received while a head is incomplete until the parser reports
    the headers complete, so the head held in memory stays under the bound plus one read (at most 256 KiB).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
            self.logger.warning("Request head over %d bytes refused.", MAX_HEADER_BYTES)
            self.send_400_response(f"Request head too large: send at most {MAX_HEADER_BYTES} bytes of headers.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()
