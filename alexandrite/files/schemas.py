"""The file storage's response bodies (DESIGN.md §2: the model and its analysis)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from alexandrite.files.store import StoredModel

__all__ = ["AnalysisView", "ModelView"]


class AnalysisView(BaseModel):
    triangles: int
    volume_cm3: float | None = Field(description="null when the mesh is not watertight")
    bbox_mm: list[float] = Field(min_length=3, max_length=3, description="x, y, z extents in mm")
    watertight: bool


class ModelView(BaseModel):
    id: uuid.UUID
    sha256: str
    size_bytes: int
    format: str = Field(examples=["stl", "obj", "3mf"])
    analysis: AnalysisView
    filename: str | None = None
    upload_ms: float = Field(description="time to receive and store the bytes")
    analysis_ms: float = Field(description="time to check and measure the mesh")

    @classmethod
    def of(cls, model: StoredModel) -> ModelView:
        return cls(
            id=model.id,
            sha256=model.sha256,
            size_bytes=model.size_bytes,
            format=model.format,
            analysis=AnalysisView(
                triangles=model.triangles,
                volume_cm3=model.volume_cm3,
                bbox_mm=list(model.bbox_mm),
                watertight=model.watertight,
            ),
            filename=model.filename,
            upload_ms=model.upload_ms,
            analysis_ms=model.analysis_ms,
        )
