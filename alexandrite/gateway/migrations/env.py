"""Alembic environment of the gateway database."""

from alexandrite.common.migrations import run_env
from alexandrite.gateway.store import Base

run_env(Base.metadata)
