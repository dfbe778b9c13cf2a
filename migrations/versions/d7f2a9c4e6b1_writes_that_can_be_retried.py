"""Writes that can be retried: the API's answers to creates, kept for a retry under the same
Idempotency-Key, and the testimonies' external_id, by which an import finds what it made before.

Revision ID: d7f2a9c4e6b1
Revises: b3d5f0a2c7e1
Create Date: 2026-12-04 19:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "d7f2a9c4e6b1"
down_revision = "b3d5f0a2c7e1"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("route", sa.String(length=300), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_key"),
    )
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], unique=False)
    # A unique index rather than a constraint: SQLite adds one in place, and both databases let
    # any number of testimonies have no key.
    op.add_column("testimonies", sa.Column("external_id", sa.String(length=200), nullable=True))
    op.create_index(op.f("ix_testimonies_external_id"), "testimonies", ["external_id"], unique=True)


def downgrade():
    op.drop_index(op.f("ix_testimonies_external_id"), table_name="testimonies")
    op.drop_column("testimonies", "external_id")
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
