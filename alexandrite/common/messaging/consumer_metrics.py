"""What a consumer counts, per queue: messages processed by outcome, retried, dead-lettered.

outcome  success     handled and committed
         duplicate   a redelivery of a message handled before (no second effect)
         ignored     no handler for its routing key (acked)
         error       the handler raised: retried later or, at the last attempt, dead-lettered
         malformed   not an event envelope: dead-lettered at once
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter

__all__ = ["OUTCOMES", "ConsumerMetrics", "Outcome"]

Outcome = Literal["success", "duplicate", "ignored", "error", "malformed"]
OUTCOMES: tuple[Outcome, ...] = ("success", "duplicate", "ignored", "error", "malformed")


class ConsumerMetrics:
    def __init__(self, registry: CollectorRegistry, queue: str) -> None:
        self._processed = Counter(
            "alexandrite_messages_processed_total",
            "Messages taken from the queue, by outcome.",
            ["queue", "outcome"],
            registry=registry,
        )
        self._retried = Counter(
            "alexandrite_messages_retried_total",
            "Messages that failed and were sent to a retry queue.",
            ["queue"],
            registry=registry,
        )
        self._dead_lettered = Counter(
            "alexandrite_messages_dead_lettered_total",
            "Messages sent to the dead-letter queue (malformed, or failed at the last attempt).",
            ["queue"],
            registry=registry,
        )
        # Every series exists from the start at 0, so rate() and increase() see the first one.
        for outcome in OUTCOMES:
            self._processed.labels(queue=queue, outcome=outcome)
        self._retried_here = self._retried.labels(queue=queue)
        self._dead_here = self._dead_lettered.labels(queue=queue)
        self._queue = queue

    def processed(self, outcome: Outcome) -> None:
        self._processed.labels(queue=self._queue, outcome=outcome).inc()

    def retried(self) -> None:
        self._retried_here.inc()

    def dead_lettered(self) -> None:
        self._dead_here.inc()
