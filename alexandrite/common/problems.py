"""Every error leaves the API as problem+json: our own errors, validation errors, HTTP errors
and anything unexpected (logged with its stack, answered without internals).

The OpenAPI says so too: every error response of every operation is documented as
``application/problem+json`` with the ``Problem`` schema, so clients (and schemathesis' checks)
can rely on it. Routes name the errors they answer with ``responses=problem_responses(...)``;
the ones any operation may answer (400/422 for a body that cannot be parsed or is invalid, 500)
are added to every operation here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from alexandrite.common.errors import AppError, DatabaseUnavailable, DependencyFailed
from alexandrite.common.telemetry.http_details import record_problem
from alexandrite.common.unavailable import UNAVAILABLE_ERRORS, as_unavailable, is_unavailable

__all__ = ["PROBLEM_JSON", "install_error_handlers", "problem_response", "problem_responses"]

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger(__name__)

# RFC 9457 problem details, as ``install_error_handlers`` writes them.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error, as RFC 9457 problem details",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "the invalid parts of the request (validation errors only)",
            "items": {"type": "object"},
        },
    },
    # Errors may carry more members (e.g. the job id of a job that failed).
    "additionalProperties": True,
}
_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def problem_responses(
    *statuses: int, descriptions: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that answers these errors (as problem+json)."""
    described = descriptions or {}
    return {
        status: {"description": described.get(status, HTTPStatus(status).phrase)}
        for status in statuses
    }


def problem_response(
    status: int,
    body: dict[str, Any],
    exc: BaseException | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    response = JSONResponse(
        status_code=status, content=body, media_type=PROBLEM_JSON, headers=headers
    )
    if exc is not None:
        record_problem(status, body, bytes(response.body), exc)
    return response


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def _document_problems(schema: dict[str, Any]) -> None:
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _HTTP_METHODS:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "The body cannot be parsed"})
                responses.setdefault("422", {"description": "Validation Error"})
            responses.setdefault("500", {"description": "Unexpected error (logged)"})
            for status, response in responses.items():
                # FastAPI describes its 422 as plain JSON of its own shape: it is a problem too.
                # A route that documents its own error body (e.g. /ready's 503) keeps it.
                if status[0] in "45" and (status == "422" or "content" not in response):
                    response["content"] = _PROBLEM_CONTENT
    # FastAPI's own validation error schemas (the second is used by the first) are now unused.
    if "#/components/schemas/HTTPValidationError" not in json.dumps(schema.get("paths", {})):
        for name in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(name, None)


def _install_problem_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            _document_problems(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    async def on_app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        if exc.status >= 500:
            _log.error("request failed: %s", exc.detail)
        retry_after = exc.retry_after_s if isinstance(exc, DependencyFailed) else None
        return problem_response(
            exc.status,
            exc.to_problem(instance=request.url.path),
            exc,
            headers={"retry-after": str(retry_after)} if retry_after is not None else None,
        )

    async def on_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The database (or a connection to it) went away: the client's request was fine and
        # nothing was committed, so it is a 503 to retry, not a 500.
        if not is_unavailable(exc):
            return await on_unexpected(request, exc)
        _log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
        error: DatabaseUnavailable = as_unavailable(exc)
        return await on_app_error(request, error)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_detail(exc)
        summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return problem_response(
            422,
            {
                "type": "https://alexandrite.example/problems/validation",
                "title": "The request is not valid",
                "status": 422,
                "detail": summary or "invalid request",
                "instance": request.url.path,
                "errors": errors,
            },
            exc,
        )

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return problem_response(
            exc.status_code,
            {
                "type": "about:blank",
                "title": str(exc.detail),
                "status": exc.status_code,
                "detail": str(exc.detail),
                "instance": request.url.path,
            },
            exc,
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            500,
            {
                "type": "https://alexandrite.example/problems/internal",
                "title": "Internal error",
                "status": 500,
                "detail": "the service hit an unexpected error; it has been logged",
                "instance": request.url.path,
            },
            exc,
        )

    app.add_exception_handler(AppError, on_app_error)
    for unavailable in UNAVAILABLE_ERRORS:
        app.add_exception_handler(unavailable, on_unavailable)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
    _install_problem_openapi(app)
