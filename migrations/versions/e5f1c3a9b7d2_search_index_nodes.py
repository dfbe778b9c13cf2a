"""Each node's applied outbox position, so applied outbox rows can be pruned.

Revision ID: e5f1c3a9b7d2
Revises: d7f2a9c4e6b3
Create Date: 2026-12-04 19:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "e5f1c3a9b7d2"
down_revision = "d7f2a9c4e6b3"
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
