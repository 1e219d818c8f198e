"""staff: last_seen_at, when a page of theirs was last open (presence)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 08:30:00
"""

import sqlalchemy as sa
from alembic import op

import service.schema

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seen_at", service.schema.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("last_seen_at")
