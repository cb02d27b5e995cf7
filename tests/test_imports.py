"""The import graph of sparsecodec: every module imports on its own, imports only modules of
its own or a lower layer (function-level imports included), and has no import cycle.

The layers (docs/architecture.md), lowest first; a module's layer is that of its longest
matching prefix.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "sparsecodec"

LAYERS: list[tuple[str, ...]] = [
    ("errors",),
    ("validate", "registry"),
    # leaf helpers and the registries that only hold names and ids
    ("colour", "metrics", "io", "data", "geometry", "quantise", "decoders"),
    ("nets",),  # network definitions and weights (torch)
    ("coding",),  # the bitstream
    ("inpainting",),  # the solver core and the inpainting methods
    ("tonal",),
    ("masks",),
    ("pipeline", "codec", "training"),
    ("ratecontrol",),
    ("api",),
    (
        "cli",
        "__main__",
        "pillow",
        "firstrun",
        "",
    ),  # "" = the package itself (sparsecodec/__init__.py)
]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer_of(module: str) -> int:
    """Index in :data:`LAYERS` of ``module`` (``sparsecodec.x.y``) by its longest prefix."""
    rest = module.removeprefix("sparsecodec").removeprefix(".")
    best, best_len = None, -1
    for i, names in enumerate(LAYERS):
        for name in names:
            if (rest == name or rest.startswith(name + ".") or name == "") and len(name) > best_len:
                best, best_len = i, len(name)
    assert best is not None, f"{module} is in no layer of tests/test_imports.py"
    return best


def imports_of(module: str) -> set[str]:
    """The sparsecodec modules ``module`` imports anywhere in its source (also inside
    functions), resolved to module names."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "sparsecodec")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "sparsecodec":
                continue
            for a in node.names:  # ``from . import masks`` imports the module sparsecodec.masks
                sub = f"{target}.{a.name}"
                out.add(sub if sub in MODULES else target)
    out.discard(module)
    return {m for m in out if m in MODULES}


#: imports tolerated for now although they point up or close a cycle, each with the reason and
#: who removes it; an entry whose import is gone fails test_known_exceptions_are_still_needed,
#: so the list cannot go stale
KNOWN_EDGES: dict[tuple[str, str], str] = {}

FULL_GRAPH = {m: imports_of(m) for m in MODULES}
GRAPH = {m: {t for t in ts if (m, t) not in KNOWN_EDGES} for m, ts in FULL_GRAPH.items()}


def test_known_exceptions_are_still_needed():
    for src, dst in KNOWN_EDGES:
        if src not in MODULES:  # a module still being written, not in this tree yet
            continue
        assert dst in FULL_GRAPH.get(src, set()), f"remove the fixed exception {src} -> {dst}"


def test_every_module_is_in_a_layer():
    for m in MODULES:
        layer_of(m)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    up = sorted(t for t in GRAPH[module] if layer_of(t) > layer_of(module))
    assert not up, f"{module} (layer {layer_of(module)}) imports higher layers: {up}"


def test_no_import_cycle():
    # Tarjan's strongly connected components over the whole graph (lazy imports included)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_layer_check_can_fail():
    # the checker itself: an upward import is seen, relative imports resolve to modules
    assert "sparsecodec.ratecontrol" in GRAPH["sparsecodec.api"]
    assert layer_of("sparsecodec.api") > layer_of("sparsecodec.ratecontrol")
    assert "sparsecodec.geometry" in GRAPH["sparsecodec.coding.quadtree_coder"]
    assert layer_of("sparsecodec.masks.quadtree") == layer_of("sparsecodec.masks")


def test_each_module_imports_alone():
    # one fresh interpreter per module: an import cycle or a missing import shows up here
    failed = []
    for name in sorted(set(MODULES) - {"sparsecodec.__main__"}):  # that one runs the CLI
        r = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True)
        if r.returncode:
            failed.append(f"{name}: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    assert not failed, "modules that fail to import alone:\n" + "\n".join(failed)
