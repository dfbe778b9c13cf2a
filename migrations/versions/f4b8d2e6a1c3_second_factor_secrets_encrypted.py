"""Second-factor secrets encrypted at rest, under a key derived from the instance's secret key.

Revision ID: f4b8d2e6a1c3
Revises: e5f1c3a9b7d2
Create Date: 2026-12-05 10:00:00

"""

import sqlalchemy as sa
from alembic import op

from archive.accounts.second_factor import seal, unseal

revision = "f4b8d2e6a1c3"
down_revision = "e5f1c3a9b7d2"
branch_labels = None
depends_on = None

# The token (about 140 characters) needs a wider column. SQLite cannot change a column's type in
# place, and rebuilding `users` would drag every table that points at it along: so each way adds a
# new column, fills it, drops the old one and gives the new one its name, in place on both databases.
users = sa.table("users", sa.column("id", sa.Integer()), sa.column("totp_secret", sa.String()))


def _replace_secrets(width: int, convert) -> None:
    op.add_column("users", sa.Column("totp_secret_new", sa.String(length=width), nullable=True))
    new = sa.table("users", sa.column("id", sa.Integer()), sa.column("totp_secret_new", sa.String()))
    connection = op.get_bind()
    kept = sa.select(users.c.id, users.c.totp_secret).where(users.c.totp_secret.is_not(None))
    for user_id, secret in connection.execute(kept).all():
        connection.execute(new.update().where(new.c.id == user_id).values(totp_secret_new=convert(secret)))
    op.drop_column("users", "totp_secret")
    op.execute("ALTER TABLE users RENAME COLUMN totp_secret_new TO totp_secret")


def upgrade():
    # Under the key the instance runs with (its SECRET_KEY), which is not in the database.
    _replace_secrets(255, seal)


def downgrade():
    # A secret this instance's keys cannot decrypt stops the downgrade (SecretUnreadable) rather
    # than being lost: give the instance the key it was encrypted under, or have it reset first.
    _replace_secrets(64, unseal)
