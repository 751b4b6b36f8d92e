"""Graph depth never meets Python's recursion limit (issue 10, item 2): a 1,000-node Reroute chain validates,
plans, runs and converts in NodeFlow's format and both ComfyUI formats, with the recursion limit lowered far
below the chain's length (a recursive walk anywhere would fail); a multi-file run keeps every file's report."""
from __future__ import annotations

import json
import sys

import pytest
from PIL import Image

from nodeflow.cli.main import main

DEPTH = 1000


def reroute_chain(depth: int = DEPTH) -> dict:
    nodes = [{"id": 1, "type": "LoadImage", "values": {"image": "pic.png"}}]
    links = []
    for i in range(2, depth + 2):
        nodes.append({"id": i, "type": "Reroute", "values": {}})
        links.append({"id": i, "from": [i - 1, "IMAGE" if i == 2 else "output"], "to": [i, "input"]})
    nodes.append({"id": depth + 2, "type": "PreviewImage", "values": {}})
    links.append({"id": depth + 2, "from": [depth + 1, "output"], "to": [depth + 2, "images"]})
    return {"format": "nodeflow.workflow", "version": 1, "nodes": nodes, "links": links}


def api_reroute_chain(depth: int = DEPTH) -> dict:
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "pic.png"}}}
    for i in range(2, depth + 2):
        prompt[str(i)] = {"class_type": "Reroute", "inputs": {"input": [str(i - 1), 0]}}
    prompt[str(depth + 2)] = {"class_type": "PreviewImage", "inputs": {"images": [str(depth + 1), 0]}}
    return prompt


@pytest.fixture
def low_recursion_limit():
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(350)  # well above pytest's and argparse's own depth, far below the chain
    yield
    sys.setrecursionlimit(old)


@pytest.fixture
def folders(tmp_path, monkeypatch):
    (tmp_path / "in").mkdir()
    Image.new("RGB", (8, 8), "red").save(tmp_path / "in" / "pic.png")
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"data_dir": str(tmp_path / "data"), "input": str(tmp_path / "in"),
                                    "output": str(tmp_path / "out")}))
    monkeypatch.setenv("NODEFLOW_SETTINGS", str(settings))
    import torch  # noqa: F401  (imported before the limit is lowered: importing is not what is tested)
    import nodes.diffusion.image_convert  # noqa: F401
    return tmp_path


@pytest.mark.slow
def test_a_deep_chain_in_every_format(folders, low_recursion_limit, capsys):
    tmp = folders
    (tmp / "nf.json").write_text(json.dumps(reroute_chain()))
    assert main(["convert", str(tmp / "nf.json"), "-o", str(tmp / "ui.json"), "--to", "comfy-ui", "-q"]) == 0
    (tmp / "api.json").write_text(json.dumps(api_reroute_chain()))
    for name, target in (("nf.json", "comfy-api"), ("ui.json", "nodeflow"), ("api.json", "comfy-ui")):
        f = str(tmp / name)
        assert main(["validate", f]) == 0, capsys.readouterr().err
        assert main(["convert", f, "-o", str(tmp / f"out-{target}.json"), "--to", target, "-q"]) == 0, \
            capsys.readouterr().err
        report = tmp / f"{name}.report.json"
        assert main(["run", f, "-q", "--report", str(report)]) == 0, capsys.readouterr().err
        (run,) = json.loads(report.read_text())["runs"]
        assert run["status"] == "ok" and len(run["executed"]) == DEPTH + 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_run_that_breaks_keeps_the_other_files_reports(folders, monkeypatch, capsys):
    from nodeflow.core.executor import Executor

    tmp = folders
    for name in ("a.json", "b.json", "c.json"):
        (tmp / name).write_text(json.dumps(reroute_chain(3)))
    real = Executor.execute
    calls = []

    def execute(self, plan, *a, **kw):
        calls.append(plan)
        if len(calls) == 2:
            raise RuntimeError("an internal failure")
        return real(self, plan, *a, **kw)

    monkeypatch.setattr(Executor, "execute", execute)
    report = tmp / "report.json"
    assert main(["run", *(str(tmp / n) for n in ("a.json", "b.json", "c.json")), "-q", "--report",
                 str(report)]) == 1
    runs = json.loads(report.read_text())["runs"]
    assert [r["status"] for r in runs] == ["ok", "error", "ok"]
    assert "an internal failure" in runs[1]["error"] and "b.json" in capsys.readouterr().err
