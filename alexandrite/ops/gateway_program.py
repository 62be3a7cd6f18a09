"""The gateway as a supervised program, and what it needs before it starts."""

from __future__ import annotations

import sys

from alexandrite.common import platform
from alexandrite.ops.paths import REPO_ROOT, Paths
from alexandrite.ops.program import Program
from alexandrite.ops.tls import TlsMaterial

__all__ = ["GATEWAY_PORT", "gateway_program"]

GATEWAY_PORT = platform.GATEWAY.default_port


def gateway_program(
    paths: Paths,
    tls: TlsMaterial,
    *,
    port: int | None = None,
    zipkin_url: str | None = None,
    shop_url: str | None = None,
    alert_profile: str = "production",
    environment: dict[str, str] | None = None,
) -> Program:
    """https://127.0.0.1:`port`, with the local CA's server certificate (ports and URLs left
    out are the platform's, alexandrite.common.platform).

    `alert_profile` picks the OrderStuck limits the verdicts compare with (the alerts' own).
    `environment` adds variables (the stack's telemetry settings). The database must have been
    migrated and ``prepare_gateway`` run (the application role and its grants).
    """
    port = platform.GATEWAY.port if port is None else port
    return Program(
        name="gateway",
        command=[sys.executable, "-m", "alexandrite.gateway"],
        environment={
            "ALEXANDRITE_STATE_DIR": str(paths.state),
            "PYTHONUNBUFFERED": "1",
            "GATEWAY_PORT": str(port),
            "GATEWAY_TLS_CERT_FILE": str(tls.server_cert),
            "GATEWAY_TLS_KEY_FILE": str(tls.server_key),
            "GATEWAY_TLS_CA_FILE": str(tls.ca_cert),
            "GATEWAY_ZIPKIN_URL": zipkin_url or platform.ZIPKIN.url,
            "GATEWAY_SHOP_URL": shop_url or platform.SHOP.url,
            "GATEWAY_ALERT_PROFILE": alert_profile,
            **(environment or {}),
        },
        directory=REPO_ROOT,
        ready_url=f"https://{platform.HOST}:{port}{platform.GATEWAY.ready_path}",
        start_timeout=60.0,
        priority=70,
    )
