"""Search benchmark: rebuild time, query latency over HTTP against SQLite FTS5, publish-to-searchable
latency and the serving worker's memory, on a generated fictional corpus.

    python -m tests.bench.search_bench 2000 [--queries 120] [--words 5000] [--instance DIR]

With --instance, a folder already loaded with the same corpus is reused (loading is slow). A script
that prints figures; never part of the pass/fail suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from tests.bench import corpus
from tests.bench.search_serve import FTS_FILE, fts_search

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "bench-admin@example.org"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("count", type=int)
    parser.add_argument("--queries", type=int, default=120)
    parser.add_argument("--words", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1992)
    parser.add_argument("--publish", type=int, default=20, help="testimonies published one by one")
    parser.add_argument("--instance", type=Path, help="instance folder to reuse or keep")
    parser.add_argument(
        "--publish-only",
        action="store_true",
        help="with --instance holding a loaded, indexed corpus: only the publish-to-searchable latency",
    )
    args = parser.parse_args()
    if args.publish_only:
        publish_only(args)
        return

    instance = args.instance or Path(tempfile.mkdtemp(prefix="search-bench-"))
    instance = instance.resolve()
    instance.mkdir(parents=True, exist_ok=True)
    figures: dict[str, object] = {"testimonies": args.count, "words": args.words}
    from archive import create_app
    from archive.extensions import db

    app = create_app({"INSTANCE_PATH": str(instance), "OUTBOX_THREAD": False, "SECRET_KEY": "bench-only"})
    try:
        with app.app_context():
            db.create_all()
            figures["load_s"] = load(instance, args)
            figures.update(rebuild())
            figures["fts_build_s"] = build_fts(instance)
            queries = make_queries(args.seed, args.queries)
            with serving(instance) as base:
                warm_up(base, queries)
                figures["engine"] = timed(base, "/api/v1/search", queries)
                figures["memory_kb"] = get(base, "/bench/memory")
                figures["fts"] = timed(base, "/bench/fts", queries)
                figures["publish"] = publish_latency(base, args)
            figures["engine_only"] = engine_only(queries)
            figures["fts_only"] = fts_only(instance, queries)
    finally:
        if args.instance is None:
            shutil.rmtree(instance, ignore_errors=True)
    report(figures, args)


# Loading


def load(instance: Path, args: argparse.Namespace) -> float | None:
    """Publish the corpus through the real services, unless this folder already holds it."""
    from archive.accounts.service import create_user
    from archive.extensions import db
    from archive.operations import create_testimony

    marker = instance / "bench-corpus.json"
    wanted = {"count": args.count, "words": args.words, "seed": args.seed}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return None
    if marker.exists():
        raise SystemExit(f"{instance} holds another corpus; give another --instance")
    admin = create_user(None, ADMIN, "admin", "bench password, fictional", name="Bench Admin")
    started = time.perf_counter()
    for n, body in enumerate(corpus.generate(args.count, args.words, args.seed), start=1):
        create_testimony(admin, body, publish=True)
        if n % 100 == 0:
            db.session.expunge_all()
            admin = db.session.merge(admin)
            print(f"  loaded {n}/{args.count}", file=sys.stderr)
    marker.write_text(json.dumps(wanted))
    return time.perf_counter() - started


def rebuild() -> dict[str, float]:
    """The full rebuild through the outbox, with the CPU it took here and in its processes."""
    from archive.search.outbox import rebuild as rebuild_all

    before = _cpu()
    started = time.perf_counter()
    rebuild_all()
    wall = time.perf_counter() - started
    after = _cpu()
    return {"rebuild_s": wall, "rebuild_cpu_s": after - before}


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def build_fts(instance: Path) -> float:
    """An FTS5 table over the segments the public may see; the seconds its inserts took."""
    from sqlalchemy import select

    from archive.catalogue.models import Testimony
    from archive.extensions import db
    from archive.search.outbox import documents_for

    path = instance / FTS_FILE
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path)
    connection.execute("CREATE VIRTUAL TABLE seg USING fts5(text, tid UNINDEXED, start_ms UNINDEXED, "
                       "tokenize='porter unicode61')")  # fmt: skip
    spent = 0.0
    ids = list(db.session.scalars(select(Testimony.id).order_by(Testimony.id)))
    for start in range(0, len(ids), 200):
        rows = []
        for testimony in db.session.scalars(
            select(Testimony).where(Testimony.id.in_(ids[start : start + 200]))
        ):
            public = documents_for(testimony).get("public")
            if public is not None:
                rows += [(s["text"] or "", testimony.id, s["start_ms"]) for s in public["segments"]]
        db.session.expunge_all()
        started = time.perf_counter()
        connection.executemany("INSERT INTO seg (text, tid, start_ms) VALUES (?, ?, ?)", rows)
        connection.commit()
        spent += time.perf_counter() - started
    started = time.perf_counter()
    connection.execute("INSERT INTO seg(seg) VALUES ('optimize')")
    connection.commit()
    connection.close()
    return spent + time.perf_counter() - started


# Queries


PLACE_QUERIES = ["Xocalı", "Xocali", "Ходжалы", "Khojaly", "Ağdam", "Agdam", "Агдам", "Aghdam", "Şuşa",
                 "Susa", "Шуша", "Shusha", "Bakı", "Baki", "Баку", "Əsgəran", "Esgeran", "Askeran", "Kətik",
                 "Katik", "Кятик", "Qarqar", "Каркар", "Gargar"]  # fmt: skip
# Turkish spellings and inflections a Turkish reader might type.
TURKISH_QUERIES = ["Hocalı", "Ağdam'da", "Şuşa'dan", "Bakü", "köy", "kar gece", "Hocalı'dan"]


def make_queries(seed: int, count: int) -> list[str]:
    """Distinct queries of every kind, drawn from the corpus's own vocabularies."""
    vocab_rng = random.Random(seed)
    vocab = {lang: corpus.vocabulary(lang, vocab_rng, 20_000) for lang in corpus.COMMON}
    rng = random.Random(seed + 1)
    langs = list(vocab)
    queries: list[str] = []

    def word(lang: str, low: int, high: int) -> str:
        return vocab[lang][rng.randrange(low, high)]

    kinds = [
        lambda lang: word(lang, 2_000, 20_000),  # rare
        lambda lang: word(lang, 0, 40),  # common
        lambda lang: f"{word(lang, 50, 3_000)} {word(lang, 50, 3_000)}",  # two words, both required
        lambda lang: f'"{word(lang, 0, 30)} {word(lang, 0, 30)}"',  # phrase of common words
        lambda lang: f'"{word(lang, 0, 5)} {word(lang, 100, 2_000)}"',  # phrase with a rarer word
        lambda lang: f"{word(lang, 100, 5_000)} OR {word(lang, 100, 5_000)}",
        lambda lang: f"{word(lang, 100, 5_000)[:4]}*",
        lambda lang: f"{word(lang, 50, 2_000)}~",
        lambda lang: f"{rng.choice(PLACE_QUERIES)} {word(lang, 0, 200)}",
    ]
    queries += PLACE_QUERIES + TURKISH_QUERIES
    seen = set(queries)
    while len(queries) < count + 20:
        query = rng.choice(kinds)(rng.choice(langs))
        if query not in seen and len(query.strip('"*~')) > 2:
            seen.add(query)
            queries.append(query)
    rng.shuffle(queries)
    return queries


