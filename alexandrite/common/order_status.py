"""The order statuses and the moves between them: the contract of DESIGN.md §2, shared by every
service that follows an order (the Shop owns it; the CRM mirrors it).

No I/O here.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TERMINAL", "OrderStatus", "can_cancel", "is_forward"]


class OrderStatus(StrEnum):
    CREATED = "created"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    QUEUED = "queued"
    IN_PRODUCTION = "in_production"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset(
    {OrderStatus.REJECTED, OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.CANCELLED}
)

# Position along the way. Events from other services may arrive out of order (other replicas,
# retries), and an order only ever moves forward: a late "queued" after "in_production" changes
# nothing.
_RANK = {
    OrderStatus.CREATED: 0,
    OrderStatus.SUBMITTED: 1,
    OrderStatus.IN_REVIEW: 2,
    OrderStatus.APPROVED: 3,
    OrderStatus.QUEUED: 4,
    OrderStatus.IN_PRODUCTION: 5,
    OrderStatus.REJECTED: 9,
    OrderStatus.COMPLETED: 9,
    OrderStatus.FAILED: 9,
    OrderStatus.CANCELLED: 9,
}


def is_forward(current: OrderStatus, new: OrderStatus) -> bool:
    """Whether an order in ``current`` may move to ``new`` when another service says so."""
    if current in TERMINAL:
        return False
    return _RANK[new] > _RANK[current]


def can_cancel(current: OrderStatus) -> bool:
    return current not in TERMINAL
