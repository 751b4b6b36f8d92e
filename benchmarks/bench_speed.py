"""Speed of NodeFlow's txt2img, change by change, against plain diffusers on the same modules (issue 17).

A full-size SD1.5-shaped model (diffusers' default SD1.5 configs, random weights, 860M-parameter UNet) is built in
memory. For each image size and precision the configurations below run interleaved (the machine is shared and
noisy), repeated, and are reported as medians: the sampler's step time (median gap between step callbacks) and the
whole txt2img wall (two prompts encoded, 10 euler steps at cfg 7, VAE decode, 8-bit pixels).

  NodeFlow before   what main did: glibc's allocator defaults (each step faults in fresh pages)
  NodeFlow          the CPU allocator keeping freed memory while a model runs (nodes/diffusion/models/memory.py)
  fp32 / bf16       bf16 rows where the CPU has native bf16 (AVX512-BF16 / AMX): what precision "auto" picks there
  diffusers         StableDiffusionPipeline on the very same modules (EulerDiscrete, linspace = "normal")
  floor             the bare UNet forward (batch 2: cond + uncond) x steps: no sampler can be faster

then, on the bare UNet forward: one batched cond+uncond call against two, scaled-dot-product attention against
diffusers' classic processor, 1 torch thread against the physical cores; --channels-last and --compile add those.

    python benchmarks/bench_speed.py              # 64 and 256 px, 10 steps, 3 repeats, 1 thread (about 15 min here)
    python benchmarks/bench_speed.py --quick      # 64 px, 4 steps, 1 repeat (about 2 min)
    python benchmarks/bench_speed.py --px 512 --steps 20 --threads 8 --compile --channels-last
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_diffusion import (NEGATIVE, PROMPT, SD15_CLIP, SD15_UNET, SD15_VAE,  # noqa: E402
                                       make_pipeline)

med = statistics.median
BEFORE = "NodeFlow before"
AFTER = "NodeFlow"
DIFFUSERS = "diffusers pipeline"
FLOOR = "floor (bare UNet x steps)"


def build_modules():
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(**SD15_UNET).eval().requires_grad_(False)
    vae = AutoencoderKL(**SD15_VAE).eval().requires_grad_(False)
    text = CLIPTextModel(CLIPTextConfig(**SD15_CLIP)).eval().requires_grad_(False)
    return unet, vae, text


def nodeflow_objects(unet, vae, text, dtype):
    """NodeFlow's MODEL / CLIP / VAE objects on the modules, as the checkpoint loader makes them."""
    from nodes.diffusion.models import families as fam
    from nodes.diffusion.models.loading import SD_SCHEDULE, LoadedCheckpoint, _make_objects

    loaded = LoadedCheckpoint(family=fam.SD1, source="memory", unet=unet, vae=vae, text_encoders=[text],
                              default_layers=[te.default_layer for te in fam.family(fam.SD1).text_encoders],
                              prediction_type="epsilon", schedule=dict(SD_SCHEDULE),
                              vae_scale_factor=SD15_VAE["scaling_factor"])
    _make_objects(loaded, "cpu", dtype, dtype, "bench")
    return loaded


class Context:
    """Just enough of ExecutionContext for calling the node functions; records when each step ends."""

    def __init__(self, settings):
        from nodeflow.core import events as ev
        from nodeflow.core.context import ExecutionContext
        from nodeflow.core.model_cache import ModelCache

        self.step_times: list[float] = []

        def emit(event):
            if isinstance(event, ev.NodeProgress):
                self.step_times.append(time.perf_counter())

        self.ctx = ExecutionContext(node_id=1, node_title="bench", node_type="bench", settings=settings,
                                    models=ModelCache(), cancel_event=threading.Event(), emit=emit,
                                    device_resolver=lambda: "cpu")


def step_median(stamps: list[float], start: float) -> float:
    gaps = [b - a for a, b in zip([start] + stamps[:-1], stamps)]
    return med(gaps[1:] if len(gaps) > 2 else gaps)


