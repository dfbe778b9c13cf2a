"""`archive backup DIR` and `archive restore DIR` on both databases, on instances of their own (an
instance folder, and a SQLite file or a PostgreSQL schema), as an administrator would run them:
a backup taken while a writer saves, restored into an empty instance, gives back every row of every
table, every stored file byte for byte and a search that finds it; a damaged backup, a full instance
or the other kind of database is refused before anything is written. The commands run in-process
on a fresh app each, as a new process would make it; one test runs the installed console script,
and one kills it half-way through a restore."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from archive import create_app
from archive.cli import main
from archive.extensions import db
from archive.preservation.backup import RestoreUnfinished
from archive.search.models import IndexNode
from tests.conftest import PASSWORD, TEST_PASSWORD_HASH, postgres_url, sample_body

ARCHIVE = str(Path(sys.executable).with_name("archive"))
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@dataclass
class Instance:
    """An instance folder and its database, as `ARCHIVE_INSTANCE_PATH` and `ARCHIVE_DATABASE_URL`."""

    folder: Path
    url: str

    def app(self):
        return create_app(
            {
                "INSTANCE_PATH": str(self.folder),
                "SQLALCHEMY_DATABASE_URI": self.url,
                "OUTBOX_THREAD": False,
                "PASSWORD_HASH_METHOD": TEST_PASSWORD_HASH,
            }
        )

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("ARCHIVE_DATABASE_URL", "ARCHIVE_SECRET_KEY")}
        env.update(
            ARCHIVE_INSTANCE_PATH=str(self.folder),
            ARCHIVE_DATABASE_URL=self.url,
            ARCHIVE_PASSWORD_HASH_METHOD=TEST_PASSWORD_HASH,
        )
        return env

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """`archive ARGS…` in this process, its app made as the console script makes it, from this
        instance's environment (and closed after)."""
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.environment())
        made = []

        def app():
            made.append(main.create_app())
            return made[-1]

        try:
            result = CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=app))
        finally:
            for each in made:
                with each.app_context():
                    db.session.remove()
                    db.engine.dispose()
            os.environ.clear()
            os.environ.update(saved)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return subprocess.CompletedProcess(["archive", *args], result.exit_code, result.stdout, result.stderr)

    def run_installed(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [ARCHIVE, *args], env=self.environment(), capture_output=True, text=True, timeout=120
        )


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def place(backend, tmp_path) -> Iterator:
    """`place(name)`: a new instance folder with a database of its own. On PostgreSQL a schema of
    its own in the test database, whose name a dump carries: a restore goes to a schema of the same
    name, emptied (`emptied(instance)`), as on a new server."""
    schemas: list[str] = []
    base = postgres_url() if backend == "postgres" else None
    if backend == "postgres" and base is None:
        pytest.skip("no PostgreSQL server: set ARCHIVE_TEST_POSTGRES_URL (.ci/run does)")
    admin = create_engine(base, isolation_level="AUTOCOMMIT") if base else None

    def make(name: str, schema: str | None = None) -> Instance:
        folder = tmp_path / name
        if backend == "sqlite":
            folder.mkdir()
            return Instance(folder, f"sqlite:///{folder / 'archive.sqlite3'}")
        if schema is None:
            schema = f"backup_{uuid.uuid4().hex[:10]}"
            schemas.append(schema)
            with admin.connect() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        return Instance(folder, url.render_as_string(hide_password=False))

    yield make
    if admin is not None:
        with admin.connect() as connection:
            for schema in schemas:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def emptied(source: Instance, place, name: str) -> Instance:
    """A new, empty instance where a restore of SOURCE's backup can go: a new folder, and a new
    SQLite file or SOURCE's PostgreSQL schema dropped and made again."""
    if source.url.startswith("sqlite"):
        return place(name)
    schema = make_url(source.url).query["options"].removeprefix("-csearch_path=")
    engine = create_engine(source.url)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return place(name, schema)


def _accounts():
    from archive.accounts.models import User
    from archive.accounts.service import create_user

    found = {u.role: u for u in db.session.scalars(select(User))}
    for role in ("archivist", "moderator", "admin"):
        if role not in found:
            found[role] = create_user(None, f"{role}@example.org", role, PASSWORD, name=role.title())
    db.session.commit()
    return found


