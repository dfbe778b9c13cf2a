"""The `archive` command group; each command is a thin call into a service."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from archive import create_app
from archive.errors import ArchiveError


def _app(*_args):
    from archive.preservation.backup import RestoreUnfinished

    try:
        return create_app()
    except RestoreUnfinished as e:
        _fail(e.message)


@click.group(cls=FlaskGroup, create_app=_app, add_default_commands=False, add_version_option=False)
def main() -> None:
    """Testimony Archive: manage the database, accounts, imports and the search index."""


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _user(email: str):
    from archive.accounts.service import user_by_email

    user = user_by_email(email)
    if user is None:
        _fail(f"no account with the email {email}")
    return user


@main.group()
def users() -> None:
    """Manage accounts."""


@users.command("create")
@click.argument("email")
@click.option("--role", required=True, help="admin, moderator, archivist or researcher")
@click.option("--name", default="", help="The name shown beside their work.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def users_create(email: str, role: str, name: str, password_stdin: bool) -> None:
    """Create an account. Without --password-stdin a password is generated and printed."""
    from archive.accounts.service import create_user

    password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(12)
    try:
        user = create_user(None, email, role, password, name=name)
    except ArchiveError as e:
        _fail("; ".join([e.message, *(f"{k}: {v}" for k, v in e.fields.items())]))
    click.echo(f"Created {user.role} {user.email}")
    if not password_stdin:
        click.echo(f"Password: {password}")


@main.group()
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("create")
@click.argument("email")
@click.option("--expires", type=float, default=None, metavar="DAYS", help="Days it lasts (default 90).")
@with_appcontext
def tokens_create(email: str, expires: float | None) -> None:
    """Print a new API bearer token for this user, alone on its line."""
    from archive.accounts.service import create_token

    try:
        click.echo(create_token(_user(email), days=expires))
    except ArchiveError as e:
        _fail(e.message)


@tokens.command("list")
@click.argument("email")
@with_appcontext
def tokens_list(email: str) -> None:
    """This user's tokens: id, created, last used, expires, and whether revoked (times in UTC)."""
    from archive.accounts.service import list_tokens

    def when(value) -> str:
        return value.isoformat(sep=" ", timespec="seconds") if value else "-"

    click.echo("id\tcreated\tlast used\texpires\trevoked")
    for token in list_tokens(None, _user(email)):
        times = (token.created_at, token.last_used_at, token.expires_at, token.revoked_at)
        click.echo("\t".join([str(token.id), *map(when, times)]))


@tokens.command("revoke")
@click.argument("token_id", type=int)
@with_appcontext
def tokens_revoke(token_id: int) -> None:
    """Revoke a token at once: its next request answers 401."""
    from archive.accounts.service import revoke_token

    try:
        token = revoke_token(None, token_id)
    except ArchiveError as e:
        _fail(e.message)
    click.echo(f"Revoked token {token.id} of {token.user.email}")


