"""Subjects become an authority of their own: a label in each interface language, and when the
authority last changed one.

Revision ID: a9c4e2f7b1d6
Revises: a9c3e7f1b2d4
Create Date: 2026-12-05 21:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "a9c4e2f7b1d6"
down_revision = "a9c3e7f1b2d4"
branch_labels = None
depends_on = None


def upgrade():
    # Existing subjects have no labels yet: each is shown under its name until an archivist adds them.
    op.add_column("subjects", sa.Column("labels", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column("subjects", sa.Column("updated_at", sa.DateTime(), nullable=True))
    op.create_index(op.f("ix_subjects_updated_at"), "subjects", ["updated_at"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_subjects_updated_at"), table_name="subjects")
    op.drop_column("subjects", "updated_at")
    op.drop_column("subjects", "labels")
