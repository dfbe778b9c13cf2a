"""Outbox ids are never handed out twice on SQLite (AUTOINCREMENT).

An outbox id is a position: every node records how far it has applied by it. Without AUTOINCREMENT,
SQLite gives a new row the highest id there is plus one, so once pruning had removed every row, the
next change was numbered from 1 again, below what each node had applied: no node applied it, and
the search's database check did not hide it either. Rows numbered so (any at or below the pruned
position) are moved past every id there is, so that every node applies them (applying twice does no
harm), and the sequence starts past the pruned position. PostgreSQL's sequence never went back:
nothing changes there.

Revision ID: b6d1f3a8c2e4
Revises: a9e4c7d2f1b8
Create Date: 2026-12-05 23:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "b6d1f3a8c2e4"
down_revision = "a9e4c7d2f1b8"
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    with op.batch_alter_table("search_outbox", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
        pass
    pruned = bind.scalar(sa.text("SELECT position FROM search_index_nodes WHERE node_id = 'pruned'")) or 0
    top = bind.scalar(sa.text("SELECT max(id) FROM search_outbox")) or 0
    past = max(pruned, top)
    if pruned:
        bind.execute(sa.text("UPDATE search_outbox SET id = id + :past WHERE id <= :pruned"), {"past": past, "pruned": pruned})
    top = max(past, bind.scalar(sa.text("SELECT max(id) FROM search_outbox")) or 0)
    bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'search_outbox'"))
    bind.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('search_outbox', :top)"), {"top": top})


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("search_outbox", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
        pass
