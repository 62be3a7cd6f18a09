"""What the gateway process holds while it runs, built by the app's lifespan."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request

from alexandrite.common.db import Database
from alexandrite.common.settings import TelemetrySettings
from alexandrite.common.status_limits import order_stuck_limits
from alexandrite.common.telemetry.internal_credential import InternalCredential
from alexandrite.gateway.accounts import Accounts
from alexandrite.gateway.audit_anchor import AnchorFile
from alexandrite.gateway.audit_log import AuditLog
from alexandrite.gateway.journey import JourneyBuilder
from alexandrite.gateway.login_limits import LoginLimits
from alexandrite.gateway.notifications import NotificationsReader
from alexandrite.gateway.order_lists import OrderLists
from alexandrite.gateway.settings import Settings
from alexandrite.gateway.waiting_point import LiveSources
from alexandrite.gateway.zipkin_proxy import ZipkinProxy

__all__ = ["GatewayRuntime", "RuntimeDep", "get_runtime"]


@dataclass
class GatewayRuntime:
    settings: Settings
    database: Database
    accounts: Accounts
    audit: AuditLog
    limits: LoginLimits
    journeys: JourneyBuilder
    lists: OrderLists
    notifications: NotificationsReader
    proxy: ZipkinProxy
    zipkin: httpx.AsyncClient
    shop: httpx.AsyncClient
    mes: httpx.AsyncClient
    rabbitmq: httpx.AsyncClient
    notifier: httpx.AsyncClient

    @classmethod
    def build(cls, settings: Settings) -> GatewayRuntime:
        database = Database.connect(settings.database_url, settings.db_pool_size)
        verify: ssl.SSLContext | bool = True
        if settings.zipkin_url.startswith("https"):
            verify = ssl.create_default_context(cafile=str(settings.tls_ca_file))
        zipkin = httpx.AsyncClient(
            base_url=settings.zipkin_url,
            verify=verify,
            timeout=httpx.Timeout(30.0, connect=3.0),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        )
        # Our internal token: the Shop keeps this call in the gateway's trace (trust boundary).
        internal = InternalCredential.from_file(TelemetrySettings().internal_token_file)
        shop = httpx.AsyncClient(
            base_url=settings.shop_url,
            timeout=httpx.Timeout(10, connect=3),
            headers=internal.headers(),
        )
        # Live sources answer in milliseconds or not at all: a short timeout keeps the page fast.
        mes = httpx.AsyncClient(
            base_url=settings.mes_url,
            timeout=httpx.Timeout(3, connect=1),
            headers=internal.headers(),
        )
        notifier = httpx.AsyncClient(
            base_url=settings.notifier_url,
            timeout=httpx.Timeout(3, connect=1),
            headers=internal.headers(),
        )
        rabbitmq = httpx.AsyncClient(
            base_url=settings.rabbitmq_management_url,
            auth=(settings.rabbitmq_user, settings.rabbitmq_password),
            timeout=httpx.Timeout(3, connect=1),
        )
        limits = order_stuck_limits(settings.alert_profile)
        return cls(
            settings=settings,
            database=database,
            accounts=Accounts(database.sessions),
            audit=AuditLog(
                database.sessions,
                AnchorFile(settings.audit_anchor_file, settings.audit_anchor_every_rows),
            ),
            limits=LoginLimits.from_settings(database.sessions, settings),
            journeys=JourneyBuilder(
                shop,
                zipkin,
                LiveSources(rabbitmq, mes, settings.rabbitmq_vhost),
                limits,
                concurrency=settings.journey_concurrency,
                max_traces=settings.journey_max_traces,
            ),
            lists=OrderLists(shop, limits),
            notifications=NotificationsReader(notifier),
            proxy=ZipkinProxy(zipkin),
            zipkin=zipkin,
            shop=shop,
            mes=mes,
            rabbitmq=rabbitmq,
            notifier=notifier,
        )

    async def close(self) -> None:
        await self.zipkin.aclose()
        await self.shop.aclose()
        await self.mes.aclose()
        await self.rabbitmq.aclose()
        await self.notifier.aclose()
        await self.database.close()


def get_runtime(request: Request) -> GatewayRuntime:
    runtime: GatewayRuntime = request.app.state.gateway
    return runtime


RuntimeDep = Annotated[GatewayRuntime, Depends(get_runtime)]
