"""Train the built-in shapes model: ``nodeflow train-demo --out DIR [--steps N] [--seed S] [--device cpu|cuda]``.

Three phases, each resumable (re-running the same command continues where an interruption left off):
1. the VAE, on freshly drawn pictures; its latent scale is then folded into its weights (SD1's 0.18215 fixed);
2. a latent cache: ``images`` pictures encoded once (posterior mean and std), so UNet steps never run the encoder;
3. the UNet together with the text encoder, from scratch: epsilon prediction on SD's scaled_linear betas, offset
   noise, min-SNR weighting, EMA, captions dropped 10 % of the time for classifier-free guidance.
Every random draw of step ``s`` comes from generators seeded by (seed, phase, s), so a run is a function of its
seed and an interrupted run resumes exactly. Logs: ``loss.csv``, ``eval.jsonl`` (judge scores), ``samples/*.png``.
The final EMA weights go to ``final/`` (diffusers folders) and, when the SD1 writer is available, to a single file.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from nodes.demo import shapes
from nodes.demo.recipe import PRESETS, Recipe

SAMPLE_PROMPTS = shapes.evaluation_prompts(16, seed=7)
SAMPLE_SEEDS = list(range(16))
_PHASE_VAE, _PHASE_CACHE, _PHASE_UNET = 1, 2, 3


def _generator(seed: int, phase: int, step: int):
    import torch

    return torch.Generator().manual_seed(seed * 1_000_003 + phase * 100_000_007 + step)


def _save_atomic(obj, path: Path) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _progress(total: int, initial: int, desc: str):
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=tty, mininterval=0.5 if tty else 30)


class Run:
    def __init__(self, out: Path, recipe: Recipe, seed: int, device: str, log=print):
        self.out, self.r, self.seed, self.device, self.log = Path(out), recipe, seed, device, log
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "samples").mkdir(exist_ok=True)
        self._check_run_file()

    # -- run identity ----------------------------------------------------------------------------------------------
    def _check_run_file(self) -> None:
        path = self.out / "run.json"
        mine = json.loads(json.dumps({"seed": self.seed, "recipe": self.r.to_json()}))  # tuples as JSON lists
        if path.exists():
            old = json.loads(path.read_text())
            # Fields added since the run started take their defaults; more steps may be asked for later.
            old_recipe = json.loads(json.dumps(replace(Recipe.from_json(old["recipe"]), steps=self.r.steps).to_json()))
            if old["seed"] != self.seed or old_recipe != mine["recipe"]:
                raise SystemExit(f"{path} holds a run with other settings; use another --out")
            old.update(mine)
            mine = old
        path.write_text(json.dumps(mine, indent=1))

    def _add_time(self, phase: str, seconds: float) -> None:
        path = self.out / "run.json"
        d = json.loads(path.read_text())
        d.setdefault("seconds", {})[phase] = d.get("seconds", {}).get(phase, 0.0) + seconds
        d["device"] = self.device
        path.write_text(json.dumps(d, indent=1))

    # -- phase 1: VAE --------------------------------------------------------------------------------------------------
    def train_vae(self):
        import torch
        import torch.nn.functional as F
        from diffusers import AutoencoderKL

        from nodes.demo.components import build_vae, images_to_tensor

        final = self.out / "vae"
        if (final / "config.json").exists():
            return AutoencoderKL.from_pretrained(final).to(self.device).eval()
        r, state_path = self.r, self.out / "vae_state.pt"
        torch.manual_seed(self.seed)
        vae = build_vae(r).to(self.device)
        opt = torch.optim.AdamW(vae.parameters(), lr=r.vae_lr, weight_decay=0.0, fused=True)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / r.vae_steps)))
        start = 0
        if state_path.exists():
            st = torch.load(state_path, map_location=self.device, weights_only=True)
            vae.load_state_dict(st["model"]), opt.load_state_dict(st["opt"]), sched.load_state_dict(st["sched"])
            start = st["step"]
        self._trim_log("vae_loss.csv", start)
        t0, bar, avg = time.time(), _progress(r.vae_steps, start, "vae"), None
        for step in range(start, r.vae_steps):
            rng = np.random.default_rng([self.seed, _PHASE_VAE, step])
            x = images_to_tensor(np.stack([shapes.draw(shapes.random_scene(rng)) for _ in range(r.vae_batch)]))
            x = x.to(self.device)
            post = vae.encode(x).latent_dist
            z = post.mean + post.std * torch.randn(post.mean.shape, generator=_generator(self.seed, _PHASE_VAE, step)).to(self.device)
            rec = vae.decode(z).sample
            loss = F.l1_loss(rec, x) + F.mse_loss(rec, x) + r.vae_kl_weight * post.kl().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step(), sched.step()
            avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
            bar.update(1), bar.set_postfix(loss=f"{avg:.4f}", refresh=False)
            self._log_row("vae_loss.csv", step + 1, loss.item(), sched.get_last_lr()[0], time.time() - t0)
            if (step + 1) % r.checkpoint_every == 0 or step + 1 == r.vae_steps:
                _save_atomic({"model": vae.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                              "step": step + 1, "torch_rng": torch.get_rng_state()}, state_path)
                self._add_time("vae", time.time() - t0)
                t0 = time.time()
        bar.close()
        vae.eval()
        self._fold_scale_and_save(vae, final)
        return vae

    def _log_row(self, name: str, *row) -> None:
        path = self.out / name
        with path.open("a", newline="") as f:
            csv.writer(f).writerow([row[0]] + [f"{v:.6g}" if isinstance(v, float) else v for v in row[1:]])

    def _trim_log(self, name: str, step: int) -> None:
        """Drop rows written after the checkpoint a resumed run starts from."""
        path = self.out / name
        if path.exists():
            rows = [line for line in path.read_text().splitlines() if line and int(line.split(",")[0]) <= step]
            path.write_text("".join(line + "\n" for line in rows))

    def _fold_scale_and_save(self, vae, final: Path) -> None:
        import torch

        from nodes.demo.components import SD1_SCALING_FACTOR, fold_latent_scale, images_to_tensor, tensor_to_images
        from nodes.demo.judge import score

        images, scenes = shapes.make_dataset(self.r.vae_check_images, [self.seed, _PHASE_VAE, 10**9])
        x = images_to_tensor(images).to(self.device)
        with torch.no_grad():
            post = vae.encode(x).latent_dist
            latents = post.mean + post.std * torch.randn(post.mean.shape, generator=torch.Generator().manual_seed(0)).to(self.device)
            std = latents.std().item()
            k = 1.0 / (SD1_SCALING_FACTOR * std)
            fold_latent_scale(vae, k)
            post = vae.encode(x).latent_dist
            rec = vae.decode(post.mean).sample
            sampled = post.mean + post.std * torch.randn(post.mean.shape, generator=torch.Generator().manual_seed(0)).to(self.device)
        mse = torch.mean(((rec.clamp(-1, 1) - x) / 2) ** 2).item()
        judged = score(tensor_to_images(rec), [s.caption() for s in scenes])
        report = {"latent_std_before": std, "folded_k": k,
                  "latent_std_after_scaling": (sampled * SD1_SCALING_FACTOR).std().item(),
                  "posterior_std_mean_after_scaling": (post.std * SD1_SCALING_FACTOR).mean().item(),
                  "latent_channel_means": (post.mean * SD1_SCALING_FACTOR).mean((0, 2, 3)).tolist(),
                  "psnr_db": 10 * math.log10(1 / mse),
                  "judge_on_reconstructions": {k_: v for k_, v in judged.items() if k_ != "verdicts"}}
        self.log(f"vae: {json.dumps(report)}")
        (self.out / "vae_report.json").write_text(json.dumps(report, indent=1))
        vae.save_pretrained(final)

    # -- phase 2: latent cache -------------------------------------------------------------------------------------
    def encode_latents(self, vae) -> dict:
        import torch

        from nodes.demo.components import images_to_tensor

        path = self.out / "latents.pt"
        if path.exists():
            return torch.load(path, weights_only=True)
        t0, chunk = time.time(), 500
        means, stds, labels = [], [], []
        bar = _progress(self.r.images, 0, "encode")
        for i, start in enumerate(range(0, self.r.images, chunk)):
            images, scenes = shapes.make_dataset(min(chunk, self.r.images - start), [self.seed, _PHASE_CACHE, i])
            with torch.no_grad():
                post = vae.encode(images_to_tensor(images).to(self.device)).latent_dist
            means.append(post.mean.cpu()), stds.append(post.std.cpu())
            labels += [(shapes.SHAPES.index(s.shape), list(shapes.COLOURS).index(s.colour),
                        list(shapes.COLOURS).index(s.background)) for s in scenes]
            bar.update(len(scenes))
        bar.close()
        cache = {"mean": torch.cat(means), "std": torch.cat(stds), "labels": torch.tensor(labels, dtype=torch.uint8)}
        _save_atomic(cache, path)
        self._add_time("latent_cache", time.time() - t0)
        return cache

    # -- phase 3: UNet + text encoder ------------------------------------------------------------------------------
    def _lr_factor(self, step: int) -> float:
        r = self.r
        if step < r.warmup:
            return (step + 1) / r.warmup
        start = int(r.decay_from * r.steps)
        if step < start:
            return 1.0
        progress = (step - start) / max(1, r.steps - start)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    def train_unet(self, vae, cache: dict):
        import torch

        from nodes.demo.components import SD1_SCALING_FACTOR, build_text_encoder, build_unet, noise_scheduler, tokenize

        r, dev = self.r, self.device
        torch.manual_seed(self.seed + 1)
        unet, text = build_unet(r).to(dev), build_text_encoder(r).to(dev)
        ema_unet, ema_text = build_unet(r).to(dev).eval(), build_text_encoder(r).to(dev).eval()
        ema_unet.load_state_dict(unet.state_dict()), ema_text.load_state_dict(text.state_dict())
        for p in [*ema_unet.parameters(), *ema_text.parameters()]:
            p.requires_grad_(False)
        opt = torch.optim.AdamW([{"params": unet.parameters(), "lr": r.lr},
                                 {"params": text.parameters(), "lr": r.text_lr}], weight_decay=1e-2, fused=True)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, self._lr_factor)
        state_path, start = self.out / "state.pt", 0
        if state_path.exists():
            st = torch.load(state_path, map_location=dev, weights_only=True)
            unet.load_state_dict(st["unet"]), text.load_state_dict(st["text"])
            ema_unet.load_state_dict(st["ema_unet"]), ema_text.load_state_dict(st["ema_text"])
            opt.load_state_dict(st["opt"]), sched.load_state_dict(st["sched"])
            torch.set_rng_state(st["torch_rng"])
            start = st["step"]
            self.log(f"resuming at step {start}")
        self._trim_log("loss.csv", start)
        self._trim_jsonl("eval.jsonl", start)

        # Every caption the templates can make, tokenized once; row 0 is the empty (dropped) caption.
        captions = [""] + shapes.all_captions()
        caption_row = {c: i for i, c in enumerate(captions)}
        tokens = tokenize(captions).to(dev)
        names = list(shapes.COLOURS)
        mean, std, labels = cache["mean"].to(dev), cache["std"].to(dev), cache["labels"].tolist()
        scheduler = noise_scheduler()
        ac = scheduler.alphas_cumprod.to(dev)
        snr = ac / (1 - ac)
        weight_table = torch.clamp(snr, max=r.min_snr) / snr  # min-SNR-gamma for epsilon prediction
        unet_params, text_params = list(unet.parameters()), list(text.parameters())
        ema_params = [*ema_unet.parameters(), *ema_text.parameters()]
        params = unet_params + text_params

        t0, bar, avg = time.time(), _progress(r.steps, start, "unet"), None
        for step in range(start, r.steps):
            g = _generator(self.seed, _PHASE_UNET, step)
            rng = np.random.default_rng([self.seed, _PHASE_UNET, step])
            idx = torch.randint(len(labels), (r.batch,), generator=g)
            eps = torch.randn((r.batch, 4, 8, 8), generator=g)
            t = torch.randint(0, 1000, (r.batch,), generator=g)
            # Offset noise: with SD's betas the picture's mean colour leaks through the noise at every step (the
            # mean of 64 latent pixels of noise is a weak mask), so a model learns to read the background off x_t
            # instead of the prompt. A per-channel constant in the noise makes x_t's mean uninformative.
            noise = torch.randn((r.batch, 4, 8, 8), generator=g) + r.offset_noise * torch.randn((r.batch, 4, 1, 1), generator=g)
            dropped = torch.rand(r.batch, generator=g) < r.caption_dropout
            rows = [0 if d else caption_row[shapes.random_caption(rng, shapes.SHAPES[labels[i][0]], names[labels[i][1]],
                                                                  names[labels[i][2]])]
                    for i, d in zip(idx.tolist(), dropped.tolist())]
            idx, t, noise = idx.to(dev), t.to(dev), noise.to(dev)
            z0 = (mean[idx] + std[idx] * eps.to(dev)) * SD1_SCALING_FACTOR
            x_t = scheduler.add_noise(z0, noise, t)
            context = text(tokens[rows]).last_hidden_state
            pred = unet(x_t, t, context).sample
            loss = (weight_table[t] * (pred - noise).pow(2).mean((1, 2, 3))).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step(), sched.step()
            decay = min(r.ema, (1 + step) / (10 + step))
            with torch.no_grad():
                torch._foreach_lerp_(ema_params, params, 1 - decay)
            avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
            bar.update(1), bar.set_postfix(loss=f"{avg:.4f}", refresh=False)
            self._log_row("loss.csv", step + 1, loss.item(), sched.get_last_lr()[0], time.time() - t0)
            done = step + 1
            if r.sample_every and (done % r.sample_every == 0 or done == r.steps):
                self._samples(ema_unet, ema_text, vae, done)
            if r.eval_every and (done % r.eval_every == 0 or done == r.steps):
                self._evaluate(ema_unet, ema_text, vae, done)
            if done % r.checkpoint_every == 0 or done == r.steps:
                _save_atomic({"unet": unet.state_dict(), "text": text.state_dict(), "ema_unet": ema_unet.state_dict(),
                              "ema_text": ema_text.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                              "step": done, "torch_rng": torch.get_rng_state()}, state_path)
                self._add_time("unet", time.time() - t0)
                t0 = time.time()
        bar.close()
        return ema_unet, ema_text

    def _trim_jsonl(self, name: str, step: int) -> None:
        path = self.out / name
        if path.exists():
            rows = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
            path.write_text("".join(line + "\n" for line in rows))

    def _samples(self, unet, text, vae, step: int) -> None:
        from PIL import Image

        from nodes.demo.components import tensor_to_images
        from nodes.demo.sampler import generate

        images = tensor_to_images(generate(unet, text, vae, SAMPLE_PROMPTS, SAMPLE_SEEDS, cfg=self.r.cfg))
        grid = np.concatenate([np.concatenate(list(images[i:i + 4]), 1) for i in range(0, 16, 4)], 0)
        picture = Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.Resampling.NEAREST)
        picture.save(self.out / "samples" / f"step_{step:06d}.png")
        picture.save(self.out / "samples" / "latest.png")
        (self.out / "samples" / "prompts.txt").write_text("\n".join(SAMPLE_PROMPTS) + "\n")

    def _evaluate(self, unet, text, vae, step: int) -> None:
        from nodes.demo.evaluate import evaluate

        row = {"step": step}
        for cfg in (self.r.cfg, 1.0):
            result = evaluate(unet, text, vae, self.r.eval_pairs, cfg)
            row[f"cfg{cfg:g}"] = {k: round(v, 4) for k, v in result.items() if k in ("colour", "background", "shape", "all")}
        self.log(f"eval {json.dumps(row)}")
        with (self.out / "eval.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")

    # -- final weights ---------------------------------------------------------------------------------------------
    def save_final(self, vae, unet, text) -> Path:
        final = self.out / "final"
        vae.save_pretrained(final / "vae")
        unet.save_pretrained(final / "unet")
        text.save_pretrained(final / "text_encoder")
        try:
            from nodes.demo.export import export_single_file
        except ImportError:  # pragma: no cover - the SD1 writer has not landed
            self.log("single-file export not available yet; diffusers folders are in final/")
            return final
        path = export_single_file(final, self.out / "nodeflow_shapes.safetensors")
        self.log(f"wrote {path}")
        return final


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="nodeflow train-demo", description="Train NodeFlow's built-in shapes model.")
    p.add_argument("--out", required=True, help="run folder: checkpoints, logs, samples, final weights")
    p.add_argument("--steps", type=int, help="UNet + text encoder steps (default: the preset's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default", help="'tiny' is for tests")
    p.add_argument("--vae-steps", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--images", type=int, help="pictures in the latent cache")
    p.add_argument("--threads", type=int, help="torch CPU threads (1 can beat 2 on a busy machine)")
    return p.parse_args(argv)


def cli(argv: list[str]) -> int:
    args = parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no CUDA device available", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in {"steps": args.steps, "vae_steps": args.vae_steps, "batch": args.batch,
                                   "images": args.images}.items() if v is not None}
    recipe = replace(PRESETS[args.preset], **overrides)
    run = Run(Path(args.out), recipe, args.seed, args.device)
    try:
        vae = run.train_vae()
        cache = run.encode_latents(vae)
        unet, text = run.train_unet(vae, cache)
    except KeyboardInterrupt:
        print("\ninterrupted; run the same command again to continue from the last checkpoint", file=sys.stderr)
        return 130
    run.save_final(vae, unet, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(cli(sys.argv[1:]))
