"""The house's layering, read from the source: imports run one way, with no circle.

Every module under `archive/` is parsed with `ast`; every import counts, at module level, inside
functions and under `if TYPE_CHECKING:` alike (`from x import y` is an import of the module `x.y`
where there is one, else of `x`; relative imports are resolved). A module belongs to a room; a room
stands on a floor and may import rooms on its own floor or below, never above:

| floor | room         | modules                                                  | may import        |
| ----- | ------------ | -------------------------------------------------------- | ----------------- |
| 12    | app          | archive (create_app), archive.web, archive.cli           | everything below  |
| 11    | pages        | */views.py, */forms.py, catalogue/editor.py, api/        | floors 0-11       |
| 10    | demo         | archive.demo                                             | floors 0-10       |
| 9     | operations   | archive.operations: the named write operations           | floors 0-9        |
| 8     | search       | search/ (outbox, index, query, ...): the derived indexes | floors 0-8        |
| 8     | oai          | oai/service.py: harvesting, sitemap, feed                | floors 0-8        |
| 8     | preservation | preservation/: BagIt export                              | floors 0-8        |
| 7     | review       | review/service.py: the four-eyes workflow                | floors 0-7        |
| 7     | authority    | authority/service.py: names and variants                 | floors 0-7        |
| 6     | catalogue    | catalogue/ service, bodies, importer and its readers     | floors 0-6        |
| 5     | consent      | consent/service.py                                       | floors 0-5        |
| 4     | media        | media/ service, transcripts, render                      | floors 0-4        |
| 4     | accounts     | accounts/service.py                                      | floors 0-4        |
| 4     | jobs         | jobs/service.py: background jobs' records and progress   | floors 0-4        |
| 3     | audit        | audit/service.py: the append-only log, for every room    | floors 0-3        |
| 2     | access       | archive.access: THE policy                               | floors 0-2        |
| 2     | unit_of_work | archive.unit_of_work: one commit per user action         | floors 0-2        |
| 1     | tables       | every */models.py                                        | floor 0           |
| 1     | language     | search/analysis.py: text analysis, also for the names    | floor 0           |
| 0     | base         | extensions, errors, timeutil, config, fields             | floor 0           |

A feature's tables and its pages are floors of their own, below and above every feature service:
the policy may name the tables, and any page may call any service. Within a floor, rooms may
import each other as long as no circle forms; the tests below fail naming the circle. They also
fail on a service (anything below the pages) that imports Flask's `request` or `url_for`, and on
any import of another module's private (`_name`) names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "archive"

FLOORS = {
    "app": 12,
    "pages": 11,
    "demo": 10,
    "operations": 9,
    "search": 8,
    "oai": 8,
    "preservation": 8,
    "review": 7,
    "authority": 7,
    "catalogue": 6,
    "consent": 5,
    "media": 4,
    "accounts": 4,
    "jobs": 4,
    "audit": 3,
    "access": 2,
    "unit_of_work": 2,
    "tables": 1,
    "language": 1,
    "base": 0,
}
APP = {"archive", "archive.web", "archive.cli"}
BASE = {"archive.extensions", "archive.errors", "archive.timeutil", "archive.config", "archive.fields"}
PAGE_MODULES = {"views", "forms", "editor"}
# What only a page may touch: the request being answered, and the app's URL map.
WEB_ONLY = {"request", "url_for"}
# The one circle the house keeps, at its top: the factory offers the command line's commands to
# `flask --app archive`, and the command line makes the app with the factory.
KNOWN_CIRCLES = [["archive", "archive.cli", "archive"]]


def room_of(module: str) -> str:
    parts = module.split(".")
    if module in APP:
        return "app"
    if module in BASE:
        return "base"
    if parts[-1] == "models":
        return "tables"
    if module == "archive.search.analysis":
        return "language"
    if parts[1] == "api" or parts[-1] in PAGE_MODULES:
        return "pages"
    return parts[1]


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    names: tuple[str, ...]
    """The names taken (`from target import names`), empty for a plain `import target`."""


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the package at `root`, by its dotted name."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of a dotted name that is one of our modules."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """Every import of one of our modules that `module` makes, wherever in the file it stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known(alias.name, modules)
                if target:
                    yield Import(module, target, node.lineno, ())
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            for alias in node.names:
                target = _known(f"{origin}.{alias.name}", modules) or _known(origin, modules)
                if target:
                    taken = () if target == f"{origin}.{alias.name}" else (alias.name,)
                    yield Import(module, target, node.lineno, taken)


def all_imports(root: Path = ROOT) -> list[Import]:
    modules = module_names(root)
    return [i for m, p in modules.items() for i in imports_of(m, p, modules) if i.target != m]


