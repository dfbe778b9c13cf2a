"""Backup and restore of a whole instance: the database, every stored media file and form scan, and
the instance's own settings, with a manifest of checksums, taken while the archive serves.

It lives with the preservation bags because it is the same custody at the scale of the instance: a
bag hands on one testimony, a backup brings back all of them. Its layout:

    manifest.json              version, Alembic revision, database kind, time; every file's SHA-256 and size
    database.sqlite3           SQLite: a copy made by SQLite's online backup API (consistent under writers)
    database.pgdump            PostgreSQL: `pg_dump --format=custom` of the archive's schema
    media/files/ab/abcd…       every stored file, under its SHA-256 as in the instance
    instance/config.py, instance/secret_key, instance/demo-credentials.json   where present

Not in a backup, because they are remade from the database: the search indexes (restore rebuilds
them) and the public renditions of recordings (made again when first asked for).

A restore writes into an instance it has found empty, under a marker in the instance folder
(`unfinished-restore.json`, naming the backup and the database) that goes only once every step has
succeeded. A restore that fails removes what it wrote; one that was killed leaves the marker, and
the next restore empties what it finds under it and starts again. The app refuses to serve an
instance with the marker: a half-restored archive may lack the consent versions of its testimonies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from flask import current_app
from sqlalchemy import create_engine, delete, inspect, select, text
from sqlalchemy.engine import URL, Connection, make_url

from archive.accounts.models import WebSession
from archive.audit.service import record_event
from archive.errors import ArchiveError
from archive.extensions import db
from archive.media.models import MediaFile
from archive.media.service import media_root
from archive.search.models import IndexNode

MANIFEST = "manifest.json"
FORMAT = 1
CHUNK = 1024 * 1024
# Files of the instance folder that are its own settings, not data remade from the database.
INSTANCE_FILES = ("config.py", "secret_key", "demo-credentials.json")
DUMPS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
# In the instance folder while a restore writes; see the module's docstring.
MARKER = "unfinished-restore.json"
# Where a restore puts the backup's config.py when this instance has one of its own.
ASIDE = "config.py.from-backup"
# Alembic's bookkeeping: `archive db upgrade` on a new instance writes its one row.
BOOKKEEPING = {"alembic_version"}
# Besides tables, the schema's own functions (the audit log's triggers), sequences and types.
SCHEMA_OBJECTS = """
SELECT 'FUNCTION', p.oid::regprocedure::text FROM pg_proc p
 WHERE p.pronamespace = current_schema()::regnamespace
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT 'SEQUENCE', c.oid::regclass::text FROM pg_class c
 WHERE c.relkind = 'S' AND c.relnamespace = current_schema()::regnamespace
UNION ALL
SELECT 'TYPE', t.oid::regtype::text FROM pg_type t
 WHERE t.typtype IN ('e', 'd') AND t.typnamespace = current_schema()::regnamespace
"""


class BackupError(ArchiveError):
    """A backup or restore that cannot go on; the message says why, in the administrator's words."""


class RestoreUnfinished(BackupError):
    """This instance holds a restore that stopped half-way: it is not served until one finishes."""


@dataclass
class BackupReport:
    path: Path
    files: int
    bytes: int
    database: str


@dataclass
class RestoreReport:
    testimonies: int
    media: int
    notes: list[str]


def _archive_version() -> str:
    try:
        return version("testimony-archive")
    except PackageNotFoundError:
        return "unknown"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _entry(path: Path) -> dict:
    return {"sha256": _sha256(path), "size": path.stat().st_size}


