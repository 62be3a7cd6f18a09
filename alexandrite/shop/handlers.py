"""The Shop's use cases: each opens one unit of work, changes the order, writes its events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from opentelemetry import trace
from sqlalchemy.orm import object_session

from alexandrite.common import contracts
from alexandrite.common.after_commit import after_commit
from alexandrite.common.errors import Conflict, InvalidInput
from alexandrite.common.telemetry.business import record_status_change
from alexandrite.common.telemetry.order_context import order_scope
from alexandrite.shop.domain import TERMINAL, OrderStatus, can_cancel
from alexandrite.shop.lifecycle import record_order_lifecycle
from alexandrite.shop.metrics import ShopMetrics
from alexandrite.shop.schemas import OrderCreate
from alexandrite.shop.settings import Settings
from alexandrite.shop.store import Order, ShopUnitOfWork, StatusChange

__all__ = ["ModelUploads", "ShopHandlers", "move_order"]

_tracer = trace.get_tracer("alexandrite.shop")


class ModelUploads(Protocol):
    """Where a customer's model goes (the file storage's client, alexandrite.files.client)."""

    async def upload_stream(
        self, body: AsyncIterator[bytes], content_type: str, content_length: str | None
    ) -> dict[str, Any]: ...


def move_order(
    order: Order,
    new: OrderStatus,
    at: datetime | None = None,
    reason: str | None = None,
    metrics: ShopMetrics | None = None,
) -> None:
    """Change the order's status, append to its history with the causing trace, and trace it.

    With ``metrics``, the change is counted once its transaction commits.
    """
    old: str | None = order.status
    old_entered_at = max((h.at for h in order.history if h.status == old), default=None)
    order.status = new
    order.reason = reason if reason is not None else order.reason
    span_context = trace.get_current_span().get_span_context()
    order.history.append(
        StatusChange(
            status=new,
            at=at or datetime.now(UTC),
            reason=reason,
            trace_id=format(span_context.trace_id, "032x") if span_context.is_valid else None,
            span_id=format(span_context.span_id, "016x") if span_context.is_valid else None,
        )
    )
    record_status_change(old, new)
    if metrics is not None:
        observe = metrics.transition(
            old, new, old_entered_at, order.history[-1].at, order.created_at
        )
        session = object_session(order)
        if session is not None:
            after_commit(session, observe)
        else:
            observe()
    if new in TERMINAL:
        finished = order.history[-1].at
        history = sorted(((h.status, h.at) for h in order.history), key=lambda item: item[1])
        record_order_lifecycle(
            order_id=str(order.id),
            final_status=new,
            created_at=order.created_at,
            finished_at=finished,
            history=history,
            step_traces=[
                (h.trace_id, h.span_id) for h in order.history if h.trace_id and h.span_id
            ],
            reason=reason,
        )


class ShopHandlers:
    def __init__(
        self,
        units_of_work: Callable[[], ShopUnitOfWork],
        settings: Settings,
        files: ModelUploads,
        metrics: ShopMetrics | None = None,
    ):
        self._units_of_work = units_of_work
        self._settings = settings
        self._files = files
        self._metrics = metrics

    async def create_order(self, request: OrderCreate) -> Order:
        if request.material not in self._settings.materials:
            raise InvalidInput(
                f"unknown material {request.material!r}; "
                f"choose one of {', '.join(self._settings.materials)}"
            )
        order_id = uuid.uuid4()
        with order_scope(order_id):
            async with self._units_of_work() as uow:
                now = datetime.now(UTC)
                # No status yet: move_order gives the first one, so the history and the
                # status-change event start from nothing, not from "created".
                order = Order(
                    id=order_id,
                    material=request.material,
                    quantity=request.quantity,
                    notes=request.notes,
                    customer_name=request.customer.name,
                    customer_email=str(request.customer.email),
                    customer_phone=request.customer.phone,
                    created_at=now,
                    history=[],
                )
                uow.orders.add(order)
                move_order(order, OrderStatus.CREATED, at=now, metrics=self._metrics)
                await uow.commit()
        return order

    async def attach_model(
        self,
        order_id: uuid.UUID,
        body: AsyncIterator[bytes],
        content_type: str,
        content_length: str | None,
    ) -> dict[str, Any]:
        with order_scope(order_id):
            async with self._units_of_work() as uow:
                order = await uow.orders.get(order_id)
                self._require(order, OrderStatus.CREATED, "upload a model")
            # No transaction is held while the file streams to the storage.
            model = await self._files.upload_stream(body, content_type, content_length)
            async with self._units_of_work() as uow:
                order = await uow.orders.get(order_id, lock=True)
                self._require(order, OrderStatus.CREATED, "upload a model")
                order.model_id = uuid.UUID(model["id"])
                order.model = {
                    key: model[key] for key in ("sha256", "size_bytes", "format", "analysis")
                }
                # The upload's trace, for the support gateway's journey (never shown to customers).
                upload = trace.get_current_span().get_span_context()
                if upload.is_valid:
                    order.model["trace_id"] = format(upload.trace_id, "032x")
                await uow.commit()
        return model

    async def submit(self, order_id: uuid.UUID) -> Order:
        with order_scope(order_id):
            async with self._units_of_work() as uow:
                order = await uow.orders.get(order_id, lock=True)
                self._require(order, OrderStatus.CREATED, "submit")
                if order.model_id is None or order.model is None:
                    raise Conflict(f"order {order_id} has no model yet: upload one first")
                move_order(order, OrderStatus.SUBMITTED, metrics=self._metrics)
                await uow.publish(
                    contracts.OrderSubmitted(
                        order_id=order.id,
                        material=order.material,
                        quantity=order.quantity,
                        notes=order.notes,
                        customer=contracts.SubmittedCustomer(
                            name=order.customer_name,
                            email=order.customer_email,
                            phone=order.customer_phone,
                        ),
                        model_id=order.model_id,
                        model=order.model,
                    )
                )
                await uow.commit()
        return order

    async def cancel(self, order_id: uuid.UUID, reason: str | None) -> Order:
        with order_scope(order_id):
            async with self._units_of_work() as uow:
                order = await uow.orders.get(order_id, lock=True)
                if not can_cancel(OrderStatus(order.status)):
                    raise Conflict(f"order {order_id} is {order.status} and can no longer change")
                text = reason or "cancelled by the customer"
                move_order(order, OrderStatus.CANCELLED, reason=text, metrics=self._metrics)
                await uow.publish(contracts.OrderCancelled(order_id=order.id, reason=text))
                await uow.commit()
        return order

    async def get(self, order_id: uuid.UUID) -> Order:
        with order_scope(order_id):
            async with self._units_of_work() as uow:
                return await uow.orders.get(order_id)

    async def list(
        self, status: OrderStatus | None, limit: int, oldest_first: bool = False
    ) -> list[Order]:
        async with self._units_of_work() as uow:
            return list(await uow.orders.list(status, limit, oldest_first))

    @staticmethod
    def _require(order: Order, status: OrderStatus, action: str) -> None:
        if order.status != status:
            raise Conflict(f"cannot {action}: order {order.id} is {order.status}, not {status}")