@main.command()
@with_appcontext
def demo() -> None:
    """Load the fictional sample archive (running it again changes nothing)."""
    from archive.demo import load_demo

    credentials = load_demo(echo=click.echo)
    click.echo("")
    click.echo("Demo accounts (all fictional; their passwords are kept in the instance folder):")
    for role, (email, password) in credentials.items():
        click.echo(f"  {role:<11} {email}  password: {password}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the archive (gunicorn where available, else Flask's own server).

    Without --host it serves only this machine over plain HTTP (the demo), so HSTS and Secure
    cookies are off unless ARCHIVE_SECURE_TRANSPORT says otherwise; with --host they are on."""
    if click.get_current_context().get_parameter_source("host") is click.core.ParameterSource.DEFAULT:
        os.environ.setdefault("ARCHIVE_SECURE_TRANSPORT", "false")
    _index_ready()
    os.environ["ARCHIVE_SERVING"] = "1"
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    click.echo(f"Serving Testimony Archive at http://{host}:{port}/  (Ctrl+C stops it)")
    if Path(gunicorn).exists():
        os.execv(
            gunicorn,
            [
                gunicorn,
                "--workers",
                str(workers),
                "--bind",
                f"{host}:{port}",
                "--access-logfile",
                "-",
                # The archive uses no gunicorn control interface; its one socket per user would be
                # shared by every archive served on the machine.
                "--no-control-socket",
                "archive:create_app()",
            ],
        )
    _app().run(host=host, port=port)


def _index_ready() -> None:
    """An index folder that is missing, or that another version wrote, is built before serving."""
    from archive.search.outbox import has_index, rebuild

    with _app().app_context():
        if not has_index():
            click.echo("Building the search index from the database…")
            click.echo(f"Indexed {rebuild()} testimonies.")


@main.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every record and report; save nothing.")
@click.option("--publish", is_flag=True, help="Publish at once (admins only), skipping review.")
@click.option("--as", "as_email", help="The account the records are entered as.")
@with_appcontext
def import_(path: Path, dry_run: bool, publish: bool, as_email: str | None) -> None:
    """Import testimonies as drafts from PATH, chosen by its extension: .json (a list of API bodies),
    .csv (a header row naming the columns, then a row per testimony) or .xml (one OHMS record).

    Each testimony is saved whole or not at all; each record is reported by record or row and line
    as added, updated, unchanged or refused. A record whose external_id a testimony has already
    updates that testimony (as an edit) instead of adding one, so a file can be imported again.
    CSV columns: external_id, title, summary, narrator_name, narrator_pseudonym, narrator_birth_year,
    narrator_gender, interview_date, interview_place, interviewer, languages, places, subjects,
    people (lists separated by ";"), consent_access, consent_sealed_until, consent_release_to,
    consent_anonymize_narrator, consent_publish_media, consent_publish_transcript (yes/no),
    consent_signed_on, consent_obtained_by, consent_guardian, consent_notes, and transcript_vtt
    (WebVTT text) or transcript_file (a .vtt file in the CSV's folder). A row needs a title and
    narrator_name or narrator_pseudonym.
    OHMS holds no consent: its testimony is kept to staff until a consent is recorded.
    """
    from archive.catalogue.importer import REFUSED
    from archive.operations import import_file

    if as_email is None:
        _fail("say whose entries these are with --as EMAIL", 2)
    user = _user(as_email)
    try:
        report = import_file(user, path, dry_run=dry_run, publish=publish, echo=click.echo)
    except ArchiveError as e:
        _fail(e.message, 2)
    for note in report.notes:
        click.echo(note)
    for outcome, line in report.records:
        if outcome != REFUSED:
            click.echo(line)
    for problem in report.problems:
        click.echo(problem, err=True)
    verb = "would import" if dry_run else "imported"
    counts = ", ".join(f"{n} {outcome}" for outcome, n in report.counts.items())
    click.echo(
        f"{verb} {report.imported} of {report.total} records; {len(report.problems)} refused ({counts})"
    )
    if report.problems:
        sys.exit(1)


@main.group()
def index() -> None:
    """The search indexes: derived from the database, rebuildable at any time."""


@index.command("rebuild")
@with_appcontext
def index_rebuild() -> None:
    """Rebuild every search index from the database."""
    from archive.search.outbox import rebuild

    with click.progressbar(length=1, label="Indexing testimonies") as bar:

        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        total = rebuild(progress)
    click.echo(f"Rebuilt the search indexes from {total} testimonies.")


@index.command("check")
@with_appcontext
def index_check() -> None:
    """Compare the search indexes with the database; exit 1 on any difference."""
    from flask import current_app

    from archive.search.outbox import check, drain, has_index, lag

    if has_index():
        # Changes still waiting in the outbox are not differences; a missing index is. An index
        # that cannot be written now is reported by the lag below and the differences it leaves.
        try:
            drain(timeout=current_app.config["OUTBOX_DRAIN_WAIT_SECONDS"])
        except OSError as error:
            click.echo(f"The waiting changes could not be applied: {error}", err=True)
    problems = check()
    for problem in problems:
        click.echo(problem)
    behind_by = lag()
    limit = current_app.config["INDEX_LAG_MAX_SECONDS"]
    click.echo(f"Outbox lag on this node: {behind_by.rows} rows, {behind_by.seconds:.1f} s behind.")
    if problems:
        click.echo(f"{len(problems)} differences: run `archive index rebuild`.", err=True)
        sys.exit(1)
    if behind_by.seconds > limit:
        click.echo(f"The index is more than {limit:g} s behind the database.", err=True)
        sys.exit(1)
    click.echo("The search indexes match the database.")


@index.command("prune")
@click.option("--days", type=int, default=None, help="a node silent for longer holds nothing back")
@with_appcontext
def index_prune(days: int | None) -> None:
    """Drop outbox rows every node active lately has applied (the background writer does it hourly)."""
    from archive.search.outbox import prune

    click.echo(f"Pruned {prune(days)} outbox rows every active node has applied.")


@main.command()
@with_appcontext
def fixity() -> None:
    """Re-hash every stored media file against the SHA-256 recorded at upload; exit 1 on any mismatch."""
    from archive.media.service import fixity as check

    report = check()
    for problem in report.problems:
        click.echo(problem)
    size = report.bytes / 1024**2
    if report.problems:
        click.echo(f"{len(report.problems)} of {report.checked} files failed the fixity check.", err=True)
        sys.exit(1)
    click.echo(f"{report.checked} files ({size:.1f} MB) match their recorded SHA-256.")


@main.command("backup")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def backup_(directory: Path) -> None:
    """Write a consistent backup of this running instance to DIRECTORY (a new folder): the database,
    stored media and form scans, the instance's config and key, and a manifest of SHA-256 checksums.
    The search indexes and public renditions are not in it: they are remade."""
    from archive.preservation.backup import backup

    try:
        report = backup(directory, echo=click.echo)
    except ArchiveError as e:
        _fail(e.message)
    size = report.bytes / 1024**2
    click.echo(f"Wrote a backup of the {report.database} database and instance to {report.path}: "
               f"{report.files} files, {size:.1f} MB, listed in its manifest.json.")  # fmt: skip


@main.command("restore", with_appcontext=False)
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def restore_(directory: Path) -> None:
    """Restore the backup in DIRECTORY into this instance, which must be empty; the backup is checked
    against its manifest before anything is written, and the search indexes are rebuilt after.
    A restore that fails removes what it wrote; one that was killed is emptied and done again by
    the next `archive restore` (of the same or another backup)."""
    from archive.extensions import db
    from archive.preservation.backup import restore

    # Its own app, which opens an instance that a restore has not finished (no other app does).
    app = create_app(for_restore=True)
    try:
        with app.app_context():
            try:
                report = restore(directory, echo=click.echo)
            finally:
                db.session.remove()
                db.engine.dispose()
    except ArchiveError as e:
        _fail(e.message)
    for note in report.notes:
        click.echo(note)
    click.echo(f"Restored {report.testimonies} testimonies and {report.media} stored files; the "
               "search indexes are rebuilt; check with `archive fixity`, `archive index check`.")  # fmt: skip


@main.group()
def export() -> None:
    """Preservation exports."""


@export.command("bag")
@click.argument("testimony_id", type=int)
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--for",
    "kind",
    type=click.Choice(["preservation", "public"]),
    default="preservation",
    show_default=True,
    help="preservation: everything the archive holds, real names and signed forms included; "
    "public: only what an anonymous reader may see.",
)
@with_appcontext
def export_bag(testimony_id: int, directory: Path, kind: str) -> None:
    """Write a BagIt bag of one testimony: metadata, transcript, media, consent records."""
    from archive.preservation.service import export_bag as export

    try:
        report = export(testimony_id, directory, kind=kind)
    except ArchiveError as e:
        details = "; ".join(f"{field}: {message}" for field, message in e.fields.items())
        _fail(f"{e.message} {details}".strip())
    click.echo(f"Wrote a {kind} bag of testimony {testimony_id} to {report.path}: "
               f"{report.files} files, {report.bytes / 1024**2:.1f} MB, checksums verified.")  # fmt: skip


@main.group("db")
def db_group() -> None:
    """The database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Create or migrate the database to the newest schema."""
    from flask_migrate import upgrade

    upgrade(directory=current_app.extensions["migrate"].directory, revision=revision)
    click.echo("The database is up to date.")


@db_group.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Migrate the database back to an older schema revision."""
    from flask_migrate import downgrade

    downgrade(directory=current_app.extensions["migrate"].directory, revision=revision)


@db_group.command("revision")
@click.option("-m", "--message", required=True)
@with_appcontext
def db_revision(message: str) -> None:
    """Write a new migration from the models (for developers)."""
    from flask_migrate import migrate

    migrate(directory=current_app.extensions["migrate"].directory, message=message)
