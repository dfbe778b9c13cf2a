"""Editor drafts: what an archivist typed is kept as they type, and when a save is refused.

Revision ID: a9e4c7d2f1b8
Revises: a9c4e2f7b1d6
Create Date: 2026-12-05 21:35:00

"""

import sqlalchemy as sa
from alembic import op

revision = "a9e4c7d2f1b8"
down_revision = "a9c4e2f7b1d6"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "editor_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("key_hash", sa.String(length=64), nullable=True),
        sa.Column("testimony_id", sa.Integer(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("saved_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["testimony_id"], ["testimonies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_index(op.f("ix_editor_drafts_user_id"), "editor_drafts", ["user_id"], unique=False)
    op.create_index(op.f("ix_editor_drafts_saved_at"), "editor_drafts", ["saved_at"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_editor_drafts_saved_at"), table_name="editor_drafts")
    op.drop_index(op.f("ix_editor_drafts_user_id"), table_name="editor_drafts")
    op.drop_table("editor_drafts")
