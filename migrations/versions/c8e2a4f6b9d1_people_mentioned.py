"""People mentioned: a testimony names the people it speaks of, as it names places and subjects,
linked to the people of the name authority; a person only testimonies have named has no
`updated_at` until the authority touches it, as with places.

Revision ID: c8e2a4f6b9d1
Revises: b6d1f3a8c2e4
Create Date: 2026-12-06 04:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "c8e2a4f6b9d1"
down_revision = "b6d1f3a8c2e4"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "testimony_people",
        sa.Column("testimony_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["testimony_id"], ["testimonies.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.PrimaryKeyConstraint("testimony_id", "person_id"),
    )
    with op.batch_alter_table("people") as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(), nullable=True)


def downgrade():
    op.execute(sa.text("UPDATE people SET updated_at = created_at WHERE updated_at IS NULL"))
    with op.batch_alter_table("people") as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(), nullable=False)
    op.drop_table("testimony_people")