def save_testimony(title: str, *, access: str = "public", scan: bytes | None = None) -> int:
    """A testimony entered, reviewed and published through the operations, as people do."""
    from io import BytesIO

    from archive.consent.service import validate_consent
    from archive.operations import add_media, change_consent, create_testimony, review, submit_for_review

    people = _accounts()
    testimony = create_testimony(people["archivist"], sample_body(title=title))
    if scan is not None:
        add_media(people["archivist"], testimony, BytesIO(scan), "consent-form.pdf", "consent_form")
    submit_for_review(people["archivist"], testimony)
    review(people["moderator"], testimony, "approve", "Fine.")
    if access != "public":
        change_consent(
            people["archivist"], testimony, validate_consent({**sample_body()["consent"], "access": access})
        )
    return testimony.id


def filled(instance: Instance, titles: list[str]) -> None:
    assert instance.run("db", "upgrade").returncode == 0
    app = instance.app()
    from archive.search.outbox import drain

    with app.app_context():
        for number, title in enumerate(titles):
            access = "research" if number == 1 else "withdrawn" if number == 2 else "public"
            save_testimony(title, access=access, scan=PDF + f"fictional form {number}".encode())
        drain()
        db.session.remove()
        db.engine.dispose()


def every_row(instance: Instance) -> dict[str, list[tuple]]:
    """Every table's rows, all columns, in a stable order."""
    engine = create_engine(instance.url)
    with engine.connect() as connection:
        tables = inspect(connection).get_table_names()
        quote = connection.dialect.identifier_preparer.quote
        rows = {
            table: sorted(
                (tuple(row) for row in connection.execute(text(f"SELECT * FROM {quote(table)}"))), key=repr
            )
            for table in tables
        }
    engine.dispose()
    return rows


