"""The one error tree of the platform, and its mapping to problem+json (RFC 9457).

    AppError                 500  something we did not expect (never raised for bad input)
    ├── InvalidInput         400  a request the API cannot accept as written
    ├── NotFound             404  no such order, job or model
    ├── Conflict             409  the request clashes with the current state
    ├── PayloadTooLarge      413  an upload past the configured size limit
    ├── InvalidModel         422  a 3D model that cannot be read or is not a printable mesh
    └── DependencyFailed     502/503  another service or the broker answered badly or not at all
        └── DatabaseUnavailable  503  the service's own database cannot be reached (Retry-After)

The domain and the handlers raise these; ``install_error_handlers`` turns them into
``application/problem+json`` responses in one place, and the typed clients turn such responses
back into the same classes, so an error keeps its meaning across services.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AppError",
    "Conflict",
    "DatabaseUnavailable",
    "DependencyFailed",
    "InvalidInput",
    "InvalidModel",
    "NotFound",
    "PayloadTooLarge",
    "error_for_status",
]


class AppError(Exception):
    """Base of every error the platform raises on purpose."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    type_slug: ClassVar[str] = "internal"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def type_uri(self) -> str:
        return f"https://alexandrite.example/problems/{self.type_slug}"

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            body["instance"] = instance
        body.update(self.extra)
        return body


class InvalidInput(AppError):
    status = 400
    title = "Invalid input"
    type_slug = "invalid-input"


class NotFound(AppError):
    status = 404
    title = "Not found"
    type_slug = "not-found"


class Conflict(AppError):
    status = 409
    title = "Conflict with the current state"
    type_slug = "conflict"


class PayloadTooLarge(AppError):
    status = 413
    title = "Payload too large"
    type_slug = "payload-too-large"


class InvalidModel(AppError):
    status = 422
    title = "Invalid 3D model"
    type_slug = "invalid-model"


class DependencyFailed(AppError):
    """``retry_after_s``: when the client may try again, sent as ``Retry-After`` (RFC 9110)."""

    status = 503
    title = "A dependency failed"
    type_slug = "dependency-failed"

    def __init__(self, detail: str, retry_after_s: int | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after_s = retry_after_s


class DatabaseUnavailable(DependencyFailed):
    """The database is down or unreachable: nothing was written, the request may be repeated."""

    title = "The database is unavailable"
    type_slug = "database-unavailable"


_BY_STATUS: dict[int, type[AppError]] = {
    cls.status: cls
    for cls in (InvalidInput, NotFound, Conflict, PayloadTooLarge, InvalidModel, DependencyFailed)
}


def error_for_status(status: int, detail: str) -> AppError:
    """The error class a client raises for a problem+json response with this status."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        return DependencyFailed(detail) if status >= 500 else InvalidInput(detail)
    return cls(detail)
