"""Configuration: these defaults, then instance/config.py, then ARCHIVE_* environment variables."""

import os
import secrets
from pathlib import Path

LANGUAGES = {"en": "English", "az": "Azərbaycanca", "ru": "Русский"}


def instance_path() -> Path:
    return Path(os.environ.get("ARCHIVE_INSTANCE_PATH", "instance")).resolve()


def _secret_key(instance: Path) -> str:
    """The session key: from the environment, else generated once into the instance folder."""
    if key := os.environ.get("ARCHIVE_SECRET_KEY"):
        return key
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def defaults(instance: Path) -> dict:
    return {
        "SECRET_KEY": _secret_key(instance),
        # Former secret keys, still read after a rotation (Flask's own setting, a list): second
        # factors encrypted under one stay readable until their owner's next sign-in encrypts them
        # under SECRET_KEY.
        "SECRET_KEY_FALLBACKS": [],
        "SQLALCHEMY_DATABASE_URI": os.environ.get("ARCHIVE_DATABASE_URL")
        or f"sqlite:///{instance / 'archive.sqlite3'}",
        "INDEX_PATH": str(instance / "index"),
        "MEDIA_PATH": str(instance / "media"),
        # Two hours of high-definition video fit; anything larger is refused before it is stored.
        "MEDIA_MAX_BYTES": 16 * 1024**3,
        # The import page takes files up to this size, and a zip that unpacks to no more than this.
        "IMPORT_MAX_BYTES": 512 * 1024**2,
        # A background job (an import, an index rebuild) whose heartbeat is older than this belongs
        # to a process that stopped, and is marked failed; a running one beats six times as often.
        "JOB_STALE_SECONDS": 60,
        # The outbox drain thread keeps the index in step with changes made by other processes: one
        # per index folder polls the outbox this often; the threads of the other workers try its
        # leadership lock this often, so one takes over within a poll when its process dies.
        "OUTBOX_POLL_SECONDS": 0.5,
        "OUTBOX_THREAD": True,
        # How long a request waits for the index writer lock after its commit before it leaves its
        # change to the background writer; a failed round waits up to this long before the next.
        "OUTBOX_DRAIN_WAIT_SECONDS": 2.0,
        "OUTBOX_BACKOFF_MAX_SECONDS": 30.0,
        # Behind by more than this, the index is reported: `archive index check` exits 1, /healthz
        # answers 503, the log warns.
        "INDEX_LAG_MAX_SECONDS": 30.0,
        # Outbox rows every node active in this many days has applied are pruned, hourly.
        "OUTBOX_NODE_ACTIVE_DAYS": 7,
        "OUTBOX_PRUNE_EVERY_SECONDS": 3600,
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "LANGUAGES": LANGUAGES,
        "PER_PAGE": 10,
        "MAX_PER_PAGE": 100,
        # Answers each audience's index keeps for a search asked again before its next commit (the
        # database is still asked about every hit, every time); 0 keeps none.
        "SEARCH_ANSWERS_KEPT": 256,
        # A process serving the app (`archive serve`) runs its cycle collector's first generation
        # every this many allocations of objects it tracks, not Python's 700 (`collect_less_often`).
        "GC_YOUNG_THRESHOLD": 20_000,
        # How long the API keeps a create's answer for a retry under the same Idempotency-Key.
        "IDEMPOTENCY_KEY_HOURS": 24,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Reached over HTTPS (through the proxy): HSTS and Secure cookies. None decides by itself:
        # on, except in tests, in debug mode and under `archive serve` without `--host`.
        "SECURE_TRANSPORT": None,
        "WTF_CSRF_TIME_LIMIT": None,
        # Sessions live in the database: one unused this long ends (hours), and none outlives the
        # lifetime (days), however busy.
        "SESSION_IDLE_HOURS": 8,
        "SESSION_LIFETIME_DAYS": 7,
        # A testimony form sent after its session ended is kept this long (minutes) for whoever
        # signs in again in that browser, who finds it back in the form; then it goes.
        "DRAFT_SIGN_IN_MINUTES": 120,
        # A refused form is kept as a draft only up to this size (a three-hour transcript is well
        # under 1 MB), and at most this many wait for someone to sign in again at once: a form sent
        # with no session at all is anybody's to send, and must not fill the database or memory.
        "DRAFT_MAX_BYTES": 4 * 1024**2,
        "DRAFTS_WAITING_MAX": 200,
        # Sign-in throttling: this many failures in the window lock the account, or the client
        # address, until the oldest of them is older than the window.
        "SIGN_IN_FAILURES_PER_ACCOUNT": 5,
        "SIGN_IN_FAILURES_PER_ADDRESS": 20,
        "SIGN_IN_WINDOW_MINUTES": 15,
        # A browser that signed in gets a device cookie for the account, valid this many days (a new
        # one at every sign-in): its attempts pass the account and address locks strangers set, and
        # this many wrong passwords or codes in a row with it invalidate it.
        "DEVICE_COOKIE_DAYS": 180,
        "SIGN_IN_FAILURES_PER_DEVICE": 5,
        # How many reverse proxies stand before the app and set X-Forwarded-For (and -Proto, -Host):
        # 0 trusts no such header, so a client cannot choose the address it is throttled by.
        "TRUSTED_PROXIES": 0,
        # Admins must set up a second factor (TOTP) before they can use anything else.
        "REQUIRE_TOTP_FOR_ADMINS": False,
        # Days an API token made without --expires lasts.
        "TOKEN_DAYS": 90,
        # How passwords are hashed (any method Werkzeug's generate_password_hash takes). Scrypt at
        # Werkzeug's default strength makes guessing a stolen hash slow; the test suite alone sets a
        # cheap method, because it creates and checks hundreds of passwords.
        "PASSWORD_HASH_METHOD": "scrypt",
    }
