"""Who is asking: a user resolved from a session cookie or a bearer token, and the roles."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

__all__ = ["ADMIN", "ROLES", "SUPPORT", "Principal"]

SUPPORT = "support"
ADMIN = "admin"
# support: sees traces, the Zipkin UI and the order journey.
# admin: manages users and reads the audit log; sees no traces unless also support.
ROLES = frozenset({SUPPORT, ADMIN})


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    name: str
    roles: tuple[str, ...]
    via: Literal["session", "token"]
    # Sessions only: the token that forms must echo back (CSRF).
    csrf_token: str | None = None
    session_hash: str | None = None

    def has(self, role: str) -> bool:
        return role in self.roles

    @property
    def role_label(self) -> str:
        return ",".join(sorted(self.roles))
