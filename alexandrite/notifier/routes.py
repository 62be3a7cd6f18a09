"""The notifier's HTTP routes: Alertmanager's webhook and the list the gateway shows."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from alexandrite.common.errors import InvalidInput
from alexandrite.notifier.runtime import HandlersDep
from alexandrite.notifier.schemas import NotificationView, WebhookAccepted, WebhookPayload

__all__ = ["router"]

router = APIRouter(tags=["notifications"])


@router.post(
    "/alertmanager",
    response_model=WebhookAccepted,
    summary="Alertmanager's webhook (payload version 4): stored at once, delivered later",
)
async def alertmanager_webhook(payload: WebhookPayload, handlers: HandlersDep) -> WebhookAccepted:
    if payload.version != "4":
        raise InvalidInput(f"unsupported Alertmanager payload version {payload.version!r}")
    return await handlers.receive(payload)


@router.get("/notifications", response_model=list[NotificationView])
async def list_notifications(
    handlers: HandlersDep,
    status: Annotated[Literal["firing", "resolved"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[NotificationView]:
    return await handlers.list(status, limit)
