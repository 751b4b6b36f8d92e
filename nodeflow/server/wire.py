"""NodeFlow's executor events over the websocket, both ways, for clients that ask for them
(``extra_data: {"nodeflow": {"events": true}}``): ``nodeflow run --server`` prints from them the same per-node
report as a local run (ran or cached, seconds, why). Sent as messages of type ``nodeflow.event`` to that client
only, so ComfyUI clients never see them. Node ids are the prompt's."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from nodeflow.core import events as ev

MESSAGE_TYPE = "nodeflow.event"


def to_wire(event: ev.Event, api: Callable[[int], str]) -> dict | None:
    """An event as JSON data (RunFinished is built by the runner, which knows the outputs)."""
    if isinstance(event, ev.RunStarted):
        return {"event": "RunStarted", "planned": [api(n) for n in event.planned]}
    if isinstance(event, ev.NodeStarted):
        return {"event": "NodeStarted", "node": api(event.node_id), "reason": event.reason}
    if isinstance(event, ev.NodeFinished):
        return {"event": "NodeFinished", "node": api(event.node_id), "seconds": event.seconds,
                "cached": event.cached, "reason": event.reason}
    if isinstance(event, ev.NodeFailed):
        return {"event": "NodeFailed", "node": api(event.node_id), "message": event.message, "field": event.field}
    if isinstance(event, ev.NodeSkipped):
        return {"event": "NodeSkipped", "node": api(event.node_id), "reason": event.reason}
    return None


@dataclass
class RemoteReport:
    """The parts of a RunReport a client gets back (``cli.printer`` prints it): files are on the server, named by
    ``outputs`` (URLs or names)."""

    status: str
    seconds_total: float = 0.0
    executed: list = field(default_factory=list)
    cached: list = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    errors: list = field(default_factory=list)

    def to_json(self) -> dict:
        return {"status": self.status, "executed": self.executed, "cached": self.cached, "outputs": self.outputs,
                "errors": self.errors, "seconds": round(self.seconds_total, 4)}


def run_finished(status: str, seconds: float, executed: list[str], cached: list[str], outputs: list[dict],
                 errors: list[str]) -> dict:
    return {"event": "RunFinished", "status": status, "seconds": seconds, "executed": executed, "cached": cached,
            "outputs": outputs, "errors": errors}


def from_wire(data: dict, node: Callable[[str], object],
              output_name: Callable[[dict], str] = lambda ref: ref.get("filename", "")) -> ev.Event | None:
    """Back to an executor event; ``node`` maps a prompt id to the client's node id, ``output_name`` an output
    reference to what the report lists."""
    kind = data.get("event")
    if kind == "RunStarted":
        return ev.RunStarted(0, [node(n) for n in data.get("planned", [])])
    if kind == "NodeStarted":
        return ev.NodeStarted(node(data["node"]), data.get("reason", ""))
    if kind == "NodeFinished":
        return ev.NodeFinished(node(data["node"]), float(data.get("seconds", 0.0)), bool(data.get("cached")),
                               data.get("reason", ""))
    if kind == "NodeFailed":
        return ev.NodeFailed(node(data["node"]), data.get("message", ""), "", {}, data.get("field"))
    if kind == "NodeSkipped":
        return ev.NodeSkipped(node(data["node"]), data.get("reason", ""))
    if kind == "RunFinished":
        report = RemoteReport(data.get("status", "error"), float(data.get("seconds", 0.0)),
                              [node(n) for n in data.get("executed", [])], [node(n) for n in data.get("cached", [])],
                              [output_name(r) for r in data.get("outputs", []) if isinstance(r, dict)],
                              list(data.get("errors", [])))
        return ev.RunFinished(0, report.status, report)
    return None
