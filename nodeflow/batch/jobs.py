"""A batch's jobs and their outcomes: plain data (str, int, bytes, lists, dicts), so they travel to a worker in
another process or on another machine as they are."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BatchJob:
    #: Unique within the batch, stable across retries: the driver records one outcome per id, never two.
    job_id: str
    index: int
    #: The workflow as NodeFlow workflow JSON (the same text for every job of a batch).
    workflow: str
    #: ((node id, field, value), ...) applied before the run.
    overrides: tuple
    label: str
    #: What the job loads (its file-valued inputs): jobs with the same key go preferably to a worker holding it.
    model_key: str = ""

    def to_wire(self) -> dict:
        return {"job_id": self.job_id, "index": self.index, "workflow": self.workflow,
                "overrides": [list(o) for o in self.overrides], "label": self.label}


def model_key(graph, registry, overrides=()) -> str:
    """The files a graph's nodes name (checkpoints, LoRAs...), ``overrides`` applied: what a warm worker has
    loaded already."""
    changed = {(nid, name): value for nid, name, value in overrides}
    files = []
    for node in sorted(graph.nodes.values(), key=lambda n: n.id):
        nt = registry.get(node.type)
        for inp in (nt.widget_inputs if nt else ()):
            value = changed.get((node.id, inp.name), node.values.get(inp.name))
            if inp.files is not None and isinstance(value, str):
                files.append([node.type, inp.name, value])
    return hashlib.blake2b(json.dumps(files).encode(), digest_size=8).hexdigest()


@dataclass
class OutputFile:
    #: Where the run saved it, relative to its output folder ("NodeFlow_00001_.png", "sub/x_00001_.png").
    name: str
    data: bytes


@dataclass
class JobOutcome:
    job_id: str
    #: "ok" | "error" | "cancelled" | "invalid" (the executor's) | "lost" (no worker could finish it)
    status: str
    worker: str = ""
    files: list[OutputFile] = field(default_factory=list)
    #: The executor's run report (RunReport.to_json()), outputs named relative to the output folder.
    report: dict = field(default_factory=dict)
    seconds: float = 0.0
    message: str = ""

    def to_wire(self) -> dict:
        return {"job_id": self.job_id, "status": self.status, "worker": self.worker,
                "files": [{"name": f.name, "data": f.data} for f in self.files], "report": self.report,
                "seconds": self.seconds, "message": self.message}

    @classmethod
    def from_wire(cls, d: dict) -> "JobOutcome":
        return cls(d["job_id"], d["status"], d.get("worker", ""),
                   [OutputFile(f["name"], f["data"]) for f in d.get("files", ())], d.get("report", {}),
                   float(d.get("seconds", 0.0)), d.get("message", ""))
