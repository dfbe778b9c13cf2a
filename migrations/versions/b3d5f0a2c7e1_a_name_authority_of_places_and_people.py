"""A name authority: people with variant names, and when the authority last changed a place.

Revision ID: b3d5f0a2c7e1
Revises: c4e8a1f6d2b9
Create Date: 2026-11-27 10:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "b3d5f0a2c7e1"
down_revision = "c4e8a1f6d2b9"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(op.f("ix_people_updated_at"), "people", ["updated_at"], unique=False)
    op.add_column("places", sa.Column("updated_at", sa.DateTime(), nullable=True))
    op.create_index(op.f("ix_places_updated_at"), "places", ["updated_at"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_places_updated_at"), table_name="places")
    # SQLite (3.35 and later) and PostgreSQL both drop a column in place: no table copy, so the
    # testimonies' links to places are left alone.
    op.drop_column("places", "updated_at")
    op.drop_index(op.f("ix_people_updated_at"), table_name="people")
    op.drop_table("people")
