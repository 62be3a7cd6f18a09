"""The file storage's use cases: take an upload (stream, store, check, measure, record) and serve
stored models.

An upload leaves either a complete row with its file, or nothing: whatever fails after the bytes
are stored (a broken model, a timeout, the database, a cancelled request) deletes the file.
The business spans (DESIGN.md §3) are made here, where their figures are known:

    files.upload                 model.id, model.size_bytes, model.format, upload.duration_ms,
    ├── files.storage.write      upload.throughput_mib_s; storage.backend, model.size_bytes
    └── files.model.analysis     model.id, model.format, model.triangles, model.volume_cm3,
                                 model.watertight, analysis.duration_ms (ERROR on a bad model)
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio
from opentelemetry import trace
from opentelemetry.trace import Span

from alexandrite.common.errors import InvalidInput
from alexandrite.common.faults import Faults, note_injected
from alexandrite.common.unit_of_work import UnitOfWorkFactory
from alexandrite.files.analysis import ModelAnalysis
from alexandrite.files.analysis_pool import AnalysisPool
from alexandrite.files.errors import ModelNotFound, ModelTooLarge
from alexandrite.files.formats import ModelFormat, detect_file_format
from alexandrite.files.metrics import FilesMetrics, failure_reason
from alexandrite.files.storage import LocalDiskStore, StoredBlob
from alexandrite.files.store import StoredModel, get_model
from alexandrite.files.upload_form import MULTIPART_OVERHEAD_BYTES, UploadForm

__all__ = ["MEDIA_TYPES", "FilesHandlers", "ModelContent"]

_tracer = trace.get_tracer("alexandrite.files")
_MIB = 1024 * 1024

# IANA's registered media types for the three formats.
MEDIA_TYPES = {
    ModelFormat.STL: "model/stl",
    ModelFormat.OBJ: "model/obj",
    ModelFormat.THREE_MF: "model/3mf",
}


@dataclass(frozen=True, slots=True)
class ModelContent:
    """What the download route needs to send a stored model's file."""

    path: Path
    media_type: str
    sha256: str
    filename: str


