"""Tiled VAE decode / encode (ComfyUI's three blended tilings): the blend is exact for a local map, the tiny VAE's
tiled result stays within the stated tolerance of the plain one, the plain nodes switch to tiles only when the
memory estimate exceeds what is free, and refuse with numbers when even tiles don't fit."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from nodeflow.core.context import NodeError
from nodes.diffusion import nodes_latent, nodes_vae
from nodes.diffusion.models import vae_model as vm
from nodes.diffusion.models.memory import GpuOutOfMemory, MovablePart
from nodes.diffusion.models.vae_tiling import tiled_three_pass
from tests.diffusion.tiny_models import make_context, tiny_model

torch.set_num_threads(1)
#: Measured (tiny random-weight SD-topology VAE, fp32, random latent): tiled at 64/16 against the plain decode of a
#: 512 px image: mean |diff| 0.0057, max 0.18 (pixel values 0..1); encoding 512 px in 512/64 tiles: mean 0.0054,
#: max 0.059 (latents of std 0.24). Tiles see their own group-norm statistics and attention context, hence not 0.
DECODE_TOLERANCE = dict(mean=0.01, max=0.25)
ENCODE_TOLERANCE = dict(mean=0.01, max=0.1)


@pytest.fixture(scope="module")
def vae():
    module = tiny_model("sd1").vae
    return vm.VAEModel(module=module, part=MovablePart("vae", [module]), device="cpu", dtype=torch.float32)


def free_memory(monkeypatch, nbytes):
    monkeypatch.setattr(vm, "free_working_bytes", lambda device: nbytes)


def test_the_blend_of_a_local_map_is_exact():
    x = torch.randn(2, 4, 40, 56)
    upscale = lambda t: torch.nn.functional.interpolate(t, scale_factor=8, mode="nearest")  # noqa: E731
    tiled = tiled_three_pass(x, upscale, 16, 4, 8, 4, decode=True)
    torch.testing.assert_close(tiled, upscale(x), rtol=0, atol=1e-6)


def test_tiled_decode_is_within_the_stated_tolerance_of_the_plain_one(vae, monkeypatch):
    free_memory(monkeypatch, None)
    torch.manual_seed(64)
    latent = torch.randn(1, 4, 64, 64)
    plain = vae.decode(latent)
    tiled = vae.decode(latent, tile=64, overlap=16)
    diff = (tiled - plain).abs()
    assert tiled.shape == plain.shape == (1, 512, 512, 3)
    assert 0 < diff.mean() <= DECODE_TOLERANCE["mean"] and diff.max() <= DECODE_TOLERANCE["max"]


def test_tiled_encode_is_within_the_stated_tolerance(vae, monkeypatch):
    free_memory(monkeypatch, None)
    torch.manual_seed(1)
    image = torch.rand(1, 512, 512, 3)
    diff = (vae.encode(image, tile=512, overlap=64) - vae.encode(image)).abs()
    assert diff.mean() <= ENCODE_TOLERANCE["mean"] and diff.max() <= ENCODE_TOLERANCE["max"]


def test_plain_decode_switches_to_tiles_only_when_it_does_not_fit(vae, monkeypatch):
    latent = torch.randn(1, 4, 80, 72)  # larger than the automatic tile (64)
    free_memory(monkeypatch, None)
    plain, tiled = vae.decode(latent), vae.decode(latent, tile=vm.AUTO_DECODE_TILE, overlap=vm.AUTO_DECODE_OVERLAP)
    free_memory(monkeypatch, vae.decode_bytes(latent.shape))  # exactly fits
    assert torch.equal(vae.decode(latent), plain)
    free_memory(monkeypatch, vae.decode_bytes(latent.shape) - 1)
    told = []
    auto = vae.decode(latent, progress=lambda i, n, text: told.append((i, n, text)))
    assert torch.equal(auto, tiled) and not torch.equal(auto, plain)
    assert told[-1][0] == told[-1][1] > 1 and "tiles" in told[-1][2] and "GiB is free" in told[-1][2]


def test_plain_encode_switches_to_tiles(vae, monkeypatch):
    image = torch.rand(1, 640, 576, 3)  # larger than the automatic tile (512)
    free_memory(monkeypatch, vae.encode_bytes(image.shape) - 1)
    auto = vae.encode(image)
    free_memory(monkeypatch, None)
    assert torch.equal(auto, vae.encode(image, tile=vm.AUTO_ENCODE_TILE, overlap=vm.AUTO_ENCODE_OVERLAP))


def test_refuses_with_the_estimate_when_even_tiles_do_not_fit(tmp_path, vae, monkeypatch):
    free_memory(monkeypatch, 1000)
    ctx = make_context(None, node_type="VAEDecode")
    with pytest.raises(NodeError) as err:
        nodes_latent.vae_decode.fn(ctx, {"samples": torch.randn(1, 4, 16, 16)}, vae)
    assert "even in tiles of 512 px" in str(err.value) and "GiB free" in str(err.value)
    with pytest.raises(GpuOutOfMemory):
        vae.encode(torch.rand(1, 64, 64, 3))


def test_estimates_let_2048px_decode_on_a_24gb_machine():
    sd_vae = SimpleNamespace(config=SimpleNamespace(latent_channels=4, block_out_channels=[128, 256, 512, 512],
                                                    scaling_factor=0.18215))
    model = vm.VAEModel(module=sd_vae, part=MovablePart("vae", [], nbytes=0), device="cpu", dtype=torch.float32)
    whole, tiled = model.decode_bytes((1, 4, 256, 256)), model.decode_bytes((1, 4, 256, 256), tile=64)
    # whole: 1250 bytes a pixel in fp32 (950 measured) = 19.5 GiB; in tiles of 512 px 1.4 GiB, so a 24 GB machine
    # decodes 2048 px in one piece when about 20 GiB are free, in tiles when less is
    assert 18 * vm.GIB < whole < 21 * vm.GIB and tiled < 1.5 * vm.GIB
    assert model.decode_bytes((1, 4, 64, 64)) * 4 == model.decode_bytes((1, 4, 128, 128))
    assert model.encode_bytes((1, 2048, 2048, 3), tile=512) < model.encode_bytes((1, 2048, 2048, 3)) / 8


def test_tiled_nodes_follow_comfyui(vae, monkeypatch):
    free_memory(monkeypatch, None)
    declared = {nt.type_name: [(i.name, i.default, i.min, i.max, i.step) for i in nt.inputs]
                for nt in nodes_vae.NODE_TYPES}
    tiling = [("tile_size", 512, 64, 4096, 32), ("overlap", 64, 0, 4096, 32), ("temporal_size", 64, 8, 4096, 4),
              ("temporal_overlap", 8, 4, 4096, 4)]
    assert [d[0] for d in declared["VAEDecodeTiled"][:2]] == ["samples", "vae"]
    assert declared["VAEDecodeTiled"][2:] == tiling
    assert [d[0] for d in declared["VAEEncodeTiled"][:2]] == ["pixels", "vae"]
    assert declared["VAEEncodeTiled"][2:] == [("tile_size", 512, 64, 4096, 64)] + tiling[1:]
    assert all(nt.comfy is not None for nt in nodes_vae.NODE_TYPES)
    latent = torch.randn(1, 4, 40, 24)
    ctx = make_context(None, node_type="VAEDecodeTiled")
    (images,) = nodes_vae.vae_decode_tiled.fn(ctx, {"samples": latent}, vae, 128, 64, 64, 8)
    assert torch.equal(images, vae.decode(latent, tile=16, overlap=4))  # overlap cut to a quarter of the tile
    (out,) = nodes_vae.vae_encode_tiled.fn(ctx, images, vae, 128, 32, 64, 8)
    assert torch.equal(out["samples"], vae.encode(images, tile=128, overlap=32))
    with pytest.raises(NodeError) as err:
        nodes_vae.vae_encode_tiled.fn(ctx, images, vae, 64, 64, 64, 8)
    assert err.value.field == "overlap"
