"""Validation before a run: every problem at once, each naming the node (id and title), the field and what was
expected. Pure: reads the graph and the registry, touches nothing else (except looking up the files it names, whose
paths it hands to the plan so that the run never resolves them again)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from nodeflow.config import name_problem
from nodeflow.core import socket_types as st
from nodeflow.core.graph import Graph, Node, graph_dag, id_order
from nodeflow.core.nodedef import Input, NodeType
from nodeflow.core.registry import Registry

PROBLEM_KINDS = ("cycle", "dangling_link", "duplicate_link", "missing_input", "type_mismatch", "out_of_range",
                 "invalid_choice", "wrong_type", "unknown_type", "missing_file", "not_a_socket", "muted_input",
                 "invalid_value", "subgraph")


@dataclass(frozen=True)
class Problem:
    kind: str
    node_id: int | None
    node_title: str | None
    field: str | None
    message: str
    expected: str | None = None

    def __str__(self) -> str:
        where = f"node {self.node_id} '{self.node_title}'" if self.node_id is not None else "workflow"
        if self.field:
            where += f", {self.field}"
        text = f"{where}: {self.message}"
        return f"{text} (expected {self.expected})" if self.expected else text

    def to_dict(self) -> dict:
        return asdict(self)


def _p(kind: str, node: Node | None, field: str | None, message: str, expected: str | None = None) -> Problem:
    return Problem(kind, node.id if node else None, node.label if node else None, field, message, expected)


def input_is_linked_socket(nt: NodeType, node: Node, inp: Input, linked: bool) -> bool:
    """Does this input take its value from a link (rather than from its widget value)?"""
    return inp.kind == "socket" or linked or inp.name in node.socket_inputs


def check_value(inp: Input, value: Any, settings=None, resolved: dict | None = None) -> tuple[str, str, str] | None:
    """Check one widget value against its declaration; returns (kind, message, expected) or None if fine.

    File names are looked up in ``settings``' folders (without settings they are not checked); the path found is
    stored in ``resolved[inp.name]`` so that nobody resolves it again during the run."""
    t = inp.type
    if value is None:
        return None if inp.optional else ("missing_input", "no value", f"a {t} value")
    if t == st.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            return "wrong_type", f"{_short(value)} is not an integer", _range_text(inp, "an integer")
    elif t == st.FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "wrong_type", f"{_short(value)} is not a number", _range_text(inp, "a number")
        if not math.isfinite(value):
            return "wrong_type", f"{value} is not a finite number", _range_text(inp, "a number")
    elif t == st.BOOLEAN:
        if not isinstance(value, bool):
            return "wrong_type", f"{_short(value)} is not true/false", "true or false"
    elif t in (st.STRING, st.COMBO):
        if not isinstance(value, str):
            return "wrong_type", f"{_short(value)} is not text", "text"
    if t in (st.INT, st.FLOAT):
        if (inp.min is not None and value < inp.min) or (inp.max is not None and value > inp.max):
            what = "an integer" if t == st.INT else "a number"
            return "out_of_range", f"{_short(value)} is out of range", _range_text(inp, what)
    if inp.files is not None:
        if settings is None:
            return None
        folders = settings.folders
        why = name_problem(value)
        if why is not None:
            # kind missing_file: no such file can exist (the editor lists it, ComfyUI says "not in list")
            return ("missing_file", f"file name {_short(value)}: {why}",
                    f"a file in {', '.join(folders.searched(inp.files))}")
        path = folders.resolve(inp.files, value)
        if path is None:
            return ("missing_file", f"file {_short(value)} not found",
                    f"a file in {', '.join(folders.searched(inp.files))}")
        if resolved is not None:
            resolved[inp.name] = path
    elif inp.choices is not None:
        choices = inp.choice_list(settings) or []
        if value not in choices:
            shown = ", ".join(map(str, choices[:12])) + (", ..." if len(choices) > 12 else "")
            return "invalid_choice", f"{_short(value)} is not one of the choices", f"one of: {shown}"
    return None


def _range_text(inp: Input, what: str) -> str:
    if inp.min is not None and inp.max is not None:
        return f"{what} between {inp.min} and {inp.max}"
    if inp.min is not None:
        return f"{what} >= {inp.min}"
    if inp.max is not None:
        return f"{what} <= {inp.max}"
    return what


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def output_type(graph: Graph, registry: Registry, node_id: int, output: str) -> str | None:
    """The type an output produces; reroutes ('*') take the type of what feeds them (followed iteratively, so a
    chain of any length is fine)."""
    seen: set[int] = set()
    while True:
        node = graph.nodes.get(node_id)
        nt = registry.get(node.type) if node else None
        out = nt.output(output) if nt else None
        if out is None:
            return None if not seen else st.ANY
        if out.type != st.ANY:
            return out.type
        if node_id in seen:
            return st.ANY
        seen.add(node_id)
        feeding = graph.incoming(node_id)
        if not feeding:
            return st.ANY
        node_id, output = feeding[0].src, feeding[0].src_output


@dataclass
class Checked:
    """What validation found: the problems, and the files the nodes' values name, resolved: {node id: {field:
    path}}."""

    problems: list[Problem]
    files: dict[int, dict[str, Any]]


def validate(graph: Graph, registry: Registry, settings=None) -> list[Problem]:
    """Every problem of ``graph``; file names are checked against ``settings``' folders when settings are given.
    Subgraph instances are checked as the nodes they expand into (ids "outer:inner", titles naming the path)."""
    from nodeflow.core.subgraph_expand import flatten

    return check(flatten(graph)[0], registry, settings).problems


def check(graph: Graph, registry: Registry, settings=None) -> Checked:
    problems: list[Problem] = []
    files: dict[int, dict[str, Any]] = {}
    problems += _check_links(graph, registry)
    for node in graph.nodes.values():
        problems += _check_node(graph, registry, node, settings, files)
    problems += _check_cycles(graph)
    return Checked(problems, files)


def _check_links(graph: Graph, registry: Registry) -> list[Problem]:
    problems = []
    per_input: dict[tuple[int, str], int] = {}
    for link in graph.links.values():
        src, dst = graph.nodes.get(link.src), graph.nodes.get(link.dst)
        if src is None or dst is None:
            missing = link.src if src is None else link.dst
            problems.append(_p("dangling_link", dst or src, link.dst_input if dst else link.src_output,
                               f"link {link.id} refers to node {missing}, which does not exist",
                               "links between existing nodes"))
            continue
        per_input[(link.dst, link.dst_input)] = per_input.get((link.dst, link.dst_input), 0) + 1
        src_t, dst_t = registry.get(src.type), registry.get(dst.type)
        if src_t is None or dst_t is None:
            continue  # placeholder nodes: reported as unknown_type, their links are kept as they are
        out = src_t.output(link.src_output)
        if out is None:
            problems.append(_p("dangling_link", src, link.src_output,
                               f"link {link.id} starts at output {link.src_output!r}, which {src.type} does not have",
                               "one of: " + ", ".join(o.name for o in src_t.outputs) or "no outputs"))
            continue
        inp = dst_t.input(link.dst_input)
        if inp is None:
            problems.append(_p("dangling_link", dst, link.dst_input,
                               f"link {link.id} ends at input {link.dst_input!r}, which {dst.type} does not have",
                               "one of: " + ", ".join(i.name for i in dst_t.inputs)))
            continue
        if inp.kind == "widget":
            problems.append(_p("not_a_socket", dst, inp.name, "this value cannot be fed by a link", "a value"))
            continue
        out_t = output_type(graph, registry, src.id, out.name)
        ok, reason = st.compatible(out_t or out.type, inp.type)
        if not ok:
            problems.append(_p("type_mismatch", dst, inp.name,
                               f"{src.label} ({src.id}) gives {out_t} but this input takes {inp.type}: {reason}",
                               inp.type))
    for (nid, name), count in per_input.items():
        if count > 1:
            problems.append(_p("duplicate_link", graph.nodes[nid], name, f"{count} links into one input",
                               "at most one link per input"))
    return problems


def _check_node(graph: Graph, registry: Registry, node: Node, settings, files: dict) -> list[Problem]:
    nt = registry.get(node.type)
    if nt is None:
        return [_p("unknown_type", node, None, f"unknown node type {node.type!r} (kept as a placeholder)",
                   "a node type provided by an installed node pack")]
    if nt.ui_only or node.mode == "muted":
        return []
    problems = []
    resolved: dict[str, Any] = {}
    for inp in nt.inputs:
        links = graph.links_into(node.id, inp.name)
        if input_is_linked_socket(nt, node, inp, bool(links)):
            if not links:
                if not inp.optional:
                    problems.append(_p("missing_input", node, inp.name, "not connected",
                                       f"a link from a {inp.type} output"))
                continue
            src = graph.nodes.get(links[-1].src)
            if src is not None and src.mode == "muted" and not inp.optional:
                problems.append(_p("muted_input", node, inp.name, f"fed by muted node {src.label} ({src.id})",
                                   "an input from a node that runs"))
            continue
        value = node.values.get(inp.name, inp.default)
        bad = check_value(inp, value, settings, resolved)
        if bad:
            problems.append(_p(bad[0], node, inp.name, bad[1], bad[2]))
    if resolved:
        files[node.id] = resolved
    if nt.check is not None and not problems:
        try:
            for field, message in nt.check(resolved_values(nt, node), settings) or ():
                problems.append(_p("invalid_value", node, field, message))
        except Exception as e:  # a pack's check must not break validation
            problems.append(_p("invalid_value", node, None, f"check failed: {type(e).__name__}: {e}"))
    return problems


def resolved_values(nt: NodeType, node: Node) -> dict[str, Any]:
    """The node's widget values with declared defaults filled in for anything not saved."""
    values = {i.name: i.default for i in nt.inputs if i.is_widget}
    values.update({k: v for k, v in node.values.items() if nt.input(k) is not None})
    return values


def _check_cycles(graph: Graph) -> list[Problem]:
    import networkx as nx  # imported on first use, not at editor start

    g = graph_dag(graph)
    problems = []
    if nx.is_directed_acyclic_graph(g):
        return problems
    for component in nx.strongly_connected_components(g):
        if len(component) > 1 or any(g.has_edge(n, n) for n in component):
            ids = sorted(component, key=id_order)
            first = graph.nodes[ids[0]]
            names = " -> ".join(f"{graph.nodes[i].label} ({i})" for i in ids[:8]) + (" ..." if len(ids) > 8 else "")
            problems.append(_p("cycle", first, None, f"cycle through {names}", "a graph without cycles"))
    return problems
