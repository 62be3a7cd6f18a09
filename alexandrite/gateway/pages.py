"""The gateway's own HTML pages: login, home, access refused, and the order journey.

Plain server-rendered HTML, every value escaped, no script (the Content-Security-Policy set for
these pages forbids scripts), forms that carry their CSRF token.
"""

from __future__ import annotations

from html import escape
from typing import Any

from alexandrite.gateway.principal import SUPPORT, Principal

__all__ = ["denied_page", "home_page", "journey_page", "login_page"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222;padding:0 1rem}
header{display:flex;justify-content:space-between;align-items:center;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:1rem 0}td,th{border:1px solid #ddd;padding:.3rem}
.error{color:#a00}.muted{color:#777}label{display:block;margin:.5rem 0}
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
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
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


def home_page(principal: Principal) -> str:
    if principal.has(SUPPORT):
        body = (
            '<ul><li><a id="zipkin" href="/zipkin/">Zipkin: search traces '
            "(<code>order.id=&lt;id&gt;</code>)</a></li></ul>"
            '<form method="get" action="/orders/lookup"><label>Order id '
            '<input name="order_id" size="40" required></label>'
            '<button type="submit">Show the journey</button></form>'
        )
    else:
        body = "<p>Your roles do not include <b>support</b>: traces are not shown to you.</p>"
    return _layout("Home", body, principal)


def _rows(items: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    head = "".join(f"<th>{escape(label)}</th>" for _, label in columns)
    cells = (
        "".join(f"<td>{escape(str(item.get(key, '')))}</td>" for key, _ in columns)
        for item in items
    )
    body = "".join(f"<tr>{row}</tr>" for row in cells)
    return f"<table><tr>{head}</tr>{body}</table>"


def journey_page(journey: dict[str, Any], principal: Principal) -> str:
    traces = "".join(
        f'<tr><td><a href="{escape(t["zipkin_url"])}">{escape(t["trace_id"])}</a></td>'
        f"<td>{escape(str(t['root']['service']))}: {escape(str(t['root']['name']))}</td>"
        f"<td>{escape(t['start'])}</td><td>{t['duration_ms']}</td><td>{t['spans']}</td>"
        f"<td>{t['errors']}</td><td>{escape(', '.join(t['services']))}</td></tr>"
        for t in journey["traces"]
    )
    body = (
        f'<p>Order <code id="order-id">{escape(journey["order_id"])}</code>: status '
        f'<b id="status">{escape(journey["status"])}</b>'
        f"{'' if journey['terminal'] else ' (in progress)'}. "
        f'<a id="zipkin-search" href="{escape(journey["zipkin_search_url"])}">'
        "Search it in Zipkin</a></p>"
        "<h3>Time per status</h3>"
        + _rows(journey["steps"], [("status", "status"), ("at", "since"),
                                   ("duration_s", "seconds"), ("current", "current")])
        + f"<h3>Traces ({len(journey['traces'])}, {journey['span_count']} spans)</h3>"
        "<table><tr><th>trace</th><th>root</th><th>start</th><th>ms</th><th>spans</th>"
        f"<th>errors</th><th>services</th></tr>{traces}</table>"
        f"<h3>Errors ({journey['error_count']})</h3>"
        + _rows(journey["errors"], [("service", "service"), ("name", "span"), ("error", "error"),
                                    ("trace_id", "trace")])
    )
    return _layout(f"Order journey {journey['order_id'][:8]}", body, principal)
