"""A service's own objects (handlers, clients, workers), typed, for its routes.

Each service's ``app.py`` builds one dataclass of what the service is made of at start-up and
stores it with ``install_part``; its ``runtime.py`` turns the fields into FastAPI dependencies
with ``part_dependency`` (the whole object) or ``handlers_dependency`` (its ``handlers``, what
most routes need). No string keys and no ``Any``: mypy sees every dependency.

    HandlersDep = Annotated[CrmHandlers, Depends(handlers_dependency(CrmRuntime))]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from fastapi import FastAPI, Request

__all__ = [
    "built_part",
    "handlers_dependency",
    "install_part",
    "part_dependency",
    "service_part",
]

T = TypeVar("T")
H = TypeVar("H")
H_co = TypeVar("H_co", covariant=True)


class WithHandlers(Protocol[H_co]):
    """A service's objects that include its use cases."""

    @property
    def handlers(self) -> H_co: ...


def install_part(app: FastAPI, part: object) -> None:
    """Keep the service's objects on the app (called once, by its start-up hook)."""
    app.state.service_part = part


def built_part(app: FastAPI, kind: type[T]) -> T | None:
    """The service's objects as ``kind``, or None when start-up did not get to build them
    (a shutdown after a failed start closes only what exists)."""
    part = getattr(app.state, "service_part", None)
    return part if isinstance(part, kind) else None


def service_part(app: FastAPI, kind: type[T]) -> T:
    """The service's objects as ``kind``; an error before start-up has built them."""
    part = built_part(app, kind)
    if part is None:
        raise RuntimeError(f"{kind.__name__} is not built yet: the service has not started")
    return part


def part_dependency(kind: type[T]) -> Callable[[Request], T]:
    """A FastAPI dependency that hands a route the service's ``kind`` object."""

    def dependency(request: Request) -> T:
        return service_part(request.app, kind)

    dependency.__name__ = f"get_{kind.__name__}"
    return dependency


def handlers_dependency(kind: type[WithHandlers[H]]) -> Callable[[Request], H]:
    """A FastAPI dependency that hands a route the ``handlers`` of the service's ``kind``."""

    def dependency(request: Request) -> H:
        return service_part(request.app, kind).handlers

    dependency.__name__ = f"get_{kind.__name__}_handlers"
    return dependency
