"""The package's import graph, read from the source: no circles, and no arrow the layer table forbids.

The layer table lives in docs/architecture.md ("Layers: which module may import which") and is parsed
from there, so the page and this check cannot disagree.  Every ``import`` and ``from ... import`` in
``semcom/`` counts: at module level, inside functions and under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "semcom"
DOC = ROOT / "docs" / "architecture.md"
LAYER_HEADING = "## Layers"

# Known violations, in files that their owners are reworking (issue 34); everything else must pass.
# An arrow entry ``(importer, imported)`` covers the importer's submodules too (``semcom.codecs.digital``:
# all its modules); an allow-listed arrow is left out of the circle check as well.  Every entry must still
# occur: once the import is gone the entry is reported as stale and has to be removed here.
KNOWN_ARROWS: dict[tuple[str, str], str] = {
    # a training study inside bench/ (owner: experiments; it becomes a registered experiment)
    ("semcom.bench.backbones", "semcom.train.trainer"): "experiments",
    # a source that reads the results writer (owner: sources.noise_stats)
    ("semcom.sources.noise_stats", "semcom.bench.results"): "sources.noise_stats",
}
KNOWN_CIRCLES: dict[frozenset[str], str] = {
    # registry reads load the plugins, and the plugin loader marks the registry loaded (owner: plugins/cli:
    # the registry should own the "load once" logic and plugins.py only import modules)
    frozenset({"semcom.registry", "semcom.plugins"}): "plugins / cli",
}


# --------------------------------------------------------------------------- building the graph

def module_files(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``package`` (a package is its ``__init__``)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The module an imported dotted name lands in (the longest prefix that is a module)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """The package's modules that ``module`` imports anywhere in its file -> the first line that does."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # ``from pkg import mod`` imports the module pkg.mod; ``from mod import name`` the module mod
            names = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]
        for name in names:
            target = _owner(name, modules)
            if target is not None and target != module:
                found.setdefault(target, node.lineno)
    return found


def import_graph(package: Path) -> dict[str, dict[str, int]]:
    """module -> {imported module of the package: line}."""
    modules = module_files(package)
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


# --------------------------------------------------------------------------- the layer table

def parse_layers(markdown: str) -> list[tuple[str, tuple[str, ...]]]:
    """``[(layer, module names), ...]``, lowest first, from the first table after the Layers heading."""
    at = markdown.find(LAYER_HEADING)
    if at < 0:
        raise ValueError(f"no {LAYER_HEADING!r} section")
    layers = []
    in_table = False
    for line in markdown[at:].splitlines()[1:]:
        if line.startswith("## "):
            break
        if not line.startswith("|"):
            if in_table:
                break
            continue
        in_table = True
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or set(cells[0]) <= set("-: ") or cells[0] == "layer":
            continue
        names = tuple(re.findall(r"`([^`]+)`", cells[1]))
        if not names:
            raise ValueError(f"layer {cells[0]!r} names no module")
        layers.append((cells[0], names))
    if not layers:
        raise ValueError("the Layers section holds no table")
    return layers


def layer_of(module: str, layers: list[tuple[str, tuple[str, ...]]]) -> int | None:
    """The row of the longest name that covers ``module`` (a name covers itself and its submodules)."""
    best: tuple[int, int] | None = None
    for index, (_, names) in enumerate(layers):
        for name in names:
            covers = module == name or (module.startswith(name + ".") and "." in name)
            if covers and (best is None or len(name) > best[1]):
                best = (index, len(name))
    return None if best is None else best[0]


# --------------------------------------------------------------------------- the checks

