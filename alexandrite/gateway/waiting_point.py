"""Where an unfinished order waits right now, from live sources.

Each non-terminal status has one party expected to act next: the customer, a service's consumer
(then the state of its queue, from RabbitMQ's management API), a manager in the CRM, or the MES
(then its job and printer, from the MES jobs API). A live source that does not answer leaves its
numbers out and says so; it never fails the journey.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from alexandrite.common import contracts

__all__ = ["NEXT_ACTOR", "LiveSources", "NextActor"]


@dataclass(frozen=True)
class NextActor:
    service: str
    does: str
    queue: str | None = None
    awaits: str | None = None  # the routing key of the message that moves the order on


NEXT_ACTOR: dict[str, NextActor] = {
    "created": NextActor("customer", "upload a model and submit the order"),
    "submitted": NextActor(
        "crm-api",
        "take the order into review",
        contracts.CRM_QUEUE,
        contracts.OrderSubmitted.routing_key,
    ),
    "in_review": NextActor("crm-api", "a manager approves or rejects it"),
    "approved": NextActor(
        "mes-api",
        "queue a production job",
        contracts.MES_QUEUE,
        contracts.OrderApproved.routing_key,
    ),
    "queued": NextActor("mes-api", "start the job on a free printer"),
    "in_production": NextActor("mes-api", "finish the print"),
}


class LiveSources:
    """RabbitMQ's management API and the MES jobs API; owns neither client."""

    def __init__(self, rabbitmq: httpx.AsyncClient, mes: httpx.AsyncClient, vhost: str = "/"):
        self._rabbitmq = rabbitmq
        self._mes = mes
        self._vhost = vhost

    async def queue(self, name: str) -> dict[str, Any]:
        path = f"/api/queues/{quote(self._vhost, safe='')}/{quote(name, safe='')}"
        try:
            response = await self._rabbitmq.get(path)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return {"queue": name, "available": False, "error": f"RabbitMQ did not answer: {exc}"}
        return {
            "queue": name,
            "available": True,
            "ready": int(body.get("messages_ready", 0) or 0),
            "unacked": int(body.get("messages_unacknowledged", 0) or 0),
            "consumers": int(body.get("consumers", 0) or 0),
        }

    async def job(self, order_id: uuid.UUID) -> dict[str, Any]:
        try:
            response = await self._mes.get("/api/v1/jobs", params={"order_id": str(order_id)})
            response.raise_for_status()
            jobs = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return {"available": False, "error": f"the MES did not answer: {exc}"}
        if not jobs:
            return {"available": True, "job_id": None, "printer": None, "job_status": None}
        job = max(jobs, key=lambda item: str(item.get("created_at", "")))
        return {
            "available": True,
            "job_id": job.get("id"),
            "printer": job.get("printer"),
            "job_status": job.get("status"),
        }

    async def waiting_on(self, order_id: uuid.UUID, status: str) -> dict[str, Any] | None:
        actor = NEXT_ACTOR.get(status)
        if actor is None:
            return None
        waiting: dict[str, Any] = {"service": actor.service, "does": actor.does}
        if actor.queue is not None:
            waiting |= await self.queue(actor.queue)
            waiting["awaits"] = actor.awaits
        elif actor.service == "mes-api":
            waiting |= await self.job(order_id)
        return waiting
