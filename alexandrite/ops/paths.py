"""The platform's directories, from ``alexandrite.common.paths`` (services need them too: the
layers point down, so they live in common); kept so the operations code's imports still read
``alexandrite.ops.paths``."""

from __future__ import annotations

from alexandrite.common.paths import DEPLOY_DIR, REPO_ROOT, Paths

__all__ = ["DEPLOY_DIR", "REPO_ROOT", "Paths"]
