"""The `archive` command as an administrator runs it, on an instance folder of its own (SQLite),
checked through the database and the JSON API. The commands run in-process through Click's runner,
each on a fresh app as a new process would make; a few run the installed console script in a real
subprocess, so the script itself, its standard input and its exit codes stay checked."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive import create_app
from archive.accounts.service import authenticate
from archive.cli import main
from archive.extensions import db
from tests.conftest import TEST_PASSWORD_HASH, sample_body

ARCHIVE = str(Path(sys.executable).with_name("archive"))
PASSWORD = "fictional password for tests"


def _environment(monkeypatch: pytest.MonkeyPatch, instance: Path) -> None:
    """What the command sees: this instance folder, none of the caller's database or key."""
    for name in ("ARCHIVE_DATABASE_URL", "ARCHIVE_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARCHIVE_INSTANCE_PATH", str(instance))
    monkeypatch.setenv("ARCHIVE_PASSWORD_HASH_METHOD", TEST_PASSWORD_HASH)


def _invoke(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`archive ARGS…` in this process, on a fresh app made from the environment as the console
    script makes it; an exception the command did not turn into an exit code fails the test."""
    app = create_app()
    try:
        result = app.test_cli_runner().invoke(main, list(args), input=stdin)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(["archive", *args], result.exit_code, result.stdout, result.stderr)


def _upgrade_with_accounts() -> None:
    assert _invoke("db", "upgrade").returncode == 0
    for email, role in (("archivist@example.org", "archivist"), ("admin@example.org", "admin")):
        created = _invoke("users", "create", email, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
        assert created.returncode == 0, created.stderr


@pytest.fixture
def instance(tmp_path) -> Path:
    return tmp_path / "instance"


@pytest.fixture
def run(instance, tmp_path, monkeypatch):
    """Run `archive ARGS…` on the test's instance folder; returns the finished command."""
    _environment(monkeypatch, instance)
    monkeypatch.chdir(tmp_path)
    return _invoke


@pytest.fixture
def run_installed(instance, tmp_path):
    """Run the installed `archive ARGS…` console script in a subprocess on the test's instance."""
    env = {k: v for k, v in os.environ.items() if k not in ("ARCHIVE_DATABASE_URL", "ARCHIVE_SECRET_KEY")}
    env["ARCHIVE_INSTANCE_PATH"] = str(instance)
    env["ARCHIVE_PASSWORD_HASH_METHOD"] = TEST_PASSWORD_HASH

    def archive(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [ARCHIVE, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )

    return archive


@pytest.fixture(scope="session")
def upgraded(tmp_path_factory) -> Path:
    """An instance folder upgraded by `archive db upgrade`, with an archivist and an admin made by
    `archive users create`: made once, copied for each test that needs it."""
    instance = tmp_path_factory.mktemp("cli-upgraded") / "instance"
    with pytest.MonkeyPatch.context() as monkeypatch:
        _environment(monkeypatch, instance)
        _upgrade_with_accounts()
    return instance


@pytest.fixture
def database(upgraded, instance) -> Path:
    """An upgraded database with an archivist and an admin."""
    shutil.copytree(upgraded, instance)
    return instance / "archive.sqlite3"


def count(database: Path, sql: str = "SELECT count(*) FROM testimonies") -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchone()[0]


@pytest.fixture
def served(instance) -> Iterator:
    """A test client of an app on the same instance folder, as `archive serve` would run it."""
    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'archive.sqlite3'}",
            "TESTING": True,
            "OUTBOX_THREAD": False,
        }
    )
    yield app.test_client()
    with app.app_context():
        db.engine.dispose()


def write_records(path: Path, records: list) -> Path:
    """One record per line after the opening bracket: record n starts on line n + 1."""
    path.write_text("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n]\n")
    return path


def records(n: int) -> list[dict]:
    return [sample_body(title=f"Fictional imported testimony number {i}") for i in range(1, n + 1)]


# --- database, accounts, tokens ---------------------------------------------------------------


