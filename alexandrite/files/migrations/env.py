"""Alembic environment of the file storage database."""

from alexandrite.common.migrations import run_env
from alexandrite.files.store import Base

run_env(Base.metadata)
