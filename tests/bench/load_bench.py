"""Load benchmark: search throughput and latency under concurrent readers, against a static file of the
same app in the same run, with `archive serve` (gunicorn, 2 workers) on the loopback.

    python -m tests.bench.load_bench 2000 [--instance DIR] [--concurrency 1 2 8] [--seconds 10]

Builds the search benchmark's fictional corpus (tests/bench/corpus.py, loaded through the real
services by tests/bench/search_bench.py) or reuses one in --instance, serves it as production would
and drives it with a load generator of its own: threads, one request at a time each, over
http.client to 127.0.0.1 only, bounded in time (--seconds per run, taken in --rounds turns with the
other targets, so that the rest of the machine's load weighs on all alike) and in count
(--max-requests per turn). For each concurrency it measures the public JSON search (--queries
queries of every kind, asked in turn, as readers ask the same searches again: a worker gives a kept
answer again while the index has not changed, the database still checking every hit; the whole mix is
asked before the runs, so they measure its steady state), the same
search with a query never asked before in the run for every request (the engine's own throughput:
no kept answer serves it), the search page (HTML) and /static/style.css, and prints requests/s,
p50/p95/p99 and errors, and the ratio of search to static throughput (the target: at least 30%). The
client shares the machine with the server: on 2 cores its own CPU use lowers every figure, the
static file's most.
A script that prints figures; never part of the pass/fail suite.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.search_bench import kind_of, load, make_queries, rebuild

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"  # the load goes to this machine's loopback and nowhere else


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("count", type=int, help="testimonies in the corpus")
    parser.add_argument("--words", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1992)
    parser.add_argument("--instance", type=Path, help="instance folder to reuse or keep")
    parser.add_argument("--workers", type=int, default=2)
    # One reader, as many as workers, and a queue four deep per worker.
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 8])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--rounds", type=int, default=5, help="slices each run is cut into, in turns")
    parser.add_argument("--max-requests", type=int, default=5_000, help="cap on each slice's requests")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    instance = (args.instance or Path(tempfile.mkdtemp(prefix="load-bench-"))).resolve()
    instance.mkdir(parents=True, exist_ok=True)
    try:
        prepare(instance, args)
        queries = make_queries(args.seed, args.queries)
        asked = set(queries)
        # Queries never asked before in the run, for every request: no answer a worker keeps can
        # serve them, so this target is the engine's own throughput.
        fresh = (_path("/api/v1/search", q) for q in make_queries(args.seed + 1, 60_000) if q not in asked)
        targets = {
            "api search": itertools.cycle([_path("/api/v1/search", q) for q in queries]),
            "api new q": fresh,
            "search page": itertools.cycle([_path("/search", q) for q in queries]),
            "static file": itertools.cycle(["/static/style.css"]),
        }
        results: list[Run] = []
        with Served(instance, args.workers) as port:
            for name, paths in targets.items():
                # Not measured: every worker opens its searchers and fills its caches, and a mix
                # asked in turn is asked whole, three times over (gunicorn hands each request to
                # whichever worker accepts first), so that the runs measure its steady state, not
                # its first asking in each worker: what that costs is "api new q"'s figure.
                repeated = len(queries) * 3 if name in ("api search", "search page") else 10
                warm_up(port, list(itertools.islice(paths, repeated)))
            for concurrency in args.concurrency:
                runs = {name: Run(name, concurrency) for name in targets}
                # Targets take turns in short slices, so that whatever else the machine is doing
                # weighs on the search and on the static file alike.
                turn = args.seconds / args.rounds
                for _ in range(args.rounds):
                    for name, paths in targets.items():
                        runs[name].add(drive(port, name, paths, concurrency, turn, args.max_requests))
                for run in runs.values():
                    results.append(run)
                    print(run.line(), file=sys.stderr)
        report(results, args)
    finally:
        if args.instance is None:
            shutil.rmtree(instance, ignore_errors=True)


def _path(route: str, q: str) -> str:
    return f"{route}?{urllib.parse.urlencode({'q': q})}"


def prepare(instance: Path, args: argparse.Namespace) -> None:
    """The corpus loaded and indexed in the instance, unless it already is."""
    from archive import create_app
    from archive.extensions import db
    from archive.search.outbox import drain, has_index

    app = create_app({"INSTANCE_PATH": str(instance), "OUTBOX_THREAD": False})
    with app.app_context():
        db.create_all()
        loaded = load(instance, argparse.Namespace(count=args.count, words=args.words, seed=args.seed))
        if loaded is not None or not has_index():
            print(f"indexing {args.count} testimonies…", file=sys.stderr)
            rebuild()
        drain()
        db.session.remove()
        db.engine.dispose()


class Served:
    """`archive serve` on a free loopback port, with its gunicorn workers, until the block ends."""

    def __init__(self, instance: Path, workers: int) -> None:
        self.instance = instance
        self.workers = workers

    def __enter__(self) -> int:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
        env["ARCHIVE_INSTANCE_PATH"] = str(self.instance)
        archive = str(Path(sys.executable).with_name("archive"))
        self.process = subprocess.Popen(
            [archive, "serve", "--port", str(port), "--workers", str(self.workers)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                if request(port, "/static/style.css")[0] == 200:
                    return port
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.process.kill()
                raise SystemExit("archive serve did not answer within 120 s")
            time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def request(port: int, path: str) -> tuple[int, int]:
    """One GET on a connection of its own (gunicorn's sync workers close each one): status, bytes."""
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        connection.request("GET", path, headers={"Accept-Encoding": "identity"})
        response = connection.getresponse()
        return response.status, len(response.read())
    finally:
        connection.close()


def warm_up(port: int, paths: list[str]) -> None:
    """Requests not measured, two readers at a time (as many as workers, so both are asked)."""
    order = iter(paths * 2)
    lock = threading.Lock()

    def reader() -> None:
        while True:
            with lock:
                path = next(order, None)
            if path is None:
                return
            request(port, path)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@dataclass
class Run:
    name: str
    concurrency: int
    seconds: float = 0.0
    times: list[float] = field(default_factory=list)
    errors: int = 0
    kinds: dict[str, list[float]] = field(default_factory=dict)

    def add(self, other: Run) -> None:
        self.seconds += other.seconds
        self.times += other.times
        self.errors += other.errors
        for kind, found in other.kinds.items():
            self.kinds.setdefault(kind, []).extend(found)

    @property
    def rate(self) -> float:
        return len(self.times) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.times)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] * 1000

    def line(self) -> str:
        return (
            f"  {self.name:12} c={self.concurrency:<3} {len(self.times):6d} req {self.rate:8.1f} req/s  "
            f"p50 {self.percentile(50):7.1f} ms  p95 {self.percentile(95):7.1f} ms  "
            f"p99 {self.percentile(99):7.1f} ms  errors {self.errors}"
        )


