"""Score the shapes model with the judge: ``python -m nodes.demo.evaluate RUN_DIR [--pairs 168] [--cfg 5 1]``.

Prompt/seed pairs are fixed (canonical prompts cycling through every shape/colour/background combination, seeds
10000, 10001, ...), so numbers from different checkpoints compare.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

PROMPT_SEED, FIRST_NOISE_SEED = 1234, 10_000


def pairs(count: int) -> tuple[list[str], list[int]]:
    from nodes.demo.shapes import evaluation_prompts

    return evaluation_prompts(count, seed=PROMPT_SEED), [FIRST_NOISE_SEED + i for i in range(count)]


def evaluate(unet, text, vae, count: int, cfg: float, steps: int = 20, batch: int = 64) -> dict:
    """Judge scores of ``count`` generated pictures (see ``judge.score``), plus the pictures themselves."""
    import numpy as np

    from nodes.demo.components import tensor_to_images
    from nodes.demo.judge import score
    from nodes.demo.sampler import generate

    prompts, seeds = pairs(count)
    images = np.concatenate([tensor_to_images(generate(unet, text, vae, prompts[i:i + batch], seeds[i:i + batch],
                                                       steps=steps, cfg=cfg))
                             for i in range(0, count, batch)])
    result = score(images, prompts)
    result["images"], result["prompts"] = images, prompts
    return result


def evaluate_checkpoint(path, count: int, cfg: float, steps: int = 20) -> dict:
    """The same scores through the product's path: Load Checkpoint, CLIP Text Encode (empty negative), KSampler
    (euler, normal, one picture per call) and VAE Decode. Also reports seconds per picture."""
    import numpy as np
    import torch

    from nodes.demo.judge import score
    from nodes.diffusion.models.loading import load_checkpoint
    from nodes.diffusion.sampling import sample_latent

    loaded = load_checkpoint(path)
    negative = loaded.clip.encode("")
    prompts, seeds = pairs(count)
    images, started = [], time.perf_counter()
    for prompt, seed in zip(prompts, seeds):
        latent = {"samples": torch.zeros(1, 4, 8, 8)}
        out = sample_latent(loaded.model, latent, seed=seed, steps=steps, cfg=cfg, sampler_name="euler",
                            scheduler="normal", positive=loaded.clip.encode(prompt), negative=negative)
        images.append(loaded.vae_model.decode(out["samples"])[0].numpy())
    seconds = (time.perf_counter() - started) / count
    result = score(np.stack(images), prompts)
    result.update(images=np.stack(images), prompts=prompts, seconds_per_image=seconds)
    return result


def load_components(run_dir: Path, source: str = "auto", device: str = "cpu"):
    """(unet, text_encoder, vae) of a run: its ``final/`` folders, or the EMA weights of its last checkpoint."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    from nodes.demo.components import build_text_encoder, build_unet
    from nodes.demo.recipe import Recipe

    run_dir = Path(run_dir)
    vae = AutoencoderKL.from_pretrained(run_dir / "vae")
    if source == "final" or (source == "auto" and (run_dir / "final" / "unet").exists()):
        unet = UNet2DConditionModel.from_pretrained(run_dir / "final" / "unet")
        text = CLIPTextModel.from_pretrained(run_dir / "final" / "text_encoder")
    else:
        recipe = Recipe.from_json(json.loads((run_dir / "run.json").read_text())["recipe"])
        state = torch.load(run_dir / "state.pt", map_location="cpu", weights_only=True)
        unet, text = build_unet(recipe), build_text_encoder(recipe)
        unet.load_state_dict(state["ema_unet"]), text.load_state_dict(state["ema_text"])
        print(f"checkpoint at step {state['step']}", file=sys.stderr)
    return tuple(m.to(device).eval() for m in (unet, text, vae))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m nodes.demo.evaluate")
    p.add_argument("run_dir", type=Path, help="a training run folder, or a .safetensors checkpoint")
    p.add_argument("--pairs", type=int, default=168)
    p.add_argument("--cfg", type=float, nargs="+", default=[5.0, 1.0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--source", choices=("auto", "final", "checkpoint"), default="auto")
    p.add_argument("--threads", type=int)
    p.add_argument("--grid", type=Path, help="save the first 64 pictures of the first cfg as a grid PNG")
    args = p.parse_args(argv)
    import numpy as np
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoint = args.run_dir.suffix == ".safetensors"
    if not checkpoint:
        unet, text, vae = load_components(args.run_dir, args.source)
    for i, cfg in enumerate(args.cfg):
        t0 = time.time()
        if checkpoint:
            r = evaluate_checkpoint(args.run_dir, args.pairs, cfg, args.steps)
        else:
            r = evaluate(unet, text, vae, args.pairs, cfg, args.steps)
        row = {k: round(r[k], 4) for k in ("colour", "background", "shape", "all", "seconds_per_image") if k in r}
        print(json.dumps({"cfg": cfg, "pairs": args.pairs, **row, "seconds": round(time.time() - t0, 1)}))
        if args.grid and i == 0:
            from PIL import Image

            ims = r["images"][:64]
            rows = [np.concatenate(list(ims[j:j + 8]), 1) for j in range(0, len(ims) - len(ims) % 8, 8)]
            Image.fromarray(np.concatenate(rows, 0)).save(args.grid)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
