"""A long-running process that the supervisor keeps alive."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Program:
    """What supervisor needs to run one process: its command, environment and readiness probe."""

    name: str
    command: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    directory: Path | None = None
    # An http(s) URL that answers 2xx once the program is ready to serve.
    ready_url: str | None = None
    # Seconds to wait for ready_url before declaring the start failed (Zipkin needs tens).
    start_timeout: float = 60.0
    # Lower numbers start first.
    priority: int = 100
