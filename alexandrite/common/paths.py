"""Where the platform keeps its run-time state (git-ignored) and its build cache (outside git).

In common because services read it too (their secrets, TLS files and data directories);
``alexandrite.ops.paths`` re-exports it for the operations code."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEPLOY_DIR", "REPO_ROOT", "Paths"]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"


@dataclass(frozen=True)
class Paths:
    """Every directory the operations code writes to, derived from two roots."""

    state: Path
    cache: Path

    @classmethod
    def from_env(cls) -> Paths:
        state = Path(os.environ.get("ALEXANDRITE_STATE_DIR", REPO_ROOT / "var"))
        cache = Path(
            os.environ.get("ALEXANDRITE_CACHE_DIR", Path.home() / ".cache" / "alexandrite")
        )
        return cls(state=state.resolve(), cache=cache.resolve())

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def run(self) -> Path:
        """Sockets, pid files and rendered configuration."""
        return self.state / "run"

    @property
    def tls(self) -> Path:
        return self.state / "tls"

    @property
    def secrets(self) -> Path:
        return self.state / "secrets"

    @property
    def data(self) -> Path:
        """Data the services own on disk (model files)."""
        return self.state / "data"

    def ensure(self) -> Paths:
        for directory in (self.logs, self.run, self.tls, self.secrets, self.data, self.cache):
            directory.mkdir(parents=True, exist_ok=True)
        self.secrets.chmod(0o700)
        return self
