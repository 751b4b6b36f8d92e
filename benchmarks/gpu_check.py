"""A check to run on a GPU machine (the lead's; nothing here needs one to be written or tested): which devices
torch sees, the KSampler's speed in fp32 / fp16 / bf16 on the built-in model, and ``nodeflow batch`` on Ray over
1 GPU and over all of them. Prints one table.

    python benchmarks/gpu_check.py                      # everything, on cuda
    python benchmarks/gpu_check.py --sizes 64,512 --steps 20 --images 32
    python benchmarks/gpu_check.py --device cpu --sizes 64 --steps 4 --images 4   # a smoke test without a GPU

The built-in model is SD1-shaped (a small U-Net, 64 px native); at 512 px (a 64x64 latent, SD1.5's size) it is
no longer a picture of a shape but the U-Net's work per step is what the speed depends on. Needs Ray for the last
rows (``pip install -e ".[ray]"``); without it those rows say so.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SAMPLER, LATENT = 5, 4  # node ids in workflows/default.json


def devices_rows(device: str) -> list[list[str]]:
    import torch

    rows = [["torch", torch.__version__, f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU build"]]
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            rows.append(["cuda", "not available", "torch sees no GPU"])
        for k in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(k)
            rows.append([f"cuda:{k}", p.name, f"capability {p.major}.{p.minor}, {p.total_memory / 2**30:.0f} GiB"])
    else:
        rows.append([device, "", f"{os.cpu_count()} logical CPUs"])
    return rows


def sampler_speed(device: str, precision: str, size: int, steps: int, repeat: int, tmp: Path) -> list[str]:
    """Median seconds of the KSampler node over ``repeat`` new seeds (the first run, which loads, not counted)."""
    from nodeflow.config import Settings
    from nodeflow.core import operations as ops
    from nodeflow.core.environment import Environment
    from nodeflow.core.executor import Executor
    from nodeflow.formats import workflow

    settings = Settings(data_dir=tmp, model_roots=(tmp / "models",), input_dir=tmp / "input",
                        output_dir=tmp / f"out-{precision}-{size}", pack_dirs=(), device=device,
                        precision=precision)
    env = Environment.create(settings, entry_points=False)
    graph, _ = workflow.load(ROOT / "workflows" / "default.json", env.registry)
    for field, value in (("width", size), ("height", size)):
        graph.apply(ops.SetValue(LATENT, field, value))
    graph.apply(ops.SetValue(SAMPLER, "steps", steps))
    executor = Executor(env)
    times, pictures_ok = [], True
    for k in range(repeat + 1):
        graph.apply(ops.SetValue(SAMPLER, "seed", 1000 + k))
        report = executor.run(graph)
        if report.status != "ok":
            return [f"{report.status}: {'; '.join(e.get('message', '') for e in report.errors)[:120]}"]
        if k:
            times.append(report.records[SAMPLER].seconds)
        pictures_ok &= _picture_ok(report)
    _sync(device)
    executor.free()  # the next row (and Ray's workers) get the GPU's memory back
    med = sorted(times)[len(times) // 2]
    note = "" if pictures_ok else "  (blank or broken picture: NaNs?)"
    return [f"{steps / med:.1f} it/s", f"{med * 1000:.0f} ms per image{note}"]


def _picture_ok(report) -> bool:
    import numpy as np
    from PIL import Image

    for path in report.outputs:
        with Image.open(path) as im:
            a = np.asarray(im.convert("RGB"), dtype=np.float32)
        if not math.isfinite(float(a.std())) or a.std() < 1.0:
            return False
    return True


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.synchronize()


def ray_rows(device: str, size: int, steps: int, images: int, tmp: Path) -> list[list[str]]:
    try:
        import ray
    except ImportError:
        return [["Ray", "not installed", 'pip install -e ".[ray]"']]
    from nodeflow.batch.driver import Batch, make_jobs
    from nodeflow.batch.outputs import OutputWriter
    from nodeflow.batch.ray_pool import _SOURCE_ROOT, RayPool
    from nodeflow.batch.sweep import grid, parse_axis
    from nodeflow.config import Settings
    from nodeflow.core.environment import Environment
    from nodeflow.formats import workflow

    settings = Settings(data_dir=tmp, model_roots=(tmp / "models",), input_dir=tmp / "input",
                        output_dir=tmp / "ray-out", pack_dirs=(), device=device)
    env = Environment.create(settings, entry_points=False)
    graph, _ = workflow.load(ROOT / "workflows" / "default.json", env.registry)
    fixed = [parse_axis(graph, env.registry, t, "--set")
             for t in (f"KSampler.steps={steps}", f"Empty Latent Image.width={size}",
                       f"Empty Latent Image.height={size}")]

    def batch_of(seeds, tag):
        runs = grid(fixed, [parse_axis(graph, env.registry, "KSampler.seed=" + ",".join(map(str, seeds)))])
        return Batch(make_jobs(graph, env.registry, runs, tag), OutputWriter(settings.output_dir))

    kwargs = {"address": "local", "include_dashboard": False, "_node_ip_address": "127.0.0.1",
              "log_to_driver": False, "runtime_env": {"env_vars": {"PYTHONPATH": _SOURCE_ROOT}}}
    if device == "cpu":
        kwargs["num_gpus"] = 0
    ray.init(**kwargs)
    rows = []
    try:
        gpus = int(ray.cluster_resources().get("GPU", 0))
        counts = sorted({1, gpus}) if gpus else [1, 2]
        rate1 = None
        for n in counts:
            pool = RayPool(settings, address="auto", workers=n).start()
            try:
                warm = batch_of(range(50_000, 50_000 + 2 * n), f"warm{n}")
                pool.run(warm)
                batch = batch_of(range(60_000 * n, 60_000 * n + images), f"ray{n}")
                t = time.perf_counter()
                pool.run(batch)
                seconds = time.perf_counter() - t
            finally:
                pool.close()
            report = batch.report()["batch"]
            rate = report["images"] / seconds
            rate1 = rate1 or rate
            what = f"{n} GPU worker(s)" if gpus else f"{n} CPU worker(s)"
            rows.append([f"Ray, {what}", f"{rate:.2f} images/s",
                         f"{report['ok']}/{report['jobs']} ok, {rate / rate1:.2f}x of 1 worker, "
                         f"{size} px, {steps} steps"])
    finally:
        ray.shutdown()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:1, cpu")
    ap.add_argument("--sizes", default="64,512", help="picture sizes for the KSampler rows")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per KSampler row")
    ap.add_argument("--images", type=int, default=32, help="images per Ray row")
    ap.add_argument("--ray-size", type=int, default=512)
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    rows = [["what", "result", "details"]] + devices_rows(args.device)
    for size in [int(s) for s in args.sizes.split(",")]:
        for precision in ("fp32", "fp16", "bf16"):
            try:
                result = sampler_speed(args.device, precision, size, args.steps, args.repeat, tmp)
            except Exception as e:  # a row that fails says why; the others still run
                result = [f"failed: {type(e).__name__}: {str(e)[:100]}"]
            rows.append([f"KSampler {precision} {size} px", *result, *[""] * (2 - len(result))])
    if not args.no_ray:
        try:
            rows += ray_rows(args.device, args.ray_size, args.steps, args.images, tmp)
        except Exception as e:
            rows.append(["Ray", f"failed: {type(e).__name__}", str(e)[:160]])
    widths = [max(len(str(r[k])) for r in rows) for k in range(3)]
    for k, r in enumerate(rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
