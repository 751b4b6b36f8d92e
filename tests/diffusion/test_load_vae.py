"""Load VAE (every file layout) and the VAE object's decode / encode contract."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from nodeflow.core.context import NodeError
from nodes.diffusion import nodes_loaders as nl
from nodes.diffusion.models.single_file import vae_to_original
from tests.diffusion.tiny_models import make_context, make_settings, tiny_model, write_tiny_checkpoint


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("vae"))
    folder = settings.model_roots[0] / "vae"
    vae = tiny_model("sd1").vae
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, str(folder / "diffusers.safetensors"))
    save_file(vae_to_original(vae, prefix=""), str(folder / "original.safetensors"))
    torch.save(vae_to_original(vae), str(folder / "prefixed.ckpt"))
    write_tiny_checkpoint(folder / "whole.safetensors", "sd1")
    return settings


@pytest.mark.parametrize("name", ["diffusers.safetensors", "original.safetensors", "prefixed.ckpt",
                                  "whole.safetensors"])
def test_vae_files_load_exactly(env, name):
    (vae,) = nl.load_vae.fn(make_context(env), name)
    source = tiny_model("sd1").vae.state_dict()
    loaded = vae.module.state_dict()
    assert set(loaded) == set(source) and all(torch.equal(loaded[k], source[k]) for k in source)


def test_decode_and_encode_contract(env):
    (vae,) = nl.load_vae.fn(make_context(env), "original.safetensors")
    latent = torch.randn(3, 4, 8, 8)
    image = vae.decode(latent)
    assert image.shape == (3, 64, 64, 3) and image.dtype == torch.float32 and image.device.type == "cpu"
    assert float(image.min()) >= 0 and float(image.max()) <= 1
    with torch.no_grad():
        direct = tiny_model("sd1").vae.decode(latent).sample
    torch.testing.assert_close(image, (direct / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1))
    raw = vae.encode(torch.rand(2, 70, 67, 3))  # cropped to 64x64, centered
    assert raw.shape == (2, 4, 8, 8) and raw.dtype == torch.float32
    again = vae.encode(torch.rand(1, 64, 64, 4))  # alpha ignored
    assert again.shape == (1, 4, 8, 8)


def test_decode_rejects_other_latent_spaces(env):
    (vae,) = nl.load_vae.fn(make_context(env), "original.safetensors")
    with pytest.raises(NodeError):
        vae.decode(torch.randn(1, 16, 8, 8))


def test_a_lora_is_not_a_vae(env, tmp_path):
    folder = env.model_roots[0] / "vae"
    save_file({"lora_unet_x.lora_up.weight": torch.zeros(2, 2)}, str(folder / "notvae.safetensors"))
    with pytest.raises(NodeError) as err:
        nl.load_vae.fn(make_context(env), "notvae.safetensors")
    assert err.value.field == "vae_name" and str(err.value).startswith("notvae.safetensors: ")
