"""What the batch tests share: the built-in model's default workflow made fast (few steps), and the same seeds run
the ordinary local way (one Executor, the PNG embedding `nodeflow run` uses) as the reference."""
from __future__ import annotations

from pathlib import Path

from nodeflow.config import Settings
from nodeflow.core import operations as ops
from nodeflow.core.environment import Environment
from nodeflow.core.executor import Executor
from nodeflow.formats import workflow
from nodeflow.formats.embedding import workflow_chunks
from tests.conftest import REPO

WORKFLOW = REPO / "workflows" / "default.json"
STEPS = 6
SAMPLER = 5  # the KSampler's node id in workflows/default.json


def batch_settings(tmp: Path, out: str = "output") -> Settings:
    """One torch thread: the automatic count follows the machine's load, and another count may round a pixel
    differently; Ray's CPU workers get one thread per CPU they hold, one here."""
    return Settings(data_dir=tmp, model_roots=(tmp / "models",), input_dir=tmp / "input", output_dir=tmp / out,
                    pack_dirs=(), cpu_threads=1)


def sweep_jobs(env, seeds, batch_id="t"):
    from nodeflow.batch.driver import make_jobs
    from nodeflow.batch.sweep import grid, parse_axis

    graph, _ = workflow.load(WORKFLOW, env.registry)
    runs = grid([parse_axis(graph, env.registry, f"KSampler.steps={STEPS}", "--set")],
                [parse_axis(graph, env.registry, "KSampler.seed=" + ",".join(map(str, seeds)))])
    return make_jobs(graph, env.registry, runs, batch_id)


def local_pngs(tmp: Path, seeds) -> dict[int, bytes]:
    """{seed: the PNG bytes a local run of that seed saves}."""
    settings = batch_settings(tmp, "reference")
    env = Environment.create(settings, entry_points=False)
    graph, _ = workflow.load(WORKFLOW, env.registry)
    graph.apply(ops.SetValue(SAMPLER, "steps", STEPS))
    executor = Executor(env)
    out = {}
    for seed in seeds:
        graph.apply(ops.SetValue(SAMPLER, "seed", seed))
        report = executor.run(graph, embed=lambda: workflow_chunks(graph, env.registry))
        assert report.status == "ok", report.errors
        [path] = report.outputs
        out[seed] = Path(path).read_bytes()
    return out
