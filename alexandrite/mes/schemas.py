"""The MES's request and response bodies, and the data of the events it consumes."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from alexandrite.common.validation import PlainText
from alexandrite.mes.domain import JobStatus

__all__ = ["ApprovedOrder", "FailRequest", "JobView", "StartRequest"]


class ApprovedOrder(BaseModel):
    """The data of ``order.approved`` (DESIGN.md §2)."""

    model_config = ConfigDict(extra="ignore")

    order_id: uuid.UUID
    price: Decimal | None = None
    currency: str | None = None
    material: str = Field(min_length=1, max_length=20)
    # Strict, like the Shop's OrderCreate: a quantity of "1" or true is refused, not coerced.
    quantity: StrictInt = Field(ge=1)
    model_id: uuid.UUID
    model_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    volume_cm3: StrictFloat | None = None


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    printer: PlainText | None = Field(
        default=None, min_length=1, max_length=50, examples=["printer-1"]
    )


class FailRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: PlainText = Field(min_length=1, max_length=500, examples=["nozzle clog"])


class JobView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    order_id: uuid.UUID
    status: JobStatus
    printer: str | None
    reason: str | None
    material: str
    quantity: int
    model_id: uuid.UUID
    volume_cm3: float | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
