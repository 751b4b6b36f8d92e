"""The txt2img graph against plain diffusers, side by side in one process, on the same components and seed.

Prints the ratio of wall times (graph overhead), peak memory per phase against the weights' size, and the graph's
re-run time after changing only the seed (the prompt encodings come from the cache; diffusers encodes again).

    python benchmarks/bench_diffusion.py --model tiny              # seconds: a tiny SD1-topology model
    python benchmarks/bench_diffusion.py --model sd15 --px 64      # random weights with the full SD1.5 shapes
    python benchmarks/bench_diffusion.py --model sd15 --px 512 --device cuda   # on a GPU
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SD15_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=[320, 640, 1280, 1280], cross_attention_dim=768, attention_head_dim=8,
                 down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
                 up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3)
SD15_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=512,
                block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
                up_block_types=["UpDecoderBlock2D"] * 4, scaling_factor=0.18215)
SD15_CLIP = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                 num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu")


def make_pipeline(loaded):
    """Plain diffusers on the very same modules, with the scheduler that matches "euler" + "normal"."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    encoder = loaded.clip.encoders[0]
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       num_train_timesteps=1000, timestep_spacing="linspace", steps_offset=1)
    pipe = StableDiffusionPipeline(vae=loaded.vae, text_encoder=encoder.module, tokenizer=encoder.tokenizer(),
                                   unet=loaded.unet, scheduler=scheduler, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def make_checkpoint(kind: str, folder: Path) -> Path:
    """A checkpoint in the original single-file layout (cached between runs of the benchmark)."""
    path = folder / "checkpoints" / f"bench-{kind}.safetensors"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "tiny":
        from tests.diffusion.tiny_models import write_tiny_checkpoint

        return write_tiny_checkpoint(path, family="sd1")
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from nodes.diffusion.models.single_file import save_single_file

    torch.manual_seed(0)
    print("building a random-weight SD1.5-shaped checkpoint (once)...", flush=True)
    save_single_file(path, unet=UNet2DConditionModel(**SD15_UNET), vae=AutoencoderKL(**SD15_VAE),
                     text_encoders=[CLIPTextModel(CLIPTextConfig(**SD15_CLIP))], family="sd1",
                     dtype=torch.float16)
    return path


def build_graph(reg, name: str, px: int, steps: int, cfg: float, seed: int):
    from nodeflow.core.builders import GraphBuilder

    b = GraphBuilder(reg)
    load = b.add("CheckpointLoaderSimple", ckpt_name=name)
    pos = b.add("CLIPTextEncode", text=PROMPT)
    neg = b.add("CLIPTextEncode", text=NEGATIVE)
    latent = b.add("EmptyLatentImage", width=px, height=px, batch_size=1)
    sampler = b.add("KSampler", seed=seed, steps=steps, cfg=cfg, sampler_name="euler", scheduler="normal")
    decode = b.add("VAEDecode")
    preview = b.add("PreviewImage")
    for src, out, dst, inp in [(load, "CLIP", pos, "clip"), (load, "CLIP", neg, "clip"),
                               (load, "MODEL", sampler, "model"), (pos, "CONDITIONING", sampler, "positive"),
                               (neg, "CONDITIONING", sampler, "negative"), (latent, "LATENT", sampler, "latent_image"),
                               (sampler, "LATENT", decode, "samples"), (load, "VAE", decode, "vae"),
                               (decode, "IMAGE", preview, "images")]:
        b.link(src, out, dst, inp)
    return b.graph, sampler, preview


PROMPT = "a red circle on a blue background"
NEGATIVE = "blurry"


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    """Linux: writing 5 to clear_refs resets the peak-RSS mark, so each phase gets its own peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


class Peak:
    def __init__(self):
        self.values = []

    def __enter__(self):
        import torch

        self.base = rss_mb()
        reset_peak()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc):
        import torch

        gpu = torch.cuda.max_memory_allocated() / 2 ** 20 if torch.cuda.is_available() else 0.0
        self.values.append((peak_mb() - self.base, gpu))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("tiny", "sd15"), default="tiny")
    ap.add_argument("--px", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--cfg", type=float, default=7.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (pinned: these machines are noisy)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models-dir", default=os.path.join(tempfile.gettempdir(), "nodeflow-bench-models"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)

    from nodeflow.config import Settings
    from nodeflow.core import operations as ops
    from nodeflow.core.environment import Environment
    from nodeflow.core.executor import Executor
    from nodeflow.core.registry import load_registry

    root = Path(args.models_dir)
    ckpt = make_checkpoint(args.model, root)
    tmp = Path(tempfile.mkdtemp(prefix="nodeflow-bench-"))
    settings = Settings(data_dir=tmp, model_roots=(root,), input_dir=tmp / "in", output_dir=tmp / "out",
                        device=args.device, include_builtin_models=False)
    reg = load_registry(entry_points=False)
    seed = 1234
    graph, sampler_id, preview_id = build_graph(reg, ckpt.name, args.px, args.steps, args.cfg, seed)
    ex = Executor(Environment(settings, reg))

    load_peak = Peak()
    t = time.perf_counter()
    with load_peak:
        first = ex.run(graph)
    first_run = time.perf_counter() - t
    assert first.status == "ok", first.errors
    [(_, loaded)] = [(k, v) for k, v in ex.models.items() if k[0] == "checkpoint"]
    weights_mb = sum(p.numel() * p.element_size() for m in (loaded.unet, loaded.vae, *loaded.text_encoders)
                     for p in m.parameters()) / 2 ** 20
    device = ex.device()

    pipe = make_pipeline(loaded)

    def run_diffusers(s):
        return pipe(PROMPT, negative_prompt=NEGATIVE, num_inference_steps=args.steps, guidance_scale=args.cfg,
                    height=args.px, width=args.px, generator=torch.Generator("cpu").manual_seed(s)).images[0]

    graph_full, graph_seed, plain = [], [], []
    peaks = {"graph": Peak(), "diffusers": Peak()}
    for i in range(args.repeat):
        s = seed + 1 + i
        # the whole generation through the graph (output cache emptied; the loaded checkpoint stays)
        ex.cache.free()
        graph.apply(ops.SetValue(sampler_id, "seed", s))
        t = time.perf_counter()
        with peaks["graph"]:
            r = ex.run(graph)
        graph_full.append(time.perf_counter() - t)
        assert r.status == "ok" and len(r.executed) == len(graph.nodes), r.to_json()
        # the same generation in plain diffusers
        t = time.perf_counter()
        with peaks["diffusers"]:
            run_diffusers(s)
        plain.append(time.perf_counter() - t)
        # only the seed changed: the graph re-runs the sampler, the decoder and the preview
        graph.apply(ops.SetValue(sampler_id, "seed", s + 1000))
        t = time.perf_counter()
        r = ex.run(graph)
        graph_seed.append(time.perf_counter() - t)
        assert len(r.executed) == 3, r.executed

    med = statistics.median
    print(f"model {args.model} ({weights_mb:.0f} MB of weights), {args.px}x{args.px} px, {args.steps} steps euler/normal,"
          f" cfg {args.cfg}, device {device}, torch threads {torch.get_num_threads()}, {args.repeat} repeats\n")
    print(f"{'':42} | {'median s':>9} | {'min s':>7} | {'vs diffusers':>12}")
    print("-" * 80)
    rows = [("plain diffusers (StableDiffusionPipeline)", plain),
            ("NodeFlow graph, every node runs", graph_full),
            ("NodeFlow graph, only the seed changed", graph_seed)]
    for label, values in rows:
        print(f"{label:42} | {med(values):>9.3f} | {min(values):>7.3f} | {med(values) / med(plain):>11.3f}x")
    overhead = (med(graph_full) - med(plain)) / med(plain) * 100
    print(f"\ngraph overhead against plain diffusers: {overhead:+.1f} % (target: under 2 %)")
    print(f"first graph run, checkpoint load included: {first_run:.2f} s")
    print(f"\npeak memory above the resident set before each phase (MB; weights {weights_mb:.0f} MB):")
    print(f"  load + first run:   {load_peak.values[0][0]:8.0f} CPU  {load_peak.values[0][1]:8.0f} GPU")
    for name, p in peaks.items():
        cpu = max(v[0] for v in p.values)
        gpu = max(v[1] for v in p.values)
        print(f"  {name + ' generation:':19} {cpu:8.0f} CPU  {gpu:8.0f} GPU")
    print(f"  resident set at the end: {rss_mb():.0f} MB; checkpoint loads: "
          f"{[v for k, v in ex.models.loads.items() if k[0] == 'checkpoint']}")


if __name__ == "__main__":
    main()
