"""Secrets in query strings (``?access_token=…``) masked before a URL is logged or audited.

A client that puts its token in the URL instead of the Authorization header must not leave it
in the audit log, the JSON logs or the spans. Parameter names are matched case-insensitively,
whole (``token``, ``password``) or as a suffix (``refresh_token``, ``db_password``); the value
is replaced, the name kept, so the audit still shows that a secret was sent.
"""

from __future__ import annotations

import re

__all__ = ["REDACTED", "redact_query", "redact_url"]

REDACTED = "[redacted]"

# name=value pairs, split on & and ; as browsers and frameworks do.
_SECRET_NAME = re.compile(
    r"(?:^|[_.-])(?:access[_.-]?token|token|password|passwd|pwd|secret|api[_.-]?key|apikey|"
    r"auth|authorization|session|sid|signature|sig|code|jwt|key|credentials?)$",
    re.IGNORECASE,
)
_PAIR = re.compile(r"(^|[&;])([^&;=]*)=([^&;]*)")


def _plain_name(raw: str) -> str:
    # %5F is "_", "+" a space: decode the few escapes a name plausibly uses before matching.
    name = raw.replace("+", " ")
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), name).strip()


def redact_query(query: str) -> str:
    """`query` with the values of secret-looking parameters replaced by ``[redacted]``."""
    if "=" not in query:
        return query

    def mask(match: re.Match[str]) -> str:
        separator, name, value = match.groups()
        if value and _SECRET_NAME.search(_plain_name(name)):
            return f"{separator}{name}={REDACTED}"
        return match.group(0)

    return _PAIR.sub(mask, query)


def redact_url(url: str) -> str:
    """A path or URL with its query string's secrets masked (the fragment is dropped)."""
    base, question, rest = url.partition("?")
    if not question:
        return url
    query = rest.partition("#")[0]
    return f"{base}?{redact_query(query)}"
