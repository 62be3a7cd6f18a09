"""The Shop's request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictInt

from alexandrite.common.validation import PlainText

__all__ = [
    "CancelRequest",
    "Customer",
    "HistoryEntry",
    "OrderCreate",
    "OrderCreated",
    "OrderView",
]


class Customer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PlainText = Field(min_length=1, max_length=200)
    email: EmailStr
    phone: str | None = Field(default=None, max_length=50, pattern=r"^[0-9+()\-. ]{3,50}$")


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: Customer
    material: PlainText = Field(min_length=1, max_length=20, examples=["PLA"])
    # Strict: "1" or true is a client bug to report, not a quantity to guess (422).
    quantity: StrictInt = Field(ge=1, le=1000)
    notes: PlainText | None = Field(default=None, max_length=2000)


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Without a reason the customer sees "cancelled by the customer".
    reason: PlainText | None = Field(
        default=None, min_length=1, max_length=2000, examples=["changed my mind"]
    )


class OrderCreated(BaseModel):
    id: uuid.UUID
    status: str


class HistoryEntry(BaseModel):
    status: str
    at: datetime
    reason: str | None = None


class OrderView(BaseModel):
    id: uuid.UUID
    status: str
    material: str
    quantity: int
    model_id: uuid.UUID | None
    model: dict[str, Any] | None = None
    price: Decimal | None
    currency: str
    reason: str | None = None
    created_at: datetime
    history: list[HistoryEntry]


class ModelUploaded(BaseModel):
    order_id: uuid.UUID
    model_id: uuid.UUID
    sha256: str
    size_bytes: int
    format: str
    analysis: dict[str, Any]
