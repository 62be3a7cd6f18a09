"""OpenTelemetry for every service, set up once: see ``Telemetry.setup``."""

from alexandrite.common.telemetry.setup import Telemetry

__all__ = ["Telemetry"]
