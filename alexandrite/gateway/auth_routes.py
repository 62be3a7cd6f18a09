"""Logging in and out: the login page, ``POST /auth/login`` and ``POST /auth/logout``.

Login forms are CSRF-safe by a double-submit token (a ``__Host-`` cookie and a hidden field
that must match) plus an Origin check; the session cookie is Secure, HttpOnly, SameSite=Strict.
Scripts may post the form without the token (they carry no cookies a site could abuse).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alexandrite.gateway import credentials
from alexandrite.gateway.access import (
    SESSION_COOKIE,
    AccessDenied,
    check_csrf_token,
    check_same_origin,
    identify,
    require_role,
    wants_html,
)
from alexandrite.gateway.audit_log import printable
from alexandrite.gateway.audit_middleware import audit_context
from alexandrite.gateway.order_lists import console_lists
from alexandrite.gateway.pages import home_page, login_page
from alexandrite.gateway.principal import SUPPORT
from alexandrite.gateway.runtime import RuntimeDep

__all__ = ["router"]

LOGIN_CSRF_COOKIE = "__Host-alexandrite-login"

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_form(next_path: str, error: str | None = None, status: int = 200) -> HTMLResponse:
    token = credentials.new_secret()
    response = HTMLResponse(login_page(token, _safe_next(next_path), error), status_code=status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, max_age=3600, secure=True, httponly=True, samesite="strict"
    )
    return response


@router.get("/auth/login", response_class=HTMLResponse, include_in_schema=False)
async def login_form(next: str = "/") -> HTMLResponse:
    return _login_form(next)


@router.post("/auth/login", summary="Log in (form: username, password); sets a session cookie")
async def login(
    request: Request,
    runtime: RuntimeDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str | None, Form()] = None,
    next: Annotated[str, Form()] = "/",
) -> Response:
    context = audit_context(request)
    context.actor = username
    if printable(username) != username:
        # A NUL byte cannot even be looked up (PostgreSQL text holds none): refuse, audited.
        context.result, context.detail = "refused", "control character in the user name"
        raise AccessDenied(400, "the user name holds a control character")
    context.result = "failure"
    context.detail = "cross-site or CSRF check failed"
    check_same_origin(request)
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE)
    if cookie_token is not None or csrf_token is not None:
        check_csrf_token(cookie_token, csrf_token)
    address = request.client.host if request.client else "unknown"
    refusal = await runtime.limits.refusal(username, address)
    if refusal is not None:
        context.result, context.detail = "rate_limited", refusal.reason
        raise AccessDenied(429, refusal.reason, retry_after_s=refusal.retry_after_s)
    user, reason = await runtime.accounts.check_password(username, password)
    if user is None:
        await runtime.limits.failed(username, address)
        context.detail = reason
        message = "wrong user name or password"
        if wants_html(request):
            return _login_form(next, message, status=401)
        raise AccessDenied(401, message)
    await runtime.limits.succeeded(username, address)
    cookie, principal = await runtime.accounts.open_session(user, runtime.settings.session_ttl_s)
    context.result, context.role, context.detail = "success", principal.role_label, reason
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=runtime.settings.session_ttl_s,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, secure=True, httponly=True, samesite="strict")
    return response


@router.post("/auth/logout", summary="Log out (form field or X-CSRF-Token: the session's token)")
async def logout(
    request: Request,
    runtime: RuntimeDep,
    csrf_token: Annotated[str | None, Form()] = None,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> Response:
    principal = await require_role(request, runtime.accounts, None)
    if principal.session_hash is None:
        return Response(status_code=204)  # a bearer token has no session to end
    check_same_origin(request)
    check_csrf_token(principal.csrf_token, csrf_token or x_csrf_token)
    await runtime.accounts.close_session(principal.session_hash)
    audit_context(request).result = "success"
    response = RedirectResponse("/auth/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, secure=True, httponly=True, samesite="strict")
    return response


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def home(request: Request, runtime: RuntimeDep) -> Response:
    resolution = await identify(request, runtime.accounts)
    context = audit_context(request)
    principal = resolution.principal
    if principal is None:
        context.result, context.detail = "denied", "not logged in: sent to the login page"
        return RedirectResponse("/auth/login", status_code=303)
    context.actor, context.role = principal.name, principal.role_label
    if not principal.has(SUPPORT):
        context.detail = "no lists shown: role support required"
        return HTMLResponse(home_page(principal))
    context.detail = f"via {principal.via}; lists stalled, failed, slowest"
    return HTMLResponse(home_page(principal, await console_lists(runtime.lists)))