def run_nodeflow(loaded, settings, px, steps, cfg, seed, model=None):
    from nodes.diffusion import nodes_image, nodes_latent, nodes_loaders, nodes_sampling

    c = Context(settings)
    t0 = time.perf_counter()
    (pos,) = nodes_loaders.clip_text_encode.fn(c.ctx, PROMPT, loaded.clip)
    (neg,) = nodes_loaders.clip_text_encode.fn(c.ctx, NEGATIVE, loaded.clip)
    (latent,) = nodes_latent.empty_latent_image.fn(c.ctx, px, px, 1)
    start = time.perf_counter()
    (samples,) = nodes_sampling.KSampler.fn(c.ctx, model or loaded.model, seed, steps, cfg, "euler", "normal", pos, neg,
                                            latent, 1.0)
    step = step_median(c.step_times, start)
    (images,) = nodes_latent.vae_decode.fn(c.ctx, samples, loaded.vae_model)
    nodes_image.preview_image.fn(c.ctx, images)
    return time.perf_counter() - t0, step


def run_diffusers(pipe, px, steps, cfg, seed):
    import torch

    stamps: list[float] = []

    def on_step(_pipe, _i, _t, kwargs):
        stamps.append(time.perf_counter())
        return kwargs

    t0 = time.perf_counter()
    pipe(PROMPT, negative_prompt=NEGATIVE, num_inference_steps=steps, guidance_scale=cfg, height=px, width=px,
         generator=torch.Generator("cpu").manual_seed(seed), callback_on_step_end=on_step)
    wall = time.perf_counter() - t0
    # the first callback comes after prompt encoding + the first step: the median gap is the step time
    return wall, med([b - a for a, b in zip(stamps, stamps[1:])]) if len(stamps) > 1 else wall / steps


