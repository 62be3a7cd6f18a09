"""The file storage's HTTP routes (DESIGN.md §2): thin, everything happens in ``FilesHandlers``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, status
from fastapi.responses import FileResponse
from starlette.requests import ClientDisconnect

from alexandrite.common.errors import InvalidInput
from alexandrite.files.runtime import HandlersDep
from alexandrite.files.schemas import ModelView

__all__ = ["router"]

router = APIRouter(tags=["models"])


# The body is parsed by hand (streamed), so FastAPI cannot describe it: say it in the OpenAPI.
_MULTIPART_FILE = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        # Nobody reads the answer, but the span and the logs say 400, not an unexpected 500.
        raise InvalidInput("the client went away before the upload was complete") from None


@router.post(
    "/models",
    status_code=status.HTTP_201_CREATED,
    response_model=ModelView,
    openapi_extra=_MULTIPART_FILE,
    summary="Upload a 3D model (STL, OBJ or 3MF): stored, checked and measured",
    responses={400: {}, 413: {}, 422: {}, 503: {}},
)
async def upload_model(request: Request, handlers: HandlersDep) -> ModelView:
    model = await handlers.upload(
        _body(request),
        request.headers.get("content-type"),
        request.headers.get("content-length"),
    )
    return ModelView.of(model)


@router.get("/models/{model_id}", response_model=ModelView, responses={404: {}})
async def get_model(model_id: uuid.UUID, handlers: HandlersDep) -> ModelView:
    return ModelView.of(await handlers.get(model_id))


@router.get(
    "/models/{model_id}/content",
    response_class=FileResponse,
    summary="The model's file, with its sha256 as ETag",
    responses={404: {}},
)
async def get_model_content(model_id: uuid.UUID, handlers: HandlersDep) -> FileResponse:
    content = await handlers.content(model_id)
    return FileResponse(
        content.path,
        media_type=content.media_type,
        filename=content.filename,
        headers={"etag": f'"{content.sha256}"'},
    )
