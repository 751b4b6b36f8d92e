"""What a run will do, decided once: ``plan(graph, env, targets) -> Plan``.

The plan validates the graph (every problem at once), resolves the files its values name, picks the targets (the
output nodes, or the nodes asked for), and orders what they need. Whoever starts a run makes the plan: the CLI to
refuse an invalid file before anything runs, the editor to mark the nodes that will run and to show the problems,
a server to answer a prompt with its errors. The executor then runs exactly that plan, so nothing is validated,
ordered or looked up twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from nodeflow.core.graph import Graph, graph_dag, id_order
from nodeflow.core.subgraph_expand import flatten
from nodeflow.core.validation import Problem, check

if TYPE_CHECKING:  # pragma: no cover
    from nodeflow.core.environment import Environment


@dataclass
class Plan:
    #: The graph that runs: the planned graph with its subgraph instances expanded (inner ids "outer:inner"). The
    #: plan and the executor read it and never change it: an editor plans a copy.
    graph: Graph
    #: The nodes asked for: the output nodes, or the targets given (those that exist).
    targets: list[int]
    #: What runs or is reused, in execution order.
    order: list[int]
    #: Targets that will not run, with the reason (problems in what they need).
    skipped: dict[int, str]
    #: Everything validation found, inside the targets' reach or not.
    problems: list[Problem]
    #: Every node the targets need (their ancestors), whether it can run or not.
    reach: frozenset[int]
    #: Files named by the planned nodes' values, as validation found them: {node id: {field: path}}.
    files: dict[int, dict[str, Path]] = field(default_factory=dict)
    #: True when the graph cannot run at all (a cycle).
    invalid: bool = False
    _dag: object = None
    _ancestors: dict[int, frozenset[int]] = field(default_factory=dict)

    @property
    def cone(self) -> frozenset[int]:
        """The nodes that will run or be reused (what the editor marks as pending)."""
        return frozenset(self.order)

    @property
    def relevant_problems(self) -> list[Problem]:
        """The problems that stop or concern this run: in the targets' reach, workflow-wide, or a cycle."""
        return [p for p in self.problems if p.node_id is None or p.node_id in self.reach or p.kind == "cycle"]

    def ancestors(self, node_id: int) -> frozenset[int]:
        """Every node feeding ``node_id`` (what an output's parameters are read from); computed on demand, once."""
        found = self._ancestors.get(node_id)
        if found is None:
            import networkx as nx

            found = frozenset(nx.ancestors(self._dag, node_id)) if node_id in self._dag else frozenset()
            self._ancestors[node_id] = found
        return found


def plan(graph: Graph, env: "Environment", targets: Iterable[int] | None = None) -> Plan:
    import networkx as nx  # imported on the first run, not at editor start

    registry = env.registry
    graph, unexpanded = flatten(graph)
    checked = check(graph, registry, env.settings)
    problems = [Problem("subgraph", p.node_id, p.node_title, None, str(p), "a subgraph that does not contain itself")
                for p in unexpanded] + checked.problems
    if targets is None:
        wanted = [n.id for n in graph.nodes.values() if n.mode == "normal"
                  and (t := registry.get(n.type)) is not None and t.output_node and not t.ui_only]
    else:
        wanted = [t for t in targets if t in graph.nodes]
        # A target that is a subgraph instance means the nodes it expanded into.
        wanted += [n for t in targets if not isinstance(t, str) and t not in graph.nodes
                   for n in graph.nodes if isinstance(n, str) and n.startswith(f"{t}:")]
    if any(p.kind == "cycle" for p in problems):
        return Plan(graph, wanted, [], {}, problems, frozenset(), invalid=True)
    dag = graph_dag(graph)
    bad = {p.node_id for p in problems if p.node_id is not None}
    needed: set[int] = set()
    reach: set[int] = set()
    skipped: dict[int, str] = {}
    for t in wanted:
        cone = nx.ancestors(dag, t) | {t}
        reach |= cone
        if cone & bad:
            skipped[t] = f"not run: node {min(cone & bad, key=id_order)} has problems"
            continue
        needed |= cone
    runnable = {n for n in needed if graph.nodes[n].mode != "muted"
                and not ((t := registry.get(graph.nodes[n].type)) is not None and t.ui_only)}
    # Topological order of the whole graph, filtered: deterministic and cheaper than sorting a subgraph view.
    order = [n for n in nx.topological_sort(dag) if n in runnable]
    files = {nid: paths for nid, paths in checked.files.items() if nid in runnable}
    return Plan(graph, wanted, order, skipped, problems, frozenset(reach), files, _dag=dag)