def drive(port: int, name: str, order: Iterator[str], concurrency: int, seconds: float, cap: int) -> Run:
    """`concurrency` readers, each asking the next path of `order`, until the time or the cap is up."""
    run = Run(name, concurrency)
    lock = threading.Lock()
    issued = itertools.count()
    deadline = time.perf_counter() + seconds

    def reader() -> None:
        while time.perf_counter() < deadline:
            with lock:
                if next(issued) >= cap:
                    return
                path = next(order)
            started = time.perf_counter()
            try:
                status, _size = request(port, path)
            except OSError:
                status = 0
            spent = time.perf_counter() - started
            with lock:
                if status == 200:
                    run.times.append(spent)
                    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).get("q")
                    if query:
                        run.kinds.setdefault(kind_of(query[0]), []).append(spent * 1000)
                else:
                    run.errors += 1

    threads = [threading.Thread(target=reader) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.seconds = time.perf_counter() - started
    return run


def report(results: list[Run], args: argparse.Namespace) -> None:
    lines = [
        f"Load benchmark: {args.count} testimonies x {args.words} words, archive serve with "
        f"{args.workers} gunicorn workers on {HOST}, {args.seconds:.0f} s per run in {args.rounds} turns "
        f"(at most {args.max_requests} requests each), {os.cpu_count()} CPUs shared with the load generator",
        f"  {'target':12} {'readers':>7} {'requests':>8} {'req/s':>8} {'p50':>9} {'p95':>9} {'p99':>9} "
        f"{'errors':>6} {'vs static':>9}",
    ]
    static = {r.concurrency: r.rate for r in results if r.name == "static file"}
    for run in results:
        ratio = run.rate / static[run.concurrency] if static.get(run.concurrency) else float("nan")
        lines.append(
            f"  {run.name:12} {run.concurrency:7d} {len(run.times):8d} {run.rate:8.1f} "
            f"{run.percentile(50):7.1f}ms {run.percentile(95):7.1f}ms {run.percentile(99):7.1f}ms "
            f"{run.errors:6d} {ratio:8.0%}"
        )
    lines.append("")
    for name in ("api search", "api new q"):
        lines.append(f"  {name} by kind of query (all concurrencies): n, p50, p95 in ms")
        kinds: dict[str, list[float]] = {}
        for run in results:
            if run.name == name:
                for kind, found in run.kinds.items():
                    kinds.setdefault(kind, []).extend(found)
        for kind, found in sorted(kinds.items()):
            ordered = sorted(found)
            p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
            lines.append(f"    {kind:10} {len(found):6d} {statistics.median(ordered):8.1f} {p95:8.1f}")
    lines.append(f"  load average at the end: {os.getloadavg()[0]:.2f}")
    print("\n".join(lines))
    print(
        json.dumps(
            [
                {
                    "target": r.name,
                    "concurrency": r.concurrency,
                    "requests": len(r.times),
                    "rps": round(r.rate, 1),
                    "p50_ms": round(r.percentile(50), 1),
                    "p95_ms": round(r.percentile(95), 1),
                    "p99_ms": round(r.percentile(99), 1),
                    "errors": r.errors,
                }
                for r in results
            ]
        )
    )


if __name__ == "__main__":
    main()
