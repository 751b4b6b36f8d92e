"""SD3 / SD3.5 and Flux: what each family needs in memory, and a txt2img row per family at tiny size.

    .venv/bin/python benchmarks/bench_dit.py [--memory-only]

Memory: the released models' configs (SD3.5 Large / Medium, Flux.1 dev / schnell, T5-XXL, CLIP-L, CLIP-G, the
16-channel VAE) built on the meta device (no weights, no download), their parameters counted and multiplied by
bytes per weight: bf16 / fp16 2, fp8 1, fp32 4. Timing: a tiny random model of each family (tests/diffusion/
tiny_dit.py) loaded from its real file layout and run through KSampler (64x64, 4 steps, euler) on the CPU.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GIB = 1024 ** 3

FLUX = dict(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
            num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768, axes_dims_rope=(16, 56, 56))
SD35_LARGE = dict(sample_size=128, patch_size=2, in_channels=16, num_layers=38, attention_head_dim=64,
                  num_attention_heads=38, joint_attention_dim=4096, caption_projection_dim=2432,
                  pooled_projection_dim=2048, out_channels=16, pos_embed_max_size=192, qk_norm="rms_norm")
SD35_MEDIUM = dict(sample_size=128, patch_size=2, in_channels=16, num_layers=24, attention_head_dim=64,
                   num_attention_heads=24, joint_attention_dim=4096, caption_projection_dim=1536,
                   pooled_projection_dim=2048, out_channels=16, pos_embed_max_size=384, qk_norm="rms_norm",
                   dual_attention_layers=tuple(range(13)))
T5_XXL = dict(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
              feed_forward_proj="gated-gelu", is_encoder_decoder=False)
CLIP_L = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
              num_attention_heads=12, projection_dim=768, hidden_act="quick_gelu")
CLIP_G = dict(vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
              num_attention_heads=20, projection_dim=1280, hidden_act="gelu")
VAE16 = dict(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
             up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=[128, 256, 512, 512], layers_per_block=2,
             latent_channels=16, use_quant_conv=False, use_post_quant_conv=False)


def parameters(make) -> int:
    import torch

    with torch.device("meta"):
        module = make()
    return sum(p.numel() for p in module.parameters())


def memory_rows() -> list[tuple[str, int]]:
    from diffusers import AutoencoderKL, FluxTransformer2DModel, SD3Transformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    return [
        ("Flux.1 dev transformer", parameters(lambda: FluxTransformer2DModel(**FLUX, guidance_embeds=True))),
        ("Flux.1 schnell transformer", parameters(lambda: FluxTransformer2DModel(**FLUX, guidance_embeds=False))),
        ("SD3.5 Large transformer", parameters(lambda: SD3Transformer2DModel(**SD35_LARGE))),
        ("SD3.5 Medium transformer", parameters(lambda: SD3Transformer2DModel(**SD35_MEDIUM))),
        ("T5-XXL encoder", parameters(lambda: T5EncoderModel(T5Config(**T5_XXL)))),
        ("CLIP-L", parameters(lambda: CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_L)))),
        ("CLIP-G", parameters(lambda: CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_G)))),
        ("16-channel VAE", parameters(lambda: AutoencoderKL(**VAE16))),
    ]


def print_memory() -> None:
    rows = memory_rows()
    print("| model | parameters | bf16 / fp16 | fp8 | fp32 |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, n in rows:
        print(f"| {name} | {n / 1e9:.2f} B | {2 * n / GIB:.1f} GiB | {n / GIB:.1f} GiB | {4 * n / GIB:.1f} GiB |")
    by = dict(rows)
    encoders = by["T5-XXL encoder"] + by["CLIP-L"]
    flux_rest = by["T5-XXL encoder"] + by["CLIP-L"] + by["16-channel VAE"]
    print(f"\nFlux.1 dev, everything (transformer + T5-XXL + CLIP-L + VAE): "
          f"{2 * (by['Flux.1 dev transformer'] + flux_rest) / GIB:.1f} GiB in bf16, "
          f"{(by['Flux.1 dev transformer'] + 2 * flux_rest) / GIB:.1f} GiB with the transformer in fp8 "
          "(UNETLoader weight_dtype)")
    sd3 = by["SD3.5 Large transformer"] + by["T5-XXL encoder"] + by["CLIP-L"] + by["CLIP-G"] + by["16-channel VAE"]
    print(f"SD3.5 Large, everything: {2 * sd3 / GIB:.1f} GiB in bf16")


def time_family(family: str) -> tuple[float, float]:
    import torch

    from nodes.diffusion.models.dit_loading import load_diffusion_model_file, load_dit_checkpoint, \
        load_text_encoder_files
    from nodes.diffusion.sampling.ksampler import sample_latent
    from tests.diffusion import tiny_dit as td

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        if family == "flux":
            files = td.write_flux_split(Path(tmp) / "models")
            model = load_diffusion_model_file(files["unet"])
            clip = load_text_encoder_files([files["clip_l"], files["t5"]], "flux")
        else:
            loaded = load_dit_checkpoint(td.write_sd3_checkpoint(Path(tmp) / "sd3.safetensors"))
            model, clip = loaded.model, loaded.clip
        load = time.perf_counter() - start
        pos, neg = clip.encode("a photo of a cat"), clip.encode("")
        cfg = 1.0 if family == "flux" else 4.0
        start = time.perf_counter()
        sample_latent(model, {"samples": torch.zeros(1, 16, 8, 8)}, seed=1, steps=4, cfg=cfg, sampler_name="euler",
                      scheduler="simple", positive=pos, negative=neg)
        return load, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memory-only", action="store_true")
    args = parser.parse_args()
    print_memory()
    if args.memory_only:
        return
    import torch

    torch.set_num_threads(1)
    print("\n| family (tiny) | write + load | 4 steps at 64x64 |")
    print("| --- | ---: | ---: |")
    for family in ("sd3", "flux"):
        load, run = time_family(family)
        print(f"| {family} | {load:.2f} s | {run * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
