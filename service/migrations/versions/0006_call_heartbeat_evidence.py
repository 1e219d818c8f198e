"""calls: answered_at, heartbeat_at and the evidence so far; a longer status

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 03:00:00
"""

import sqlalchemy as sa
from alembic import op

import service.schema

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answered_at", service.schema.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", service.schema.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("evidence", sa.Text(), nullable=True))
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=16),
            type_=sa.String(length=24),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=24),
            type_=sa.String(length=16),
            existing_nullable=False,
        )
        batch_op.drop_column("evidence")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("answered_at")
