"""The package layout: the library imports torch only and never the experiment suite, and no two
modules import each other, directly or around a loop (function-level imports included)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import spcauchy
from spcauchy.experiments.datasets import DATASETS

SRC = Path(spcauchy.__file__).parent
LIBRARY = ("spcauchy.distributions", "spcauchy.special", "spcauchy.latents")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py")}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module of the package that ``name`` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                base_name = ".".join(base + ([node.module] if node.module else []))
            else:
                base_name = node.module or ""
            # `from pkg import mod` imports the module pkg.mod; `from mod import f` imports mod
            targets = [f"{base_name}.{a.name}" if f"{base_name}.{a.name}" in modules
                       else base_name for a in node.names]
        else:
            continue
        out |= {t for t in targets if t in modules and t != name}
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    # the dataset registry imports its files by name when a config asks for them
    graph["spcauchy.experiments.datasets"] |= {
        f"spcauchy.experiments.datasets.{m}" for m in DATASETS.values()}
    return graph


def test_the_import_graph_has_no_cycles():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != 1, "import cycle: " + " → ".join(
                [*path[path.index(nxt):], node, nxt] if nxt in path else [*path, node, nxt])
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_the_library_never_imports_the_experiment_suite():
    graph = _graph()
    for name, targets in graph.items():
        if name == "spcauchy" or name.startswith(LIBRARY):
            bad = {t for t in targets if t.startswith("spcauchy.experiments")}
            assert not bad, f"{name} imports {sorted(bad)}"


def test_the_dataset_registry_names_existing_files():
    for name, module in DATASETS.items():
        assert (SRC / "experiments" / "datasets" / f"{module}.py").is_file(), name


def test_import_spcauchy_needs_torch_only():
    """What ``import spcauchy`` loads beyond ``import torch``: no numpy, TOML, pickle, plotting,
    chemistry or experiment module (checked in a fresh interpreter)."""
    code = ("import sys, json, torch; before = set(sys.modules); import spcauchy; "
            "print(json.dumps(sorted(set(sys.modules) - before)))")
    new = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                    text=True, check=True).stdout)
    forbidden = ("numpy", "tomllib", "tomli", "pickle", "matplotlib", "rdkit", "tqdm",
                 "spcauchy.experiments")
    assert not [m for m in new if m.split(".")[0] in forbidden or m.startswith(forbidden)], new
    assert "spcauchy.latents" in new and "spcauchy.distributions" in new


def test_public_api_is_exported():
    for name in spcauchy.__all__:
        assert getattr(spcauchy, name) is not None
