"""face_enrolments: staff members' enrolled face descriptors, encrypted

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 11:10:00
"""

import sqlalchemy as sa
from alembic import op

import service.schema

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "face_enrolments",
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("descriptors", sa.LargeBinary(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("consent_at", service.schema.UTCDateTime(), nullable=False),
        sa.Column("enrolled_at", service.schema.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_face_enrolments_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_face_enrolments")),
    )


def downgrade() -> None:
    op.drop_table("face_enrolments")
