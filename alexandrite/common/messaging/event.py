"""The envelope every event travels in, in the outbox row and on the wire."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Event", "MalformedEvent"]


class MalformedEvent(ValueError):
    """A body that is not an event envelope: it can never succeed, so it is dead-lettered."""


@dataclass(frozen=True)
class Event:
    routing_key: str
    data: dict[str, Any]
    source: str
    order_id: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # W3C trace context and baggage of the request that wrote the event (traceparent, baggage…).
    trace_headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        return json.dumps(
            {
                "id": str(self.id),
                "type": self.routing_key,
                "source": self.source,
                "occurred_at": self.occurred_at.isoformat(),
                "order_id": str(self.order_id) if self.order_id else None,
                "data": self.data,
            },
            default=str,
        ).encode()

    @classmethod
    def from_body(cls, body: bytes, trace_headers: dict[str, str] | None = None) -> Event:
        try:
            raw = json.loads(body)
            if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
                raise MalformedEvent("the body is not an event envelope")
            order_id = raw.get("order_id")
            return cls(
                id=uuid.UUID(str(raw["id"])),
                routing_key=str(raw["type"]),
                source=str(raw.get("source", "unknown")),
                occurred_at=datetime.fromisoformat(str(raw["occurred_at"])),
                order_id=uuid.UUID(order_id) if order_id else None,
                data=raw["data"],
                trace_headers=trace_headers or {},
            )
        except MalformedEvent:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedEvent(f"cannot read the event: {exc}") from exc
