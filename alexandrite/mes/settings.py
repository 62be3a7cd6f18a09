"""MES settings (environment prefix ``MES_``)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from alexandrite.common import contracts, platform
from alexandrite.common.settings import ServiceSettings, local_database_url
from alexandrite.mes.domain import PrintTimes
from alexandrite.mes.retry import RetryPolicy

__all__ = ["Settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MES_", extra="ignore")

    service_name: str = "mes-api"
    port: int = Field(default_factory=lambda: platform.MES.port)
    database_url: str = Field(default_factory=lambda: local_database_url("alexandrite_mes"))
    files_url: str = Field(default_factory=lambda: platform.FILES.url)
    files_timeout_s: float = 60.0
    # The consumer queue; tests use their own so that they never steal a running MES's messages.
    queue_name: str = contracts.MES_QUEUE

    # Simulated printer fleet, for demos and load: off unless asked for.
    simulate_printers: bool = False
    printers: int = Field(default=4, ge=1, le=64)
    print_seconds_per_cm3: float = Field(default=0.05, ge=0.0)
    print_seconds_min: float = Field(default=0.2, ge=0.0)
    print_seconds_max: float = Field(default=10.0, ge=0.0)
    failure_rate: float = Field(default=0.1, ge=0.0, le=1.0)
    # Set for reproducible runs: each printer draws from Random(failure_seed + its number).
    failure_seed: int | None = None
    # How often an idle printer looks for work nobody rang it for (a job queued while this
    # process was away, a print whose lease ran out): a job queued here rings a printer at
    # once (simulator.PrinterFleet.job_queued). Each look is a transaction: at 0.5 s, 16 idle
    # printers took 18 % of a core doing nothing (docs/performance.md).
    poll_interval_s: float = Field(default=5.0, gt=0.0)
    # A printer's lease, renewed every third of it while it prints: once it runs out, the
    # process that printed is taken for dead and its print is resumed or failed.
    print_lease_s: float = Field(default=10.0, gt=0.0, le=3600.0)
    # The end of a print written through a database outage: attempts, doubling from the first
    # delay up to the largest (the defaults span about a minute).
    finish_attempts: int = Field(default=12, ge=1, le=100)
    finish_first_delay_s: float = Field(default=0.25, gt=0.0)
    finish_max_delay_s: float = Field(default=8.0, gt=0.0)

    @model_validator(mode="after")
    def _min_below_max(self) -> Settings:
        if self.print_seconds_min > self.print_seconds_max:
            raise ValueError("print_seconds_min must not exceed print_seconds_max")
        return self

    def printer_names(self) -> list[str]:
        return [f"printer-{number}" for number in range(1, self.printers + 1)]

    def print_times(self) -> PrintTimes:
        return PrintTimes(
            self.print_seconds_per_cm3, self.print_seconds_min, self.print_seconds_max
        )

    def finish_retry(self) -> RetryPolicy:
        return RetryPolicy(self.finish_attempts, self.finish_first_delay_s, self.finish_max_delay_s)
