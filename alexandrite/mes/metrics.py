"""The MES's metrics (names: the monitoring contract): production jobs per status, and in each
open status since when the oldest job has been in it (queued: created; in_production: started).
"""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alexandrite.common.status_metrics import OrderStatusCollector
from alexandrite.mes.domain import TERMINAL, JobStatus
from alexandrite.mes.store import Job

__all__ = ["job_status_collector"]


def job_status_collector(sessions: async_sessionmaker[AsyncSession]) -> OrderStatusCollector:
    return OrderStatusCollector(
        sessions,
        Job.__table__.c.status,
        # A queued job has not started: its wait began when it was queued (created).
        func.coalesce(Job.started_at, Job.created_at),
        statuses=[status.value for status in JobStatus],
        terminal=[status.value for status in TERMINAL],
    )
