"""The writer produces the real single-file key names, and the loader infers the released models' configs.

Full-size models are built on the meta device (shapes without memory), so this checks SD1.5, SD2.1, SDXL base and
refiner layouts at their real sizes in milliseconds. A small custom SD1-layout model (the kind the project trains
itself, with choices off the conventions) round-trips through the writer's hints.
"""
from __future__ import annotations

import pytest
import torch

from nodes.diffusion import nodes_loaders as nl
from nodes.diffusion.models import families as fam
from nodes.diffusion.models import infer_config as ic
from nodes.diffusion.models.detect import detect_family
from nodes.diffusion.models.single_file import (hf_clip_to_original, open_clip_to_original, unet_to_original,
                                                vae_to_original)
from tests.diffusion.tiny_models import build_tiny_model, make_context, make_settings

SD_VAE = {"block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4,
          "up_block_types": ["UpDecoderBlock2D"] * 4, "layers_per_block": 2, "latent_channels": 4}
CLIP_L = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
          "hidden_act": "quick_gelu", "projection_dim": 768}
CLIP_H = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
          "hidden_act": "gelu", "projection_dim": 1024}
CLIP_G = {"hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 20,
          "hidden_act": "gelu", "projection_dim": 1280}
RELEASED = {
    "sd1": ({"block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "cross_attention_dim": 768,
             "attention_head_dim": 8, "use_linear_projection": False, "transformer_layers_per_block": 1,
             "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
             "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3}, [CLIP_L]),
    "sd2": ({"block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "cross_attention_dim": 1024,
             "attention_head_dim": [5, 10, 20, 20], "use_linear_projection": True, "upcast_attention": True,
             "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
             "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3}, [CLIP_H]),
    "sdxl": ({"block_out_channels": [320, 640, 1280], "layers_per_block": 2, "cross_attention_dim": 2048,
              "attention_head_dim": [5, 10, 20], "use_linear_projection": True,
              "transformer_layers_per_block": [1, 2, 10], "addition_embed_type": "text_time",
              "addition_time_embed_dim": 256, "projection_class_embeddings_input_dim": 2816,
              "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
              "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"]}, [CLIP_L, CLIP_G]),
    "sdxl_refiner": ({"block_out_channels": [384, 768, 1536, 1536], "layers_per_block": 2,
                      "cross_attention_dim": 1280, "attention_head_dim": [6, 12, 24, 24],
                      "use_linear_projection": True, "transformer_layers_per_block": 4,
                      "addition_embed_type": "text_time", "addition_time_embed_dim": 256,
                      "projection_class_embeddings_input_dim": 2560,
                      "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                           "DownBlock2D"],
                      "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"]},
                     [CLIP_G]),
}
#: Key names as they appear in the released single-file checkpoints.
KNOWN_KEYS = {
    "sd1": [("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight", (320, 320)),
            ("model.diffusion_model.input_blocks.3.0.op.weight", (320, 320, 3, 3)),
            ("model.diffusion_model.input_blocks.4.0.skip_connection.weight", (640, 320, 1, 1)),
            ("model.diffusion_model.middle_block.1.proj_in.weight", (1280, 1280, 1, 1)),
            ("model.diffusion_model.middle_block.2.emb_layers.1.weight", (1280, 1280)),
            ("model.diffusion_model.output_blocks.2.1.conv.weight", (1280, 1280, 3, 3)),
            ("model.diffusion_model.output_blocks.5.2.conv.weight", (1280, 1280, 3, 3)),
            ("model.diffusion_model.output_blocks.11.1.transformer_blocks.0.norm1.bias", (320,)),
            ("model.diffusion_model.time_embed.0.weight", (1280, 320)),
            ("model.diffusion_model.out.2.weight", (4, 320, 3, 3)),
            ("first_stage_model.encoder.down.0.downsample.conv.weight", (128, 128, 3, 3)),
            ("first_stage_model.encoder.down.1.block.0.nin_shortcut.weight", (256, 128, 1, 1)),
            ("first_stage_model.decoder.up.3.upsample.conv.weight", (512, 512, 3, 3)),
            ("first_stage_model.decoder.up.0.block.2.conv2.weight", (128, 128, 3, 3)),
            ("first_stage_model.encoder.mid.attn_1.q.weight", (512, 512, 1, 1)),
            ("first_stage_model.quant_conv.weight", (8, 8, 1, 1)),
            ("cond_stage_model.transformer.text_model.encoder.layers.11.self_attn.q_proj.weight", (768, 768)),
            ("cond_stage_model.transformer.text_model.final_layer_norm.weight", (768,))],
    "sd2": [("model.diffusion_model.input_blocks.1.1.proj_in.weight", (320, 320)),
            ("cond_stage_model.model.transformer.resblocks.23.attn.in_proj_weight", (3072, 1024)),
            ("cond_stage_model.model.positional_embedding", (77, 1024)),
            ("cond_stage_model.model.ln_final.weight", (1024,))],
    "sdxl": [("model.diffusion_model.label_emb.0.0.weight", (1280, 2816)),
             ("model.diffusion_model.input_blocks.8.1.transformer_blocks.9.attn2.to_k.weight", (1280, 2048)),
             ("model.diffusion_model.output_blocks.2.2.conv.weight", (1280, 1280, 3, 3)),
             ("conditioner.embedders.0.transformer.text_model.encoder.layers.11.mlp.fc2.weight", (768, 3072)),
             ("conditioner.embedders.1.model.transformer.resblocks.31.mlp.c_proj.bias", (1280,)),
             ("conditioner.embedders.1.model.text_projection", (1280, 1280)),
             ("conditioner.embedders.1.model.token_embedding.weight", (49408, 1280))],
    "sdxl_refiner": [("model.diffusion_model.label_emb.0.0.weight", (1536, 2560)),
                     ("conditioner.embedders.0.model.transformer.resblocks.31.attn.out_proj.weight", (1280, 1280))],
}


def released_state_dict(family):
    """The released model's single-file state dict, as meta tensors (names and shapes only)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    unet_cfg, clips = RELEASED[family]
    spec = fam.family(family)
    sd = {}
    with torch.device("meta"):
        sd.update(unet_to_original(UNet2DConditionModel(**unet_cfg)))
        sd.update(vae_to_original(AutoencoderKL(**SD_VAE)))
        for clip_cfg, te in zip(clips, spec.text_encoders):
            cls = CLIPTextModelWithProjection if te.projected_pool else CLIPTextModel
            module = cls(CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, **clip_cfg))
            convert = hf_clip_to_original if te.layout == "hf" else open_clip_to_original
            sd.update(convert(module, te.prefix))
    return sd


@pytest.mark.parametrize("family", list(RELEASED))
def test_released_layouts_and_configs(family):
    sd = released_state_dict(family)
    for key, shape in KNOWN_KEYS[family]:
        assert key in sd, key
        assert tuple(sd[key].shape) == shape, key
    assert detect_family(sd) == family
    spec = fam.family(family)
    te_cfgs = [ic.text_encoder_config(sd, te) for te in spec.text_encoders]
    for cfg, expected in zip(te_cfgs, RELEASED[family][1]):
        assert {k: cfg[k] for k in expected} == expected
    pooled = te_cfgs[-1]["projection_dim"] if spec.is_sdxl else None
    unet_cfg = ic.unet_config(sd, family, addition_time_embed_dim=ic.sdxl_time_embed_dim(sd, family, pooled))
    expected = RELEASED[family][0]
    assert {k: unet_cfg.get(k) for k in expected} == {k: v for k, v in expected.items()}
    assert unet_cfg["norm_num_groups"] == 32
    vae_cfg = ic.vae_config(sd, "first_stage_model.", family)
    assert {k: vae_cfg[k] for k in SD_VAE} == SD_VAE and vae_cfg["norm_num_groups"] == 32
    assert vae_cfg["scaling_factor"] == spec.vae_scale_factor


def test_conversion_helpers_accept_the_written_layout():
    """diffusers' own converters turn what the writer wrote back into the same diffusers names."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint

    sd = released_state_dict("sdxl")
    unet_cfg = ic.unet_config(sd, "sdxl", addition_time_embed_dim=256)
    converted = convert_ldm_unet_checkpoint(sd, unet_cfg)
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        reference = UNet2DConditionModel(**RELEASED["sdxl"][0]).state_dict()
    assert set(converted) == set(reference)
    vae = convert_ldm_vae_checkpoint(sd, ic.vae_config(sd, "first_stage_model.", "sdxl"))
    assert all(v is not None for v in vae.values())


def demo_like_configs():
    """The shape of the project's own trained model, off the conventions on purpose (heads, norm groups, scale)."""
    return {
        "unet": {"sample_size": 8, "in_channels": 4, "out_channels": 4, "block_out_channels": [64, 128, 128],
                 "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
                 "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
                 "layers_per_block": 1, "cross_attention_dim": 128, "attention_head_dim": 4,
                 "norm_num_groups": 32},
        "vae": {"in_channels": 3, "out_channels": 3, "down_block_types": ["DownEncoderBlock2D"] * 4,
                "up_block_types": ["UpDecoderBlock2D"] * 4, "block_out_channels": [32, 32, 64, 64],
                "layers_per_block": 1, "latent_channels": 4, "norm_num_groups": 16, "scaling_factor": 0.748},
        "text_encoders": [("clip_l", {"vocab_size": 49408, "hidden_size": 128, "intermediate_size": 256,
                                      "num_hidden_layers": 3, "num_attention_heads": 4,
                                      "max_position_embeddings": 77, "hidden_act": "quick_gelu"})],
    }


def test_small_custom_sd1_model_round_trips_with_hints(tmp_path):
    from nodes.diffusion.models.single_file import save_single_file

    settings = make_settings(tmp_path)
    source = build_tiny_model("sd1", seed=5, configs=demo_like_configs())
    save_single_file(settings.model_roots[0] / "checkpoints" / "demo.safetensors", unet=source.unet, vae=source.vae,
                     text_encoders=source.text_encoders, family="sd1", dtype=torch.float16)
    model, clip, vae = nl.load_checkpoint.fn(make_context(settings), "demo.safetensors")
    for loaded, original in ((model.unet, source.unet), (vae.module, source.vae),
                             (clip.encoders[0].module, source.text_encoders[0])):
        a, b = loaded.state_dict(), original.state_dict()
        assert set(a) == set(b) and all(torch.equal(a[k], b[k].half().float()) for k in b)
    assert model.unet.config.attention_head_dim == 4 and vae.module.config.norm_num_groups == 16
    assert clip.encoders[0].module.config.num_attention_heads == 4
    assert model.latent_format.scale_factor == pytest.approx(0.748)
    factors = model.latent_format.rgb_factors  # a custom latent space: fitted, not SD's published factors
    assert factors is not None and len(factors) == 4 and all(len(row) == 3 for row in factors)
    cond = clip.encode("a red square")[0]
    assert cond[0].shape == (1, 77, 128)
    out = model.apply_model(torch.randn(1, 4, 8, 8), torch.tensor([999.0]), cond[0], [cond[1]])
    assert out.shape == (1, 4, 8, 8) and torch.isfinite(out).all()
