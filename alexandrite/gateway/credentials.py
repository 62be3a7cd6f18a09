"""Passwords (argon2 via pwdlib) and random bearer secrets (stored as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "TOKEN_PREFIX",
    "digest",
    "hash_password",
    "new_secret",
    "new_token",
    "verify_password",
    "verify_password_of_nobody",
]

MIN_PASSWORD_LENGTH = 12
# Makes a leaked token easy to recognise (and to grep for in logs and repositories).
TOKEN_PREFIX = "alx_"

_HASHER = PasswordHash((Argon2Hasher(),))
# Verified against when the user does not exist, so that timing does not reveal user names.
_NOBODY = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _HASHER.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _HASHER.verify(password, password_hash)
    except Exception:  # a malformed stored hash is a failed login, never a 500
        return False


def verify_password_of_nobody(password: str) -> None:
    verify_password(password, _NOBODY)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(value: str) -> str:
    """SHA-256 of a high-entropy secret: what is stored instead of the secret."""
    return hashlib.sha256(value.encode()).hexdigest()
