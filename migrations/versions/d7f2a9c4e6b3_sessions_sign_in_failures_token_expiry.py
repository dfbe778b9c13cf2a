"""Server-side sessions, failed sign-ins for throttling, API tokens that expire, a second factor.

Revision ID: d7f2a9c4e6b3
Revises: d7f2a9c4e6b1
Create Date: 2026-12-04 19:00:00

"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "d7f2a9c4e6b3"
down_revision = "d7f2a9c4e6b1"
branch_labels = None
depends_on = None

# Tokens made before tokens expired get the default lifetime from the day of the upgrade.
TOKEN_DAYS = 90


def upgrade():
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"], unique=False)
    op.create_index(op.f("ix_web_sessions_last_seen_at"), "web_sessions", ["last_seen_at"], unique=False)
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_sign_in_failures_email"), "sign_in_failures", ["email"], unique=False)
    op.create_index(op.f("ix_sign_in_failures_address"), "sign_in_failures", ["address"], unique=False)
    op.create_index(op.f("ix_sign_in_failures_failed_at"), "sign_in_failures", ["failed_at"], unique=False)
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(), nullable=True))
    tokens = sa.table("api_tokens", sa.column("expires_at", sa.DateTime()))
    expires = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=TOKEN_DAYS)
    op.execute(tokens.update().values(expires_at=expires))
    op.add_column("users", sa.Column("totp_secret", sa.String(length=64), nullable=True))
    op.add_column("users", sa.Column("totp_last_step", sa.Integer(), nullable=True))


def downgrade():
    # SQLite (3.35 and later) and PostgreSQL both drop a column in place.
    op.drop_column("users", "totp_last_step")
    op.drop_column("users", "totp_secret")
    op.drop_column("api_tokens", "expires_at")
    op.drop_index(op.f("ix_sign_in_failures_failed_at"), table_name="sign_in_failures")
    op.drop_index(op.f("ix_sign_in_failures_address"), table_name="sign_in_failures")
    op.drop_index(op.f("ix_sign_in_failures_email"), table_name="sign_in_failures")
    op.drop_table("sign_in_failures")
    op.drop_index(op.f("ix_web_sessions_last_seen_at"), table_name="web_sessions")
    op.drop_index(op.f("ix_web_sessions_user_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