def warm_up(base: str, queries: list[str]) -> None:
    """Queries not measured afterwards: open the searchers, fill caches."""
    for q in queries[-20:]:
        get(base, "/api/v1/search", q=q)
        get(base, "/bench/fts", q=q)
    del queries[-20:]


def timed(base: str, path: str, queries: list[str]) -> dict:
    times = []
    for q in queries:
        started = time.perf_counter()
        get(base, path, q=q)
        times.append(time.perf_counter() - started)
    return _summary(times, queries)


def kind_of(query: str) -> str:
    """Which kind of query of `make_queries` this is."""
    if query.startswith('"'):
        return "phrase"
    if " OR " in query:
        return "or"
    if query.endswith("*"):
        return "prefix"
    if query.endswith("~"):
        return "fuzzy"
    return "words" if " " in query else "word"


def _summary(times: list[float], queries: list[str]) -> dict:
    ordered = sorted(times)
    slowest = max(range(len(times)), key=times.__getitem__)
    kinds: dict[str, list[float]] = {}
    for query, spent in zip(queries, times, strict=True):
        kinds.setdefault(kind_of(query), []).append(spent * 1000)
    return {
        "n": len(times),
        "median_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[max(0, int(round(0.95 * len(ordered))) - 1)] * 1000,
        "max_ms": ordered[-1] * 1000,
        "slowest": queries[slowest],
        "kinds": {
            kind: [len(found), statistics.median(found), max(found)] for kind, found in sorted(kinds.items())
        },
    }


