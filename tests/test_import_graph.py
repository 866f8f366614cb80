"""The import graph of ``moltbot``: no circle crosses a package boundary, and the gateway's Runtime and
connection stay inside ``gateway/``.

Every ``import`` statement counts, including those under ``TYPE_CHECKING`` and inside functions: a circle
closed by a late import is still a circle a newcomer has to untangle. A package is a direct child of
``moltbot`` (``moltbot.gateway``, ``moltbot.channels``; ``moltbot`` itself and its top-level modules such
as ``_version`` form the root). Modules of one package may import each other in a circle; a strongly
connected component holding modules of two packages fails. Subsystems reach the gateway through the
small Protocols of their own ``host.py`` (``cron/host.py``, ``channels/host.py``,
``http/host.py``, ``browser/host.py``, ``nodes/runtime_host.py``), adapted in ``gateway/``.

An AST walk over the source (no import of the package), parsed once for the module's tests: about
0.5 s for ~260 modules (1.1 s with the 2-core machine at load 4).
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

import moltbot

ROOT = Path(moltbot.__file__).resolve().parent


@functools.cache
def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module name → the ``moltbot`` modules it imports (a name imported from a package that is a
    module of its own counts as that module)."""
    modules: dict[str, Path] = {}
    packages: set[str] = set()
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
            packages.add(".".join(parts))
        modules[".".join(parts)] = path

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in _statements(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(node, ast.Import):
                targets.update(filter(None, (known(alias.name) for alias in node.names)))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if name in packages else name.split(".")[:-1]
                    base = base[:len(base) - node.level + 1]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                for alias in node.names:
                    target = known(f"{prefix}.{alias.name}") if f"{prefix}.{alias.name}" in modules else known(prefix)
                    if target:
                        targets.add(target)
        graph[name] = {t for t in targets if t != name and t.split(".")[0] == "moltbot"}
    return graph


def _statements(body: list[ast.stmt]):
    """Every statement, nested ones included (imports are statements: expressions need no visit)."""
    for node in body:
        yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(node, field, None)
            if inner:
                yield from _statements(inner)


def package_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or f"{parts[0]}.{parts[1]}" not in _PACKAGES:
        return "moltbot"
    return parts[1]


_PACKAGES = {".".join(p.relative_to(ROOT.parent).parts[:2]) for p in ROOT.glob("*/__init__.py")}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the graph is a few hundred modules deep at most)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
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
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def package_edges(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph.items():
        for target in targets:
            if package_of(module) != package_of(target):
                edges[package_of(module)].add(package_of(target))
    return edges


def test_no_import_circle_crosses_a_package_boundary():
    graph = import_graph()
    crossing = [c for c in strongly_connected(graph) if len({package_of(m) for m in c}) > 1]
    described = [
        sorted(f"{m} -> {t}" for m in c for t in graph[m] & set(c) if package_of(m) != package_of(t))
        for c in crossing
    ]
    assert not crossing, described


def test_the_gateways_runtime_and_connections_stay_inside_it():
    inner = {"moltbot.gateway.runtime", "moltbot.gateway.connection"}
    outside = sorted(f"{m} -> {t}" for m, targets in import_graph().items() for t in targets & inner
                     if package_of(m) != "gateway")
    assert not outside


def test_the_walk_sees_late_and_type_checking_imports(tmp_path):
    package = tmp_path / "moltbot"
    (package / "a").mkdir(parents=True)
    (package / "b").mkdir()
    for init in ("__init__.py", "a/__init__.py", "b/__init__.py"):
        (package / init).write_text("")
    (package / "a" / "x.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                        "    from ..b.y import Y\n")
    (package / "b" / "y.py").write_text("def f():\n    from ..a import x\n")
    graph = import_graph(package)
    assert graph["moltbot.a.x"] == {"moltbot.b.y"} and graph["moltbot.b.y"] == {"moltbot.a.x"}
    assert ["moltbot.a.x", "moltbot.b.y"] in strongly_connected(graph)
