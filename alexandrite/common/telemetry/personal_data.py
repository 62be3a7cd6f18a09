"""The personal-data deny-list: customer names, e-mails, phones and addresses never leave the
process as span attributes or event attributes (the Collector redacts a second time).

Network attributes of the semantic conventions (``server.address``, ``client.address``…) are
addresses of machines, not of people, and are kept. URLs are kept too, with the secrets of their
query string (``?access_token=…``) masked (``alexandrite.common.query_secrets``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from alexandrite.common.query_secrets import redact_query, redact_url

__all__ = ["REDACTED", "is_personal_key", "redact_attributes"]

REDACTED = "[redacted]"

_PERSONAL_KEY = re.compile(
    r"(^|[._])(e-?mail|phone|telephone|mobile|first_?name|last_?name|full_?name|"
    r"street|postal_?code|zip_?code|home_?address|shipping_?address|billing_?address)([._]|$)"
    r"|^(customer|enduser|user|person|contact|recipient)\.(name|address|email|phone|id)$",
    re.IGNORECASE,
)
_NETWORK_KEYS = re.compile(
    r"^(server|client|network\.(peer|local)|net\.(peer|host|sock\.peer|sock\.host)|"
    r"source|destination|url|http)\.",
)
# Span attributes that hold a query string, alone or inside a URL or request target.
_QUERY_KEYS = frozenset({"url.query", "http.query"})
_URL_KEYS = frozenset({"url.full", "http.url", "http.target"})
_EMAIL_VALUE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def is_personal_key(key: str) -> bool:
    if _NETWORK_KEYS.match(key) and not key.startswith(("url.query", "http.request.body")):
        return False
    return bool(_PERSONAL_KEY.search(key))


def _redact_value(value: Any) -> Any:
    if isinstance(value, str) and _EMAIL_VALUE.search(value):
        return _EMAIL_VALUE.sub(REDACTED, value)
    if isinstance(value, tuple | list):
        return type(value)(_redact_value(item) for item in value)
    return value


def redact_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A copy without personal keys and with e-mail addresses masked in values; None for None."""
    if attributes is None:
        return None
    return {
        key: _redact_value(_without_query_secrets(key, value))
        for key, value in attributes.items()
        if not is_personal_key(key)
    }


def _without_query_secrets(key: str, value: Any) -> Any:
    if isinstance(value, str):
        if key in _QUERY_KEYS:
            return redact_query(value)
        if key in _URL_KEYS:
            return redact_url(value)
    return value
