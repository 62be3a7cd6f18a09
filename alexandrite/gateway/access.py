"""Who may pass: credentials from the session cookie or a bearer token, role checks, CSRF
checks, and the 401/403/429 answers (an HTML page for a browser, problem+json otherwise)."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from alexandrite.common.problems import problem_response
from alexandrite.gateway.accounts import Accounts, Resolution
from alexandrite.gateway.audit_middleware import audit_context
from alexandrite.gateway.pages import denied_page
from alexandrite.gateway.principal import Principal

__all__ = [
    "SESSION_COOKIE",
    "AccessDenied",
    "check_csrf_token",
    "check_same_origin",
    "identify",
    "install_access_handlers",
    "require_role",
    "wants_html",
]

# __Host-: the browser only accepts it Secure, for path /, without a Domain.
SESSION_COOKIE = "__Host-alexandrite-session"

_TITLES = {
    400: "Bad request",
    401: "Not logged in",
    403: "Access refused",
    429: "Too many attempts",
}


class AccessDenied(Exception):
    def __init__(self, status: int, detail: str, retry_after_s: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after_s = retry_after_s


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api/") or path.startswith("/zipkin/api/"):
        return False
    return "text/html" in request.headers.get("accept", "")


async def identify(request: Request, accounts: Accounts) -> Resolution:
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return Resolution(None, "malformed Authorization header (expected Bearer)")
        return await accounts.resolve_token(value.strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return await accounts.resolve_session(cookie)
    return Resolution(None, "no credentials")


async def require_role(request: Request, accounts: Accounts, role: str | None) -> Principal:
    """The principal of the request if it holds `role` (any logged-in user when None)."""
    resolution = await identify(request, accounts)
    context = audit_context(request)
    principal = resolution.principal
    if principal is None:
        context.actor = resolution.claimed
        context.detail = resolution.reason
        raise AccessDenied(401, f"log in first ({resolution.reason})")
    context.actor = principal.name
    context.role = principal.role_label
    context.detail = f"via {principal.via}"
    if role is not None and not principal.has(role):
        context.detail = f"via {principal.via}; role {role} required"
        raise AccessDenied(403, f"the {role} role is required")
    return principal


def check_same_origin(request: Request) -> None:
    """Refuse a state-changing request that a browser sent from another site."""
    origin = request.headers.get("origin")
    expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin is not None and origin != expected:
        raise AccessDenied(403, "cross-site request refused")
    if request.headers.get("sec-fetch-site", "same-origin") not in {"same-origin", "none"}:
        raise AccessDenied(403, "cross-site request refused")


def check_csrf_token(expected: str | None, given: str | None) -> None:
    if not expected or not given or not secrets.compare_digest(expected, given):
        raise AccessDenied(403, "missing or wrong CSRF token: reload the page and try again")


def install_access_handlers(app: FastAPI) -> None:
    async def on_denied(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AccessDenied)
        title = _TITLES.get(exc.status, "Refused")
        headers: dict[str, str] = {}
        if exc.status == 401:
            headers["www-authenticate"] = 'Bearer realm="alexandrite-support"'
        if exc.retry_after_s is not None:
            headers["retry-after"] = str(exc.retry_after_s)
        if wants_html(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            page = denied_page(exc.status, title, exc.detail, quote(target, safe="/"))
            return HTMLResponse(page, status_code=exc.status, headers=headers)
        response = problem_response(
            exc.status,
            {
                "type": f"https://alexandrite.example/problems/{title.lower().replace(' ', '-')}",
                "title": title,
                "status": exc.status,
                "detail": exc.detail,
                "instance": request.url.path,
            },
        )
        response.headers.update(headers)
        return response

    app.add_exception_handler(AccessDenied, on_denied)
