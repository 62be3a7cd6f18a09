"""Alembic environment of the MES database."""

from alexandrite.common.migrations import run_env
from alexandrite.mes.store import Base

run_env(Base.metadata)