def circles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """One circle through each group of nodes that reach each other (Tarjan's strongly
    connected components), as the list of nodes walked, its first node again at the end."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        if a != b:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_walk_round(graph, group) for group in groups]


def _walk_round(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest way from the group's first node back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    raise AssertionError(f"no way round {group}")


def described(circle: list[str], imports: list[Import], key) -> str:
    """A circle with, for each step, the files and lines that make it."""
    steps = []
    for a, b in pairwise(circle):
        why = sorted({f"{i.source}:{i.line}" for i in imports if key(i.source) == a and key(i.target) == b})
        steps.append(f"  {a} -> {b}   ({', '.join(why[:4])}{' …' if len(why) > 4 else ''})")
    return " -> ".join(circle) + "\n" + "\n".join(steps)


# --- the checks, each also proved on a small house of its own that breaks the rule -----------------


def module_circles(imports: list[Import], known: list[list[str]] = KNOWN_CIRCLES) -> list[str]:
    found = [c for c in circles((i.source, i.target) for i in imports) if c not in known]
    return [described(c, imports, lambda m: m) for c in found]


def room_circles(imports: list[Import]) -> list[str]:
    found = circles((room_of(i.source), room_of(i.target)) for i in imports)
    return [described(c, imports, room_of) for c in found]


def upward_imports(imports: list[Import]) -> list[str]:
    problems = []
    for i in imports:
        here, there = room_of(i.source), room_of(i.target)
        for room in (here, there):
            if room not in FLOORS:
                problems.append(f"{i.source}: room {room!r} has no floor; give it one in FLOORS")
        if here in FLOORS and there in FLOORS and FLOORS[there] > FLOORS[here]:
            problems.append(
                f"{i.source}:{i.line} ({here}, floor {FLOORS[here]}) imports {i.target} "
                f"({there}, floor {FLOORS[there]})"
            )
    return sorted(set(problems))


def private_imports(imports: list[Import], root: Path = ROOT) -> list[str]:
    """`from archive.x import _name`, or `x._name` on a module imported as `x`, from another module."""
    problems = [
        f"{i.source}:{i.line} takes {name} from {i.target}"
        for i in imports
        for name in i.names
        if name.startswith("_") and not name.startswith("__")
    ]
    modules = module_names(root)
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if f"{node.module}.{alias.name}" in modules:
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in modules:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and aliases[node.value.id] != module
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                problems.append(f"{module}:{node.lineno} reads {aliases[node.value.id]}.{node.attr}")
    return problems


def web_in_services(root: Path = ROOT) -> list[str]:
    """Services (anything below the pages) that read Flask's request or build URLs."""
    problems = []
    for module, path in module_names(root).items():
        if room_of(module) in ("pages", "app"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "flask":
                for alias in node.names:
                    if alias.name in WEB_ONLY:
                        problems.append(f"{module}:{node.lineno} imports flask.{alias.name}")
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "flask"
                and node.attr in WEB_ONLY
            ):
                problems.append(f"{module}:{node.lineno} uses flask.{node.attr}")
    return problems


def test_no_circle_between_modules():
    found = module_circles(all_imports())
    assert not found, "Modules import each other in a circle:\n" + "\n".join(found)


def test_no_circle_between_rooms():
    found = room_circles(all_imports())
    assert not found, "Rooms import each other in a circle:\n" + "\n".join(found)


def test_every_room_imports_only_its_own_floor_or_below():
    found = upward_imports(all_imports())
    assert not found, "Imports that run up the house:\n" + "\n".join(found)


def test_no_module_takes_another_modules_private_names():
    found = private_imports(all_imports())
    assert not found, "Private names used outside their module:\n" + "\n".join(found)


def test_no_service_reads_the_request_or_builds_urls():
    found = web_in_services()
    assert not found, "Services must be given what they need of the request:\n" + "\n".join(found)


def test_the_checks_find_what_they_look_for(tmp_path: Path):
    """A small house that breaks every rule, so none of the checks above can pass by seeing nothing."""
    root = tmp_path / "archive"
    files = {
        "__init__.py": "",
        "catalogue/__init__.py": "",
        "catalogue/service.py": "def f():\n    from archive.review.service import decide\n",
        "catalogue/importer.py": "from . import ohms\n",
        "catalogue/ohms.py": "from .importer import Entry\n",
        "review/__init__.py": "",
        "review/service.py": (
            "from flask import request\n"
            "from archive.catalogue.service import _Checker\n"
            "from archive.catalogue import service as catalogue\n"
            "catalogue._apply\n"
        ),
        "access.py": "from archive.operations import create\n",
        "operations.py": "",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    imports = all_imports(root)

    modules = "\n".join(module_circles(imports))
    assert "archive.catalogue.importer -> archive.catalogue.ohms -> archive.catalogue.importer" in modules
    assert "archive.catalogue.service -> archive.review.service -> archive.catalogue.service" in modules
    assert "archive/catalogue/service.py" not in modules  # lines are named by module
    assert "archive.catalogue.service:2" in modules  # the import inside a function counts
    assert room_circles(imports) and "catalogue -> review -> catalogue" in room_circles(imports)[0]
    upward = "\n".join(upward_imports(imports))
    assert "archive.access:1 (access, floor 2) imports archive.operations (operations, floor 9)" in upward
    assert "archive.catalogue.service:2 (catalogue, floor 6) imports archive.review.service" in upward
    private = private_imports(imports, root)
    assert "archive.review.service:2 takes _Checker from archive.catalogue.service" in private
    assert "archive.review.service:4 reads archive.catalogue.service._apply" in private
    assert web_in_services(root) == ["archive.review.service:1 imports flask.request"]