def unet_forward(unet, px, dtype, batch=2):
    import torch

    x = torch.randn(batch, 4, px // 8, px // 8, dtype=dtype)
    t = torch.full((batch,), 500.0)
    c = torch.randn(batch, 77, 768, dtype=dtype)

    def forward():
        with torch.no_grad():
            t0 = time.perf_counter()
            unet(x, t, encoder_hidden_states=c, return_dict=False)
            return time.perf_counter() - t0
    return forward


def set_format(modules, channels_last: bool):
    import torch

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for m in modules:
        torch.nn.Module.to(m, memory_format=fmt)


def set_allocator(keep_freed: bool):
    """NodeFlow's CPU allocator tuning on (keep freed memory while a model runs) or off (glibc's defaults)."""
    from nodes.diffusion.models import memory

    memory.CPU_KEEPS_FREED_MEMORY = keep_freed
    if not keep_freed and memory._allocator_state:
        memory.release_freed_cpu_memory()  # what the tuned runs kept would otherwise serve the untuned ones
    memory.tune_cpu_allocator(keep_freed)


def cast(modules, dtype):
    import torch

    for m in modules:
        torch.nn.Module.to(m, dtype=dtype)


def interleaved(configs: dict, repeats: int, log) -> dict:
    """Each config runs once per repeat, the order rotating; returns {name: [result, ...]}."""
    results = {name: [] for name in configs}
    names = list(configs)
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            results[name].append(configs[name]())
            log(f"  repeat {r + 1}/{repeats} {name}: {results[name][-1]}")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--px", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--cfg", type=float, default=7.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads, pinned (default 1: a shared machine)")
    ap.add_argument("--bf16", choices=("auto", "yes", "no", "only"), default="auto",
                    help="the bf16 rows: auto = where the CPU has native bf16; only = no fp32 rows")
    ap.add_argument("--compile", action="store_true", help="also time settings.compile (torch.compile)")
    ap.add_argument("--compile-only", action="store_true", help="only the settings.compile comparison")
    ap.add_argument("--channels-last", action="store_true",
                    help="also NodeFlow with channels-last weights (measured no gain: not used)")
    ap.add_argument("--quick", action="store_true", help="64 px, 4 steps, 1 repeat")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.px, args.steps, args.repeat = [64], 4, 1

    import torch

    from nodeflow.config import Settings
    from nodeflow.core.device import other_cpu_load, physical_cores
    from nodes.diffusion.models.precision import cpu_bf16_support

    log = print if args.verbose else (lambda *_: None)
    torch.set_num_threads(args.threads)
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "nodeflow-bench-speed"
    settings = Settings(data_dir=tmp, model_roots=(), input_dir=tmp / "in", output_dir=tmp / "out",
                        include_builtin_models=False)
    support = cpu_bf16_support()
    dtypes = [] if args.bf16 == "only" else [torch.float32]
    if args.bf16 in ("yes", "only") or (args.bf16 == "auto" and support == "native"):
        dtypes.append(torch.bfloat16)
    t0 = time.perf_counter()
    unet, vae, text = build_modules()
    modules = (unet, vae, text)
    built = time.perf_counter() - t0
    processors = sorted({type(p).__name__ for p in unet.attn_processors.values()}
                        | {type(p).__name__ for p in vae.attn_processors.values()})
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, bf16 {support}, "
          f"{physical_cores()} physical cores, {os.cpu_count()} logical, others busy {other_cpu_load():.1f} "
          f"cores at start; torch threads pinned to {args.threads}")
    print(f"SD1.5-shaped random model built in {built:.0f} s: UNet "
          f"{sum(p.numel() for p in unet.parameters()) / 1e6:.0f}M parameters; attention processors "
          f"(UNet and VAE): {', '.join(processors)}")
    print(f"{args.steps} euler steps, cfg {args.cfg}, {args.repeat} repeats, medians\n")

    if args.compile_only:
        for dtype in dtypes:
            cast(modules, dtype)
            compile_rows(modules, args.px[0], dtype, settings, args)
        return
    rows = []  # (px, precision, name, step s, wall s)
    seed = 1234
    for dtype in dtypes:
        cast(modules, dtype)
        precision = "bf16" if dtype == torch.bfloat16 else "fp32"
        loaded = nodeflow_objects(unet, vae, text, dtype)
        pipe = make_pipeline(loaded)
        for px in args.px:
            floor = unet_forward(unet, px, dtype)

            def nodeflow(keep_freed, channels_last=False, px=px):
                set_allocator(keep_freed)
                set_format((unet, vae), channels_last)
                return run_nodeflow(loaded, settings, px, args.steps, args.cfg, seed)

            def diffusers(px=px):
                set_allocator(False)
                set_format((unet, vae), False)
                return run_diffusers(pipe, px, args.steps, args.cfg, seed)

            def bare(forward=floor):
                set_allocator(True)
                set_format((unet, vae), False)
                step = med([forward() for _ in range(2)])
                return step * args.steps, step

            configs = {BEFORE: lambda: nodeflow(False), AFTER: lambda: nodeflow(True)}
            if args.channels_last:
                configs[AFTER + " + channels-last"] = lambda: nodeflow(True, True)
            configs.update({DIFFUSERS: diffusers, FLOOR: bare})
            set_allocator(True)
            run_nodeflow(loaded, settings, px, 2, args.cfg, seed)  # warm-up: allocations, oneDNN primitive caches
            print(f"{px} px {precision}: running {len(configs)} configurations x {args.repeat}", flush=True)
            results = interleaved(configs, args.repeat, log)
            for name, values in results.items():
                rows.append((px, precision, name, med(v[1] for v in values), med(v[0] for v in values)))
        del pipe, loaded
    set_format((unet, vae), False)

    print(f"\n{'px':>4} {'prec':>4}  {'configuration':24} {'step s':>8} {'txt2img s':>10} {'vs before':>10}"
          f" {'vs diffusers':>12}")
    print("-" * 80)
    for px, precision, name, step, wall in rows:
        before = next(r for r in rows if r[0] == px and r[1] == rows[0][1] and r[2] == BEFORE)
        plain = next(r for r in rows if r[0] == px and r[1] == precision and r[2] == DIFFUSERS)
        print(f"{px:>4} {precision:>4}  {name:24} {step:>8.3f} {wall:>10.2f} {before[4] / wall:>9.2f}x"
              f" {plain[4] / wall:>11.2f}x")
    for px in args.px:
        for precision in sorted({r[1] for r in rows}):
            get = {r[2]: r for r in rows if r[0] == px and r[1] == precision}
            over = get[AFTER][3] - get[FLOOR][3]
            print(f"{px} px {precision}: NodeFlow's sampler step over the bare UNet forward {over * 1000:+.0f} ms "
                  f"({over / get[FLOOR][3] * 100:+.1f} %)")

    print("\nbare UNet forward, batch 2 (one cond + uncond call), medians of interleaved repeats:")
    cast(modules, dtypes[-1])
    set_allocator(True)
    px = args.px[0]
    forward = unet_forward(unet, px, dtypes[-1])
    forward1 = unet_forward(unet, px, dtypes[-1], batch=1)
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    def with_processor(proc):
        unet.set_attn_processor(proc())
        return forward()

    def threads(n):
        torch.set_num_threads(n)
        try:
            return forward()
        finally:
            torch.set_num_threads(args.threads)

    extra = {"batched cond+uncond (1 call)": forward, "cond and uncond (2 calls)": lambda: forward1() + forward1(),
             "SDPA (AttnProcessor2_0)": lambda: with_processor(AttnProcessor2_0),
             "classic attention (AttnProcessor)": lambda: with_processor(AttnProcessor)}
    cores = physical_cores()
    if cores != args.threads:
        extra.update({"1 thread": lambda: threads(1), f"{cores} threads (physical cores)": lambda: threads(cores)})
    forward()
    results = interleaved(extra, max(3, args.repeat), log)
    unet.set_attn_processor(AttnProcessor2_0())
    precision = "bf16" if dtypes[-1] == torch.bfloat16 else "fp32"
    for name, values in results.items():
        print(f"  {px} px {precision}  {name:36} {med(values):8.3f} s")
    if args.compile:
        for dtype in dtypes:
            cast(modules, dtype)
            compile_rows(modules, px, dtype, settings, args)


