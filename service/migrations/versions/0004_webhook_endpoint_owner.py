"""webhook endpoints belong to the API key that made them

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 02:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_key_id", sa.String(length=40), nullable=True))
        batch_op.create_index("ix_webhook_endpoints_owner_key_id", ["owner_key_id"], unique=False)
    # The audit log names the key that created each endpoint ("apikey:<id>").
    op.execute(
        """
        UPDATE webhook_endpoints SET owner_key_id = (
            SELECT substr(a.actor, 8) FROM audit_log a
            WHERE a.action = 'webhook.created' AND a.subject = webhook_endpoints.id
              AND a.actor LIKE 'apikey:%'
            ORDER BY a.id LIMIT 1
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_endpoints_owner_key_id")
        batch_op.drop_column("owner_key_id")
