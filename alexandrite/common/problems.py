"""Every error leaves the API as problem+json: our own errors, validation errors, HTTP errors
and anything unexpected (logged with its stack, answered without internals)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from alexandrite.common.errors import AppError
from alexandrite.common.telemetry.http_details import record_problem

__all__ = ["PROBLEM_JSON", "install_error_handlers", "problem_response"]

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger(__name__)


def problem_response(
    status: int, body: dict[str, Any], exc: BaseException | None = None
) -> JSONResponse:
    response = JSONResponse(status_code=status, content=body, media_type=PROBLEM_JSON)
    if exc is not None:
        record_problem(status, body, bytes(response.body), exc)
    return response


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    async def on_app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        if exc.status >= 500:
            _log.error("request failed: %s", exc.detail)
        return problem_response(exc.status, exc.to_problem(instance=request.url.path), exc)

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
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
