"""``BodyLimit``: an ASGI middleware that refuses a request body past a limit, before reading it.

FastAPI reads a JSON body whole (``await request.body()``) and parses it before the route or
its schema can say no: a 100 MB body costs the process 100 MB of bytes and far more of Python
objects, and eight at once took the Shop to a gigabyte. This middleware stands in front: a
declared ``Content-Length`` past the limit is answered 413 (problem+json) without a byte of the
body read; a chunked body is received up to the limit, and past it refused the same way. What
it let through is replayed to the app as it arrived, so the app sees the same ASGI messages.

Routes that stream their bodies under their own, larger bound (the model uploads) are named in
``streamed_paths``, as route templates (``/api/v1/orders/{order_id}/model``), and passed
through untouched.

The limit is a setting shared by every service: ``ALEXANDRITE_MAX_JSON_BODY_BYTES``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alexandrite.common.errors import InvalidInput, PayloadTooLarge
from alexandrite.common.problems import problem_response

__all__ = ["BodyLimit", "BodyLimitSettings", "install_body_limit"]

_PARAMETER = re.compile(r"\{[^/{}]+\}")


def _template_pattern(template: str) -> re.Pattern[str]:
    """``/api/v1/orders/{order_id}/model`` as a pattern: each {parameter} is one path segment."""
    parts = _PARAMETER.split(template)
    return re.compile("^" + "[^/]+".join(re.escape(part) for part in parts) + "$")


class BodyLimitSettings(BaseSettings):
    """The request body limit of every service's JSON routes (prefix ``ALEXANDRITE_``)."""

    model_config = SettingsConfigDict(env_prefix="ALEXANDRITE_", extra="ignore")

    # Our largest JSON request (an order with its lines) is a few kilobytes.
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, streamed_paths: Collection[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streamed_paths = [_template_pattern(path) for path in streamed_paths]

    def _streams_itself(self, path: str) -> bool:
        return any(pattern.match(path) for pattern in self.streamed_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._streams_itself(scope["path"]):
            await self.app(scope, receive, send)
            return
        refusal = self._declared_refusal(scope)
        if refusal is None:
            received: list[Message] = []
            refusal = await self._receive_within_limit(receive, received)
        if refusal is not None:
            response = problem_response(
                refusal.status, refusal.to_problem(instance=scope["path"]), refusal
            )
            # The rest of the body is never read: the server closes the connection after this.
            response.headers["connection"] = "close"
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(received, receive), send)

    def _declared_refusal(self, scope: Scope) -> PayloadTooLarge | InvalidInput | None:
        for name, value in scope["headers"]:
            if name != b"content-length":
                continue
            try:
                declared = int(value)
            except ValueError:
                return InvalidInput(
                    f"Content-Length {value[:40].decode('latin-1')!r} is not a number"
                )
            if declared > self.max_bytes:
                return self._too_large()
        return None

    async def _receive_within_limit(
        self, receive: Receive, received: list[Message]
    ) -> PayloadTooLarge | None:
        total = 0
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                return None  # the client went away: the app will see the disconnect
            total += len(message.get("body", b""))
            if total > self.max_bytes:
                received.clear()
                return self._too_large()
            if not message.get("more_body", False):
                return None

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"the request body is larger than the limit of {self.max_bytes:,} bytes",
            max_bytes=self.max_bytes,
        )


def _replay(received: list[Message], receive: Receive) -> Receive:
    pending = list(received)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def install_body_limit(app: Any, streamed_paths: Collection[str] = ()) -> None:
    """Put ``BodyLimit`` in front of ``app``'s routes, with the limit from the settings."""
    settings = BodyLimitSettings()
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_json_body_bytes, streamed_paths=streamed_paths
    )
