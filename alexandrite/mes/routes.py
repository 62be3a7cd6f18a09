"""The MES HTTP routes (DESIGN.md §2): one-liners, every decision is in ``MesHandlers``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query

from alexandrite.common.problems import problem_responses
from alexandrite.mes.domain import JobStatus
from alexandrite.mes.runtime import HandlersDep
from alexandrite.mes.schemas import FailRequest, JobView, StartRequest

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("", summary="Production jobs, newest first")
async def list_jobs(
    handlers: HandlersDep,
    status: JobStatus | None = None,
    order_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobView]:
    return await handlers.find_jobs(status, order_id, limit)


@router.get("/{job_id}", summary="One production job", responses=problem_responses(404))
async def get_job(job_id: uuid.UUID, handlers: HandlersDep) -> JobView:
    return await handlers.read_job(job_id)


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
    handlers: HandlersDep,
    body: Annotated[StartRequest | None, Body()] = None,
) -> JobView:
    return await handlers.start_job(job_id, body.printer if body is not None else None)


@router.post(
    "/{job_id}/complete",
    summary="A job in production is done",
    responses=problem_responses(404, 409),
)
async def complete_job(job_id: uuid.UUID, handlers: HandlersDep) -> JobView:
    return await handlers.complete_job(job_id)


@router.post(
    "/{job_id}/fail",
    summary="A queued or printing job failed",
    responses=problem_responses(404, 409),
)
async def fail_job(job_id: uuid.UUID, body: FailRequest, handlers: HandlersDep) -> JobView:
    return await handlers.fail_job(job_id, body.reason)
