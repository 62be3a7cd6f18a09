"""Shop settings (environment prefix ``SHOP_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from alexandrite.common.settings import ServiceSettings, local_database_url

__all__ = ["Settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_", extra="ignore")

    service_name: str = "shop-api"
    port: int = 8001
    database_url: str = local_database_url("alexandrite_shop")
    files_url: str = "http://127.0.0.1:8004"
    materials: list[str] = ["PLA", "PETG", "ABS", "resin"]
    max_quantity: int = 1000
    # Uploads are streamed through to the file storage; this bounds the whole request.
    upload_timeout_s: float = 120.0
