"""Sweeps into runs, the schedule's rules (affinity, a lost worker's job retried once elsewhere, one outcome per
job) and the output numbering: no Ray, no model."""
import os

import pytest

from nodeflow.batch.jobs import BatchJob, JobOutcome, OutputFile
from nodeflow.batch.outputs import OutputWriter, UnsafeOutput
from nodeflow.batch.schedule import Schedule
from nodeflow.batch.sweep import SweepError, grid, parse_axis
from nodeflow.core.environment import Environment
from nodeflow.formats import workflow
from tests.batch.kit import WORKFLOW, batch_settings


@pytest.fixture(scope="module")
def graph_env(tmp_path_factory):
    env = Environment.create(batch_settings(tmp_path_factory.mktemp("sweep")), entry_points=False)
    graph, _ = workflow.load(WORKFLOW, env.registry)
    return graph, env


def test_ranges_lists_and_grids(graph_env):
    graph, env = graph_env
    seeds = parse_axis(graph, env.registry, "KSampler.seed=3..6")
    assert seeds.values == (3, 4, 5, 6) and seeds.node_id == 5 and seeds.field == "seed"
    assert parse_axis(graph, env.registry, "5.seed=0..10:5").values == (0, 5, 10)
    cfg = parse_axis(graph, env.registry, "KSampler.cfg=1..2:0.5")
    assert cfg.values == (1.0, 1.5, 2.0)
    samplers = parse_axis(graph, env.registry, "KSampler.sampler_name=euler,ddim")
    prompts = parse_axis(graph, env.registry, "Positive.text=a red circle,a blue square")
    assert prompts.values == ("a red circle", "a blue square")
    commas = parse_axis(graph, env.registry, 'Positive.text=["red, small", "blue"]')
    assert commas.values == ("red, small", "blue")
    assert parse_axis(graph, env.registry, "KSampler.seed=[1, 5]").values == (1, 5)
    runs = grid([parse_axis(graph, env.registry, "KSampler.steps=4", "--set")], [samplers, seeds])
    assert len(runs) == 8
    assert runs[0].overrides == ((5, "steps", 4), (5, "sampler_name", "euler"), (5, "seed", 3))
    assert runs[-1].overrides[-2:] == ((5, "sampler_name", "ddim"), (5, "seed", 6))
    assert runs[5].label == "KSampler.sampler_name=ddim KSampler.seed=4"


@pytest.mark.parametrize("text, message", [
    ("KSampler.seed", "expected NODE.FIELD=VALUES"),
    ("Nope.seed=1..3", "no node with id, title or type 'Nope'"),
    ("KSampler.nope=1", "has no value 'nope'"),
    ("CLIPTextEncode.text=x", "matches several nodes"),
    ("KSampler.seed=5..1", "is empty"),
    ("KSampler.seed=1,2,1", "listed twice"),
    ("KSampler.steps=0..3", "outside"),
    ("KSampler.seed=a..b", "not a valid INT"),
    ("KSampler.cfg=1..2", "needs a step"),
    ("KSampler.seed=0..99999999", "more than"),
])
def test_bad_sweeps_say_what_is_wrong(graph_env, text, message):
    graph, env = graph_env
    with pytest.raises(SweepError, match=message):
        parse_axis(graph, env.registry, text)


def jobs(n, key=""):
    return [BatchJob(f"b:{k}", k, "{}", (), f"run {k}", key if k % 2 else "other") for k in range(n)]


def test_a_lost_workers_job_runs_again_elsewhere_once_and_is_recorded_once():
    s = Schedule(jobs(3), retries=1)
    first = s.next_for("w1")
    assert first.job_id == "b:0" and s.attempts("b:0") == 1
    assert s.lost("b:0", "w1", "killed") is None  # back at the front
    assert s.next_for("w1").job_id == "b:1"  # w1 was lost on b:0: it gets another one while others wait
    assert s.next_for("w2").job_id == "b:0" and s.attempts("b:0") == 2
    assert s.finished(JobOutcome("b:0", "ok", "w2"))
    assert not s.finished(JobOutcome("b:0", "ok", "w1"))  # a late second answer is dropped
    assert s.duplicates == 1 and s.outcomes["b:0"].worker == "w2"
    assert s.lost("b:1", "w1", "killed") is None
    assert s.next_for("w3").job_id == "b:1"
    ended = s.lost("b:1", "w3", "killed again")  # past its one retry
    assert ended.status == "lost" and "tried 2 time(s)" in ended.message
    assert s.next_for("w2").job_id == "b:2"
    s.finished(JobOutcome("b:2", "ok", "w2"))
    assert s.done and s.next_for("w2") is None


def test_jobs_go_to_the_worker_that_holds_their_models_and_cancel_ends_the_waiting():
    s = Schedule(jobs(6, key="sd15"))
    assert s.next_for("w1", warm={"sd15"}).job_id == "b:1"
    assert s.next_for("w2", warm=set()).job_id == "b:0"
    assert s.next_for("w1", warm={"sd15"}).job_id == "b:3"
    ended = s.cancel()
    assert [o.job_id for o in ended] == ["b:2", "b:4", "b:5"] and all(o.status == "cancelled" for o in ended)
    assert s.next_for("w1") is None
    with pytest.raises(ValueError):
        Schedule(jobs(2) + jobs(1))


def test_outputs_are_numbered_after_what_the_folder_holds_and_stay_inside_it(tmp_path):
    (tmp_path / "NodeFlow_00007_.png").write_bytes(b"old")
    w = OutputWriter(tmp_path)
    paths = w.write(JobOutcome("b:0", "ok", files=[OutputFile("NodeFlow_00001_.png", b"a"),
                                                   OutputFile("sub/face_00001_.png", b"b"),
                                                   OutputFile("NodeFlow_00002_.png", b"c")]))
    assert [os.path.relpath(p, tmp_path) for p in paths] == ["NodeFlow_00008_.png", "sub/face_00001_.png",
                                                             "NodeFlow_00009_.png"]
    assert (tmp_path / "NodeFlow_00009_.png").read_bytes() == b"c"
    assert os.path.relpath(w.write_one("plain.txt", b"1"), tmp_path) == "plain.txt"
    assert os.path.relpath(w.write_one("plain.txt", b"2"), tmp_path) == "plain-2.txt"
    for bad in ("../escape_00001_.png", "/etc/x_00001_.png", "a/../../b.png"):
        with pytest.raises(UnsafeOutput):
            w.write_one(bad, b"x")
    assert not list(tmp_path.parent.glob("escape*"))
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
