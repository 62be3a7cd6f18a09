"""``PlainText``: request text that PostgreSQL can store, or a validation error (a 422)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from alexandrite.common.validation import PlainText


class Note(BaseModel):
    text: PlainText = Field(max_length=20)
    optional: PlainText | None = None


@pytest.mark.parametrize("text", ["a\x00b", "\x00", "\ud800", "ok\udfff"])
def test_nul_characters_and_lone_surrogates_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        Note(text=text)
    with pytest.raises(ValidationError):
        Note(text="fine", optional=text)


@pytest.mark.parametrize("text", ["plain", "émoji 🖨", "tab\tnew\nline", "\U0001f600" * 10])
def test_any_other_unicode_text_is_accepted(text: str) -> None:
    assert Note(text=text).text == text


def test_the_other_constraints_still_apply() -> None:
    with pytest.raises(ValidationError):
        Note(text="x" * 21)
