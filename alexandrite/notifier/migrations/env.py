"""Alembic environment of the notifier database."""

from alexandrite.common.migrations import run_env
from alexandrite.notifier.store import Base

run_env(Base.metadata)
