"""webhook delivery log: index deliveries by endpoint

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23 15:10:00
"""

from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The delivery log pages one endpoint's deliveries newest first.
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_endpoint_id", ["endpoint_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_endpoint_id")
