"""The search engine's house rules: its modules import one way, only `codec` reaches into Whoosh's
private names, and an index is never opened with another Whoosh than the one it is written for."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

from archive.search import codec
from archive.search.index import SearchIndex

ROOT = Path(__file__).resolve().parents[1]
SEARCH = ROOT / "archive" / "search"


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every `archive.search` import of a file, inside functions too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("archive.search"):
            if node.module == "archive.search":
                found += [(f"archive.search.{alias.name}", []) for alias in node.names]
            else:
                found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names if alias.name.startswith("archive.search.")]
    return found


def test_the_search_modules_import_one_way_and_no_private_names():
    graph: dict[str, set[str]] = {}
    for path in SEARCH.glob("*.py"):
        name = f"archive.search.{path.stem}"
        graph[name] = set()
        for module, names in _imports(path):
            if (SEARCH / f"{module.rsplit('.', 1)[1]}.py").exists():
                graph[name].add(module)
                private = [n for n in names if n.startswith("_")]
                assert not private, f"{name} imports {private} from {module}"
    # The walk below reads real arrows: the seam uses the rooms beneath it.
    assert {"archive.search.codec", "archive.search.searchers"} <= graph["archive.search.index"]

    def walk(module: str, trail: list[str]) -> None:
        if module in trail:
            raise AssertionError("import circle: " + " -> ".join([*trail[trail.index(module) :], module]))
        for imported in graph.get(module, ()):
            walk(imported, [*trail, module])

    for module in graph:
        walk(module, [])


def test_only_the_codec_reaches_into_whoosh_private_names():
    private_whoosh = re.compile(r"from whoosh[\w.]* import [^\n]*\b_\w+|whoosh\.\w+\._")
    for path in SEARCH.glob("*.py"):
        text = path.read_text()
        if path.name == "codec.py":
            assert "whoosh-reloaded is pinned" in text
            continue
        assert "SLF001" not in text, path.name
        assert not private_whoosh.search(text), path.name


def test_whoosh_is_pinned_to_the_version_the_codec_is_written_against():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["dependencies"] if d.lower().startswith("whoosh-reloaded")]
    wanted = ".".join(map(str, codec.WHOOSH_VERSION))
    assert pins == [f"whoosh-reloaded=={wanted}"]
    assert importlib.metadata.version("whoosh-reloaded") == wanted


def test_an_index_is_not_opened_with_another_whoosh_than_the_pinned_one(tmp_path, monkeypatch):
    import whoosh

    monkeypatch.setattr(whoosh, "__version__", (2, 7, 6))
    with pytest.raises(codec.WhooshVersionError) as refused:
        SearchIndex(tmp_path / "index")
    message = str(refused.value)
    assert "whoosh-reloaded 2.7.6 is installed" in message
    assert "whoosh-reloaded 2.7.5" in message
    assert "pip install whoosh-reloaded==2.7.5" in message
    assert not (tmp_path / "index").exists()


def test_the_app_does_not_start_with_another_whoosh_than_the_pinned_one(tmp_path, monkeypatch):
    import whoosh

    from tests.conftest import make_app

    monkeypatch.setattr(whoosh, "__version__", (2, 8, 0))
    with pytest.raises(codec.WhooshVersionError, match="whoosh-reloaded 2.8.0 is installed"):
        make_app(tmp_path)