def compile_rows(modules, px, dtype, settings, args):
    """settings.compile: NodeFlow's txt2img with the compiled UNet against eager, after the compiling first run."""
    import torch

    from nodes.diffusion.models.diffusion_model import prepare_compile

    unet, vae, text = modules
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(settings.data_dir / "inductor")
    set_allocator(True)
    loaded = nodeflow_objects(unet, vae, text, dtype)
    compiled = prepare_compile(loaded.model, settings.data_dir, lambda message: None)
    t0 = time.perf_counter()
    run_nodeflow(loaded, settings, px, args.steps, args.cfg, 1, compiled)
    first = time.perf_counter() - t0
    x = torch.randn(2, 4, px // 8, px // 8)
    c = torch.randn(2, 77, 768)
    t = torch.full((2,), 500.0)
    eager_out = loaded.model.apply_model(x, t, c, [{}, {}])
    compiled_out = compiled.apply_model(x, t, c, [{}, {}])
    diff = float((eager_out - compiled_out).abs().max() / eager_out.abs().max())
    results = interleaved({"eager": lambda: run_nodeflow(loaded, settings, px, args.steps, args.cfg, 1),
                           "compiled": lambda: run_nodeflow(loaded, settings, px, args.steps, args.cfg, 1, compiled)},
                          args.repeat, lambda *_: None)
    precision = "bf16" if dtype == torch.bfloat16 else "fp32"
    e, k = results["eager"], results["compiled"]
    print(f"\nsettings.compile (torch.compile, inductor freezing), {px} px {precision}: first txt2img (compiling) "
          f"{first:.0f} s; then step {med(v[1] for v in k):.3f} s against {med(v[1] for v in e):.3f} s eager "
          f"({med(v[1] for v in e) / med(v[1] for v in k):.2f}x), txt2img {med(v[0] for v in k):.2f} s against "
          f"{med(v[0] for v in e):.2f} s; UNet output differs from eager by {diff:.1e} of its largest value")


if __name__ == "__main__":
    main()
