"""Server time of the staff's desk pages for long testimonies: what a page costs to render (and,
for the editor, to save) at 100, 1,000 and 3,000 segments. One function per page; each prints the
median of its runs and the size of the answer.

    python -m tests.bench.desk_bench [--sizes 100 1000 3000] [--runs 7]

SQLite in a temporary instance by default; ARCHIVE_DATABASE_URL points it at another database (an
empty one: the script creates its tables). Times are the test client's round trip through the
whole app (routing, database, policy, templates), with no network in between.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tests.conftest import SAMPLE_BODY, TEST_PASSWORD_HASH

PASSWORD = "bench password, fictional"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 3000])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    from archive import create_app
    from archive.extensions import db

    instance = Path(tempfile.mkdtemp(prefix="desk-bench-")).resolve()
    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "INDEX_PATH": str(instance / "index"),
            "OUTBOX_THREAD": False,
            "SECRET_KEY": "bench-only",
            "WTF_CSRF_ENABLED": False,
            "PASSWORD_HASH_METHOD": TEST_PASSWORD_HASH,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'archive.sqlite3'}",
        }
    )
    try:
        with app.app_context():
            db.create_all()
            people = staff()
            for size in args.sizes:
                review_page(app, people, size, args.runs)
    finally:
        shutil.rmtree(instance, ignore_errors=True)


def staff() -> dict:
    from archive.accounts.service import create_user

    return {
        role: create_user(None, f"bench-{role}@example.org", role, PASSWORD, name=f"Bench {role}")
        for role in ("archivist", "moderator")
    }


def body_with(size: int, *, edited_every: int = 0) -> dict:
    """A fictional testimony of `size` three-second segments; with `edited_every`, every n-th
    segment's text is changed, as an archivist's corrections would."""
    body = copy.deepcopy(SAMPLE_BODY)
    body["title"] = f"A fictional testimony of {size} segments"
    body["segments"] = [
        {
            "start_ms": i * 3000,
            "end_ms": (i + 1) * 3000,
            "speaker": "Narrator" if i % 3 else "Interviewer",
            "text": f"Fictional sentence {i}: we walked along the river to the old mill and waited there."
            + (" Corrected." if edited_every and i % edited_every == 0 else ""),
            "keywords": ["river"] if i % 10 == 0 else [],
        }
        for i in range(size)
    ]
    return body


def signed_in(app, user):
    client = app.test_client()
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    return client


def timed(client, path: str, runs: int) -> tuple[float, float, int]:
    """The median wall and CPU time of GET `path` in ms, and the size of its answer in bytes. The
    CPU time is this process's own, so it holds on a machine busy with other work."""
    walls, cpus, size = [], [], 0
    client.get(path)  # warm: templates compiled, caches filled
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        cpus.append((time.process_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
        assert response.status_code == 200, response.status_code
        size = len(response.data)
    return statistics.median(walls), statistics.median(cpus), size


def review_page(app, people: dict, size: int, runs: int) -> None:
    """The moderator's review page: a new entry of `size` segments, and an edit of a published one
    in which every tenth segment changed."""
    from archive.operations import create_testimony, review, submit_for_review, update_testimony

    archivist, moderator = people["archivist"], people["moderator"]
    new = create_testimony(archivist, body_with(size))
    submit_for_review(archivist, new)
    edited = create_testimony(archivist, body_with(size))
    submit_for_review(archivist, edited)
    review(moderator, edited, "approve", "")
    update_testimony(archivist, edited, body_with(size, edited_every=10), edited.version)
    submit_for_review(archivist, edited)
    client = signed_in(app, moderator)
    for label, testimony in (("new entry", new), ("edit, 10% changed", edited)):
        wall, cpu, nbytes = timed(client, f"/review/{testimony.id}", runs)
        print(
            f"review page  {size:>5} segments  {label:<18} median {wall:6.1f} ms "
            f"(cpu {cpu:6.1f} ms)  {nbytes / 1024:6.1f} KiB"
        )
    waiting = queue_length()
    wall, cpu, _size = timed(client, "/review", runs)
    print(f"review queue {waiting:>5} waiting  {'':<18} median {wall:6.1f} ms (cpu {cpu:6.1f} ms)")


def queue_length() -> int:
    from sqlalchemy import func, select

    from archive.catalogue.models import State, Testimony
    from archive.extensions import db

    return db.session.scalar(select(func.count()).where(Testimony.state == State.IN_REVIEW))


if __name__ == "__main__":
    main()
