"""The outbox keeps every index in step with the database: concurrent writers, a writer killed in
the middle, rows that commit out of order, and another process's changes applied within a second."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import insert

from archive.extensions import db
from archive.search.models import OutboxEntry
from archive.search.outbox import check, drain, search_index, start_background_writer
from archive.search.query import search
from tests.conftest import sample_body

# Other processes and a background thread work on the same database: what the test writes commits.
pytestmark = pytest.mark.committed


def _script(app, body: str) -> list[str]:
    """A separate Python process working on the same database and index folder as the test's app."""
    prelude = f"""
        import sys
        sys.path.insert(0, {str(app.root_path + "/..")!r})
        from archive import create_app
        from archive.extensions import db
        app = create_app({{"INSTANCE_PATH": {app.instance_path!r}, "TESTING": True,
                          "SQLALCHEMY_DATABASE_URI": {app.config["SQLALCHEMY_DATABASE_URI"]!r},
                          "INDEX_PATH": {app.config["INDEX_PATH"]!r}, "SECRET_KEY": "x"}})
        ctx = app.app_context(); ctx.push()
    """
    return [sys.executable, "-c", textwrap.dedent(prelude) + textwrap.dedent(body)]


def _create_in_process(app, email: str, count: int, tag: str) -> subprocess.Popen:
    body = f"""
        from archive.accounts.service import user_by_email
        from archive.operations import create_testimony
        from archive.search.outbox import drain
        from tests.conftest import sample_body
        user = user_by_email({email!r})
        for n in range({count}):
            create_testimony(user, sample_body(title=f"{tag} {{n}}"), publish=True)
            drain()
    """
    return subprocess.Popen(_script(app, body), cwd=app.root_path + "/..")


def test_two_processes_writing_and_draining_at_once_lose_no_change(app, users):
    workers = [_create_in_process(app, users["admin"].email, 8, tag) for tag in ("north", "south")]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    drain()
    assert check() == []
    answer = search(search_index(), "public", "", per_page=50)
    assert answer["total"] == 16


def test_a_writer_killed_mid_drain_leaves_its_rows_to_the_next(app, users):
    from archive.operations import create_testimony

    for n in range(3):
        create_testimony(users["admin"], sample_body(title=f"Entry {n}"), publish=True)
    killed = subprocess.Popen(
        _script(
            app,
            """
            import os
            from archive.search import index
            def die(self, changes):
                list(changes)
                os._exit(9)  # dies holding the writer lock, before anything is applied
            index.SearchIndex.apply = die
            from archive.search.outbox import drain
            drain()
            """,
        ),
        cwd=app.root_path + "/..",
    )
    assert killed.wait(timeout=60) == 9
    assert search(search_index(), "public", "")["total"] == 0
    drain()
    assert search(search_index(), "public", "")["total"] == 3
    assert check() == []


def test_a_change_that_commits_after_a_later_one_is_still_applied(app, users):
    from archive.operations import create_testimony

    first = create_testimony(users["admin"], sample_body(title="Early"), publish=True)
    late = create_testimony(users["admin"], sample_body(title="Late"), publish=True)
    db.session.execute(db.delete(OutboxEntry))
    db.session.commit()
    # Row 100 commits and is applied while row 50 (an older transaction) is still open.
    db.session.execute(insert(OutboxEntry).values(id=100, testimony_id=first.id))
    db.session.commit()
    drain()
    assert [h["title"] for h in search(search_index(), "public", "")["hits"]] == ["Early"]
    db.session.execute(insert(OutboxEntry).values(id=50, testimony_id=late.id))
    db.session.commit()
    drain()
    assert {h["title"] for h in search(search_index(), "public", "")["hits"]} == {"Early", "Late"}


def test_the_background_writer_applies_another_process_change_within_a_second(app, users):
    stop = start_background_writer(app)
    # Another process publishes without draining: only the background writer can apply it.
    body = """
        from archive.accounts.service import user_by_email
        from archive.operations import create_testimony
        from tests.conftest import sample_body
        create_testimony(user_by_email("admin@example.org"), sample_body(title="From elsewhere"),
                         publish=True)
    """
    assert subprocess.run(_script(app, body), cwd=app.root_path + "/..", timeout=60).returncode == 0
    committed = time.monotonic()
    while search(search_index(), "public", "elsewhere")["total"] == 0:
        assert time.monotonic() - committed < 1.0, "not searchable within a second"
        time.sleep(0.02)
    stop.set()


