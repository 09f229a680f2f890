"""The security headers every response carries: API answers, errors, the dashboard, the docs, static files.

The Content-Security-Policy allows nothing but the service's own origin (images also as ``data:`` URLs,
which Swagger UI's stylesheet uses for its icons): no other host, no inline script or style, no eval, no
plugins, and no framing (``frame-ancestors 'none'``, with ``X-Frame-Options: DENY`` for older browsers).
``Referrer-Policy: no-referrer``: the service's URLs hold publication names and dashboard choices, and no
part of it needs a ``Referer``, so none is sent, even to its own origin.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
"""Header name -> value, as sent on every response (also by :mod:`producer.http_protocol`'s own answers)."""

_RAW_HEADERS = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS.items()]


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to each response that does not set them itself (pure ASGI, so streamed
    and file responses get them too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in _RAW_HEADERS if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
