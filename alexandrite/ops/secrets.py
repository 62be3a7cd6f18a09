"""Generated secrets (tokens, database passwords) kept one per file under Paths.secrets."""

from __future__ import annotations

import logging
import os
import secrets

from alexandrite.ops.paths import Paths

__all__ = ["ensure_secret"]

log = logging.getLogger(__name__)


def ensure_secret(paths: Paths, name: str, nbytes: int = 32) -> str:
    """Return the secret in `paths.secrets / name`, creating a random URL-safe one if missing.

    The file is 0600 in a 0700 directory; an empty file counts as missing.
    """
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"not a plain secret name: {name!r}")
    paths.secrets.mkdir(parents=True, exist_ok=True)
    paths.secrets.chmod(0o700)
    path = paths.secrets / name
    if path.is_file():
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
        path.unlink()
    token = secrets.token_urlsafe(nbytes)
    # O_EXCL: when two first runs race, both end up with whichever token was written first.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    log.info("generated secret %s", path)
    return token
