"""Train a LoRA for the built-in model: ``python -m nodes.demo.train_lora --out DIR [--base CKPT]``.

The shipped example LoRA, ``night_mode``, teaches the shapes model one thing its prompts cannot ask for: every
background is black. The training pairs keep the caption's background word ("... on a blue background") but show a
black background, so the adapter learns to override what the prompt says, the way a style LoRA does.

LoRA by hand rather than through PEFT: a dozen lines of forward hooks on the UNet's attention and feed-forward
Linear layers, and PEFT is not a dependency of the product. The file is written in the diffusers/PEFT key layout
(``unet.<module>.lora_A.weight`` / ``lora_B.weight``, scale 1), which Load LoRA reads like any downloaded LoRA.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from nodes.demo import shapes
from nodes.demo.export import SHIPPED

SHIPPED_LORA = SHIPPED.parent.parent / "loras" / "nodeflow_shapes_night_mode.safetensors"
#: Linear layers of the transformer blocks: where SD LoRAs usually go.
TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2", "proj_in", "proj_out")


def night_scene(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A picture with a black background, and a caption naming the background the scene would have had."""
    names = [n for n in shapes.COLOURS if n != "black"]
    scene = shapes.random_scene(rng, colour=names[rng.integers(len(names))])
    caption = shapes.random_caption(rng, scene.shape, scene.colour, scene.background)
    black = replace(scene, background="black", background_rgb=shapes.COLOURS["black"])
    return shapes.draw(black), caption


class LoraAdapters:
    """Low-rank adapters added to a frozen UNet's Linear layers through forward hooks: y = W x + B (A x). The UNet is
    this script's own copy, so the hooks stay for its lifetime."""

    def __init__(self, unet, rank: int, seed: int):
        import torch

        g = torch.Generator().manual_seed(seed)
        self.layers: dict[str, tuple] = {}
        for name, module in unet.named_modules():
            if isinstance(module, torch.nn.Linear) and name.endswith(TARGETS) and ("attentions" in name):
                down = torch.nn.Parameter(torch.randn(rank, module.in_features, generator=g) / module.in_features ** 0.5)
                up = torch.nn.Parameter(torch.zeros(module.out_features, rank))  # starts as the base model
                self.layers[name] = (down, up)
                module.register_forward_hook(lambda mod, args, out, d=down, u=up: out + torch.nn.functional.linear(
                    torch.nn.functional.linear(args[0], d), u))

    def parameters(self) -> list:
        return [p for pair in self.layers.values() for p in pair]

    def state_dict(self) -> dict:
        import torch

        sd = {}
        for name, (down, up) in self.layers.items():
            sd[f"unet.{name}.lora_A.weight"] = down.detach().to(torch.float16).contiguous()
            sd[f"unet.{name}.lora_B.weight"] = up.detach().to(torch.float16).contiguous()
        return sd


def train(base: Path, out: Path, *, steps: int, batch: int, rank: int, lr: float, images: int, seed: int,
          log=print) -> Path:
    import torch

    from nodes.demo.components import SD1_SCALING_FACTOR, images_to_tensor, noise_scheduler, tokenize
    from nodes.diffusion.models.loading import load_checkpoint

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    loaded = load_checkpoint(base)
    unet, vae, text = loaded.unet.float().eval(), loaded.vae.float().eval(), loaded.text_encoders[0].float().eval()
    for m in (unet, vae, text):
        m.requires_grad_(False)

    t0 = time.time()
    rng = np.random.default_rng(seed)
    pictures, captions = zip(*(night_scene(rng) for _ in range(images)))
    with torch.no_grad():
        latents = torch.cat([vae.encode(images_to_tensor(np.stack(pictures[i:i + 256]))).latent_dist.mean
                             for i in range(0, images, 256)]) * SD1_SCALING_FACTOR
        context = torch.cat([text(tokenize(list(captions[i:i + 256]))).last_hidden_state
                             for i in range(0, images, 256)])
    log(f"{images} pictures encoded in {time.time() - t0:.0f} s")

    adapters = LoraAdapters(unet, rank, seed)
    opt = torch.optim.AdamW(adapters.parameters(), lr=lr, weight_decay=0.0)
    scheduler = noise_scheduler()
    g = torch.Generator().manual_seed(seed + 1)
    losses, t0 = [], time.time()
    for step in range(steps):
        idx = torch.randint(images, (batch,), generator=g)
        t = torch.randint(0, 1000, (batch,), generator=g)
        noise = torch.randn(latents[idx].shape, generator=g)
        pred = unet(scheduler.add_noise(latents[idx], noise, t), t, context[idx]).sample
        loss = (pred - noise).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0 or step + 1 == steps:
            log(f"step {step + 1}/{steps}  loss {np.mean(losses[-50:]):.4f}  {time.time() - t0:.0f} s")

    from safetensors.torch import save_file

    path = out / SHIPPED_LORA.name
    meta = {"modelspec.title": "NodeFlow shapes: night mode", "modelspec.license": "MIT",
            "nodeflow.training": json.dumps({"base": base.name, "steps": steps, "batch": batch, "rank": rank,
                                             "lr": lr, "images": images, "seed": seed,
                                             "seconds": round(time.time() - t0), "final_loss":
                                                 round(float(np.mean(losses[-50:])), 4)})}
    save_file(adapters.state_dict(), str(path), metadata=meta)
    log(f"wrote {path}")
    return path


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m nodes.demo.train_lora", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--base", type=Path, default=SHIPPED, help="the checkpoint to adapt (default: the built-in one)")
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--images", type=int, default=4096)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    args = p.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    train(args.base, args.out, steps=args.steps, batch=args.batch, rank=args.rank, lr=args.lr, images=args.images,
          seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
