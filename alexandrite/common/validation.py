"""Constraints on text from clients that the request models must check, not the database.

PostgreSQL cannot store two kinds of Python strings: one holding the NUL character (refused in
``text``/``varchar`` columns and in ``jsonb``, hence in the outbox) and one holding a lone UTF-16
surrogate (``"\\ud800"`` is valid JSON, and Python's JSON parser accepts it, but it has no UTF-8
encoding). Pydantic's ``str`` lets both through (it refuses surrogates only when a length or
pattern constraint happens to be checked in its core), so they would fail at commit as a 500.
Every free-text field of a request body is therefore a ``PlainText``: such a string is a 422
like any other invalid input.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

__all__ = ["PlainText", "storable_text"]


def storable_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogate code points)") from None
    return value


PlainText = Annotated[str, AfterValidator(storable_text)]
