"""push_subscriptions; checks.reminded_at

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 08:15:00
"""

import sqlalchemy as sa
from alembic import op

import service.schema

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("endpoint", sa.String(length=1024), nullable=False),
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("link_id", sa.String(length=40), nullable=False),
        sa.Column("p256dh", sa.String(length=120), nullable=False),
        sa.Column("auth", sa.String(length=40), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("created_at", service.schema.UTCDateTime(), nullable=False),
        sa.Column("refreshed_at", service.schema.UTCDateTime(), nullable=False),
        sa.Column("last_success_at", service.schema.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_push_subscriptions_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
        sa.UniqueConstraint("endpoint", name=op.f("uq_push_subscriptions_endpoint")),
    )
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_push_subscriptions_staff_id"), ["staff_id"], unique=False
        )
    with op.batch_alter_table("checks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminded_at", service.schema.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checks", schema=None) as batch_op:
        batch_op.drop_column("reminded_at")
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_push_subscriptions_staff_id"))
    op.drop_table("push_subscriptions")
