"""The MES's request and response bodies (the events it consumes are in
alexandrite.common.contracts)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from alexandrite.common.validation import PlainText
from alexandrite.mes.domain import JobStatus

__all__ = ["FailRequest", "JobView", "StartRequest"]


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
