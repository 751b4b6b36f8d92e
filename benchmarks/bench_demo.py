"""The built-in model on a fresh install: `nodeflow run workflows/default.json` to a PNG (a new process each time,
so Python start-up, imports and the model load are all counted), then further images in one process.

Targets (2-core CPU): the first PNG in under 5 s wall, model load included; under 1 s per further image.

    python benchmarks/bench_demo.py [--repeat 3] [--images 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def cold_runs(repeat: int) -> list[tuple[float, dict]]:
    """Wall time of the whole command, and the per-node seconds it reported (--report)."""
    import json

    out = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "report.json"
            env = dict(os.environ, NODEFLOW_HOME=tmp, NODEFLOW_SETTINGS=str(Path(tmp) / "none.json"),
                       HF_HUB_OFFLINE="1")
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "nodeflow", "run", str(REPO / "workflows" / "default.json"),
                                   "--out", tmp, "--report", str(report), "-q"], env=env, capture_output=True,
                                  text=True)
            wall = time.perf_counter() - t
            if proc.returncode != 0:
                raise SystemExit(f"nodeflow run failed:\n{proc.stderr}")
            run = json.loads(report.read_text())["runs"][0]
            assert run["outputs"] and Path(run["outputs"][0]).is_file()
            out.append((wall, run["seconds"]))
    return out


def warm_images(count: int) -> list[float]:
    """Further images in one process: only the seed changes, so the sampler, decoder and saver run."""
    from nodeflow.config import Settings
    from nodeflow.core import operations as ops
    from nodeflow.core.environment import Environment
    from nodeflow.core.executor import Executor
    from nodeflow.core.registry import load_registry
    from nodeflow.formats import workflow

    tmp = Path(tempfile.mkdtemp(prefix="nodeflow-bench-"))
    settings = Settings(data_dir=tmp, model_roots=(tmp / "models",), input_dir=tmp / "in", output_dir=tmp / "out")
    reg = load_registry(entry_points=False)
    graph, _ = workflow.load(REPO / "workflows" / "default.json", reg)
    [sampler] = [n.id for n in graph.nodes.values() if n.type == "KSampler"]
    ex = Executor(Environment(settings, reg))
    assert ex.run(graph).status == "ok"
    times = []
    for i in range(count):
        graph.apply(ops.SetValue(sampler, "seed", 1000 + i))
        t = time.perf_counter()
        report = ex.run(graph)
        times.append(time.perf_counter() - t)
        assert report.status == "ok" and len(report.executed) == 3, report.to_json()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--images", type=int, default=5)
    args = ap.parse_args()
    cold = cold_runs(args.repeat)
    warm = warm_images(args.images)
    walls = [w for w, _ in cold]
    nodes = {}
    for _, seconds in cold:
        for node, s in seconds.items():
            nodes.setdefault(node, []).append(s)
    print(f"nodeflow run workflows/default.json, fresh process each time ({args.repeat} runs, {os.cpu_count()} CPUs)")
    print(f"  wall to PNG: median {statistics.median(walls):.2f} s, min {min(walls):.2f} s (target < 5 s)")
    print("  of which, per node (median): " + ", ".join(f"#{k} {statistics.median(v):.2f} s"
                                                      for k, v in sorted(nodes.items(), key=lambda kv: int(kv[0]))))
    print(f"further images in one process ({args.images}, seed changed each time): median "
          f"{statistics.median(warm):.3f} s, max {max(warm):.3f} s (target < 1 s)")


if __name__ == "__main__":
    main()
