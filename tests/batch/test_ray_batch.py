"""Batches on a local Ray cluster (2 CPUs on 127.0.0.1, started and stopped here, every process it had checked
gone by pid): a 16-seed sweep over 2 workers gives 16 distinct PNGs, each byte for byte the local run of its seed;
with one worker's process killed mid-batch all 16 still come, none twice."""
import os
import signal
import threading
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")

from nodeflow.batch import events as bev  # noqa: E402
from nodeflow.batch.driver import Batch  # noqa: E402
from nodeflow.batch.outputs import OutputWriter  # noqa: E402
from nodeflow.batch.ray_pool import RayPool, _alive, _local_cluster_pids, _reap  # noqa: E402
from nodeflow.core.environment import Environment  # noqa: E402
from tests.batch.kit import batch_settings, local_pngs, sweep_jobs  # noqa: E402
from tests.conftest import REPO  # noqa: E402

pytestmark = pytest.mark.slow
SEEDS = list(range(100, 116))
#: A batch that has not ended by then is cancelled (and the test fails) rather than hanging the suite.
WATCHDOG_S = 240


@pytest.fixture(scope="module")
def cluster():
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
    pids = set(_local_cluster_pids(ray))
    assert pids, "the local cluster's processes should be known"
    seen_actor_pids: set[int] = set()
    yield seen_actor_pids
    ray.shutdown()
    everything = pids | seen_actor_pids
    _reap(everything)
    assert [p for p in everything if _alive(p)] == []


@pytest.fixture(scope="module")
def pool(cluster, tmp_path_factory):
    """Two warm workers shared by the tests (each worker's first job loads torch and the model: the slow part)."""
    pool = RayPool(batch_settings(tmp_path_factory.mktemp("pool")), address="auto", workers=2,
                   cpus_per_worker=1).start()
    yield pool
    cluster.update(pool.pids()["actors"])
    pool.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return local_pngs(tmp_path_factory.mktemp("reference"), SEEDS)


def run_batch(tmp: Path, pool, listener=None):
    settings = batch_settings(tmp)
    env = Environment.create(settings, entry_points=False)
    jobs = sweep_jobs(env, SEEDS)
    events = []

    def listen(event):
        events.append(event)
        if listener is not None:
            listener(event, pool)

    batch = Batch(jobs, OutputWriter(settings.output_dir), listen, retries=1)
    watchdog = threading.Timer(WATCHDOG_S, pool.cancel)
    watchdog.start()
    try:
        pool.run(batch)
    finally:
        watchdog.cancel()
    batch.finish()
    return batch, events, settings.output_dir


def check_pictures(batch, out_dir: Path, reference):
    report = batch.report()
    assert report["batch"]["ok"] == 16, [r["message"] for r in report["runs"] if r["status"] != "ok"]
    files = sorted(out_dir.iterdir())
    assert [f.name for f in files] == [f"NodeFlow_{k:05}_.png" for k in range(1, 17)]
    by_seed = {}
    for run in report["runs"]:
        [path] = run["outputs"]
        by_seed[dict((f, v) for _, f, v in run["overrides"])["seed"]] = Path(path).read_bytes()
    assert sorted(by_seed) == SEEDS
    assert len(set(by_seed.values())) == 16  # 16 distinct pictures
    for seed in SEEDS:
        assert by_seed[seed] == reference[seed], f"seed {seed} differs from its local run"
    return report


def test_a_16_seed_sweep_over_2_workers_gives_the_local_pictures(pool, reference, tmp_path):
    batch, events, out_dir = run_batch(tmp_path, pool)
    report = check_pictures(batch, out_dir, reference)
    workers = {r["worker"] for r in report["runs"]}
    assert len(workers) == 2 and all(w.startswith("worker-") for w in workers)  # both did some of the work
    assert all(r["attempts"] == 1 for r in report["runs"])
    assert any(isinstance(e, bev.JobProgress) for e in events)  # progress came back while jobs ran
    pids = {w["pid"] for w in report["batch"]["workers"]}
    assert len(pids) == 2 and os.getpid() not in pids


def test_cancel_ends_the_batch_keeps_what_finished_and_the_workers_stay_usable(pool, tmp_path):
    settings = batch_settings(tmp_path)
    env = Environment.create(settings, entry_points=False)
    jobs = sweep_jobs(env, SEEDS, batch_id="cancel")
    events = []

    def listen(event):
        events.append(event)
        if isinstance(event, bev.JobDone) and event.done == 2:
            pool.cancel()  # as Ctrl+C does (from another thread: the flag is all it sets)

    batch = Batch(jobs, OutputWriter(settings.output_dir), listen)
    pool.run(batch)
    report = batch.report()
    statuses = [r["status"] for r in report["runs"]]
    assert statuses.count("cancelled") >= 10 and set(statuses) <= {"ok", "cancelled"}
    written = sorted(settings.output_dir.iterdir())
    assert len(written) == statuses.count("ok") == sum(len(r["outputs"]) for r in report["runs"])
    done = [e.job.job_id for e in events if isinstance(e, bev.JobDone)]
    assert sorted(done) == sorted(j.job_id for j in jobs)  # every job ended once, cancelled or not
    assert len([s for s in pool.slots if s.ready]) == 2  # nobody was killed: the next batch has them warm


def test_killing_a_worker_mid_batch_still_gives_all_16_none_twice(pool, reference, tmp_path):
    killed = {}

    def kill_one_mid_job(event, pool):
        if isinstance(event, bev.WorkerReady):
            killed.setdefault("pids", {})[event.worker] = event.info["pid"]
        done = sum(isinstance(e, bev.JobDone) for e in events_seen)
        if (isinstance(event, bev.JobProgress) and not killed.get("job") and done >= 3
                and event.worker.startswith("worker-1")):
            killed["job"] = event.job_id
            os.kill(killed["pids"][event.worker], signal.SIGKILL)

    events_seen = []

    def listener(event, pool):
        events_seen.append(event)
        kill_one_mid_job(event, pool)

    batch, events, out_dir = run_batch(tmp_path, pool, listener)
    assert killed.get("job"), "no worker was killed mid-job"
    report = check_pictures(batch, out_dir, reference)
    runs = {r["job_id"]: r for r in report["runs"]}
    assert runs[killed["job"]]["attempts"] == 2
    assert not runs[killed["job"]]["worker"].startswith("worker-1@")  # it ran again on another worker
    assert any(isinstance(e, bev.WorkerLost) for e in events)
    assert pool._count == 3  # a replacement worker was started
    assert any(isinstance(e, bev.JobRetried) and e.job.job_id == killed["job"] for e in events)
    done = [e.job.job_id for e in events if isinstance(e, bev.JobDone)]
    assert sorted(done) == sorted(runs) and len(done) == 16  # each job ended exactly once
