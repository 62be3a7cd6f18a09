"""The gateway's own HTML pages: login, home, access refused, and the order journey (whose
contents live in console_pages).

Plain server-rendered HTML, every value escaped, no script (the Content-Security-Policy set for
these pages forbids scripts), forms that carry their CSRF token.
"""

from __future__ import annotations

from html import escape
from typing import Any

from alexandrite.gateway.console_pages import home_body, journey_body
from alexandrite.gateway.notifications import notifications_body
from alexandrite.gateway.principal import SUPPORT, Principal
from alexandrite.gateway.span_page import span_body

__all__ = [
    "denied_page",
    "home_page",
    "journey_page",
    "login_page",
    "notifications_page",
    "span_page",
]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222;padding:0 1rem}
header{display:flex;justify-content:space-between;align-items:center;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:1rem 0}td,th{border:1px solid #ddd;padding:.3rem}
.error{color:#a00}.muted{color:#777}label{display:block;margin:.5rem 0}
.verdict{font-size:1.2rem;padding:.6rem;border-left:.4rem solid #888;background:#f6f6f6}
.state-failed,.state-stalled,.state-rejected{border-color:#c33}.state-completed{border-color:#4a4}
svg text{font-family:system-ui,sans-serif}
input{padding:.3rem;font-size:1rem}button{padding:.3rem .8rem;font-size:1rem}
"""


def _layout(title: str, body: str, principal: Principal | None = None) -> str:
    user = ""
    if principal is not None:
        logout = ""
        if principal.csrf_token is not None:
            logout = (
                '<form method="post" action="/auth/logout" style="display:inline">'
                f'<input type="hidden" name="csrf_token" value="{escape(principal.csrf_token)}">'
                '<button type="submit">Log out</button></form>'
            )
        user = (
            f'<span id="user">{escape(principal.name)} '
            f'<span class="muted">({escape(principal.role_label)})</span> {logout}</span>'
        )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · Alexandrite support</title><style>{_STYLE}</style></head>"
        f'<body><header><h1><a href="/">Alexandrite support</a></h1>{user}</header>'
        f"<main><h2>{escape(title)}</h2>{body}</main></body></html>"
    )


def login_page(csrf_token: str, next_path: str = "/", error: str | None = None) -> str:
    message = f'<p class="error" id="error">{escape(error)}</p>' if error else ""
    body = (
        f"{message}"
        '<form method="post" action="/auth/login">'
        f'<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">'
        f'<input type="hidden" name="next" value="{escape(next_path)}">'
        '<label>User <input name="username" autocomplete="username" required autofocus></label>'
        '<label>Password <input name="password" type="password" '
        'autocomplete="current-password" required></label>'
        '<button type="submit">Log in</button></form>'
    )
    return _layout("Log in", body)


def denied_page(status: int, title: str, detail: str, next_path: str | None = None) -> str:
    link = ""
    if status == 401:
        target = escape(f"/auth/login?next={next_path or '/'}")
        link = f'<p><a id="login" href="{target}">Log in</a></p>'
    elif status == 403:
        link = (
            "<p>Only users with the <b>support</b> role see traces. Ask an administrator "
            "(<code>alexandrite users add NAME --role support --password-stdin</code>).</p>"
        )
    body = f'<p class="error" id="denied">{status}: {escape(detail)}</p>{link}'
    return _layout(title, body)


def home_page(
    principal: Principal, lists: dict[str, list[dict[str, Any]] | str] | None = None
) -> str:
    if principal.has(SUPPORT):
        body = home_body(lists or {})
    else:
        body = "<p>Your roles do not include <b>support</b>: traces are not shown to you.</p>"
    return _layout("Home", body, principal)


def journey_page(journey: dict[str, Any], principal: Principal) -> str:
    return _layout(f"Order journey {journey['order_id'][:8]}", journey_body(journey), principal)


def notifications_page(rows: list[dict[str, Any]] | str, principal: Principal) -> str:
    return _layout("Notifications", notifications_body(rows), principal)


def span_page(view: dict[str, Any], principal: Principal) -> str:
    return _layout(f"Span {view['name']}", span_body(view), principal)