def engine_only(queries: list[str]) -> dict:
    """The same queries straight through archive.search.query, in this process."""
    from archive.search.outbox import search_index
    from archive.search.query import search

    times = []
    for q in queries:
        started = time.perf_counter()
        search(search_index(), "public", q)
        times.append(time.perf_counter() - started)
    return _summary(times, queries)


def fts_only(instance: Path, queries: list[str]) -> dict:
    connection = sqlite3.connect(instance / FTS_FILE)
    times = []
    for q in queries:
        started = time.perf_counter()
        fts_search(connection, q)
        times.append(time.perf_counter() - started)
    connection.close()
    return _summary(times, queries)


# Publishing


def marker_word(n: int) -> str:
    """A made-up word of letters only, found in no generated text."""
    letters = "bcdfghjklmnpqrstvwxz"
    out = "zyqo"
    for _ in range(6):
        n, digit = divmod(n, len(letters))
        out += letters[digit]
    return out


def publish_latency(base: str, args: argparse.Namespace) -> dict:
    """Publish testimonies one by one: seconds from the service's return until the served search
    finds them, the outbox drained in between as the background writer would."""
    from sqlalchemy import select

    from archive.accounts.models import User
    from archive.consent.service import validate_consent
    from archive.extensions import db
    from archive.operations import change_consent, create_testimony
    from archive.search.outbox import drain

    admin = db.session.scalar(select(User).where(User.email == ADMIN))
    bodies = corpus.generate(args.publish, args.words, args.seed + 7)
    latencies, services, withdrawals = [], [], []
    for n, body in enumerate(bodies):
        word = marker_word(int(time.time() * 1000) + n)
        body["consent"].update(access="public", anonymize_narrator=False)
        body["consent"].pop("sealed_until", None)
        body["consent"].pop("release_to", None)
        body["segments"][len(body["segments"]) // 2]["text"] += f" {word}"
        started = time.perf_counter()
        testimony = create_testimony(admin, body, publish=True)
        published = time.perf_counter()
        drain()
        while not get(base, "/api/v1/search", q=word)["total"]:
            if time.perf_counter() - published > 30:
                raise SystemExit(f"published testimony with {word} not searchable after 30 s")
            time.sleep(0.005)
        latencies.append(time.perf_counter() - published)
        services.append(published - started)
        # Then the narrator withdraws: seconds until the served search no longer finds it.
        withdrawn = validate_consent({**body["consent"], "access": "withdrawn"})
        change_consent(admin, testimony, withdrawn)
        gone = time.perf_counter()
        drain()
        while get(base, "/api/v1/search", q=word)["total"]:
            if time.perf_counter() - gone > 30:
                raise SystemExit(f"withdrawn testimony with {word} still found after 30 s")
            time.sleep(0.005)
        withdrawals.append(time.perf_counter() - gone)
    ordered, out = sorted(latencies), sorted(withdrawals)
    return {
        "n": len(latencies),
        "median_s": statistics.median(ordered),
        "p95_s": ordered[max(0, int(round(0.95 * len(ordered))) - 1)],
        "max_s": ordered[-1],
        "service_median_s": statistics.median(services),
        "withdraw_median_s": statistics.median(out),
        "withdraw_p95_s": out[max(0, int(round(0.95 * len(out))) - 1)],
        "withdraw_max_s": out[-1],
    }


def publish_only(args: argparse.Namespace) -> None:
    """Publish-to-searchable latency alone, on an instance already loaded and indexed (no rebuild)."""
    if args.instance is None or not (args.instance / "bench-corpus.json").exists():
        raise SystemExit("--publish-only needs --instance with a loaded corpus")
    instance = args.instance.resolve()
    from archive import create_app
    from archive.search.outbox import drain, has_index

    app = create_app({"INSTANCE_PATH": str(instance), "OUTBOX_THREAD": False, "SECRET_KEY": "bench-only"})
    with app.app_context():
        if not has_index():
            raise SystemExit(f"{instance} has no index: run the full benchmark once")
        drain()
        queries = make_queries(args.seed, 20)
        with serving(instance) as base:
            warm_up(base, queries)
            publish = publish_latency(base, args)
    print(
        f"publish to searchable ({publish['n']}, {args.count} testimonies x {args.words} words)  "
        f"median {publish['median_s']:.3f} s  p95 {publish['p95_s']:.3f} s  max {publish['max_s']:.3f} s  "
        f"(service call itself: median {publish['service_median_s']:.3f} s)"
    )
    print(
        f"withdrawal to gone from search  median {publish['withdraw_median_s']:.3f} s  "
        f"p95 {publish['withdraw_p95_s']:.3f} s  max {publish['withdraw_max_s']:.3f} s"
    )
    print(json.dumps(publish))


# Serving


class serving:
    """One gunicorn sync worker serving the instance on a loopback port."""

    def __init__(self, instance: Path) -> None:
        self.instance = instance

    def __enter__(self) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        env = {**os.environ, "BENCH_INSTANCE": str(self.instance), "PYTHONPATH": str(ROOT)}
        env.pop("ARCHIVE_SERVING", None)
        self.process = subprocess.Popen(
            [gunicorn, "--workers", "1", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
             "--timeout", "300", "tests.bench.search_serve:app"],
            env=env, cwd=ROOT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                get(base, "/bench/memory")
                return base
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.process.kill()
                    raise
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def get(base: str, path: str, **params: str) -> dict:
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=120) as response:
        return json.loads(response.read())


# Report


def report(figures: dict, args: argparse.Namespace) -> None:
    engine, fts = figures["engine"], figures["fts"]
    memory = figures["memory_kb"]
    publish = figures["publish"]
    load = "reused" if figures["load_s"] is None else f"{figures['load_s']:.0f} s"
    lines = [
        f"Search benchmark: {args.count} testimonies x {args.words} words "
        f"(seed {args.seed}, {engine['n']} queries, load {load})",
        f"  full rebuild (outbox.rebuild)   {figures['rebuild_s']:8.1f} s wall  "
        f"{figures['rebuild_cpu_s']:8.1f} s CPU",
        f"  FTS5 build (inserts, optimize)  {figures['fts_build_s']:8.1f} s",
        "",
        f"  {'over HTTP (gunicorn, 1 worker)':34} {'median':>8} {'p95':>8} {'max':>8}   slowest",
        f"  {'archive /api/v1/search':34} {engine['median_ms']:6.1f}ms {engine['p95_ms']:6.1f}ms "
        f"{engine['max_ms']:6.1f}ms   {engine['slowest']}",
        f"  {'SQLite FTS5 (same server)':34} {fts['median_ms']:6.1f}ms {fts['p95_ms']:6.1f}ms "
        f"{fts['max_ms']:6.1f}ms   {fts['slowest']}",
        f"  {'ratio archive / FTS5':34} {engine['median_ms'] / fts['median_ms']:8.2f} "
        f"{engine['p95_ms'] / fts['p95_ms']:8.2f}",
        f"  {'engine only (no HTTP)':34} {figures['engine_only']['median_ms']:6.1f}ms "
        f"{figures['engine_only']['p95_ms']:6.1f}ms {figures['engine_only']['max_ms']:6.1f}ms",
        f"  {'FTS5 only (no HTTP)':34} {figures['fts_only']['median_ms']:6.1f}ms "
        f"{figures['fts_only']['p95_ms']:6.1f}ms {figures['fts_only']['max_ms']:6.1f}ms",
        "",
        f"  {'by kind of query, over HTTP':34} {'n':>3} {'median':>8} {'max':>8} "
        f"{'FTS5 median':>12} {'max':>8}",
        *(
            f"  {kind:34} {count:3d} {median:6.1f}ms {most:6.1f}ms "
            f"{fts['kinds'][kind][1]:10.1f}ms {fts['kinds'][kind][2]:6.1f}ms"
            for kind, (count, median, most) in engine["kinds"].items()
        ),
        "",
        f"  publish to searchable ({publish['n']})      median {publish['median_s']:.3f} s  "
        f"p95 {publish['p95_s']:.3f} s  max {publish['max_s']:.3f} s  "
        f"(service call itself: median {publish['service_median_s']:.3f} s)",
        f"  withdrawal to gone from search   median {publish['withdraw_median_s']:.3f} s  "
        f"p95 {publish['withdraw_p95_s']:.3f} s  max {publish['withdraw_max_s']:.3f} s",
        f"  serving worker memory            VmRSS {memory['VmRSS'] / 1024:.0f} MB  "
        f"peak {memory['VmHWM'] / 1024:.0f} MB (after the archive queries): "
        f"{memory['RssAnon'] / 1024:.0f} MB its own, {memory['RssFile'] / 1024:.0f} MB mapped files",
        f"  load average at the end          {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs",
    ]
    print("\n".join(lines))
    print(json.dumps(figures, default=str))


if __name__ == "__main__":
    main()
