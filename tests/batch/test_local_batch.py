"""``nodeflow batch`` without Ray: a seed sweep on the built-in model, each PNG byte for byte what ``nodeflow run``
saves for that seed, numbered in the output folder, with a report naming each run's worker."""
import json

from nodeflow.cli.main import main
from tests.batch.kit import STEPS, WORKFLOW, local_pngs


def test_a_seed_sweep_here_gives_the_pictures_of_local_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the thread count the reference runs with (kit.batch_settings)
    out, report = tmp_path / "out", tmp_path / "report.json"
    code = main(["batch", str(WORKFLOW), "--sweep", "KSampler.seed=7..10", "--set", f"KSampler.steps={STEPS}",
                 "--out", str(out), "--report", str(report)])
    assert code == 0, capsys.readouterr()
    data = json.loads(report.read_text())
    assert data["batch"]["ok"] == 4 and data["batch"]["images"] == 4
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"NodeFlow_{k:05}_.png" for k in range(1, 5)]
    reference = local_pngs(tmp_path, [7, 8, 9, 10])
    for run in data["runs"]:
        seed = dict((f, v) for _, f, v in run["overrides"])["seed"]
        [path] = run["outputs"]
        assert open(path, "rb").read() == reference[seed], seed
        assert run["worker"] == "local" and run["status"] == "ok" and run["attempts"] == 1
        assert run["info"]["5"]["seed"] == seed
    assert "batch ok: 4/4 runs ok" in capsys.readouterr().out


def test_bad_sweeps_and_invalid_workflows_run_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", str(WORKFLOW), "--sweep", "KSampler.seed=3..1", "--out", str(out)]) == 2
    assert "is empty" in capsys.readouterr().err
    assert main(["batch", str(WORKFLOW), "--sweep", "KSampler.seed=1..2", "--set",
                 "Load Checkpoint.ckpt_name=missing.safetensors", "--out", str(out)]) == 2
    assert "nothing was run" in capsys.readouterr().err
    assert main(["batch", str(WORKFLOW), "--sweep", "KSampler.seed=1..2", "--workers", "2", "--out", str(out)]) == 2
    assert "--workers needs --ray" in capsys.readouterr().err
    assert not out.exists()


def test_a_warm_worker_writes_every_runs_files_even_when_it_ran_the_same_job_before(tmp_path):
    """The cache still serves what feeds Save Image, but Save Image runs: a batch asked again gives files again."""
    from nodeflow.batch.driver import Batch
    from nodeflow.batch.local_pool import LocalPool
    from nodeflow.batch.outputs import OutputWriter
    from nodeflow.core.environment import Environment
    from tests.batch.kit import batch_settings, sweep_jobs

    settings = batch_settings(tmp_path)
    env = Environment.create(settings, entry_points=False)
    pool = LocalPool(settings)
    try:
        reports = []
        for attempt in ("a", "b"):
            batch = Batch(sweep_jobs(env, [1, 2], batch_id=attempt), OutputWriter(settings.output_dir))
            pool.run(batch)
            reports.append(batch.report())
    finally:
        pool.close()
    assert len(list(settings.output_dir.iterdir())) == 4
    again = reports[1]["runs"][0]
    assert again["cached"] and "7" not in map(str, again["cached"])  # node 7: Save Image
    assert "run again as asked" in again["reasons"]["7"]
    first, second = (open(r["runs"][0]["outputs"][0], "rb").read() for r in reports)
    assert first == second


def test_local_progress_reaches_the_caller_per_job(tmp_path):
    from nodeflow.batch import events as bev
    from nodeflow.batch.driver import Batch
    from nodeflow.batch.local_pool import LocalPool
    from nodeflow.batch.outputs import OutputWriter
    from nodeflow.core.environment import Environment
    from tests.batch.kit import batch_settings, sweep_jobs

    settings = batch_settings(tmp_path)
    env = Environment.create(settings, entry_points=False)
    events = []
    jobs = sweep_jobs(env, [1, 2])
    pool = LocalPool(settings)
    try:
        pool.run(Batch(jobs, OutputWriter(settings.output_dir), events.append))
    finally:
        pool.close()
    steps = [(e.job_id, int(e.value)) for e in events if isinstance(e, bev.JobProgress) and e.node_id == 5]
    assert [v for j, v in steps if j == jobs[1].job_id][-1] == STEPS  # the sampler's steps, per job
    assert {j for j, _ in steps} == {jobs[0].job_id, jobs[1].job_id}
