"""Consent holds when the index does not: with the index disk full, its writer lock held by another
process, or a node whose writer is stopped, withdrawals and saves go on through real HTTP, every
save answers 2xx and lands in the database, and no answer of any node shows a withdrawn testimony
(title, narrator, snippet, facet, suggestion). Once the fault is lifted the index catches up and
`archive index check` passes. Two app nodes on one PostgreSQL close it: a withdrawal on one is gone
from the other's search at once, and the other's index has caught up within 2 s."""

from __future__ import annotations

import errno
import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from archive.catalogue import models as catalogue
from archive.extensions import db
from archive.search.models import OutboxEntry
from archive.search.outbox import check, drain, rebuild, search_index, start_background_writer
from tests.conftest import make_app, sample_body

pytestmark = pytest.mark.committed

WITNESSES = 4
# A word of each witness's own, for title, narrator, place and transcript (digits would be words apart).
OWN = {1: "ashvale", 2: "brennock", 3: "corvinth", 4: "dulmere"}


def _http(method: str, url: str, token: str | None = None, body: dict | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@contextmanager
def _served(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def _witness(n: int) -> dict:
    """A public testimony whose title, narrator, place and transcript words are its own alone."""
    body = sample_body(
        title=f"Fictional road of witness Qorvel{OWN[n]}",
        narrator={
            "name": f"Zorya Fictive{OWN[n]}",
            "pseudonym": "Z. F.",
            "birth_year": 1950,
            "gender": "female",
        },
        places=[f"Hamletqor{OWN[n]}"],
    )
    body["segments"][0]["text"] = f"We walked past the amberlight{OWN[n]} mill in deep snow."
    return body


@dataclass
class Round:
    """Withdrawals and saves through HTTP, and the answers of every node checked after each."""

    nodes: list[str]
    tokens: dict
    own: dict[int, str]
    withdrawn: list[int] = field(default_factory=list)
    saved: dict[int, str] = field(default_factory=dict)
    answers: int = 0

    def save(self, base: str, title: str) -> None:
        status, text = _http(
            "POST", f"{base}/api/v1/testimonies", self.tokens["archivist"], sample_body(title=title)
        )
        assert status == 201, text
        self.saved[json.loads(text)["id"]] = title

    def withdraw(self, base: str, testimony_id: int) -> None:
        consent = {**sample_body()["consent"], "access": "withdrawn"}
        url = f"{base}/api/v1/testimonies/{testimony_id}/consent"
        status, text = _http("PUT", url, self.tokens["archivist"], consent)
        assert status == 201, text
        self.withdrawn.append(testimony_id)

    def assert_nothing_withdrawn_shows(self) -> None:
        forbidden = []
        for testimony_id in self.withdrawn:
            word = self.own[testimony_id]
            forbidden += [f"Qorvel{word}", f"Fictive{word}", f"amberlight{word}", f"Hamletqor{word}"]
        for base in self.nodes:
            for role in (None, "researcher", "archivist", "admin"):
                token = self.tokens[role] if role else None
                for path in (
                    "/api/v1/search?q=",
                    "/api/v1/search?q=snow&per_page=50",
                    "/api/v1/search?q=Qorvel*",
                    "/search/suggest?q=Zorya",
                    "/search/suggest?q=Hamletqor",
                ):
                    status, text = _http("GET", base + path, token)
                    assert status == 200, (path, text)
                    self.answers += 1
                    leaked = [word for word in forbidden if word in text]
                    assert not leaked, (base, role, path, leaked)
                    if path.startswith("/api/v1/search"):
                        shown = {hit["id"] for hit in json.loads(text)["hits"]}
                        assert not shown & set(self.withdrawn)
                status, text = _http("GET", f"{base}/search?q=snow")
                assert status == 200
                assert not [word for word in forbidden if word in text]

    def assert_every_save_kept(self) -> None:
        db.session.remove()
        titles = dict(db.session.execute(select(catalogue.Testimony.id, catalogue.Testimony.title)).all())
        for testimony_id, title in self.saved.items():
            assert titles.get(testimony_id) == title
        for testimony_id in self.withdrawn:
            testimony = db.session.get(catalogue.Testimony, testimony_id)
            assert testimony.consent.access == "withdrawn"


def _withdraw_and_save(fault: Round, base: str, ids: list[int]) -> None:
    for n, testimony_id in enumerate(ids[: WITNESSES - 1]):
        fault.withdraw(base, testimony_id)
        fault.save(base, f"Fictional save during the fault {n}")
        fault.assert_nothing_withdrawn_shows()


def _index_check_passes(app) -> None:
    result = app.test_cli_runner().invoke(args=["index", "check"])
    assert result.exit_code == 0, result.output
    assert "0 rows" in result.output


def _witnesses(create_testimony) -> dict[int, str]:
    """The public witnesses, published and indexed: testimony id to its own word."""
    return {create_testimony(**_witness(n)).id: OWN[n] for n in OWN}


# --- a full disk -----------------------------------------------------------------------------------


@contextmanager
def _full_disk(index: Path) -> Iterator[Path]:
    """A small tmpfs mounted on the index folder (we run as root here and in CI), filled up by the
    returned file; elsewhere a stand-in: the folder made read-only, which refuses every write."""
    index.mkdir(parents=True, exist_ok=True)
    mounted = os.geteuid() == 0 and (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(index)], capture_output=True
        ).returncode
        == 0
    )
    if not mounted:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield index / "filler"
    finally:
        subprocess.run(["umount", "-l", str(index)], check=False)


