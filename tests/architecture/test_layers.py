"""The architecture, checked on the code itself (its imports, read from the AST): the core knows nothing of the
formats or the editor, the canvas modules import each other in one direction only, and nothing fetches settings or
node types from a process global."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "nodeflow"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(path: Path, known: set[str] | None = None) -> set[str]:
    """Every module an import statement in ``path`` names (also imports inside functions). ``from pkg import sub``
    names ``pkg.sub`` when that is one of the ``known`` modules, else ``pkg``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            subs = {f"{base}.{alias.name}" for alias in node.names}
            found |= (subs & known) if known and subs <= known else {base}
    return found


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_core_imports_neither_formats_nor_the_editor_nor_qt():
    offenders = []
    for path in python_files(PACKAGE / "core"):
        for name in imports_of(path):
            # (the registry does import the package ``nodes`` by name: that is how it finds the built-in packs)
            if name.startswith(("nodeflow.formats", "nodeflow.app", "nodeflow.cli", "nodeflow.server", "PySide6",
                                "nodes.")):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_the_formats_never_import_the_editor():
    offenders = [f"{p.relative_to(ROOT)} imports {n}" for p in python_files(PACKAGE / "formats")
                 for n in imports_of(p) if n.startswith(("nodeflow.app", "PySide6"))]
    assert offenders == []


def import_graph(folder: Path) -> nx.DiGraph:
    modules = {module_name(p): p for p in python_files(folder)}
    g = nx.DiGraph()
    g.add_nodes_from(modules)
    for name, path in modules.items():
        for target in imports_of(path, set(modules)):
            if target in modules and target != name:
                g.add_edge(name, target)
    return g



def test_no_import_circles_inside_the_editor():
    """Modules of ``nodeflow/app`` (the canvas's helpers included) never import each other in a circle, not even
    for type checking: helpers are written against ``canvas/services.py``'s protocols, not the classes that own
    them."""
    circles = sorted(" -> ".join(c + [c[0]]) for c in nx.simple_cycles(import_graph(PACKAGE / "app")))
    assert circles == []


def test_the_circle_check_sees_a_circle(tmp_path):
    """The check above is not vacuous: two modules that import each other (one only for type checking) are found."""
    pkg = tmp_path / "nodeflow" / "app"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from nodeflow.app import b\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from nodeflow.app.a import A\n")
    layers = sys.modules[__name__]  # this module, to point its root at the temporary tree
    old = layers.ROOT
    layers.ROOT = tmp_path
    try:
        assert list(nx.simple_cycles(import_graph(pkg)))
    finally:
        layers.ROOT = old

#: Names of process-global getters that settings or registries must never come from again.
GLOBAL_GETTERS = {"current_settings", "set_current_settings", "default_registry"}


def test_settings_and_registries_are_passed_not_fetched_from_globals():
    offenders = []
    for path in python_files(PACKAGE) + python_files(ROOT / "nodes"):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            name = (node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute)
                    else node.name if isinstance(node, (ast.FunctionDef, ast.alias)) else None)
            if name in GLOBAL_GETTERS:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
            # a process-global settings or registry under another name is the same thing
            if isinstance(node, ast.Global):
                offenders += [f"{path.relative_to(ROOT)}:{node.lineno} global {n}" for n in node.names
                              if any(w in n.lower() for w in ("settings", "registry", "env"))]
    assert offenders == []


def test_torch_stays_out_of_the_import_path_of_what_does_not_need_it():
    """Declarations, the core, the formats and the CLI import torch only inside the functions that run models."""
    offenders = []
    for folder in (PACKAGE / "core", PACKAGE / "formats", PACKAGE / "cli", ROOT / "nodes" / "basic"):
        for path in python_files(folder):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in tree.body:  # module level only
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                offenders += [f"{path.relative_to(ROOT)} imports {n}" for n in names
                              if n.split(".")[0] in ("torch", "diffusers", "transformers")]
    assert offenders == []