def _copy(source: Path, target: Path) -> dict:
    """Copy a file, hashing it on the way (a stored recording is read once, not twice)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as reading, target.open("wb") as writing:
        while chunk := reading.read(CHUNK):
            digest.update(chunk)
            writing.write(chunk)
            size += len(chunk)
    shutil.copymode(source, target)
    return {"sha256": digest.hexdigest(), "size": size}


def database_kind(url: URL | str) -> str:
    backend = make_url(url).get_backend_name()
    if backend not in DUMPS:
        raise BackupError(f"Backups know SQLite and PostgreSQL, not {backend}.")
    return backend


def _database_url() -> URL:
    return make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])


def _schema(connection: Connection) -> str | None:
    """PostgreSQL's schema the archive's tables live in (a dump names it in every statement)."""
    if connection.dialect.name != "postgresql":
        return None
    return connection.scalar(text("SELECT current_schema()"))


def _alembic_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.scalar(text("SELECT version_num FROM alembic_version"))


# --- PostgreSQL's own tools, with the password out of sight ---------------------------------------


def _pg_tool(name: str) -> str:
    """pg_dump or pg_restore: on PATH, else the newest in Debian's /usr/lib/postgresql/*/bin."""
    if found := shutil.which(name):
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if not candidates:
        raise BackupError(f"{name} was not found: install Debian's postgresql-client package.")
    return str(candidates[-1])


