"""initial

Revision ID: files_0001
Revises:
Create Date: 2026-11-28 04:17:57.626918
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from alexandrite.common.messaging.migration_v1 import create_outbox_and_inbox, drop_outbox_and_inbox

revision: str = "files_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox_and_inbox()
    op.create_table(
        "models",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("format_kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("triangles", sa.Integer(), nullable=False),
        sa.Column("volume_cm3", sa.Float(), nullable=True),
        sa.Column("bbox_mm", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("watertight", sa.Boolean(), nullable=False),
        sa.Column("upload_ms", sa.Float(), nullable=False),
        sa.Column("analysis_ms", sa.Float(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_models_sha256"), "models", ["sha256"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_models_sha256"), table_name="models")
    op.drop_table("models")
    drop_outbox_and_inbox()
