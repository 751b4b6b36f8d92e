"""Images per second of ``nodeflow batch`` on a Ray cluster: 1 worker against N workers (default 1 and 2), the
default workflow on the built-in 64 px model, a seed sweep.

    python benchmarks/bench_ray.py [--images 24] [--steps 20] [--workers 1,2] [--address local]

On CPUs each worker holds one CPU of the cluster and pins torch to one thread, so 2 workers use 2 cores; with
``--address`` of a GPU cluster each worker holds one GPU (``--workers 1,8``). Each pool is warmed first (every
worker runs one job: torch imported, the model loaded), then timed on ``--images`` new seeds, so the numbers are
the steady rate a long batch sees. Also prints the same images run in this process (``nodeflow batch`` without
``--ray``) with one thread, for the overhead Ray adds.
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
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=24)
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
    rows = []

    local = LocalPool(settings, cpu_threads=1)
    timed(local, env, settings, [0], args.steps, "warm-local")
    seconds = timed(local, env, settings, list(range(1, args.images + 1)), args.steps, "local")
    local.close()
    rows.append({"mode": "in this process (no Ray)", "workers": 1, "images": args.images,
                 "seconds": round(seconds, 2), "images_per_second": round(args.images / seconds, 2)})

    if args.address == "local":
        ray.init(address="local", num_cpus=max(counts), include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False, configure_logging=False,
                 runtime_env={"env_vars": {"PYTHONPATH": _SOURCE_ROOT}})
    else:
        ray.init(address=args.address, log_to_driver=False)
    resources = ray.cluster_resources()
    try:
        for n in counts:
            pool = RayPool(settings, address="auto", workers=n, cpus_per_worker=1).start()
            try:
                timed(pool, env, settings, list(range(10_000, 10_000 + 2 * n)), args.steps, f"warm-{n}")
                seeds = list(range(20_000 * n, 20_000 * n + args.images))
                seconds = timed(pool, env, settings, seeds, args.steps, f"ray-{n}")
            finally:
                pool.close()
            rows.append({"mode": "Ray", "workers": n, "images": args.images, "seconds": round(seconds, 2),
                         "images_per_second": round(args.images / seconds, 2)})
    finally:
        ray.shutdown()
    base = next((r["images_per_second"] for r in rows if r["mode"] == "Ray" and r["workers"] == 1), None)
    for r in rows:
        r["speedup_vs_1_ray_worker"] = round(r["images_per_second"] / base, 2) if base else None
    if args.json:
        print(json.dumps({"rows": rows, "cluster": resources, "steps": args.steps}, indent=1))
        return
    print(f"default workflow, built-in 64 px model, {args.steps} steps, {args.images} images per row; "
          f"cluster {dict((k, v) for k, v in resources.items() if k in ('CPU', 'GPU'))}; {os.cpu_count()} CPUs here")
    print(f"{'mode':<26} {'workers':>7} {'seconds':>8} {'images/s':>9} {'vs 1 Ray worker':>16}")
    for r in rows:
        print(f"{r['mode']:<26} {r['workers']:>7} {r['seconds']:>8.2f} {r['images_per_second']:>9.2f} "
              f"{r['speedup_vs_1_ray_worker'] or 0:>15.2f}x")


if __name__ == "__main__":
    main()
