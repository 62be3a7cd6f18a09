"""The ``crm_error_rate`` fault: that share of CRM API requests answer 503 problem+json, and that
share of the CRM's event handling raises (so retries and dead-lettering happen for real)."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from alexandrite.common.faults import Faults, InjectedFault, note_injected
from alexandrite.common.messaging.consumer import EventHandler
from alexandrite.common.messaging.event import Event
from alexandrite.common.problems import problem_response
from alexandrite.common.unit_of_work import UnitOfWork

__all__ = ["InjectedErrorsMiddleware", "with_injected_errors"]

FAULT = "crm_error_rate"
# Only the API: probes and scrapes must keep telling the truth about the process.
_API_PREFIX = "/api/"


def _injected(faults: Faults) -> InjectedFault | None:
    rate = faults.crm_error_rate
    if not Faults.strikes(rate):
        return None
    note_injected(FAULT, rate)
    return InjectedFault(f"injected fault: {FAULT}={rate:g}", fault=FAULT)


class InjectedErrorsMiddleware:
    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self._faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(_API_PREFIX):
            error = _injected(self._faults)
            if error is not None:
                body = error.to_problem(instance=scope["path"])
                await problem_response(error.status, body, error)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def with_injected_errors(
    handlers: Mapping[str, EventHandler], faults: Faults
) -> dict[str, EventHandler]:
    """The same handlers, each checking the fault first."""

    def guarded(handler: EventHandler) -> EventHandler:
        async def handle(uow: UnitOfWork, event: Event) -> None:
            error = _injected(faults)
            if error is not None:
                raise error
            await handler(uow, event)

        return handle

    return {routing_key: guarded(handler) for routing_key, handler in handlers.items()}
