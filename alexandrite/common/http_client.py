"""Calls between services: one pooled httpx client per target, problem+json mapped to our errors.

Every request carries our internal credential (``telemetry.internal_credential``), so that the
callee keeps this call's trace context and ``order.id`` baggage: without it, a service's public
edge treats the call as a stranger's and starts a new trace. A successful call is folded into the
current span instead of being a client span of its own (``telemetry.internal_calls``).
"""

from __future__ import annotations

import contextlib

import httpx

from alexandrite.common.errors import DependencyFailed, error_for_status
from alexandrite.common.settings import TelemetrySettings
from alexandrite.common.telemetry.internal_calls import InternalCall
from alexandrite.common.telemetry.internal_credential import InternalCredential

__all__ = ["ServiceClient", "raise_for_problem"]


def raise_for_problem(response: httpx.Response, what: str) -> None:
    """Turn a 4xx/5xx answer into the error class of its status, keeping the callee's detail."""
    if response.is_success:
        return
    detail = response.text[:500]
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        with contextlib.suppress(ValueError):
            detail = str(response.json().get("detail", detail))
    raise error_for_status(response.status_code, f"{what}: {detail}")


class ServiceClient:
    """Base of the typed clients: owns the connection pool and maps transport failures."""

    def __init__(
        self,
        base_url: str,
        service: str,
        timeout_s: float = 10.0,
        credential: InternalCredential | None = None,
    ) -> None:
        self.service = service
        if credential is None:
            credential = InternalCredential.from_file(TelemetrySettings().internal_token_file)
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers=credential.headers(),
            timeout=httpx.Timeout(timeout_s, connect=2.0),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        )

    def call(self, method: str, url: str) -> InternalCall:
        """The span record of one call (see ``telemetry.internal_calls``); send its headers."""
        return InternalCall(method, str(self.http.base_url.join(url)))

    async def request(self, method: str, url: str, what: str, **kwargs: object) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})  # type: ignore[call-overload]
        try:
            with self.call(method, url) as call:
                response = await self.http.request(
                    method,
                    url,
                    headers={**headers, **call.headers},
                    **kwargs,  # type: ignore[arg-type]
                )
                call.answered(response.status_code)
        except httpx.TimeoutException as exc:
            raise DependencyFailed(f"{self.service} did not answer in time ({what})") from exc
        except httpx.TransportError as exc:
            raise DependencyFailed(f"{self.service} is unreachable ({what}): {exc}") from exc
        raise_for_problem(response, what)
        return response

    async def close(self) -> None:
        await self.http.aclose()
