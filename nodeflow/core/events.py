"""Events the executor emits while running a graph. Plain dataclasses: the CLI prints them, the editor turns them
into Qt signals on its GUI thread, tests collect them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Event:
    """Base class of all executor events."""


@dataclass
class RunStarted(Event):
    run_id: int
    planned: list[int]  # node ids in execution order


@dataclass
class NodeStarted(Event):
    node_id: int
    reason: str


@dataclass
class NodeProgress(Event):
    node_id: int
    value: float
    total: float
    text: str | None = None


@dataclass
class NodePreview(Event):
    node_id: int
    image: Any


@dataclass
class NodeLog(Event):
    node_id: int
    message: str


@dataclass
class NodeFinished(Event):
    node_id: int
    seconds: float
    cached: bool
    reason: str
    ui: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    #: For a node showing pictures: what its ancestors recorded this run ({node id: info}), so a viewer can say
    #: what each picture was made with without knowing the graph.
    upstream: dict = field(default_factory=dict)


@dataclass
class NodeFailed(Event):
    node_id: int
    message: str
    traceback: str
    inputs: dict  # short summary of the inputs the node received
    field: str | None = None


@dataclass
class NodeSkipped(Event):
    node_id: int
    reason: str


@dataclass
class RunFinished(Event):
    run_id: int
    status: str  # "ok" | "error" | "cancelled" | "invalid"
    report: Any
