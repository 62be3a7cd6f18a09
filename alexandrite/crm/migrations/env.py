"""Alembic environment of the CRM database."""

from alexandrite.common.migrations import run_env
from alexandrite.crm.store import Base

run_env(Base.metadata)
