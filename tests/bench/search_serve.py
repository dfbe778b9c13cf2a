"""The app as the search benchmark serves it: the archive on a benchmark instance, plus two routes of
its own, an SQLite FTS5 search over the same public segments and the worker's memory.

Run by gunicorn (`tests.bench.search_serve:app`) with BENCH_INSTANCE naming the instance folder.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

from flask import jsonify, request

from archive import collect_less_often, create_app

FTS_FILE = "fts.sqlite3"
# As many segments as the archive's answer can show: 10 testimonies, 3 passages each, and spare.
FTS_LIMIT = 60
_PHRASE = re.compile(r'"([^"]*)"')
_TOKEN = re.compile(r"[^\W\d_]+\*?|\bOR\b|\bNOT\b")


def fts_query(q: str) -> str:
    """The archive's query language in FTS5's: words and phrases quoted, OR, NOT and prefix* kept."""
    parts: list[str] = []
    cursor = 0
    for match in _PHRASE.finditer(q):
        parts += _words(q[cursor : match.start()])
        words = re.findall(r"[^\W\d_]+", match.group(1))
        if words:
            parts.append('"' + " ".join(words) + '"')
        cursor = match.end()
    parts += _words(q[cursor:])
    while parts and parts[0] in ("OR", "NOT"):
        parts.pop(0)
    while parts and parts[-1] in ("OR", "NOT"):
        parts.pop()
    return " ".join(parts)


def _words(text: str) -> list[str]:
    out = []
    for token in _TOKEN.findall(text):
        if token in ("OR", "NOT"):
            out.append(token)
        elif token.endswith("*"):
            out.append(f'"{token[:-1]}"*')
        else:
            out.append(f'"{token}"')
    return out


def fts_search(connection: sqlite3.Connection, q: str) -> dict:
    """The best segments by FTS5's rank, grouped into up to 10 testimonies of up to 3 passages."""
    expression = fts_query(q)
    hits: dict[int, list[dict]] = {}
    if expression:
        rows = connection.execute(
            "SELECT tid, start_ms, snippet(seg, 0, '<mark>', '</mark>', '…', 40) FROM seg "
            "WHERE seg MATCH ? ORDER BY rank LIMIT ?",
            (expression, FTS_LIMIT),
        )
        for tid, start_ms, snippet in rows:
            if tid not in hits and len(hits) == 10:
                continue
            passages = hits.setdefault(tid, [])
            if len(passages) < 3:
                passages.append({"start_ms": start_ms, "snippet": snippet})
    return {"hits": [{"id": tid, "segments": segments} for tid, segments in hits.items()]}


def resident_memory() -> dict[str, int]:
    """This process's resident and peak resident memory, in kB; resident memory split into the
    process's own (anonymous) and pages of mapped files (index segments, shared between workers)."""
    status = Path("/proc/self/status").read_text()
    keys = ("VmRSS", "VmHWM", "RssAnon", "RssFile")
    return {key: int(re.search(rf"{key}:\s+(\d+)", status).group(1)) for key in keys}


def make_app(instance: str):
    app = create_app({"INSTANCE_PATH": instance, "OUTBOX_THREAD": False, "SECRET_KEY": "bench-only"})
    # Served as `archive serve` serves it (which sets ARCHIVE_SERVING, left out here so that no
    # writer thread starts): with its cycle collector's setting.
    collect_less_often(app)
    connection = sqlite3.connect(os.path.join(instance, FTS_FILE), check_same_thread=False)

    @app.get("/bench/fts")
    def fts():
        return jsonify(fts_search(connection, request.args.get("q", "")))

    @app.get("/bench/memory")
    def memory():
        return jsonify(resident_memory())

    return app


app = make_app(os.environ["BENCH_INSTANCE"]) if "BENCH_INSTANCE" in os.environ else None