def _pg_environment(url: URL) -> dict[str, str]:
    """libpq's environment for this URL: credentials go to the tool this way, never as arguments
    (which `ps` shows to every user of the machine)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    query = dict(url.query)
    values = {
        "PGHOST": url.host or query.get("host"),
        "PGPORT": str(url.port) if url.port else query.get("port"),
        "PGUSER": url.username or query.get("user"),
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
        "PGOPTIONS": query.get("options"),
        "PGSSLMODE": query.get("sslmode"),
    }
    env.update({k: str(v) for k, v in values.items() if v})
    return env


def _run(command: list[str], url: URL, what: str) -> None:
    done = subprocess.run(command, env=_pg_environment(url), capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {done.stderr.strip() or done.stdout.strip()}")


# --- backup ---------------------------------------------------------------------------------------


@contextmanager
def _folder_beside(target: Path) -> Iterator[Path]:
    """A scratch folder beside the target, renamed into place only when complete: a backup killed
    half-way leaves a `.partial` folder that never looks like a backup."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} already exists: name a new folder for each backup.")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        yield scratch
        if target.exists():
            target.rmdir()
        os.replace(scratch, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _sqlite_backup(url: URL, into: Path) -> tuple[str | None, list[tuple[str, str]]]:
    """SQLite's online backup API: a page-by-page copy that is one consistent state of the file even
    while other processes write (WAL). Returns the copy's schema revision and the stored files it
    records."""
    source = sqlite3.connect(url.database, timeout=30)
    target = sqlite3.connect(into)
    try:
        with target:
            source.backup(target)
        rows = target.execute("SELECT sha256, filename FROM media_files ORDER BY id").fetchall()
        tables = {name for (name,) in target.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        revision = None
        if "alembic_version" in tables:
            revision = target.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        target.close()
        source.close()
    return revision, [(sha, name) for sha, name in rows]


def _postgres_backup(url: URL, into: Path) -> tuple[str | None, list[tuple[str, str]]]:
    """pg_dump of the archive's schema, reading the snapshot that the list of stored files is read
    in: the dump and the files agree, whatever is written meanwhile."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                snapshot = connection.scalar(text("SELECT pg_export_snapshot()"))
                schema = connection.scalar(text("SELECT current_schema()"))
                revision = _alembic_revision(connection)
                rows = connection.execute(
                    select(MediaFile.sha256, MediaFile.filename).order_by(MediaFile.id)
                ).all()
                command = [
                    _pg_tool("pg_dump"),
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    f"--schema={schema}",
                    "--no-owner",
                    "--no-privileges",
                    f"--file={into}",
                ]
                _run(command, url, "pg_dump")
    finally:
        engine.dispose()
    return revision, [(sha, name) for sha, name in rows]


def backup(target: Path, echo: Callable[[str], None] = lambda _: None) -> BackupReport:
    """Write a complete backup of this instance to TARGET, a folder that must not exist yet."""
    url = _database_url()
    kind = database_kind(url)
    with db.engine.connect() as connection:
        schema = _schema(connection)
    taken_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with _folder_beside(target) as scratch:
        dump = scratch / DUMPS[kind]
        echo(f"Copying the {kind} database…")
        revision, stored = _sqlite_backup(url, dump) if kind == "sqlite" else _postgres_backup(url, dump)
        files = {DUMPS[kind]: _entry(dump)}
        echo(f"Copying {len(stored)} stored media files…")
        for sha256, filename in stored:
            relative = f"media/files/{sha256[:2]}/{sha256}"
            if relative in files:
                continue
            source = media_root() / "files" / sha256[:2] / sha256
            if not source.exists():
                raise BackupError(f"The stored file {filename} ({sha256}) is missing: run `archive fixity`.")
            files[relative] = _copy(source, scratch / relative)
            if files[relative]["sha256"] != sha256:
                raise BackupError(
                    f"The stored file {filename} does not match its recorded SHA-256 {sha256}: "
                    "run `archive fixity`."
                )
        instance = Path(current_app.instance_path)
        for name in INSTANCE_FILES:
            if (instance / name).is_file():
                files[f"instance/{name}"] = _copy(instance / name, scratch / "instance" / name)
        manifest = {
            "format": FORMAT,
            "archive_version": _archive_version(),
            "alembic_revision": revision,
            "database": kind,
            "schema": schema,
            "created_at": taken_at.isoformat().replace("+00:00", "Z"),
            "files": dict(sorted(files.items())),
        }
        with (scratch / MANIFEST).open("w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        # Only staff with the machine's keys run this; the backup holds real names and signed forms.
        scratch.chmod(0o700)
    size = sum(f["size"] for f in files.values())
    # In the log of the instance backed up (after the copy, so not in it): who may hold a copy, since when.
    record_event(None, "instance.backup", None, path=str(target.resolve()), files=len(files), bytes=size)
    db.session.commit()
    return BackupReport(target, len(files), size, kind)


# --- restore --------------------------------------------------------------------------------------


def read_manifest(source: Path) -> dict:
    """The backup's manifest, once every file it lists is there with its size and SHA-256."""
    path = source / MANIFEST
    if not path.is_file():
        raise BackupError(f"{source} is not a complete backup: it has no {MANIFEST}.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = manifest["files"]
        kind = manifest["database"]
    except (ValueError, KeyError, TypeError) as e:
        raise BackupError(f"{path} cannot be read: {e}") from e
    if manifest.get("format") != FORMAT or kind not in DUMPS or DUMPS[kind] not in files:
        raise BackupError(f"{path} does not describe a backup this version can restore.")
    for name, recorded in files.items():
        file = source / name
        if Path(name).is_absolute() or ".." in Path(name).parts or not file.is_file():
            raise BackupError(f"The backup is damaged: {name} is missing.")
        if file.stat().st_size != recorded["size"] or _sha256(file) != recorded["sha256"]:
            raise BackupError(f"The backup is damaged: {name} does not match its SHA-256 in the manifest.")
    return manifest


def _known_revision(revision: str | None) -> None:
    """A backup from a newer version of the archive than this one cannot be restored by it."""
    if revision is None:
        return
    from alembic.script import ScriptDirectory
    from flask_migrate import Config

    config = Config()
    config.set_main_option("script_location", current_app.extensions["migrate"].directory)
    try:
        ScriptDirectory.from_config(config).get_revision(revision)
    except Exception as e:
        raise BackupError(
            f"The backup's schema revision {revision} is unknown to this version of the archive: "
            "restore it with the version that wrote it (see the manifest's archive_version)."
        ) from e


def _nonempty_tables(connection: Connection) -> list[str]:
    tables = [t for t in inspect(connection).get_table_names() if t not in BOOKKEEPING]
    quote = connection.dialect.identifier_preparer.quote
    return [t for t in sorted(tables) if connection.scalar(text(f"SELECT 1 FROM {quote(t)} LIMIT 1"))]


def _refuse_unless_empty() -> None:
    with db.engine.connect() as connection:
        full = _nonempty_tables(connection)
    if full:
        raise BackupError(
            "This instance is not empty (rows in " + ", ".join(full) + "): a backup is restored only "
            "into a new instance, so nothing here is overwritten."
        )
    files = media_root() / "files"
    if files.exists() and any(p.is_file() for p in files.rglob("*")):
        raise BackupError(f"This instance is not empty: {files} holds stored media.")


def _restore_sqlite(url: URL, dump: Path) -> None:
    """The copy replaces the empty database file whole (its WAL and shared-memory files with it)."""
    target = Path(url.database)
    db.engine.dispose()
    scratch = target.with_name(target.name + ".restoring")
    shutil.copyfile(dump, scratch)
    for leftover in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        leftover.unlink(missing_ok=True)
    os.replace(scratch, target)


def _drop_schema_contents(connection: Connection) -> None:
    """Every table, function, sequence and type in the archive's schema; the schema itself stays."""
    quote = connection.dialect.identifier_preparer.quote
    for table in inspect(connection).get_table_names():
        connection.execute(text(f"DROP TABLE IF EXISTS {quote(table)} CASCADE"))
    for kind, signature in connection.execute(text(SCHEMA_OBJECTS)).all():
        connection.execute(text(f"DROP {kind} IF EXISTS {signature} CASCADE"))


def _restore_postgres(url: URL, dump: Path) -> None:
    """pg_restore into the archive's (empty) schema, in one transaction: all of it or nothing."""
    with db.engine.begin() as connection:
        # What `archive db upgrade` made here holds no rows (checked): it makes way for the dump's.
        _drop_schema_contents(connection)
    db.engine.dispose()
    tool = _pg_tool("pg_restore")
    listing = subprocess.run([tool, "--list", str(dump)], capture_output=True, text=True, check=True).stdout
    # The schema itself already exists (it is the instance's); everything in it comes from the dump.
    entries = [line for line in listing.splitlines() if " SCHEMA " not in line]
    with tempfile.NamedTemporaryFile("w", suffix=".list") as chosen:
        chosen.write("\n".join(entries) + "\n")
        chosen.flush()
        command = [
            tool,
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--use-list={chosen.name}",
            f"--dbname={url.database}",
            str(dump),
        ]
        _run(command, url, "pg_restore")


def _restore_instance_files(source: Path, notes: list[str]) -> None:
    instance = Path(current_app.instance_path)
    for name in INSTANCE_FILES:
        saved = source / "instance" / name
        if not saved.is_file():
            continue
        here = instance / name
        if name == "config.py" and here.exists() and here.read_bytes() != saved.read_bytes():
            # This machine's own settings (its database URL, say) are kept; the old ones are beside.
            aside = instance / ASIDE
            shutil.copy2(saved, aside)
            notes.append(f"Kept this instance's config.py; the backup's is in {aside}: compare them.")
            continue
        shutil.copy2(saved, here)


def _key_file_in_use() -> Path | None:
    """The instance's `secret_key` file, if this process took its secret key from it."""
    path = Path(current_app.instance_path) / "secret_key"
    if os.environ.get("ARCHIVE_SECRET_KEY") or not path.is_file():
        return None
    return path if path.read_text().strip() == current_app.config["SECRET_KEY"] else None


def _restore_media(source: Path, manifest: dict, echo: Callable[[str], None]) -> int:
    """Copy every stored file, hashed as it is read: a file that is not what its name (its SHA-256)
    says, read from a failing disk or changed since the manifest was checked, stops the restore; and
    so does a stored file the restored database records but the backup does not hold."""
    names = sorted(n for n in manifest["files"] if n.startswith("media/files/"))
    echo(f"Copying {len(names)} stored media files…")
    restored = set()
    for name in names:
        target = media_root() / Path(name).relative_to("media")
        scratch = target.with_name(target.name + ".restoring")
        copied = _copy(source / name, scratch)
        if copied["sha256"] != target.name:
            raise BackupError(
                f"The backup is damaged: {name} was read with the SHA-256 {copied['sha256']}, not the "
                "one it is stored under."
            )
        os.replace(scratch, target)
        restored.add(target.name)
    missing = sorted(set(db.session.scalars(select(MediaFile.sha256))) - restored)
    if missing:
        raise BackupError(
            f"The backup is incomplete: its database records {len(missing)} stored files that it does "
            f"not hold, {missing[0]} among them."
        )
    return len(names)


# --- the marker of a restore under way ------------------------------------------------------------


def _database_identity(url: URL, schema: str | None) -> str:
    """The database a restore writes into, so that the next one empties that database and no other
    (an instance folder pointed at another database since keeps it)."""
    if url.get_backend_name() == "sqlite":
        return f"the SQLite file {Path(url.database or '').resolve()}"
    query = dict(url.query)
    host = url.host or query.get("host") or "localhost"
    port = url.port or query.get("port") or 5432
    return f"the PostgreSQL database {url.database} on {host}:{port}, schema {schema}"


def unfinished_restore(instance: Path) -> dict | None:
    """The marker of a restore that has not finished in this instance folder, or None. A marker
    that cannot be read is a marker all the same (and names no database a restore may empty)."""
    path = instance / MARKER
    if not path.exists():
        return None
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return marker if isinstance(marker, dict) else {}


def refuse_unfinished_restore(instance: Path) -> None:
    """Raise RestoreUnfinished where a restore into this instance has not finished: its database may
    lack consent versions, withdrawals or redactions, so nothing may serve or change it."""
    marker = unfinished_restore(instance)
    if marker is None:
        return
    backup = marker.get("backup") or {}
    raise RestoreUnfinished(
        f"A restore into this instance ({instance}) is unfinished: the one started at "
        f"{marker.get('started_at', 'an unknown time')} from {backup.get('path', 'a backup')} stopped "
        "before its end. A half-restored archive may lack consent records, so it is not served. Run "
        "`archive restore DIR` again, with the same or another backup: it empties what the unfinished "
        "restore wrote and starts again."
    )


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_marker(instance: Path, marker: dict) -> None:
    """On disk before the restore's first write, whole or not at all."""
    path = instance / MARKER
    scratch = path.with_name(path.name + ".new")
    with scratch.open("w", encoding="utf-8") as handle:
        json.dump(marker, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(scratch, path)
    _sync_folder(instance)


def _remove_marker(instance: Path) -> None:
    (instance / MARKER).unlink()
    _sync_folder(instance)


def _empty_what_it_wrote(marker: dict, url: URL, kind: str) -> None:
    """Remove what a restore wrote. Only ever under its marker: the instance was empty when the
    marker was written, and nothing but the restore has written to it since (the app refuses to
    serve it), so all that is here is the restore's: the database's tables, the stored files, the
    instance files it added."""
    db.session.remove()
    if kind == "sqlite":
        db.engine.dispose()
        target = Path(url.database)
        for suffix in ("", "-wal", "-shm", "-journal", ".restoring"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
    else:
        with db.engine.begin() as connection:
            _drop_schema_contents(connection)
        db.engine.dispose()
    files = media_root() / "files"
    if files.exists():
        shutil.rmtree(files)
    instance = Path(current_app.instance_path)
    for name in marker.get("added", []):
        if name in (*INSTANCE_FILES, ASIDE):
            (instance / name).unlink(missing_ok=True)


def _undone(failure: BaseException, marker: dict, url: URL, kind: str) -> BackupError:
    """Undo a restore that failed, and say what state it leaves."""
    reason = failure.message if isinstance(failure, ArchiveError) else str(failure) or type(failure).__name__
    instance = Path(current_app.instance_path)
    try:
        _empty_what_it_wrote(marker, url, kind)
        _remove_marker(instance)
    except Exception as e:
        return BackupError(
            f"The restore stopped: {reason}\nWhat it had written could not all be removed ({e}): this "
            "instance holds a half-done restore and is not served. Run `archive restore DIR` again: "
            "it empties what is left first."
        )
    return BackupError(
        f"The restore stopped: {reason}\nWhat it had written is removed: this instance is empty again, "
        "ready for `archive restore DIR`."
    )


# --- restore --------------------------------------------------------------------------------------


def restore(source: Path, echo: Callable[[str], None] = lambda _: None) -> RestoreReport:
    """Restore the backup in SOURCE into this instance, which must be empty or hold only a restore
    that did not finish (emptied first); then rebuild the index. A restore that fails leaves the
    instance empty again."""
    instance = Path(current_app.instance_path)
    url = _database_url()
    kind = database_kind(url)
    with db.engine.connect() as connection:
        schema = _schema(connection)
    database = _database_identity(url, schema)
    unfinished = unfinished_restore(instance)
    if unfinished is not None and unfinished.get("database") != database:
        raise BackupError(
            f"{instance / MARKER} marks an unfinished restore into another database "
            f"({unfinished.get('database', 'which it does not say')}) than this instance's "
            f"({database}): nothing is emptied. Point ARCHIVE_DATABASE_URL back at that database and "
            "run `archive restore` again."
        )
    echo("Checking the backup against its manifest…")
    manifest = read_manifest(source)
    if manifest["database"] != kind:
        raise BackupError(
            f"This backup is of a {manifest['database']} database and this instance runs on {kind}: "
            "restore it into an instance on the same kind of database."
        )
    if manifest.get("schema") != schema:
        raise BackupError(
            f"This backup is of the PostgreSQL schema {manifest.get('schema')} and this instance uses "
            f"{schema}: restore it with the same schema first in the database's search_path."
        )
    _known_revision(manifest["alembic_revision"])
    if unfinished is not None:
        echo(
            "This instance holds only a restore that did not finish (started at "
            f"{unfinished.get('started_at')}): removing what it wrote…"
        )
        _empty_what_it_wrote(unfinished, url, kind)
    _refuse_unless_empty()
    marker = {
        "backup": {
            "path": str(source.resolve()),
            "created_at": manifest.get("created_at"),
            "archive_version": manifest.get("archive_version"),
            "alembic_revision": manifest["alembic_revision"],
            "manifest_sha256": _sha256(source / MANIFEST),
        },
        "database": database,
        "started_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        # The instance files not here before, which the restore may add: removed with the rest.
        "added": [name for name in (*INSTANCE_FILES, ASIDE) if not (instance / name).exists()],
    }
    _write_marker(instance, marker)
    try:
        report = _restore_into_empty(source, manifest, url, kind, echo)
    except (Exception, KeyboardInterrupt) as failure:
        raise _undone(failure, marker, url, kind) from failure
    _remove_marker(instance)
    return report


def _restore_into_empty(
    source: Path, manifest: dict, url: URL, kind: str, echo: Callable[[str], None]
) -> RestoreReport:
    from flask_migrate import upgrade

    from archive.catalogue.models import Testimony
    from archive.search.outbox import rebuild

    echo(f"Loading the {kind} database…")
    dump = source / DUMPS[kind]
    if kind == "sqlite":
        _restore_sqlite(url, dump)
    else:
        _restore_postgres(url, dump)
    notes: list[str] = []
    key_file = _key_file_in_use()
    _restore_instance_files(source, notes)
    if key_file is not None:
        # The backup's key replaced the file: the instance runs with it from the next start, and a
        # migration below may encrypt with it (second factors), so this process takes it now.
        current_app.config["SECRET_KEY"] = key_file.read_text().strip()
    if manifest["alembic_revision"] is not None:
        # A backup from an older version is brought to this version's schema.
        upgrade(directory=current_app.extensions["migrate"].directory)
    else:
        notes.append(
            "The backup's database records no schema revision: run `archive db upgrade` to check it."
        )
    media = _restore_media(source, manifest, echo)
    # The index positions of the nodes that served the backed-up instance describe their index
    # folders, not this one's (the pruned horizon is the database's own and stays); and nobody is
    # signed in to an instance just restored.
    db.session.execute(delete(IndexNode).where(IndexNode.node_id != IndexNode.PRUNED))
    db.session.execute(delete(WebSession))
    record_event(
        None, "instance.restore", None, source=str(source.resolve()), backup_of=manifest["created_at"]
    )
    db.session.commit()
    echo("Rebuilding the search indexes…")
    db.session.remove()
    rebuild()
    testimonies = len(db.session.scalars(select(Testimony.id)).all())
    db.session.remove()
    # Every file written is on the disk before the marker goes.
    os.sync()
    return RestoreReport(testimonies, media, notes)
