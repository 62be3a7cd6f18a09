"""Response headers that every gateway response carries (HSTS, no sniffing, no framing), and a
strict Content-Security-Policy on the gateway's own pages (the Zipkin UI brings its scripts)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeadersMiddleware"]

_ALWAYS = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # Not no-referrer: with it Chromium sends "Origin: null" on same-site form posts.
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
_OWN_PAGES = {
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    # Traces and journeys are personal to a support session: never cached.
    "cache-control": "no-store",
}
_ZIPKIN = {"content-security-policy": "frame-ancestors 'none'"}


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _ZIPKIN if scope["path"].startswith("/zipkin/") else _OWN_PAGES

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in (_ALWAYS | extra).items():
                    if name == "cache-control" and name in headers:
                        continue
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
