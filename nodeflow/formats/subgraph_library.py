"""User subgraph files: a subgraph saved to a folder (``<data dir>/subgraphs`` by default) to be added to any
workflow from the library. A file is a NodeFlow workflow (``formats/workflow.py``) with no nodes, holding the
definition and those nested in it; ``meta.subgraph`` names the main one. File names never leave the folder."""
from __future__ import annotations

import re
from pathlib import Path

from nodeflow.core.graph import Graph
from nodeflow.core.subgraph import SubgraphDef
from nodeflow.core.subgraph_ops import used_closure
from nodeflow.formats import workflow

SUFFIX = ".subgraph.json"


def folder_of(settings) -> Path:
    return Path(settings.data_dir) / "subgraphs"


def file_name(name: str) -> str:
    """A safe file name for a subgraph's name (letters, digits, space, - and _; nothing else survives)."""
    stem = re.sub(r"[^\w \-]+", "_", name, flags=re.UNICODE).strip(" ._") or "subgraph"
    return stem[:100] + SUFFIX


def save(root: Graph, def_id: str, folder: Path) -> Path:
    """Write definition ``def_id`` (with those nested in it) into ``folder``; atomic; returns the file."""
    defn = root.subgraphs[def_id]
    keep = used_closure(root.subgraphs, def_id)
    graph = Graph.from_parts(meta={"name": defn.name, "subgraph": def_id},
                             subgraphs=[root.subgraphs[d].copy() for d in keep])
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / file_name(defn.name)).resolve()
    if path.parent != folder.resolve():
        raise ValueError(f"{defn.name!r} does not make a file name inside {folder}")
    return workflow.save(graph, path)


def entries(folder: Path) -> list[tuple[str, Path]]:
    """(subgraph name, file) of the folder's subgraph files, by name; unreadable files are left out."""
    out = []
    for path in sorted(folder.glob("*" + SUFFIX)) if folder.is_dir() else ():
        try:
            graph, _ = workflow.load(path)
        except (workflow.WorkflowError, OSError):
            continue
        main = graph.meta.get("subgraph")
        if main in graph.subgraphs:
            out.append((graph.subgraphs[main].name or path.stem, path))
    return sorted(out, key=lambda e: e[0].lower())


def load(path: Path, registry=None) -> tuple[dict[str, SubgraphDef], str]:
    """The definitions of a subgraph file and the id of its main one."""
    graph, _ = workflow.load(path, registry)
    main = graph.meta.get("subgraph")
    if main not in graph.subgraphs:
        raise workflow.WorkflowError(f"{path}: not a subgraph file (meta.subgraph names no definition)")
    return graph.subgraphs, main
