"""The typed client other services use to reach the 3D file storage."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx

from alexandrite.common.errors import DependencyFailed, InvalidModel
from alexandrite.common.http_client import ServiceClient, raise_for_problem

__all__ = ["FilesClient"]


class FilesClient(ServiceClient):
    def __init__(self, base_url: str, timeout_s: float = 120.0) -> None:
        super().__init__(base_url, "file-storage", timeout_s)

    async def upload_stream(
        self, body: AsyncIterator[bytes], content_type: str, content_length: str | None
    ) -> dict[str, Any]:
        """Forward a multipart upload (field ``file``) as it arrives, without buffering it."""
        headers = {"content-type": content_type}
        if content_length is not None:
            headers["content-length"] = content_length
        response = await self.request(
            "POST", "/api/v1/models", "model upload", content=body, headers=headers
        )
        model: dict[str, Any] = response.json()
        return model

    async def get_model(self, model_id: uuid.UUID) -> dict[str, Any]:
        response = await self.request("GET", f"/api/v1/models/{model_id}", "model lookup")
        model: dict[str, Any] = response.json()
        return model

    async def fetch_and_verify(self, model_id: uuid.UUID, expected_sha256: str) -> int:
        """Stream the model's content and check its sha256; returns its size in bytes."""
        digest = hashlib.sha256()
        size = 0
        try:
            url = f"/api/v1/models/{model_id}/content"
            with self.call("GET", url) as call:
                async with self.http.stream("GET", url, headers=call.headers) as response:
                    call.answered(response.status_code)
                    if not response.is_success:
                        await response.aread()
                        raise_for_problem(response, "model download")
                    async for chunk in response.aiter_bytes():
                        digest.update(chunk)
                        size += len(chunk)
        except httpx.TimeoutException as exc:
            raise DependencyFailed(f"{self.service} did not answer in time (download)") from exc
        except httpx.TransportError as exc:
            raise DependencyFailed(f"{self.service} is unreachable (download): {exc}") from exc
        if digest.hexdigest() != expected_sha256:
            raise InvalidModel(
                f"model {model_id} is corrupt: sha256 {digest.hexdigest()} "
                f"does not match {expected_sha256}"
            )
        return size
