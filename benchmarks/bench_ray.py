"""Images per second of ``nodeflow batch`` on a Ray cluster: 1 worker against N workers (default 1 and 2), the
default workflow on the built-in 64 px model, a seed sweep.

    python benchmarks/bench_ray.py [--images 24] [--steps 20] [--workers 1,2] [--address local]

On CPUs each worker holds one CPU of the cluster and pins torch to one thread, so 2 workers use 2 cores; with
``--address`` of a GPU cluster each worker holds one GPU (``--workers 1,8``). Every pool is started and warmed
first (each worker runs one job: torch imported, the model loaded) and they stay up side by side (a local cluster
declares enough CPUs for all of them; only one pool works at a time); then ``--rounds`` rounds time each pool, and
this process without Ray (one thread), on ``--images`` new seeds in turn, so that all of them see the same load
of a shared machine. The median round is printed: the steady rate a long batch sees.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def settings_for(tmp: Path):
    from nodeflow.config import Settings

    return Settings(data_dir=tmp, model_roots=(tmp / "models",), input_dir=tmp / "input",
                    output_dir=tmp / "out", pack_dirs=(), cpu_threads=1)


def jobs_for(env, seeds, steps, tag):
    from nodeflow.batch.driver import make_jobs
    from nodeflow.batch.sweep import grid, parse_axis
    from nodeflow.formats import workflow

    graph, _ = workflow.load(ROOT / "workflows" / "default.json", env.registry)
    runs = grid([parse_axis(graph, env.registry, f"KSampler.steps={steps}", "--set")],
                [parse_axis(graph, env.registry, "KSampler.seed=" + ",".join(map(str, seeds)))])
    return make_jobs(graph, env.registry, runs, tag)


def timed(pool, env, settings, seeds, steps, tag) -> float:
    from nodeflow.batch.driver import Batch
    from nodeflow.batch.outputs import OutputWriter

    batch = Batch(jobs_for(env, seeds, steps, tag), OutputWriter(settings.output_dir))
    t = time.perf_counter()
    pool.run(batch)
    seconds = time.perf_counter() - t
    report = batch.report()
    assert report["batch"]["ok"] == len(seeds), [r["message"] for r in report["runs"] if r["status"] != "ok"]
    return seconds


def main() -> None:
    import statistics

    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=12, help="images per pool per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--workers", default="1,2", help="worker counts to compare, e.g. 1,2 or 1,8")
    ap.add_argument("--address", default="local", help="'local' (a private cluster here) or a cluster address")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    counts = [int(c) for c in args.workers.split(",")]

    import ray

    from nodeflow.batch.local_pool import LocalPool
    from nodeflow.batch.ray_pool import RayPool, _SOURCE_ROOT
    from nodeflow.core.environment import Environment

    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    settings = settings_for(tmp)
    env = Environment.create(settings, entry_points=False)
    if args.address == "local":
        ray.init(address="local", num_cpus=sum(counts), include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False, configure_logging=False,
                 runtime_env={"env_vars": {"PYTHONPATH": _SOURCE_ROOT}})
    else:
        ray.init(address=args.address, log_to_driver=False)
    resources = ray.cluster_resources()
    pools = {}
    seconds: dict[str, list[float]] = {}
    seed = 0

    def next_seeds(n):
        nonlocal seed
        seed += n
        return list(range(seed - n, seed))

    try:
        local = LocalPool(settings, cpu_threads=1)
        pools["in this process (no Ray)"] = (1, local)
        for n in counts:
            pools[f"Ray, {n} worker(s)"] = (n, RayPool(settings, address="auto", workers=n,
                                                      cpus_per_worker=1).start())
        for name, (n, pool) in pools.items():  # warm: every worker imports torch and loads the model once
            timed(pool, env, settings, next_seeds(2 * n), args.steps, f"warm-{name}")
        for r in range(args.rounds):
            for name, (n, pool) in pools.items():
                seconds.setdefault(name, []).append(
                    timed(pool, env, settings, next_seeds(args.images), args.steps, f"r{r}-{name}"))
    finally:
        for _, pool in pools.values():
            pool.close()
        ray.shutdown()
    rows = []
    for name, (n, _) in pools.items():
        med = statistics.median(seconds[name])
        rows.append({"mode": name, "workers": n, "images": args.images, "seconds": round(med, 2),
                     "images_per_second": round(args.images / med, 2),
                     "rounds_images_per_second": [round(args.images / t, 2) for t in seconds[name]]})
    base = next((r["images_per_second"] for r in rows if r["mode"] == f"Ray, {counts[0]} worker(s)"), None)
    for r in rows:
        r["vs_first_ray_pool"] = round(r["images_per_second"] / base, 2) if base else None
    if args.json:
        print(json.dumps({"rows": rows, "cluster": resources, "steps": args.steps}, indent=1))
        return
    print(f"default workflow, built-in 64 px model, {args.steps} steps, {args.images} images per pool per round, "
          f"median of {args.rounds} rounds; {os.cpu_count()} CPUs here, load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'mode':<26} {'seconds':>8} {'images/s':>9} {'vs ' + str(counts[0]) + ' Ray worker(s)':>20}  rounds")
    for r in rows:
        print(f"{r['mode']:<26} {r['seconds']:>8.2f} {r['images_per_second']:>9.2f} {r['vs_first_ray_pool'] or 0:>19.2f}x"
              f"  {r['rounds_images_per_second']}")


if __name__ == "__main__":
    main()