class FilesHandlers:
    def __init__(
        self,
        units_of_work: UnitOfWorkFactory,
        store: LocalDiskStore,
        analysis: AnalysisPool,
        max_upload_bytes: int,
        metrics: FilesMetrics | None = None,
        faults: Faults | None = None,
    ) -> None:
        self._units_of_work = units_of_work
        self._store = store
        self._analysis = analysis
        self._max_upload_bytes = max_upload_bytes
        self._metrics = metrics
        self._faults = faults

    async def upload(
        self, body: AsyncIterator[bytes], content_type: str | None, content_length: str | None
    ) -> StoredModel:
        """Store the ``file`` field of a multipart body, analyse it and record it."""
        with _tracer.start_as_current_span("files.upload") as span:
            self._refuse_declared_oversize(content_length)
            form = UploadForm(body, content_type, self._max_upload_bytes)
            started = time.perf_counter()
            with _tracer.start_as_current_span(
                "files.storage.write", attributes={"storage.backend": "local"}
            ) as write_span:
                blob = await self._store.write(form.file_chunks(), self._max_upload_bytes)
                write_span.set_attributes(
                    {"model.id": blob.key, "model.size_bytes": blob.size_bytes}
                )
            upload_ms = _elapsed_ms(started)
            if self._metrics is not None:
                self._metrics.upload.observe(upload_ms / 1000)
            span.set_attributes(
                {
                    "model.id": blob.key,
                    "model.size_bytes": blob.size_bytes,
                    "upload.duration_ms": upload_ms,
                    "upload.throughput_mib_s": round(
                        blob.size_bytes / _MIB / max(upload_ms / 1000, 1e-6), 2
                    ),
                }
            )
            try:
                return await self._analyse_and_record(blob, form.filename, upload_ms, span)
            except BaseException:
                # Shielded: a cancelled request must still not leave a file nobody knows of.
                with anyio.CancelScope(shield=True):
                    await self._store.delete(blob.key)
                raise

    async def get(self, model_id: uuid.UUID) -> StoredModel:
        trace.get_current_span().set_attribute("model.id", str(model_id))
        async with self._units_of_work() as uow:
            model = await get_model(uow.session, model_id)
            # Detached before the read-only transaction is rolled back, which would expire it.
            uow.session.expunge(model)
            return model

    async def content(self, model_id: uuid.UUID) -> ModelContent:
        model = await self.get(model_id)
        key = str(model.id)
        path = self._store.path_for(key)
        if not await asyncio.to_thread(path.is_file):
            raise ModelNotFound(key)
        fmt = ModelFormat(model.format)
        return ModelContent(
            path=path,
            media_type=MEDIA_TYPES[fmt],
            sha256=model.sha256,
            filename=model.filename or f"model-{key}.{fmt.value}",
        )

    def _refuse_declared_oversize(self, content_length: str | None) -> None:
        # Refused before a byte of the body is read: no point receiving what will be thrown away.
        if content_length is None:
            return  # chunked: the stream is counted as it arrives instead
        try:
            declared = int(content_length)
        except ValueError:
            raise InvalidInput(f"Content-Length {content_length!r} is not a number") from None
        if declared > self._max_upload_bytes + MULTIPART_OVERHEAD_BYTES:
            raise ModelTooLarge(self._max_upload_bytes)

    async def _analyse_and_record(
        self, blob: StoredBlob, filename: str | None, upload_ms: float, upload_span: Span
    ) -> StoredModel:
        async with self._store.local_copy(blob.key) as path:
            started = time.perf_counter()
            with _tracer.start_as_current_span(
                "files.model.analysis", attributes={"model.id": blob.key}
            ) as span:
                try:
                    await self._slow_analysis_fault()
                    detection = await asyncio.to_thread(detect_file_format, path, filename)
                    fmt = detection.format
                    span.set_attribute("model.format", fmt.value)
                    upload_span.set_attribute("model.format", fmt.value)
                    analysis = await self._analysis.analyse(path, fmt)
                except Exception as error:
                    self._count_failure(error)
                    raise
                finally:
                    analysis_ms = _elapsed_ms(started)
                    span.set_attribute("analysis.duration_ms", analysis_ms)
                    if self._metrics is not None:
                        self._metrics.analysis.observe(analysis_ms / 1000)
                span.set_attributes(_analysis_attributes(analysis))
        model = StoredModel(
            id=uuid.UUID(blob.key),
            sha256=blob.sha256,
            size_bytes=blob.size_bytes,
            format=analysis.kind.model_format.value,
            format_kind=analysis.kind.value,
            filename=filename,
            triangles=analysis.triangles,
            volume_cm3=analysis.volume_cm3,
            bbox_mm=list(analysis.bbox_mm),
            watertight=analysis.watertight,
            upload_ms=upload_ms,
            analysis_ms=analysis_ms,
        )
        async with self._units_of_work() as uow:
            uow.session.add(model)
            await uow.commit()
        return model

    async def _slow_analysis_fault(self) -> None:
        delay = self._faults.slow_analysis_s if self._faults is not None else 0.0
        if delay > 0:
            note_injected("slow_analysis", delay)
            await asyncio.sleep(delay)

    def _count_failure(self, error: Exception) -> None:
        reason = failure_reason(error)
        if self._metrics is not None and reason is not None:
            self._metrics.failures.labels(reason=reason).inc()


def _analysis_attributes(analysis: ModelAnalysis) -> dict[str, int | float | bool]:
    attributes: dict[str, int | float | bool] = {
        "model.triangles": analysis.triangles,
        "model.watertight": analysis.watertight,
    }
    # An open mesh has no volume: the attribute is left out rather than set to a fake 0.
    if analysis.volume_cm3 is not None:
        attributes["model.volume_cm3"] = analysis.volume_cm3
    return attributes


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