def test_an_index_written_in_another_layout_is_rebuilt_rather_than_read(app, create_testimony):
    import json

    from archive.search.outbox import has_index, index_root

    testimony = create_testimony(title="A fictional testimony about the mill pond")
    state_file = index_root() / "outbox-position.json"
    state = json.loads(state_file.read_text())
    del state["format"]  # as a version before layouts were recorded wrote it
    state_file.write_text(json.dumps(state))
    assert not has_index()

    assert drain() == 1
    assert has_index()
    assert check() == []
    assert [h["id"] for h in search(search_index(), "public", "mill pond")["hits"]] == [testimony.id]


def _age_outbox(seconds: float) -> None:
    """Make every outbox row as old as that (rows younger than a gap's life are never pruned)."""
    import datetime as dt

    from archive.timeutil import utcnow

    db.session.execute(db.update(OutboxEntry).values(created_at=utcnow() - dt.timedelta(seconds=seconds)))
    db.session.commit()


def _outbox_rows() -> int:
    db.session.commit()  # a fresh snapshot: the pruning was another connection's
    return db.session.scalar(db.select(db.func.count()).select_from(OutboxEntry))


def test_rows_every_active_node_applied_are_pruned_and_a_node_gone_too_long_rebuilds(app, tmp_path, users):
    import datetime as dt

    from archive.operations import create_testimony
    from archive.search.models import IndexNode
    from archive.search.outbox import node_id, prune, rebuild
    from archive.timeutil import utcnow
    from tests.conftest import make_app

    for n in range(2):
        create_testimony(users["admin"], sample_body(title=f"Before the other node {n}"), publish=True)
    drain()
    other = make_app(tmp_path / "node-b", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
    with other.app_context():
        rebuild()
        other_id = node_id()
    for n in range(3):
        create_testimony(users["admin"], sample_body(title=f"While the other node sleeps {n}"), publish=True)
    drain()
    _age_outbox(3600)
    positions = dict(db.session.execute(db.select(IndexNode.node_id, IndexNode.position)).all())
    assert positions[node_id()] > positions[other_id]

    # The other node is active and behind: only what it applied too goes.
    before = _outbox_rows()
    assert prune(7) == 2
    assert _outbox_rows() == before - 2
    assert db.session.scalar(db.select(db.func.min(OutboxEntry.id))) == positions[other_id] + 1

    # Silent for eight days, it holds nothing back any more.
    db.session.execute(
        db.update(IndexNode)
        .where(IndexNode.node_id == other_id)
        .values(updated_at=utcnow() - dt.timedelta(days=8))
    )
    db.session.commit()
    assert prune(7) == 3
    assert _outbox_rows() == 0

    # Back again below what was pruned: it rebuilds instead of missing the three.
    with other.app_context():
        drain()
        assert search(search_index(), "public", "sleeps")["total"] == 3
        assert check() == []
        search_index().close()
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_once_every_row_is_pruned_the_next_change_is_numbered_past_them_and_applied(app, users):
    """Outbox ids are positions. Once pruning has taken every row, a withdrawal must still be
    numbered past what was pruned: numbered from 1 again (as SQLite did without AUTOINCREMENT),
    every node would take it for applied and the database check would not hide it either."""
    from archive.operations import create_testimony, withdraw
    from archive.search.models import IndexNode
    from archive.search.outbox import behind, prune, rebuild

    made = [
        create_testimony(users["admin"], sample_body(title=f"The fictional ferry crossing {n}"), publish=True)
        for n in range(2)
    ]
    drain()
    _age_outbox(3600)
    assert prune(7) >= 2
    assert _outbox_rows() == 0
    pruned = db.session.get(IndexNode, IndexNode.PRUNED).position

    withdraw(users["admin"], made[0])
    newest = db.session.scalar(db.select(db.func.max(OutboxEntry.id)))
    assert newest > pruned
    # Before this node applies it, searches leave it out; then the drain applies it (one
    # testimony re-indexed, not a rebuild of both).
    assert made[0].id in behind().testimonies
    assert drain() == 1
    assert [h["id"] for h in search(search_index(), "public", "ferry crossing")["hits"]] == [made[1].id]
    assert check() == []

    # A rebuild with nothing left in the outbox starts past the pruned rows, so the next drain
    # applies changes rather than rebuilding again.
    db.session.commit()  # ends the read the search began, from before the drain wrote
    _age_outbox(3600)
    prune(7)
    assert _outbox_rows() == 0
    rebuild()
    db.session.commit()  # the rebuild wrote from a connection of its own
    withdraw(users["admin"], made[1])
    assert drain() == 1
    assert search(search_index(), "public", "ferry crossing")["total"] == 0


def test_a_rebuild_killed_mid_way_leaves_nothing_the_next_one_does_not_clean(app, create_testimony):
    from archive.search.outbox import index_root, rebuild

    for n in range(3):
        create_testimony(title=f"A fictional testimony of the orchard {n}")
    killed = subprocess.Popen(
        _script(
            app,
            """
            import os
            from archive.search import index
            def die(sources, target):
                os._exit(9)  # dies once its staging and fresh generations are on disk
            index.link_segments = die
            from archive.search.outbox import rebuild
            rebuild()
            """,
        ),
        cwd=app.root_path + "/..",
    )
    assert killed.wait(timeout=120) == 9
    root = index_root()
    left = {p.name.split("-")[0] for p in root.glob(".*-*")}
    assert ".rebuild" in left
    generations = {audience: len(list((root / audience).glob("gen-*"))) for audience in ("public", "staff")}
    assert all(count >= 2 for count in generations.values())

    rebuild()

    assert not list(root.glob(".rebuild-*")) and not list(root.glob(".apply-*"))
    # The live generation and the one before it (readers may still hold it), nothing of the dead one.
    for audience in ("public", "research", "staff"):
        assert len(list((root / audience).glob("gen-*"))) <= 2
    assert search(search_index(), "public", "orchard")["total"] == 3
    assert check() == []


def test_a_rebuild_after_pruning_looks_again_at_no_id_pruning_removed(app, users):
    from archive.operations import create_testimony
    from archive.search.models import IndexNode
    from archive.search.outbox import behind, prune, rebuild

    for n in range(4):
        create_testimony(users["admin"], sample_body(title=f"A fictional testimony {n}"), publish=True)
    drain()
    _age_outbox(3600)
    assert prune(7) > 0
    pruned = db.session.get(IndexNode, IndexNode.PRUNED).position
    db.session.rollback()
    rebuild()
    # Every id up to the position was pruned: none is a gap that a later commit might still fill,
    # so a search's checks carry no list of them.
    assert behind().gaps == ()
    db.session.rollback()  # the read above ends before this session writes again
    # An id above what was pruned and missing from the outbox is still looked at again.
    late = create_testimony(users["admin"], sample_body(title="A fictional late testimony"), publish=True)
    db.session.execute(db.delete(OutboxEntry).where(OutboxEntry.testimony_id == late.id))
    db.session.execute(insert(OutboxEntry).values(id=pruned + 50, testimony_id=late.id))
    db.session.commit()
    rebuild()
    assert set(behind().gaps) == set(range(pruned + 1, pruned + 50))


def test_a_change_that_commits_during_a_rebuild_below_its_position_is_still_applied(app, users):
    from archive.operations import create_testimony
    from archive.search.outbox import rebuild

    early = create_testimony(users["admin"], sample_body(title="Early"), publish=True)
    late = create_testimony(users["admin"], sample_body(title="Late"), publish=True)
    db.session.execute(db.delete(OutboxEntry))
    db.session.commit()
    # Row 100 is there when the rebuild reads the position; row 50, an older transaction, commits
    # after the rebuild read the testimonies (here: after the rebuild, with a change it never saw).
    db.session.execute(insert(OutboxEntry).values(id=100, testimony_id=early.id))
    db.session.commit()
    rebuild()
    from archive.consent.service import validate_consent
    from archive.operations import change_consent

    change_consent(
        users["archivist"], late, validate_consent({**sample_body()["consent"], "access": "withdrawn"})
    )
    db.session.execute(db.delete(OutboxEntry).where(OutboxEntry.id > 100))
    db.session.execute(insert(OutboxEntry).values(id=50, testimony_id=late.id))
    db.session.commit()
    drain()
    assert [h["title"] for h in search(search_index(), "public", "")["hits"]] == ["Early"]
    assert check() == []
