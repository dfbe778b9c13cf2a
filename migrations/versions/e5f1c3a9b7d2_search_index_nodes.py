"""Each node's applied outbox position, so applied outbox rows can be pruned.

Revision ID: e5f1c3a9b7d2
Revises: b3d5f0a2c7e1
Create Date: 2026-12-04 19:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "e5f1c3a9b7d2"
down_revision = "b3d5f0a2c7e1"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "search_index_nodes",
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("node_id"),
    )


def downgrade():
    op.drop_table("search_index_nodes")
