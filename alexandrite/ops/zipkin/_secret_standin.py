"""Stand-in for `alexandrite.ops.tls.ensure_secret` until that module lands; delete it then.

Same contract: the token stored in `paths.secrets / name`, created (0600) when missing.
"""

from __future__ import annotations

import os
import secrets

from alexandrite.ops.paths import Paths

__all__ = ["ensure_secret"]


def ensure_secret(paths: Paths, name: str, nbytes: int = 32) -> str:
    """Return the secret called `name`, generating a URL-safe token the first time."""
    path = paths.secrets / name
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    paths.secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(nbytes)
    # O_EXCL: two first runs racing keep whichever token was written first.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token