def _fill(path: Path) -> None:
    with open(path, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC


# A Whoosh writer that fails on a full disk leaves some of its file objects to the garbage
# collector (closed there, with a ResourceWarning); its lock is ours and let go (`codec.locked_writer`).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_full_index_disk_answers_every_save_and_shows_no_withdrawal(app, tokens, create_testimony):
    index = Path(app.config["INDEX_PATH"])
    with _full_disk(index) as filler:
        own = _witnesses(create_testimony)
        ids = list(own)
        with _served(app) as base:
            fault = Round([base], tokens, own)
            _fill(filler)
            _withdraw_and_save(fault, base, ids)
            # The index really could not be written: the withdrawals are still in it.
            assert check(), "the fault did not stop the index writer"
            filler.unlink()
            drain()
            fault.assert_nothing_withdrawn_shows()
        fault.assert_every_save_kept()
        assert check() == []
        _index_check_passes(app)
        search_index().close()
        # Whoosh's abandoned file objects are closed here, under this test's warning filter.
        gc.collect()


# --- the writer lock held by another process ---------------------------------------------------------


def test_a_writer_lock_held_elsewhere_answers_every_save_and_shows_no_withdrawal(
    app, tokens, create_testimony
):
    own = _witnesses(create_testimony)
    ids = list(own)
    app.config["OUTBOX_DRAIN_WAIT_SECONDS"] = 0.2
    lock = Path(app.config["INDEX_PATH"]) / ".writer.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import fcntl, sys, time
                handle = open({str(lock)!r}, "a+")
                fcntl.flock(handle, fcntl.LOCK_EX)
                print("held", flush=True)
                time.sleep(600)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with _served(app) as base:
            fault = Round([base], tokens, own)
            started = time.monotonic()
            _withdraw_and_save(fault, base, ids)
            assert check(), "the held lock did not stop the index writer"
            # Each save waited for the lock a moment, not the 30 s a blocking drain would.
            assert time.monotonic() - started < 30
            holder.kill()
            holder.wait()
            drain()
            fault.assert_nothing_withdrawn_shows()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    fault.assert_every_save_kept()
    assert check() == []
    _index_check_passes(app)


# --- a second node: its writer stopped, then two nodes on one PostgreSQL ----------------------------


@contextmanager
def _second_node(app, tmp_path: Path, *, writer: bool) -> Iterator:
    """Another app on the same database with an index folder of its own, as a second server."""
    node = make_app(
        tmp_path / "node-b",
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        OUTBOX_POLL_SECONDS=0.2,
    )
    stop = None
    try:
        with node.app_context():
            rebuild()
            if writer:
                stop = start_background_writer(node)
        yield node
    finally:
        if stop is not None:
            stop.set()
        with node.app_context():
            search_index().close()
            db.session.remove()
            db.engine.dispose()


def test_a_node_whose_writer_is_stopped_shows_no_withdrawal_made_on_another(
    app, tmp_path, tokens, create_testimony
):
    own = _witnesses(create_testimony)
    ids = list(own)
    with _second_node(app, tmp_path, writer=False) as node, _served(app) as a, _served(node) as b:
        fault = Round([a, b], tokens, own)
        _withdraw_and_save(fault, a, ids)
        with node.app_context():
            assert check(), "node b's index was written though its writer is stopped"
            # The writer comes back and catches up by itself.
            stop = start_background_writer(node)
            try:
                deadline = time.monotonic() + 5
                while check() and time.monotonic() < deadline:
                    time.sleep(0.05)
            finally:
                stop.set()
            assert check() == []
            _index_check_passes(node)
        fault.assert_nothing_withdrawn_shows()
    fault.assert_every_save_kept()


@pytest.mark.parametrize("backend", ["postgres"])
def test_two_nodes_on_postgresql_a_withdrawal_on_one_is_gone_from_the_other_at_once(
    app, tmp_path, tokens, create_testimony
):
    own = _witnesses(create_testimony)
    ids = list(own)
    with _second_node(app, tmp_path, writer=True) as node, _served(app) as a, _served(node) as b:
        fault = Round([a, b], tokens, own)
        status, text = _http("GET", f"{b}/api/v1/search?q=amberlightashvale")
        assert [hit["id"] for hit in json.loads(text)["hits"]] == [ids[0]], text
        fault.withdraw(a, ids[0])
        withdrawn_at = time.monotonic()
        # At once on node b, whatever its index holds: the database check.
        status, text = _http("GET", f"{b}/api/v1/search?q=amberlightashvale")
        assert json.loads(text)["hits"] == []
        fault.assert_nothing_withdrawn_shows()
        with node.app_context():
            while check() and time.monotonic() - withdrawn_at < 2:
                time.sleep(0.05)
            assert check() == [], "node b's index did not catch up within 2 s"
        fault.save(b, "Fictional save on the second node")
        _withdraw_and_save(fault, b, ids[1:])
    fault.assert_every_save_kept()


# --- lag is reported -------------------------------------------------------------------------------


@contextmanager
def _lock_held_elsewhere(app) -> Iterator[None]:
    """The index folder's writer lock taken by another process until the block ends."""
    Path(app.config["INDEX_PATH"]).mkdir(parents=True, exist_ok=True)
    lock = Path(app.config["INDEX_PATH"]) / ".writer.lock"
    script = f"""
        import fcntl, time
        handle = open({str(lock)!r}, "a+")
        fcntl.flock(handle, fcntl.LOCK_EX)
        print("held", flush=True)
        time.sleep(600)
    """
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def _touch(testimony_id: int) -> None:
    """An outbox row for a testimony, as any change writes one."""
    from archive.search.models import OutboxEntry

    db.session.add(OutboxEntry(testimony_id=testimony_id))
    db.session.commit()


def _healthz(base: str) -> tuple[int, dict]:
    status, text = _http("GET", f"{base}/healthz")
    return status, json.loads(text)


def test_healthz_and_the_admin_page_report_a_stuck_writer_and_its_lag_naming_no_testimony(
    app, tokens, create_testimony
):
    testimony = create_testimony(**_witness(1))
    app.config.update(INDEX_LAG_MAX_SECONDS=0.5, OUTBOX_POLL_SECONDS=0.05, OUTBOX_BACKOFF_MAX_SECONDS=0.2)
    stop = start_background_writer(app)
    try:
        with _served(app) as base:
            status, report = _healthz(base)
            assert (status, report["status"]) == (200, "ok"), report
            assert report["database"] == "ok"
            assert report["index"] == {"lag_rows": 0, "lag_seconds": 0.0, "writer": "running"}
            with _lock_held_elsewhere(app):
                _touch(testimony.id)
                deadline = time.monotonic() + 10
                while _healthz(base)[1]["index"]["writer"] != "stuck" and time.monotonic() < deadline:
                    time.sleep(0.1)
                status, text = _http("GET", f"{base}/healthz")
                report = json.loads(text)
                assert status == 503
                assert report["status"] == "degraded"
                assert report["index"]["writer"] == "stuck"
                assert report["index"]["lag_rows"] == 1 and report["index"]["lag_seconds"] >= 0.4
                assert "ashvale" not in text.lower() and "Fictive" not in text
                # The admin page says it in words.
                page = app.test_client()
                from tests.conftest import login

                db.session.remove()
                login(page, _user("admin"))
                words = page.get("/admin/health").get_data(as_text=True)
                assert "Stuck" in words and "1 changes behind" in words
            deadline = time.monotonic() + 5
            while _healthz(base)[0] != 200 and time.monotonic() < deadline:
                time.sleep(0.05)
            status, report = _healthz(base)
            assert (status, report["index"]["lag_rows"], report["index"]["writer"]) == (200, 0, "running")
    finally:
        stop.set()


def _user(key: str):
    from archive.accounts.service import user_by_email

    return user_by_email(f"{key}@example.org")


def test_index_check_prints_the_lag_and_fails_when_behind_more_than_the_setting(app, create_testimony):
    testimony = create_testimony(**_witness(1))
    app.config.update(INDEX_LAG_MAX_SECONDS=0.2, OUTBOX_DRAIN_WAIT_SECONDS=0.1)
    runner = app.test_cli_runner()
    with _lock_held_elsewhere(app):
        _touch(testimony.id)
        time.sleep(0.3)
        behind_by = runner.invoke(args=["index", "check"])
    assert behind_by.exit_code == 1
    assert "Outbox lag on this node: 1 rows" in behind_by.output
    caught_up = runner.invoke(args=["index", "check"])
    assert caught_up.exit_code == 0, caught_up.output
    assert "Outbox lag on this node: 0 rows, 0.0 s behind." in caught_up.output


# --- the database check alone, on an index that is wrong and says it is not --------------------------


def test_an_index_wrong_past_its_position_still_answers_as_the_database_says(app, users, create_testimony):
    """Every narrowing committed, none applied, and the position moved past them as if they were:
    only the check of the hits against the database stands between the index and the answer."""
    from archive.consent.service import validate_consent
    from archive.operations import approve, change_consent, submit_for_review, update_testimony
    from archive.search.outbox import index_root

    gone, hushed, cut, renamed = (create_testimony(**_witness(n)) for n in (1, 2, 3, 4))
    # The answers asked below are asked once before too: the index keeps them, and only the
    # database's word stands between a kept answer and the narrowings.
    with _served(app) as site:
        before = json.loads(_http("GET", f"{site}/api/v1/search?q=snow&per_page=50")[1])
        _http("GET", f"{site}/search?q=snow")
    assert {gone.id, hushed.id, cut.id, renamed.id} <= {hit["id"] for hit in before["hits"]}
    base = sample_body()["consent"]
    narrowed = {
        gone: {**base, "access": "withdrawn"},
        hushed: {**base, "anonymize_narrator": True},
        cut: {**base, "redactions": [{"start_ms": 0, "end_ms": 60000, "reason": "names a neighbour"}]},
    }
    for testimony, consent in narrowed.items():
        change_consent(users["archivist"], testimony, validate_consent(consent))
    # A title and a narrator's name corrected, reviewed and published; and a later edit of the
    # title still in the working copy, which the public must not read before it is approved.
    update_testimony(
        users["archivist"],
        renamed,
        {"title": "Fictional road, title corrected", "narrator": {"name": "Zorya Corrected"}},
        renamed.version,
    )
    submit_for_review(users["archivist"], renamed)
    approve(users["moderator"], renamed)
    update_testimony(users["archivist"], renamed, {"title": "Fictional road, draft title"}, renamed.version)
    db.session.info.pop("outbox_dirty", None)
    state_file = index_root() / "outbox-position.json"
    state = json.loads(state_file.read_text())
    state["position"] = db.session.scalar(select(db.func.max(OutboxEntry.id)))
    state_file.write_text(json.dumps(state))
    assert len(check()) >= 3, "the index should still hold the old documents"

    with _served(app) as site:
        status, text = _http("GET", f"{site}/api/v1/search?q=snow&per_page=50")
        assert status == 200
        hits = {hit["id"]: hit for hit in json.loads(text)["hits"]}
        page = _http("GET", f"{site}/search?q=snow")[1]
    assert gone.id not in hits and "Qorvelashvale" not in text and "Qorvelashvale" not in page
    assert hits[hushed.id]["narrator"] == "Z. F." and "Fictivebrennock" not in text + page
    assert all(segment["start_ms"] >= 60000 for segment in hits[cut.id]["segments"])
    assert "amberlightcorvinth" not in text + page
    assert hits[renamed.id]["title"] == "Fictional road, title corrected"
    assert hits[renamed.id]["narrator"] == "Zorya Corrected"
    assert "Qorvel" + OWN[4] not in text + page and "Fictive" + OWN[4] not in text + page
    assert "draft title" not in text + page


# --- one writer per node, under `archive serve` with two workers -------------------------------------


@contextmanager
def _archive_serve(app, **settings) -> Iterator[tuple[str, int]]:
    """`archive serve --workers 2` on the test's database and index folder: its address and the
    gunicorn master's pid, once both workers have loaded the app (each then runs a writer thread)."""
    import socket

    from tests.conftest import TEST_PASSWORD_HASH

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    env.update(
        ARCHIVE_INSTANCE_PATH=app.config["INSTANCE_PATH"],
        ARCHIVE_INDEX_PATH=app.config["INDEX_PATH"],
        ARCHIVE_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        ARCHIVE_SECRET_KEY="test-only-key",
        ARCHIVE_PASSWORD_HASH_METHOD=TEST_PASSWORD_HASH,
        **{f"ARCHIVE_{key}": str(value) for key, value in settings.items()},
    )
    archive = str(Path(sys.executable).with_name("archive"))
    server = subprocess.Popen(
        [archive, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(_workers(server.pid)) < 2 or not all(_threads(pid) >= 2 for pid in _workers(server.pid)):
            assert server.poll() is None and time.monotonic() < deadline, "archive serve did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", server.pid
    finally:
        # The master and its workers at once: a graceful stop is not what is tested, and takes a second.
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


def _workers(master: int) -> list[int]:
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(pid) for pid in children.split()]


def _threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except FileNotFoundError:
        return 0


def _database_clients(since) -> int:
    """How many processes (each names itself to the server: `application_name`) sent the database
    anything in the last 0.3 s on a connection opened since then, this one's aside: with no request
    made, only the process whose writer polls the outbox (every 0.1 s here) does."""
    from sqlalchemy import text

    with db.engine.connect() as connection:
        return connection.scalar(
            text(
                "SELECT count(DISTINCT application_name) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_start > :since AND query_start > now() - interval '0.3 seconds'"
            ),
            {"since": since},
        )


def _healthz_everywhere(base: str, asks: int = 12) -> list[tuple[int, dict]]:
    """/healthz asked from several clients at once, so that every worker answers some."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda _: _healthz(base), range(asks)))


@pytest.mark.parametrize("backend", ["postgres"])
def test_one_worker_writes_the_index_another_takes_over_when_it_is_killed_and_every_worker_reports_it(
    app, users, create_testimony
):
    from archive.consent.service import validate_consent
    from archive.operations import change_consent
    from archive.search.outbox import writer_state

    own = _witnesses(create_testimony)
    first = next(iter(own))
    settings = {"OUTBOX_POLL_SECONDS": 0.1, "INDEX_LAG_MAX_SECONDS": 0.5, "OUTBOX_BACKOFF_MAX_SECONDS": 1}
    started = db.session.scalar(select(db.func.now()))
    db.session.commit()
    with _archive_serve(app, **settings) as (base, master):
        # Sampled for a while: a second worker's writer would poll the outbox in this time, too.
        polling = []
        while len(polling) < 10:
            polling.append(_database_clients(started))
            time.sleep(0.05)
        assert max(polling) == 1
        writer = writer_state().pid
        assert writer in _workers(master)

        os.kill(writer, signal.SIGKILL)
        killed_at = time.monotonic()
        testimony = db.session.get(catalogue.Testimony, first)
        change_consent(
            users["archivist"],
            testimony,
            validate_consent({**sample_body()["consent"], "access": "withdrawn"}),
        )
        db.session.info.pop("outbox_dirty", None)
        while (check() or _healthz(base)[1]["status"] != "ok") and time.monotonic() - killed_at < 3:
            time.sleep(0.05)
        assert check() == [], "no other worker applied the withdrawal"
        answers = _healthz_everywhere(base)
        assert {(status, report["status"], report["index"]["writer"]) for status, report in answers} == {
            (200, "ok", "running")
        }
        assert writer_state().pid not in (writer, 0)
        assert time.monotonic() - killed_at < 5
        status, text = _http("GET", f"{base}/api/v1/search?q=amberlight{own[first]}")
        assert (status, json.loads(text)["hits"]) == (200, [])

        with _lock_held_elsewhere(app):
            held_at = time.monotonic()
            while _healthz(base)[1]["index"]["writer"] != "stuck" and time.monotonic() - held_at < 5:
                time.sleep(0.05)
            answers = _healthz_everywhere(base)
        assert {(status, report["index"]["writer"]) for status, report in answers} == {(503, "stuck")}


# A Whoosh writer that fails on a full disk leaves some of its file objects to the garbage collector.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_full_index_disk_shows_the_writer_failing_with_its_error_on_the_admin_page(app, create_testimony):
    app.config.update(OUTBOX_POLL_SECONDS=0.05, OUTBOX_BACKOFF_MAX_SECONDS=0.2)
    with _full_disk(Path(app.config["INDEX_PATH"])) as filler:
        testimony = create_testimony(**_witness(1))
        stop = start_background_writer(app)
        try:
            with _served(app) as base:
                deadline = time.monotonic() + 5
                while _healthz(base)[1]["index"]["writer"] != "running" and time.monotonic() < deadline:
                    time.sleep(0.05)
                _fill(filler)
                _touch(testimony.id)
                while _healthz(base)[1]["index"]["writer"] != "failing" and time.monotonic() < deadline:
                    time.sleep(0.05)
                status, report = _healthz(base)
                assert (status, report["index"]["writer"]) == (503, "failing"), report
                page = app.test_client()
                from tests.conftest import login

                db.session.remove()
                login(page, _user("admin"))
                words = page.get("/admin/health").get_data(as_text=True)
                assert "No space left on device" in words
        finally:
            stop.set()
            # Its last failed round ends before the disk goes, under this test's warning filter.
            from archive.search.outbox import writer_state

            deadline = time.monotonic() + 5
            while not getattr(writer_state(), "stopped", False) and time.monotonic() < deadline:
                time.sleep(0.02)
            filler.unlink(missing_ok=True)
            search_index().close()
            gc.collect()
