"""Stored media files: recordings and scans of signed consent forms, kept under their SHA-256.

Revision ID: c4e8a1f6d2b9
Revises: 7a1c2e9d4b10
Create Date: 2026-11-25 15:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "c4e8a1f6d2b9"
down_revision = "7a1c2e9d4b10"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "media_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("testimony_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["testimony_id"], ["testimonies.id"], name="fk_media_files_testimony_id_testimonies"
        ),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name="fk_media_files_created_by_id_users"),
        sa.ForeignKeyConstraint(["deleted_by_id"], ["users.id"], name="fk_media_files_deleted_by_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_media_files"),
    )
    op.create_index("ix_media_files_testimony_id", "media_files", ["testimony_id"])
    op.create_index("ix_media_files_sha256", "media_files", ["sha256"])


def downgrade():
    op.drop_index("ix_media_files_sha256", table_name="media_files")
    op.drop_index("ix_media_files_testimony_id", table_name="media_files")
    op.drop_table("media_files")
