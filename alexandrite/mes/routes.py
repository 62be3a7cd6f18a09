"""The MES HTTP routes (DESIGN.md §2): thin, every decision is in ``handlers``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query

from alexandrite.common.problems import problem_responses
from alexandrite.common.service import RuntimeDep, ServiceRuntime
from alexandrite.files.client import FilesClient
from alexandrite.mes import handlers
from alexandrite.mes.domain import JobStatus
from alexandrite.mes.schemas import FailRequest, JobView, StartRequest

__all__ = ["FILES_CLIENT", "router"]

FILES_CLIENT = "files"

router = APIRouter(prefix="/jobs", tags=["jobs"])


def _files(runtime: ServiceRuntime) -> FilesClient:
    client = runtime.extras[FILES_CLIENT]
    assert isinstance(client, FilesClient)
    return client


@router.get("", summary="Production jobs, newest first")
async def list_jobs(
    runtime: RuntimeDep,
    status: JobStatus | None = None,
    order_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobView]:
    return await handlers.find_jobs(runtime.units_of_work, status, order_id, limit)


@router.get("/{job_id}", summary="One production job", responses=problem_responses(404))
async def get_job(job_id: uuid.UUID, runtime: RuntimeDep) -> JobView:
    return await handlers.read_job(runtime.units_of_work, job_id)


@router.post(
    "/{job_id}/start",
    summary="Start a queued job on a printer after checking its model's sha256",
    responses=problem_responses(
        400,
        404,
        409,
        422,
        503,
        descriptions={
            400: "no printer of that name",
            409: "not queued, or the printer is busy",
            422: "the model is missing or corrupt: the job failed",
            503: "the file storage is down: the job stays queued",
        },
    ),
)
async def start_job(
    job_id: uuid.UUID,
    runtime: RuntimeDep,
    body: Annotated[StartRequest | None, Body()] = None,
) -> JobView:
    printer = body.printer if body is not None else None
    return await handlers.start_job(runtime.units_of_work, _files(runtime), job_id, printer)


@router.post(
    "/{job_id}/complete",
    summary="A job in production is done",
    responses=problem_responses(404, 409),
)
async def complete_job(job_id: uuid.UUID, runtime: RuntimeDep) -> JobView:
    return await handlers.complete_job(runtime.units_of_work, job_id)


@router.post(
    "/{job_id}/fail",
    summary="A queued or printing job failed",
    responses=problem_responses(404, 409),
)
async def fail_job(job_id: uuid.UUID, body: FailRequest, runtime: RuntimeDep) -> JobView:
    return await handlers.fail_job(runtime.units_of_work, job_id, body.reason)
