"""The CRM's request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from alexandrite.common.validation import PlainText

__all__ = [
    "ApproveRequest",
    "ComplaintCreate",
    "ComplaintView",
    "HistoryEntry",
    "RejectRequest",
    "ReviewDetail",
    "ReviewSummary",
]


class ReviewSummary(BaseModel):
    """One line of the managers' list; ``id`` is the order id."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: str
    price: Decimal | None
    currency: str
    material: str
    quantity: int
    model_id: uuid.UUID | None
    volume_cm3: float | None
    created_at: datetime


class HistoryEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: str
    at: datetime
    reason: str | None = None


class ReviewDetail(ReviewSummary):
    notes: str | None
    model_sha256: str | None
    triangles: int | None
    watertight: bool | None
    decided_by: str | None
    reason: str | None
    decided_at: datetime | None
    updated_at: datetime
    history: list[HistoryEntry] = []


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Without a price the computed quote is used.
    price: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=2)
    manager: PlainText | None = Field(default=None, min_length=1, max_length=200)


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: PlainText = Field(min_length=1, max_length=2000, pattern=r"\S")
    manager: PlainText | None = Field(default=None, min_length=1, max_length=200)


class ComplaintCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: uuid.UUID
    text: PlainText = Field(min_length=1, max_length=5000, pattern=r"\S")


class ComplaintView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    order_id: uuid.UUID
    text: str
    status: str
    created_at: datetime
