"""Place coordinates: the name authority's places carry a latitude and longitude, for the map of places.

Revision ID: a9c4e2f7b1d3
Revises: f3a8c6e1d5b7
Create Date: 2026-12-05 21:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "a9c4e2f7b1d3"
down_revision = "f3a8c6e1d5b7"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "place_coordinates",
        sa.Column("place_id", sa.Integer(), nullable=False),
        sa.Column("latitude", sa.Double(), nullable=False),
        sa.Column("longitude", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["place_id"], ["places.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("place_id"),
    )


def downgrade():
    op.drop_table("place_coordinates")
