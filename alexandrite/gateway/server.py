"""Serve the gateway over HTTPS only: TLS 1.2 or newer, the local CA's server certificate.

There is no plain-HTTP listener at all, so HTTP is refused rather than redirected (a redirect
would first accept the request, cookies included, in clear text).
"""

from __future__ import annotations

import ssl

import uvicorn
from fastapi import FastAPI

from alexandrite.gateway.settings import Settings

__all__ = ["tls_config"]


def tls_config(app: FastAPI | str, settings: Settings, **options: object) -> uvicorn.Config:
    """A loaded uvicorn config whose SSL context refuses anything older than TLS 1.2."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert_file),
        ssl_keyfile=str(settings.tls_key_file),
        log_config=None,
        access_log=False,
        # Clients reach the gateway directly: X-Forwarded-For would let any local process pick
        # the address that the audit log and the per-address login limit see.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
        **options,  # type: ignore[arg-type]
    )
    config.load()
    assert config.ssl is not None
    config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
    return config
