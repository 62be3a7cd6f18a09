"""The OpenAPI documents every error as application/problem+json, as the handlers answer them."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from alexandrite.common.problems import PROBLEM_JSON, install_error_handlers, problem_responses

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


class Thing(BaseModel):
    name: str


def _schema() -> dict[str, Any]:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/things/{thing_id}", responses=problem_responses(404, 409))
    async def update(thing_id: int, thing: Thing) -> Thing:
        return thing

    @app.get(
        "/ready",
        responses={503: {"description": "not ready", "content": {"application/json": {}}}},
    )
    async def ready() -> JSONResponse:
        return JSONResponse({"status": "ready"})

    return app.openapi()


def test_declared_and_validation_errors_are_problem_json() -> None:
    responses = _schema()["paths"]["/things/{thing_id}"]["post"]["responses"]
    for status in ("404", "409", "422"):
        assert responses[status]["content"] == {PROBLEM_JSON: {"schema": PROBLEM_REF}}, status
    assert responses["404"]["description"] == "Not Found"


def test_every_operation_may_answer_500_and_one_with_a_body_400() -> None:
    paths = _schema()["paths"]
    assert {"400", "422", "500"} <= set(paths["/things/{thing_id}"]["post"]["responses"])
    ready = paths["/ready"]["get"]["responses"]
    assert "500" in ready
    assert "400" not in ready


def test_an_error_body_a_route_documents_itself_is_kept() -> None:
    ready = _schema()["paths"]["/ready"]["get"]["responses"]
    assert ready["503"]["content"] == {"application/json": {}}


def test_the_problem_schema_replaces_fastapis_validation_schemas() -> None:
    components = _schema()["components"]["schemas"]
    assert components["Problem"]["required"] == ["type", "title", "status"]
    assert "HTTPValidationError" not in components
    assert "ValidationError" not in components
    assert "Thing" in components
