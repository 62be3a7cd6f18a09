"""The file storage's table: one row per stored model, keyed by its blob key (a UUID)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, Integer, String, func, select
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from alexandrite.common.errors import NotFound
from alexandrite.common.messaging.tables import messaging_tables

__all__ = ["FILENAME_MAX", "Base", "StoredModel", "get_model", "tables"]

FILENAME_MAX = 255


class Base(DeclarativeBase):
    """This service's own metadata: its own database."""


class StoredModel(Base):
    __tablename__ = "models"

    # The same UUID names the blob in the store: one id, no mapping table.
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(10))
    format_kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str | None] = mapped_column(String(FILENAME_MAX))
    triangles: Mapped[int] = mapped_column(Integer)
    # None when the mesh is open: an open mesh has no volume.
    volume_cm3: Mapped[float | None] = mapped_column(Float)
    bbox_mm: Mapped[list[float]] = mapped_column(JSONB)
    watertight: Mapped[bool] = mapped_column(Boolean)
    upload_ms: Mapped[float] = mapped_column(Float)
    analysis_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# The service publishes no events yet; the tables keep every service's schema alike.
tables = messaging_tables(Base.metadata)


async def get_model(session: AsyncSession, model_id: uuid.UUID) -> StoredModel:
    found = (
        await session.execute(select(StoredModel).where(StoredModel.id == model_id))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"model {model_id} does not exist", model_id=str(model_id))
    return found
