"""Run an example workflow from workflows/ the way a user does: change values on nodes found by title, run, read the
PNGs it saved."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from nodeflow.config import Settings
from nodeflow.core import operations as ops
from nodeflow.core.environment import Environment
from nodeflow.core.executor import Executor
from nodeflow.formats import workflow
from nodeflow.formats.embedding import workflow_chunks
from tests.conftest import REPO


class ExampleWorkflow:
    def __init__(self, name: str, tmp: Path):
        self.settings = Settings(data_dir=tmp, model_roots=(tmp / "models",), input_dir=tmp / "input",
                                 output_dir=tmp / "output", pack_dirs=())
        self.env = Environment.create(self.settings, entry_points=False)
        self.reg = self.env.registry
        self.graph, _ = workflow.load(REPO / "workflows" / name, self.reg)
        self.by_title = {n.title: n.id for n in self.graph.nodes.values()}
        self.executor = Executor(self.env)

    def set(self, title: str, field: str, value) -> None:
        node = self.by_title[title]
        if self.graph.nodes[node].values[field] != value:
            self.graph.apply(ops.SetValue(node, field, value))

    def run(self) -> dict[str, np.ndarray]:
        """The pictures of every Save Image node, by filename prefix (one unchanged since an earlier run is reused
        from the cache and writes nothing new, as in ComfyUI: its record still names the file it wrote then)."""
        report = self.executor.run(self.graph, embed=lambda: workflow_chunks(self.graph, self.reg))
        assert report.status == "ok", report.errors
        out = {}
        for path in (f for r in report.records.values() if r.status in ("ran", "cached") for f in r.files):
            with Image.open(path) as im:
                assert json.loads(im.info["prompt"])  # the PNG carries its graph
                out[Path(path).name.rsplit("_", 2)[0]] = np.asarray(im.convert("RGB")).copy()
        return out
