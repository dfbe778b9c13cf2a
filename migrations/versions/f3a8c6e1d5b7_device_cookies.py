"""Device cookies: browsers that signed in to an account pass the sign-in locks strangers set.

Revision ID: f3a8c6e1d5b7
Revises: f4b8d2e6a1c3
Create Date: 2026-12-05 20:45:00

"""

import sqlalchemy as sa
from alembic import op

revision = "f3a8c6e1d5b7"
down_revision = "f4b8d2e6a1c3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "device_cookies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_index(op.f("ix_device_cookies_user_id"), "device_cookies", ["user_id"], unique=False)
    op.create_index(op.f("ix_device_cookies_created_at"), "device_cookies", ["created_at"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_device_cookies_created_at"), table_name="device_cookies")
    op.drop_index(op.f("ix_device_cookies_user_id"), table_name="device_cookies")
    op.drop_table("device_cookies")
