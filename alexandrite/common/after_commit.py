"""Run a callback once the session's transaction has committed, and never if it rolls back.

Metrics observed in a use case must count what happened, not what was tried: a consumer whose
transaction fails is retried, and counting before the commit would count the order twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

__all__ = ["after_commit"]

_log = logging.getLogger(__name__)
_KEY = "alexandrite.after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    session.info.setdefault(_KEY, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run(session: Session) -> None:
    for callback in session.info.pop(_KEY, []):
        try:
            callback()
        except Exception:
            # Bookkeeping must never turn a committed change into an error.
            _log.exception("an after-commit callback failed")


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_KEY, None)
