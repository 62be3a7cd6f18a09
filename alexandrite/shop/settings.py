"""Shop settings (environment prefix ``SHOP_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from alexandrite.common import platform
from alexandrite.common.settings import ServiceSettings, local_database_url

__all__ = ["Settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_", extra="ignore")

    service_name: str = "shop-api"
    port: int = Field(default_factory=lambda: platform.SHOP.port)
    database_url: str = local_database_url("alexandrite_shop")
    files_url: str = Field(default_factory=lambda: platform.FILES.url)
    materials: list[str] = ["PLA", "PETG", "ABS", "resin"]
    max_quantity: int = 1000
    # Uploads are streamed through to the file storage; this bounds the whole request.
    upload_timeout_s: float = 120.0