def the_record(rows: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """The rows but for the index positions of the nodes that served an instance (each node's own,
    not the archive's: a restore starts them anew) and its sessions (a restore signs everyone out)."""
    kept = [r for r in rows["search_index_nodes"] if r[0] == IndexNode.PRUNED]
    return {**rows, "search_index_nodes": kept, "web_sessions": []}


def besides_the_restore(rows: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """The record but for the one audit event the restore itself records (which must be there) and
    the position of the one index the restore built (which must be there too)."""
    restores = [r for r in rows["audit_events"] if "instance.restore" in r]
    assert len(restores) == 1, rows["audit_events"]
    nodes = [r for r in rows["search_index_nodes"] if r[0] != IndexNode.PRUNED]
    assert len(nodes) == 1, rows["search_index_nodes"]
    assert rows["web_sessions"] == []
    return the_record({**rows, "audit_events": [r for r in rows["audit_events"] if r not in restores]})


def stored_files(instance: Instance) -> dict[str, bytes]:
    root = instance.folder / "media" / "files"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_backup_taken_while_a_writer_saves_restores_whole(place, tmp_path):
    source = place("source")
    filled(source, ["A fictional testimony of the first winter", "A second fictional testimony"])
    app = source.app()
    saved: list[int] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        with app.app_context():
            try:
                while not stop.is_set():
                    saved.append(
                        save_testimony(f"Saved during the backup {len(saved)}", scan=PDF + os.urandom(64))
                    )
            except BaseException as e:  # the test fails on it below
                failures.append(e)
            finally:
                db.session.remove()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(saved) < 2 and thread.is_alive():
            threading.Event().wait(0.05)
        # A backup is short; on a busy machine the writer may not finish a save while one runs. Take
        # another (each a whole backup in its own folder) until one overlapped a save, at most five.
        for attempt in range(5):
            backup = tmp_path / f"backup-{attempt}"
            before = len(saved)
            done = source.run("backup", str(backup))
            after = len(saved)
            if done.returncode or after > before or not thread.is_alive():
                break
        # The writer goes on after the backup: the backup holds a state between these two.
        while len(saved) < after + 2 and thread.is_alive():
            threading.Event().wait(0.05)
    finally:
        stop.set()
        thread.join(60)
    with app.app_context():
        db.engine.dispose()
    assert not failures, failures
    assert done.returncode == 0, done.stderr
    assert after > before, "the writer saved nothing while the backup ran"

    target = emptied(source, place, "target")
    restored = target.run("restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    from archive.catalogue.models import Testimony
    from archive.consent.models import ConsentVersion
    from archive.review.models import ReviewDecision, Revision

    with target.app().app_context():
        testimonies = db.session.scalars(select(Testimony)).all()
        assert 2 + before <= len(testimonies) <= 2 + after + 1
        for testimony in testimonies:
            versions = set(
                db.session.scalars(select(Revision.version).where(Revision.testimony_id == testimony.id))
            )
            assert testimony.version in versions, testimony.title
            assert db.session.scalar(
                select(ConsentVersion.id).where(ConsentVersion.testimony_id == testimony.id)
            )
            if testimony.state == "published":
                assert testimony.published_revision is not None
                assert db.session.scalar(
                    select(ReviewDecision.id).where(
                        ReviewDecision.testimony_id == testimony.id, ReviewDecision.decision == "approve"
                    )
                )
        db.session.remove()
        db.engine.dispose()
    assert target.run("fixity").returncode == 0
    assert target.run("index", "check").returncode == 0


def test_a_restore_into_an_empty_instance_gives_back_every_row_and_file(place, tmp_path, backend):
    source = place("source")
    filled(source, ["The fictional shawl of the winter road", "A research testimony", "A withdrawn one"])
    (source.folder / "config.py").write_text("PER_PAGE = 12\n")
    rows, files = every_row(source), stored_files(source)
    done = source.run("backup", str(tmp_path / "backup"))
    assert done.returncode == 0, done.stderr
    key = (source.folder / "secret_key").read_text()
    assert len(files) == 3 and rows["testimonies"] and rows["audit_events"]

    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["database"] == ("sqlite" if backend == "sqlite" else "postgresql")
    assert manifest["alembic_revision"] and manifest["archive_version"] and manifest["created_at"]
    assert {f"media/files/{name}" for name in files} <= set(manifest["files"])
    assert not any(name.startswith(("index", "media/renditions")) for name in manifest["files"])
    assert not list(tmp_path.glob(".backup.partial-*"))

    target = emptied(source, place, "target")
    # An instance its administrator has just made: the schema is there, the tables are empty.
    assert target.run("db", "upgrade").returncode == 0
    restored = target.run("restore", str(tmp_path / "backup"))
    assert restored.returncode == 0, restored.stderr + restored.stdout

    assert besides_the_restore(every_row(target)) == the_record(rows)
    assert stored_files(target) == files
    assert (target.folder / "secret_key").read_text() == key
    assert (target.folder / "config.py").read_text() == "PER_PAGE = 12\n"
    assert target.run("fixity").returncode == 0
    assert target.run("index", "check").returncode == 0
    from archive.search.service import search_for

    with target.app().app_context():
        hits = search_for(None, "shawl")["hits"]
        assert [h["title"] for h in hits] == ["The fictional shawl of the winter road"]
        db.session.remove()
        db.engine.dispose()


def test_restore_refuses_an_instance_that_is_not_empty(place, tmp_path):
    source = place("source")
    filled(source, ["A fictional testimony"])
    assert source.run("backup", str(tmp_path / "backup")).returncode == 0
    rows = every_row(source)

    refused = source.run("restore", str(tmp_path / "backup"))
    assert refused.returncode == 1
    assert "not empty" in refused.stderr and "testimonies" in refused.stderr
    assert every_row(source) == rows

    # Stored media alone make an instance that is not empty either.
    target = emptied(source, place, "target")
    (target.folder / "media" / "files" / "ab").mkdir(parents=True)
    (target.folder / "media" / "files" / "ab" / "abcdef").write_bytes(b"a file from elsewhere")
    refused = target.run("restore", str(tmp_path / "backup"))
    assert refused.returncode == 1 and "stored media" in refused.stderr


@pytest.mark.parametrize("damaged", ["media", "database"])
def test_restore_refuses_a_damaged_backup_naming_the_file_and_writes_nothing(place, tmp_path, damaged):
    source = place("source")
    filled(source, ["A fictional testimony"])
    backup = tmp_path / "backup"
    assert source.run("backup", str(backup)).returncode == 0
    if damaged == "media":
        name = next(
            n for n in json.loads((backup / "manifest.json").read_text())["files"] if n.startswith("media/")
        )
    else:
        name = "database.sqlite3" if source.url.startswith("sqlite") else "database.pgdump"
    data = bytearray((backup / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (backup / name).write_bytes(bytes(data))

    target = emptied(source, place, "target")
    assert target.run("db", "upgrade").returncode == 0
    rows = every_row(target)
    refused = target.run("restore", str(backup))
    assert refused.returncode == 1
    assert name in refused.stderr and "SHA-256" in refused.stderr
    assert every_row(target) == rows
    assert not (target.folder / "media" / "files").exists()


def test_a_backup_is_restored_only_on_the_kind_of_database_it_came_from(tmp_path):
    url = postgres_url()
    if url is None:
        pytest.skip("no PostgreSQL server: set ARCHIVE_TEST_POSTGRES_URL (.ci/run does)")
    (tmp_path / "source").mkdir()
    source = Instance(tmp_path / "source", f"sqlite:///{tmp_path / 'source' / 'archive.sqlite3'}")
    filled(source, ["A fictional testimony"])
    assert source.run("backup", str(tmp_path / "backup")).returncode == 0
    schema = f"backup_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        target_url = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        target = Instance(tmp_path / "target", target_url.render_as_string(hide_password=False))
        refused = target.run("restore", str(tmp_path / "backup"))
        assert refused.returncode == 1
        assert "sqlite" in refused.stderr and "postgresql" in refused.stderr
        assert every_row(target) == {}
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.parametrize("backend", ["postgres"])
def test_pg_dump_and_pg_restore_get_the_password_by_environment_never_on_their_command_line(
    place, tmp_path, monkeypatch
):
    from archive.preservation import backup as service

    source = place("source")
    filled(source, ["A fictional testimony"])
    password = make_url(source.url).password
    calls: list[tuple[list[str], dict]] = []
    real = subprocess.run

    def watched(command, *args, **kwargs):
        calls.append((list(command), kwargs.get("env") or {}))
        return real(command, *args, **kwargs)

    monkeypatch.setattr(service.subprocess, "run", watched)
    assert source.run("backup", str(tmp_path / "backup")).returncode == 0
    target = emptied(source, place, "target")
    assert target.run("restore", str(tmp_path / "backup")).returncode == 0
    connecting = [(c, env) for c, env in calls if "--list" not in c]
    assert {Path(c[0]).name for c, _ in connecting} == {"pg_dump", "pg_restore"}
    for command, env in connecting:
        assert env["PGPASSWORD"] == password
        assert not any(a.startswith("postgres") or f":{password}@" in a or "password" in a for a in command)


def test_backup_and_restore_through_the_installed_command(tmp_path):
    (tmp_path / "source").mkdir()
    source = Instance(tmp_path / "source", f"sqlite:///{tmp_path / 'source' / 'archive.sqlite3'}")
    filled(source, ["The fictional shawl of the winter road"])
    rows = every_row(source)
    done = source.run_installed("backup", str(tmp_path / "backup"))
    assert done.returncode == 0, done.stderr
    assert "manifest.json" in done.stdout

    again = source.run("backup", str(tmp_path / "backup"))
    assert again.returncode == 1 and "already exists" in again.stderr

    (tmp_path / "target").mkdir()
    target = Instance(tmp_path / "target", f"sqlite:///{tmp_path / 'target' / 'archive.sqlite3'}")
    restored = target.run_installed("restore", str(tmp_path / "backup"))
    assert restored.returncode == 0, restored.stderr
    assert "Restored 1 testimonies" in restored.stdout
    assert besides_the_restore(every_row(target)) == the_record(rows)
    # Each copy is in the log of the instance it was taken of, after the copy; the restore in the new one's.
    assert [r for r in every_row(source)["audit_events"] if "instance.backup" in r]
    assert target.run("fixity").returncode == 0
    assert target.run("index", "check").returncode == 0


@pytest.mark.parametrize("fault", ["missing", "rotten"])
def test_a_backup_that_cannot_finish_leaves_nothing_that_looks_like_a_backup(tmp_path, fault):
    (tmp_path / "source").mkdir()
    source = Instance(tmp_path / "source", f"sqlite:///{tmp_path / 'source' / 'archive.sqlite3'}")
    filled(source, ["A fictional testimony"])
    stored = next(p for p in (source.folder / "media" / "files").rglob("*") if p.is_file())
    if fault == "missing":
        shutil.move(stored, tmp_path / "elsewhere")
    else:
        stored.write_bytes(stored.read_bytes() + b" a bit of rot")
    failed = source.run("backup", str(tmp_path / "backup"))
    assert failed.returncode == 1
    assert (
        "missing" if fault == "missing" else f"does not match its recorded SHA-256 {stored.name}"
    ) in failed.stderr
    assert not (tmp_path / "backup").exists()
    assert not list(tmp_path.glob(".backup.partial-*"))


def test_backup_and_restore_are_listed_in_help(tmp_path):
    (tmp_path / "instance").mkdir()
    listed = Instance(tmp_path / "instance", f"sqlite:///{tmp_path / 'instance' / 'archive.sqlite3'}").run(
        "--help"
    )
    assert listed.returncode == 0
    for command in ("backup", "restore"):
        assert f"  {command} " in listed.stdout


def test_a_killed_backup_never_looks_complete(tmp_path):
    (tmp_path / "source").mkdir()
    source = Instance(tmp_path / "source", f"sqlite:///{tmp_path / 'source' / 'archive.sqlite3'}")
    assert source.run("db", "upgrade").returncode == 0
    with source.app().app_context():
        # A large scan, so that the copy takes long enough to be killed in the middle of it.
        save_testimony("A fictional testimony with a large scan", scan=PDF + os.urandom(64 * 1024**2))
        db.session.remove()
        db.engine.dispose()
    backup = tmp_path / "backups" / "tonight"
    with (tmp_path / "stderr").open("w") as stderr:
        running = subprocess.Popen(
            [ARCHIVE, "backup", str(backup)],
            env=source.environment(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            while (
                not list((tmp_path / "backups").glob(".tonight.partial-*/media")) and running.poll() is None
            ):
                threading.Event().wait(0.005)
            running.kill()
        finally:
            running.wait(30)
    assert running.returncode == -9, (tmp_path / "stderr").read_text()
    assert not backup.exists()
    (partial,) = (tmp_path / "backups").glob(".tonight.partial-*")
    target = Instance(tmp_path / "target", f"sqlite:///{tmp_path / 'target.sqlite3'}")
    refused = target.run("restore", str(partial))
    assert refused.returncode == 1 and "not a complete backup" in refused.stderr
    # The next backup goes to the same name as if nothing had happened.
    assert source.run("backup", str(backup)).returncode == 0
    assert (backup / "manifest.json").is_file()


def damaged_copy(backup: Path, into: Path) -> str:
    """A copy of BACKUP with a stored file gone bad and its manifest rewritten to match (a careless
    repair): only the copy, against the SHA-256 the archive stores it under, can tell, after the
    database is loaded. Returns the file's name."""
    shutil.copytree(backup, into)
    manifest = json.loads((into / "manifest.json").read_text())
    name = next(n for n in manifest["files"] if n.startswith("media/"))
    bad = b"%PDF-1.4 not the signed form"
    (into / name).write_bytes(bad)
    manifest["files"][name] = {"sha256": hashlib.sha256(bad).hexdigest(), "size": len(bad)}
    (into / "manifest.json").write_text(json.dumps(manifest))
    return name


def test_a_half_done_restore_is_never_served_and_never_blocks_the_next_restore(place, tmp_path):
    source = place("source")
    filled(source, ["The fictional shawl of the winter road"])
    rows, files = every_row(source), stored_files(source)
    backup = tmp_path / "backup"
    assert source.run("backup", str(backup)).returncode == 0
    target = emptied(source, place, "target")
    other = place("other")
    # Killed where it waits for the index's writer lock, held here: after it has loaded the database
    # and copied the media, before the index is built. Nothing else stops it there.
    (target.folder / "index").mkdir(parents=True)
    output = tmp_path / "restore.out"
    with (target.folder / "index" / ".writer.lock").open("a+") as lock, output.open("w") as out:
        fcntl.flock(lock, fcntl.LOCK_EX)
        running = subprocess.Popen(
            [ARCHIVE, "restore", str(backup)], env=target.environment(), stdout=out, stderr=subprocess.STDOUT
        )
        try:
            # Meanwhile: a damaged copy of the backup, and another instance's database, used below.
            damaged = damaged_copy(backup, tmp_path / "damaged")
            assert other.run("db", "upgrade").returncode == 0
            while "Rebuilding the search indexes" not in output.read_text() and running.poll() is None:
                threading.Event().wait(0.01)
            running.kill()
        finally:
            running.wait(30)
    assert running.returncode == -9, output.read_text()
    assert stored_files(target) == files

    # Half an archive is not served, nor touched by any command but a restore.
    with pytest.raises(RestoreUnfinished, match="archive restore"):
        target.app()
    refused = target.run("fixity")
    assert refused.returncode == 1 and "is unfinished" in refused.stderr

    # The folder pointed at another database since: that one holds nobody's half-done restore.
    before = every_row(other)
    refused = Instance(target.folder, other.url).run("restore", str(backup))
    assert refused.returncode == 1 and "another database" in refused.stderr
    assert every_row(other) == before

    # Another backup, damaged: the half-done restore is emptied, this one fails once it has loaded
    # the database, and takes back all it wrote.
    failed = target.run("restore", str(tmp_path / "damaged"))
    assert failed.returncode == 1
    assert "did not finish" in failed.stdout
    assert damaged in failed.stderr and "empty again" in failed.stderr
    assert not any(every_row(target).values())
    assert stored_files(target) == {}
    with target.app().app_context():
        db.engine.dispose()

    restored = target.run("restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert besides_the_restore(every_row(target)) == the_record(rows)
    assert stored_files(target) == files
    assert target.run("fixity").returncode == 0
    assert target.run("index", "check").returncode == 0