def circles(graph: dict[str, dict[str, int]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def upward_arrows(graph: dict[str, dict[str, int]], layers) -> tuple[list[tuple[str, str, int]], list[str]]:
    """``(arrows from a lower layer to a higher one as (importer, imported, line), modules no row names)``."""
    unplaced = sorted(m for m in graph if layer_of(m, layers) is None)
    arrows = []
    for a, targets in sorted(graph.items()):
        la = layer_of(a, layers)
        for b, line in sorted(targets.items()):
            lb = layer_of(b, layers)
            if la is not None and lb is not None and lb > la:
                arrows.append((a, b, line))
    return arrows, unplaced


def _allowed(a: str, b: str, known_arrows) -> tuple[str, str] | None:
    """The allow-list entry that covers the arrow ``a -> b`` (its importer is ``a`` or a package above it)."""
    for importer, imported in known_arrows:
        if b == imported and (a == importer or a.startswith(importer + ".")):
            return importer, imported
    return None


def problems(graph, layers, known_arrows=None, known_circles=None) -> list[str]:
    """Every violation that the allow-lists do not name, and every allow-list entry that no longer occurs."""
    known_arrows = dict(known_arrows or {})
    known_circles = dict(known_circles or {})
    out = []
    names = [n for _, row in layers for n in row]
    for name in sorted({n for n in names if names.count(n) > 1}):
        out.append(f"the layer table names {name} twice")
    arrows, unplaced = upward_arrows(graph, layers)
    out += [f"{m} is in no layer of the table (add it to a row)" for m in unplaced]
    seen_arrows = set()
    for a, b, line in arrows:
        entry = _allowed(a, b, known_arrows)
        if entry is None:
            out.append(f"forbidden arrow {a} -> {b} (line {line}): layer {layers[layer_of(a, layers)][0]} "
                       f"may not import layer {layers[layer_of(b, layers)][0]}")
        seen_arrows.add(entry)
    # an allow-listed arrow is already reported to its owner: the circles it closes are not counted again
    graph = {a: {b: line for b, line in targets.items() if _allowed(a, b, known_arrows) is None}
             for a, targets in graph.items()}
    found = circles(graph)
    for circle in found:
        if circle not in known_circles:
            edges = [f"{a} -> {b} (line {graph[a][b]})" for a in sorted(circle) for b in sorted(graph[a])
                     if b in circle]
            out.append(f"import circle among {', '.join(sorted(circle))}: {'; '.join(edges)}")
    out += [f"allow-listed arrow {a} -> {b} no longer occurs: remove it from the list"
            for a, b in sorted(set(known_arrows) - seen_arrows)]
    out += [f"allow-listed circle {', '.join(sorted(c))} no longer occurs: remove it from the list"
            for c in set(known_circles) - set(found)]
    return out


# --------------------------------------------------------------------------- the package

def test_the_package_has_no_import_circle_and_no_arrow_the_layer_table_forbids():
    layers = parse_layers(DOC.read_text())
    found = problems(import_graph(PACKAGE), layers, KNOWN_ARROWS, KNOWN_CIRCLES)
    assert not found, "\n".join(found)


def test_the_allow_lists_stay_small():
    assert len(KNOWN_ARROWS) + len(KNOWN_CIRCLES) <= 10


def test_the_layer_table_is_read_from_the_architecture_page():
    layers = parse_layers(DOC.read_text())
    order = [name for name, _ in layers]
    assert order[0] == "foundation" and order[-1] == "cli"
    assert order.index("receivers") < order.index("codecs") < order.index("zoo") < order.index("link") \
        < order.index("bench") < order.index("train") < order.index("experiments")
    graph = import_graph(PACKAGE)
    assert layer_of("semcom.codecs.digital.ldpc", layers) == order.index("codecs")
    assert layer_of("semcom", layers) == 0 and layer_of("semcom.linkspec", layers) == 0
    assert "semcom.zoo.store" in graph and "semcom.receivers.base" in graph


# --------------------------------------------------------------------------- the checker itself

TABLE = """# doc

## Layers

| layer | modules |
|-------|---------|
| low | `pkg`, `pkg.base` |
| mid | `pkg.parts` |
| high | `pkg.app` |

## Next
"""


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_graph_counts_function_local_type_only_and_relative_imports(tmp_path):
    root = _package(tmp_path, {
        "base.py": "import os\n",
        "parts/__init__.py": "from pkg.parts import a  # the submodule\n",
        "parts/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.parts.b import B\n",
        "parts/b.py": "def f():\n    from . import a\n    from ..base import os\n",
        "app.py": "import pkg.parts.a as x\n",
    })
    graph = import_graph(root)
    assert graph["pkg.parts"] == {"pkg.parts.a": 1}
    assert graph["pkg.parts.a"] == {"pkg.parts.b": 3}
    assert graph["pkg.parts.b"] == {"pkg.parts.a": 2, "pkg.base": 3}
    assert graph["pkg.app"] == {"pkg.parts.a": 1} and graph["pkg.base"] == {}


def test_the_checker_finds_a_circle_a_forbidden_arrow_and_an_unplaced_module(tmp_path):
    root = _package(tmp_path, {
        "base.py": "def helper():\n    from pkg.app import run  # climbs two layers\n",
        "parts/__init__.py": "",
        "parts/a.py": "from pkg.parts.b import B\n",
        "parts/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.parts.a import A\n",
        "app.py": "from pkg.parts import a\n",
        "stray.py": "",
    })
    layers = parse_layers(TABLE)
    assert [name for name, _ in layers] == ["low", "mid", "high"]
    found = problems(import_graph(root), layers)
    assert any(p.startswith("forbidden arrow pkg.base -> pkg.app (line 2)") for p in found), found
    assert any(p.startswith("import circle among pkg.parts.a, pkg.parts.b") for p in found), found
    assert "pkg.stray is in no layer of the table (add it to a row)" in found
    assert len(found) == 3
    # allow-listed, they pass; an entry that does not occur is an error of its own
    assert problems(import_graph(root), [*layers[:2], ("high", ("pkg.app", "pkg.stray"))],
                    {("pkg.base", "pkg.app"): "owner"}, {frozenset({"pkg.parts.a", "pkg.parts.b"}): "owner"}) == []
    # an arrow entry covers the importer's submodules, and the circles an allow-listed arrow closes
    graph = {"pkg.parts.a": {"pkg.app": 1}, "pkg.parts.b": {"pkg.app": 1}, "pkg.app": {"pkg.parts.a": 1}}
    assert problems(graph, layers, {("pkg.parts", "pkg.app"): "owner"}) == []
    assert len(problems(graph, layers, {("pkg.parts.a", "pkg.app"): "owner"})) == 1  # b -> app is not covered
    stale = problems({"pkg": {}}, layers, {("pkg", "pkg.app"): "owner"}, {frozenset({"pkg", "pkg.base"}): "owner"})
    assert stale == ["allow-listed arrow pkg -> pkg.app no longer occurs: remove it from the list",
                     "allow-listed circle pkg, pkg.base no longer occurs: remove it from the list"]


def test_a_table_without_rows_or_section_is_refused():
    with pytest.raises(ValueError, match="no '## Layers' section"):
        parse_layers("# nothing here\n")
    with pytest.raises(ValueError, match="no table"):
        parse_layers("## Layers\n\ntext only\n\n## Next\n| a | `b` |\n")
