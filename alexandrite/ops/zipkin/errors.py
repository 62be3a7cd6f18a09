"""The one error the Zipkin operations raise."""

from __future__ import annotations

__all__ = ["ZipkinError"]


class ZipkinError(RuntimeError):
    """The Zipkin jar could not be fetched or read, or its schema could not be applied."""
