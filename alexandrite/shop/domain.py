"""The order as the customer sees it: its statuses and the moves allowed between them.

The Shop owns the order; the statuses and their rules are the shared contract in
``alexandrite.common.order_status``.
"""

from __future__ import annotations

from alexandrite.common.order_status import TERMINAL, OrderStatus, can_cancel, is_forward

__all__ = ["TERMINAL", "OrderStatus", "can_cancel", "is_forward"]
