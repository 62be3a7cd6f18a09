"""Alembic environment of the Shop database."""

from alexandrite.common.migrations import run_env
from alexandrite.shop.store import Base

run_env(Base.metadata)
