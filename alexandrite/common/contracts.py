"""The event contract between the services (DESIGN.md §2): one place for every routing key,
every payload, every queue and what it listens to, and what production news means for an order.

Producers build a payload model and hand it to ``UnitOfWork.publish``; consumers read it back
with ``parse``, so a payload that drifts from its contract fails where it is built, not three
services later. Changing an event is one edit here.

Where the order id lives: in the envelope (``Event.order_id``), once. A payload's ``order_id``
is written there by ``UnitOfWork.publish`` and filled from there by ``parse``; it is not repeated
in ``data``. (Readers still accept an ``order_id`` inside ``data``: messages written by older
producers may still sit in a queue or its dead letters.)

No I/O here.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictFloat,
    StrictInt,
    ValidationError,
)

from alexandrite.common.messaging.event import Event
from alexandrite.common.messaging.topology import QueueSpec
from alexandrite.common.order_status import TERMINAL, OrderStatus

__all__ = [
    "CONTRACTS",
    "CRM_QUEUE",
    "MES_QUEUE",
    "ORDER_STATUS_OF_EVENT",
    "PRODUCTION_EVENTS",
    "SHOP_QUEUE",
    "TERMINAL",
    "ContractViolation",
    "EventPayload",
    "OrderApproved",
    "OrderCancelled",
    "OrderInReview",
    "OrderRejected",
    "OrderSubmitted",
    "ProductionCompleted",
    "ProductionFailed",
    "ProductionQueued",
    "ProductionStarted",
    "parse",
    "queue_spec",
]


class ContractViolation(ValueError):
    """An event whose data does not match its contract: retried, then dead-lettered."""


class EventPayload(BaseModel):
    """The data of one kind of event; subclasses name their routing key."""

    # Readers tolerate fields they do not know (a newer producer); producers cannot add any.
    model_config = ConfigDict(extra="ignore", frozen=True)

    routing_key: ClassVar[str]
    order_id: uuid.UUID

    def data(self) -> dict[str, Any]:
        """What travels in the envelope's ``data`` (JSON types; the order id is in the envelope)."""
        return self.model_dump(mode="json", exclude={"order_id"})


P = TypeVar("P", bound=EventPayload)


class SubmittedCustomer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    phone: str | None = Field(default=None, max_length=50)


class OrderSubmitted(EventPayload):
    """shop → crm: a customer submitted an order with its model."""

    routing_key: ClassVar[str] = "order.submitted"
    material: str = Field(max_length=20)
    quantity: int = Field(ge=1)
    notes: str | None = None
    customer: SubmittedCustomer
    model_id: uuid.UUID
    # The file storage's analysis as the Shop saw it (sha256, size_bytes, format, analysis).
    model: dict[str, Any] | None = None


class OrderCancelled(EventPayload):
    """shop → crm, mes: the customer gave up."""

    routing_key: ClassVar[str] = "order.cancelled"
    reason: str = ""


class OrderInReview(EventPayload):
    """crm → shop: a manager (or the auto-approval policy) is reviewing the order."""

    routing_key: ClassVar[str] = "order.in_review"


class OrderApproved(EventPayload):
    """crm → mes, shop: approved at a price; what production needs to make it."""

    routing_key: ClassVar[str] = "order.approved"
    # Money as a decimal string on the wire: a JSON number would go through a float.
    price: Decimal | None = None
    currency: str | None = None
    material: str = Field(min_length=1, max_length=20)
    # Strict, like the Shop's OrderCreate: a quantity of "1" or true is refused, not coerced.
    quantity: StrictInt = Field(ge=1)
    model_id: uuid.UUID
    model_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    volume_cm3: StrictFloat | None = None


class OrderRejected(EventPayload):
    """crm → mes, shop: not made, with the manager's (or the policy's) reason."""

    routing_key: ClassVar[str] = "order.rejected"
    reason: str = ""


class ProductionEvent(EventPayload):
    """mes → crm, shop: what happened to the order's production job."""

    job_id: uuid.UUID
    printer: str | None = None


class ProductionQueued(ProductionEvent):
    routing_key: ClassVar[str] = "production.queued"


class ProductionStarted(ProductionEvent):
    routing_key: ClassVar[str] = "production.started"


class ProductionCompleted(ProductionEvent):
    routing_key: ClassVar[str] = "production.completed"


class ProductionFailed(ProductionEvent):
    routing_key: ClassVar[str] = "production.failed"
    reason: str = ""


CONTRACTS: dict[str, type[EventPayload]] = {
    contract.routing_key: contract
    for contract in (
        OrderSubmitted,
        OrderCancelled,
        OrderInReview,
        OrderApproved,
        OrderRejected,
        ProductionQueued,
        ProductionStarted,
        ProductionCompleted,
        ProductionFailed,
    )
}

# What each piece of news means for the order's status, as the Shop and the CRM follow it.
ORDER_STATUS_OF_EVENT: dict[str, OrderStatus] = {
    OrderInReview.routing_key: OrderStatus.IN_REVIEW,
    OrderApproved.routing_key: OrderStatus.APPROVED,
    OrderRejected.routing_key: OrderStatus.REJECTED,
    ProductionQueued.routing_key: OrderStatus.QUEUED,
    ProductionStarted.routing_key: OrderStatus.IN_PRODUCTION,
    ProductionCompleted.routing_key: OrderStatus.COMPLETED,
    ProductionFailed.routing_key: OrderStatus.FAILED,
}
PRODUCTION_EVENTS = tuple(
    key for key, contract in CONTRACTS.items() if issubclass(contract, ProductionEvent)
)

# The queues, one per consuming service, and what each one listens to.
SHOP_QUEUE = "shop.events"
CRM_QUEUE = "crm.events"
MES_QUEUE = "mes.events"
LISTENS_TO: dict[str, tuple[str, ...]] = {
    # Everything the CRM and the MES say about an order changes what the customer sees.
    SHOP_QUEUE: tuple(ORDER_STATUS_OF_EVENT),
    CRM_QUEUE: (OrderSubmitted.routing_key, OrderCancelled.routing_key, *PRODUCTION_EVENTS),
    MES_QUEUE: (
        OrderApproved.routing_key,
        OrderRejected.routing_key,
        OrderCancelled.routing_key,
    ),
}


def queue_spec(queue: str, retry_delays_ms: list[int], name: str | None = None) -> QueueSpec:
    """The consumer queue ``queue`` (under ``name`` when a test gives it its own)."""
    return QueueSpec(name or queue, LISTENS_TO[queue], tuple(retry_delays_ms))


def parse(event: Event, contract: type[P]) -> P:
    """The event's payload as ``contract``; ContractViolation when it does not match."""
    if event.routing_key != contract.routing_key:
        raise ContractViolation(
            f"{event.routing_key} event {event.id} read as {contract.routing_key}"
        )
    order_id = event.order_id or event.data.get("order_id")
    if order_id is None:
        raise ContractViolation(f"{event.routing_key} event {event.id} carries no order id")
    try:
        return contract.model_validate({**event.data, "order_id": order_id})
    except ValidationError as exc:
        raise ContractViolation(
            f"{event.routing_key} event {event.id} does not match its contract: {exc}"
        ) from exc
