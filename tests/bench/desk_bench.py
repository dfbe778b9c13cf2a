"""The staff desk's server time on long testimonies: the editor's page rendered and saved, and the
moderator's review page (a new entry, and an edit with a tenth of its segments changed) and queue,
at 100, 1,000 and 3,000 segments (medians of several runs, in milliseconds; the review page's CPU
time too, which holds on a machine busy with other work, and its size).

    python -m tests.bench.desk_bench [--sizes 100 1000 3000] [--runs 5] [--database URL]

Each page has a function of its own taking the app, a signed-in client and the sizes; the request
goes through the whole app in this process (routing, session, database, templates), so the time is
the server's, without a network. A script that prints figures; never part of the pass/fail suite.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import SAMPLE_BODY

PASSWORD = "bench only, fictional"


def long_body(segments: int) -> dict:
    """A fictional testimony of that many segments of about twenty words each."""
    speakers = ("Narrator", "Interviewer")
    return {
        "title": f"A fictional testimony of {segments} segments",
        "narrator": {"name": "Bench Fictional"},
        "interview": {"date": "2019-03-14", "languages": ["en"]},
        "segments": [
            {
                "start_ms": i * 5000,
                "end_ms": i * 5000 + 4800,
                "speaker": speakers[i % 2],
                "text": f"Segment {i}: we walked along the river at night and the snow was deep "
                "until the morning came over the hills near the village.",
                "keywords": ["river", "snow"] if i % 10 == 0 else [],
            }
            for i in range(segments)
        ],
        "consent": {"access": "staff"},
    }


def timed(call: Callable[[], object], runs: int) -> float:
    """The median time of `call`, in milliseconds, after one run to warm up."""
    call()
    times = []
    for _run in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def bench_editor(app, client, archivist, sizes: list[int], runs: int) -> dict:
    """The edit page (GET) and a save that changes one segment's words (POST, a new version)."""
    from archive import operations

    return {
        size: _editor_times(client, operations.create_testimony(archivist, long_body(size)), runs)
        for size in sizes
    }


def _editor_times(client, testimony, runs: int) -> dict:
    path = f"/testimonies/{testimony.id}/edit"
    form = _form_of(client.get(path).get_data(as_text=True))
    edits = iter(range(10_000))

    def render() -> None:
        assert client.get(path).status_code == 200

    def save() -> None:
        vtt = form["vtt"].replace("Segment 7:", f"Segment 7 (edit {next(edits)}):", 1)
        response = client.post(path, data={**form, "vtt": vtt, "version": str(testimony.version)})
        assert response.status_code == 302, response.status_code

    return {"render_ms": timed(render, runs), "save_ms": timed(save, runs)}


def _form_of(page: str) -> dict:
    """The edit form's fields as the page fills them in."""
    import html
    import re

    data = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'\bname="([^"]+)"', tag)
        value = re.search(r'\bvalue="([^"]*)"', tag)
        if name and 'type="file"' not in tag and 'type="checkbox"' not in tag:
            data[name.group(1)] = html.unescape(value.group(1)) if value else ""
    for name, body in re.findall(r'<textarea[^>]*\bname="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        data[name] = html.unescape(body).removeprefix("\n")
    return {**data, "action": "save"}


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


def timed_get(client, path: str, runs: int) -> tuple[float, float, int]:
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


def bench_review(app, people: dict, size: int, runs: int) -> None:
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
        wall, cpu, nbytes = timed_get(client, f"/review/{testimony.id}", runs)
        print(
            f"review page  {size:>5} segments  {label:<18} median {wall:6.1f} ms "
            f"(cpu {cpu:6.1f} ms)  {nbytes / 1024:6.1f} KiB"
        )
    waiting = queue_length()
    wall, cpu, _size = timed_get(client, "/review", runs)
    print(f"review queue {waiting:>5} waiting  {'':<18} median {wall:6.1f} ms (cpu {cpu:6.1f} ms)")


def queue_length() -> int:
    from sqlalchemy import func, select

    from archive.catalogue.models import State, Testimony
    from archive.extensions import db

    return db.session.scalar(select(func.count()).where(Testimony.state == State.IN_REVIEW))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 3000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", help="a SQLAlchemy URL of an empty database (default: SQLite)")
    args = parser.parse_args()

    from archive import create_app
    from archive.accounts.service import create_user
    from archive.extensions import db

    instance = Path(tempfile.mkdtemp(prefix="desk-bench-"))
    config = {
        "INSTANCE_PATH": str(instance),
        "OUTBOX_THREAD": False,
        "SECRET_KEY": "bench-only",
        "WTF_CSRF_ENABLED": False,
        "SECURE_TRANSPORT": False,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1",
    }
    if args.database:
        config["SQLALCHEMY_DATABASE_URI"] = args.database
    app = create_app(config)
    with app.app_context():
        db.create_all()
        archivist = create_user(None, "bench-archivist@example.org", "archivist", PASSWORD, name="Bench")
        moderator = create_user(None, "bench-moderator@example.org", "moderator", PASSWORD, name="Bench")
        client = app.test_client()
        client.post("/login", data={"email": archivist.email, "password": PASSWORD})
        figures = {
            "database": db.engine.dialect.name,
            "editor": bench_editor(app, client, archivist, args.sizes, args.runs),
        }
        for size in args.sizes:
            bench_review(app, {"archivist": archivist, "moderator": moderator}, size, args.runs)
        if args.database:
            db.drop_all()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