def test_db_upgrade_creates_the_database(run, instance):
    result = run("db", "upgrade")

    assert result.returncode == 0, result.stderr
    assert count(instance / "archive.sqlite3", "SELECT count(*) FROM users") == 0
    assert run("db", "upgrade").returncode == 0


def test_users_create_takes_the_password_from_stdin(run_installed, database, served):
    result = run_installed(
        "users", "create", "Reader@Example.org", "--role", "researcher", "--password-stdin", stdin=PASSWORD
    )

    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout
    assert (
        count(
            database, "SELECT count(*) FROM users WHERE email = 'reader@example.org' AND role = 'researcher'"
        )
        == 1
    )
    with served.application.app_context():
        assert authenticate("reader@example.org", PASSWORD) is not None
        assert authenticate("reader@example.org", PASSWORD + "!") is None


def test_an_unknown_role_is_refused_naming_the_roles(run, database):
    result = run("users", "create", "boss@example.org", "--role", "boss", "--password-stdin", stdin=PASSWORD)

    assert result.returncode != 0
    assert "Unknown role" in result.stderr
    assert "admin, moderator, archivist, researcher" in result.stderr
    assert count(database, "SELECT count(*) FROM users WHERE email = 'boss@example.org'") == 0


def test_a_printed_token_works_as_a_bearer_token(run, database, served):
    result = run("tokens", "create", "archivist@example.org")

    assert result.returncode == 0, result.stderr
    [token] = result.stdout.splitlines()
    listed = served.get("/api/v1/testimonies", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.json
    forged = served.get("/api/v1/testimonies", headers={"Authorization": f"Bearer {token}x"})
    assert forged.status_code == 401


def test_a_token_for_an_unknown_account_is_refused(run, database):
    result = run("tokens", "create", "nobody@example.org")

    assert result.returncode != 0
    assert "nobody@example.org" in result.stderr
    assert result.stdout == ""


# --- import -----------------------------------------------------------------------------------


def test_import_enters_valid_records_as_drafts(run, database, served, tmp_path):
    path = write_records(tmp_path / "testimonies.json", records(3))

    result = run("import", str(path), "--as", "archivist@example.org")

    assert result.returncode == 0, result.stderr
    assert "imported 3 of 3" in result.stdout
    assert count(database, "SELECT count(*) FROM testimonies WHERE state = 'draft'") == 3
    assert served.get("/api/v1/search?q=shawl").json["total"] == 0


def test_import_reports_exactly_the_bad_records_by_number_and_line_and_keeps_the_rest(
    run, database, tmp_path
):
    batch = records(20)
    batch[3]["segments"][1]["end_ms"] = 0
    batch[10]["narrator"]["birth_year"] = "unknown"
    batch[16]["consent"]["access"] = "everyone"
    path = write_records(tmp_path / "testimonies.json", batch)

    result = run("import", str(path), "--as", "archivist@example.org")

    assert result.returncode == 1
    reported = [line for line in result.stderr.splitlines() if line.startswith("record ")]
    assert [line.split(":")[0] for line in reported] == [
        "record 4 (line 5)",
        "record 11 (line 12)",
        "record 17 (line 18)",
    ]
    assert "segments[1].end_ms" in reported[0]
    assert "narrator.birth_year" in reported[1]
    assert "consent.access" in reported[2]
    assert count(database) == 17
    assert count(database, "SELECT count(*) FROM testimonies WHERE title LIKE '%number 4'") == 0


def test_a_dry_run_checks_every_record_and_saves_nothing(run, database, tmp_path):
    batch = records(3)
    batch[1]["title"] = ""
    path = write_records(tmp_path / "testimonies.json", batch)

    result = run("import", str(path), "--dry-run", "--as", "archivist@example.org")

    assert result.returncode == 1
    assert "record 2 (line 3): title" in result.stderr
    assert "would import 2 of 3" in result.stdout
    assert count(database) == 0
    assert count(database, "SELECT count(*) FROM consent_versions") == 0


def test_only_an_admin_may_publish_on_import(run, database, tmp_path):
    path = write_records(tmp_path / "testimonies.json", records(2))

    result = run("import", str(path), "--publish", "--as", "archivist@example.org")

    assert result.returncode != 0
    assert count(database) == 0
    assert "Traceback" not in result.stderr
    assert "Only an admin may publish" in result.stderr


def test_an_admin_import_with_publish_is_published_and_searchable(run, database, served, tmp_path):
    path = write_records(tmp_path / "testimonies.json", records(2))

    result = run("import", str(path), "--publish", "--as", "admin@example.org")

    assert result.returncode == 0, result.stderr
    assert count(database, "SELECT count(*) FROM testimonies WHERE state = 'published'") == 2
    found = served.get("/api/v1/search?q=shawl")
    assert found.json["total"] == 2
    assert all(hit["segments"] for hit in found.json["hits"])


def test_a_csv_import_enters_each_good_row_and_names_the_bad_row_by_line_and_column(run, database, tmp_path):
    path = tmp_path / "testimonies.csv"
    path.write_text(
        "title,narrator_name,narrator_birth_year\n"
        "A fictional testimony,Fictional Narrator,1951\n"
        "Another fictional testimony,Fictional Narrator Two,unknown\n"
    )

    result = run("import", str(path), "--as", "archivist@example.org")

    assert result.returncode == 1
    assert "line 3 (row 2): narrator_birth_year: Must be a whole number." in result.stderr
    assert "imported 1 of 2" in result.stdout
    assert "Traceback" not in result.stderr
    assert count(database, "SELECT count(*) FROM testimonies WHERE state = 'draft'") == 1


def test_import_needs_to_know_whose_entries_they_are(run, database, tmp_path):
    path = write_records(tmp_path / "testimonies.json", records(1))

    result = run("import", str(path))

    assert result.returncode != 0
    assert "--as" in result.stderr
    assert count(database) == 0


# --- demo, index, not yet available -------------------------------------------------------------


def test_the_demo_loads_once_and_prints_the_admin_credentials(run, instance):
    assert run("db", "upgrade").returncode == 0
    database = instance / "archive.sqlite3"

    first = run("demo")
    counts = [
        count(database, f"SELECT count(*) FROM {t}") for t in ("testimonies", "users", "consent_versions")
    ]
    second = run("demo")

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert counts[0] > 0
    assert [
        count(database, f"SELECT count(*) FROM {t}") for t in ("testimonies", "users", "consent_versions")
    ] == counts
    for output in (first.stdout, second.stdout):
        [admin] = [line for line in output.splitlines() if "admin@demo.example" in line]
        assert "password:" in admin
        assert len(admin.split("password:")[1].strip()) >= 10


def test_index_rebuild_then_check_agree(run, database, tmp_path):
    run(
        "import",
        str(write_records(tmp_path / "t.json", records(3))),
        "--publish",
        "--as",
        "admin@example.org",
    )

    rebuilt = run("index", "rebuild")
    checked = run("index", "check")

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "3 testimonies" in rebuilt.stdout
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_index_check_fails_when_the_index_folder_is_gone(run, database, instance, tmp_path):
    run(
        "import",
        str(write_records(tmp_path / "t.json", records(3))),
        "--publish",
        "--as",
        "admin@example.org",
    )
    assert run("index", "rebuild").returncode == 0

    shutil.rmtree(instance / "index")
    checked = run("index", "check")

    assert checked.returncode == 1
    assert "missing from the index" in checked.stdout


def test_fixity_and_a_bag_of_an_absent_testimony_through_the_installed_command(run_installed, database):
    checked = run_installed("fixity")
    assert checked.returncode == 0, checked.stderr
    assert "0 files" in checked.stdout

    missing = run_installed("export", "bag", "4242", "bag-out")
    assert missing.returncode == 1
    assert "no testimony 4242" in missing.stderr


def test_every_command_of_the_contract_is_listed_in_help(run_installed):
    result = run_installed("--help")

    assert result.returncode == 0
    for command in ("db", "users", "tokens", "demo", "serve", "import", "index", "fixity", "export"):
        assert f"  {command} " in result.stdout
