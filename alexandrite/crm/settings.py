"""CRM settings (environment prefix ``CRM_``)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from alexandrite.common import contracts, platform
from alexandrite.common.settings import ServiceSettings, local_database_url

__all__ = ["Settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore")

    service_name: str = "crm-api"
    port: int = Field(default_factory=lambda: platform.CRM.port)
    database_url: str = local_database_url("alexandrite_crm")
    files_url: str = Field(default_factory=lambda: platform.FILES.url)
    files_timeout_s: float = 10.0
    # The consumer queue; tests give each run its own so a running CRM does not take its events.
    queue_name: str = contracts.CRM_QUEUE
    # Price = volume (cm³) × rate[material] × quantity + setup fee, in ``currency``.
    currency: str = Field(default="EUR", min_length=3, max_length=3)
    rates: dict[str, Decimal] = {
        "PLA": Decimal("0.08"),
        "PETG": Decimal("0.10"),
        "ABS": Decimal("0.09"),
        "resin": Decimal("0.25"),
    }
    setup_fee: Decimal = Decimal("5.00")
    # The auto-approval policy (demos and load; off in production): approve every printable
    # order whose quote is at most the limit (None: no limit), reject what cannot be printed.
    auto_approve: bool = False
    auto_approve_max_price: Decimal | None = None
