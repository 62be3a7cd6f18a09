"""Which exceptions mean "the database cannot be reached", and the 503 they are answered with.

When PostgreSQL is stopped or unreachable, asyncpg's connect raises the socket's own
``ConnectionRefusedError`` (or ``TimeoutError``, or asyncpg's "cannot connect now" while the
server starts or stops), unwrapped by SQLAlchemy; a connection lost mid-request comes wrapped,
as SQLAlchemy's ``OperationalError``/``InterfaceError`` (or any ``DBAPIError`` that invalidated
its connection), and a pool with no connection to lend raises SQLAlchemy's ``TimeoutError``.
None of these says anything about the request: it is answered 503 with ``Retry-After``, and
nothing was committed, so the client may simply repeat it.
"""

from __future__ import annotations

import asyncpg.exceptions
from sqlalchemy import exc as sa_exc

from alexandrite.common.errors import DatabaseUnavailable

__all__ = ["DATABASE_RETRY_AFTER_S", "UNAVAILABLE_ERRORS", "as_unavailable", "is_unavailable"]

# Long enough for a restart of PostgreSQL, short enough that a client's retry is not stale.
DATABASE_RETRY_AFTER_S = 5

UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    ConnectionError,
    TimeoutError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.TooManyConnectionsError,
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
)


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the database is out of reach (not that the query was wrong)."""
    if isinstance(exc, sa_exc.DBAPIError):
        return (
            exc.connection_invalidated
            or isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError))
            or (exc.orig is not None and is_unavailable(exc.orig))
        )
    return isinstance(exc, UNAVAILABLE_ERRORS)


def as_unavailable(exc: BaseException) -> DatabaseUnavailable:
    # The driver's message names hosts and ports: logged, not sent to the client.
    return DatabaseUnavailable(
        "the database is unavailable; nothing was saved, try again shortly",
        retry_after_s=DATABASE_RETRY_AFTER_S,
    )
