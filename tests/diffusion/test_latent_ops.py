"""Latent nodes against ComfyUI's published behaviour (nodes.py VAEEncodeForInpaint, SetLatentNoiseMask,
InpaintModelConditioning, LatentComposite, LatentFromBatch, RepeatLatentBatch, LatentCrop / Flip / Rotate,
SaveLatent / LoadLatent; comfy_extras/nodes_latent.py LatentBlend, LatentBatch; comfy_extras/nodes_mask.py
LatentCompositeMasked). The references are ComfyUI's formulas written out in the tests as loops."""
import json
import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from nodeflow.core.context import NodeError
from nodes.diffusion import nodes_latent_ops as lat
from tests.diffusion.tiny_models import make_context

torch.set_num_threads(1)


@pytest.fixture
def ctx(settings):
    return make_context(settings)


class RecordingVAE:
    """Encodes by 8x8 average pooling (4 channels) and remembers the pixels it was given."""

    downscale_ratio = 8

    def __init__(self):
        self.seen = []

    def encode(self, pixels, progress=None):
        self.seen.append(pixels.clone())
        pooled = torch.nn.functional.avg_pool2d(pixels.movedim(-1, 1), 8)
        return torch.cat([pooled, pooled[:, :1]], dim=1)

    def decode(self, latent, progress=None):
        raise AssertionError("not used")


def _latent(b=1, h=6, w=8, seed=0):
    return {"samples": torch.randn(b, 4, h, w, generator=torch.Generator().manual_seed(seed))}


def _grow_reference(mask, g):
    """ComfyUI: conv2d(round(mask), ones(g, g), padding=ceil((g - 1) / 2)), clamped, cut to the size, rounded.
    Written as what it means: a pixel is 1 when its g x g window (starting `pad` above / left) touches the mask."""
    pad = math.ceil((g - 1) / 2)
    m = mask.round()
    h, w = m.shape[-2:]
    out = torch.zeros_like(m)
    for i in range(h):
        for j in range(w):
            window = m[..., max(0, i - pad):max(0, i - pad + g), max(0, j - pad):max(0, j - pad + g)]
            out[..., i, j] = float(window.numel() > 0 and window.max() > 0)
    return out


@pytest.mark.parametrize("grow", [0, 1, 4, 6, 7])
def test_vae_encode_for_inpaint_blanks_the_mask_and_grows_the_noise_mask(ctx, grow):
    pixels = torch.rand(1, 36, 43, 3, generator=torch.Generator().manual_seed(1))  # not multiples of 8: cropped
    mask = torch.zeros(1, 36, 43)
    mask[:, 10:20, 15:30] = 0.8
    mask[:, 21, 5] = 0.4  # rounds to 0: neither blanked nor grown
    vae = RecordingVAE()
    (latent,) = lat.vae_encode_for_inpaint.fn(ctx, pixels, vae, mask, grow)
    # crop: 36 -> 32 (offset 2), 43 -> 40 (offset 1)
    px, m = pixels[:, 2:34, 1:41], mask[:, None, 2:34, 1:41]
    blanked = px.clone()
    keep = (1.0 - m.round())[:, 0, :, :, None]
    blanked = (blanked - 0.5) * keep + 0.5
    assert torch.allclose(vae.seen[0], blanked)
    assert torch.all(vae.seen[0][0, 8:18, 14:29] == 0.5) and torch.equal(vae.seen[0][0, 19, 4], px[0, 19, 4])
    expected = m.round() if grow == 0 else _grow_reference(m, grow)
    assert latent["noise_mask"].shape == (1, 1, 32, 40) and torch.equal(latent["noise_mask"], expected)
    assert latent["samples"].shape == (1, 4, 4, 5)


def test_set_latent_noise_mask_and_the_wrong_size(ctx):
    latent = _latent()
    mask = torch.rand(1, 48, 64)
    (out,) = lat.set_latent_noise_mask.fn(ctx, latent, mask)
    assert out["noise_mask"].shape == (1, 1, 48, 64) and torch.equal(out["samples"], latent["samples"])
    (half,) = lat.set_latent_noise_mask.fn(ctx, latent, torch.rand(24, 32))  # same aspect: the sampler resizes
    assert half["noise_mask"].shape == (1, 1, 24, 32)
    with pytest.raises(NodeError) as e:
        lat.set_latent_noise_mask.fn(ctx, latent, torch.rand(1, 64, 48))
    assert e.value.field == "mask" and "48x64" in str(e.value) and "64x48" in str(e.value)
    with pytest.raises(NodeError) as e:
        lat.vae_encode_for_inpaint.fn(ctx, torch.rand(1, 32, 64, 3), RecordingVAE(), torch.rand(1, 64, 32), 6)
    assert e.value.field == "mask"


def test_inpaint_model_conditioning_adds_the_concat_entries(ctx):
    pixels = torch.rand(1, 32, 40, 3)
    mask = torch.zeros(1, 32, 40)
    mask[:, 8:16, 8:24] = 1.0
    positive = [(torch.ones(1, 77, 8), {"pooled_output": torch.zeros(1, 8)})]
    negative = [(torch.zeros(1, 77, 8), {})]
    vae = RecordingVAE()
    pos, neg, latent = lat.inpaint_model_conditioning.fn(ctx, positive, negative, vae, pixels, mask, True)
    assert torch.all(vae.seen[0][0, 8:16, 8:24] == 0.5) and torch.equal(vae.seen[1], pixels)
    for out, original in ((pos, positive), (neg, negative)):
        assert len(out) == 1 and out[0][0] is original[0][0]
        assert set(out[0][1]) == set(original[0][1]) | {"concat_latent_image", "concat_mask"}
        assert torch.equal(out[0][1]["concat_latent_image"], vae.encode(vae.seen[0]))
        assert torch.equal(out[0][1]["concat_mask"], mask[:, None])
    assert "concat_mask" not in positive[0][1]  # the input is not changed
    assert torch.equal(latent["noise_mask"], mask[:, None]) and torch.equal(latent["samples"], vae.encode(pixels))
    _, _, no_mask = lat.inpaint_model_conditioning.fn(ctx, positive, negative, vae, pixels, mask, False)
    assert "noise_mask" not in no_mask


def _composite_feather_reference(to, frm, x, y, feather):
    """ComfyUI's LatentComposite (pixel offsets // 8), its loop over the feather rows and columns."""
    x, y, feather = x // 8, y // 8, feather // 8
    s = to.clone()
    frm = frm[:, :, :to.shape[2] - y, :to.shape[3] - x]
    mask = torch.ones_like(frm)
    for t in range(feather):
        if y != 0:
            mask[:, :, t:1 + t, :] *= (1.0 / feather) * (t + 1)
        if y + frm.shape[2] < to.shape[2]:
            mask[:, :, mask.shape[2] - 1 - t:mask.shape[2] - t, :] *= (1.0 / feather) * (t + 1)
        if x != 0:
            mask[:, :, :, t:1 + t] *= (1.0 / feather) * (t + 1)
        if x + frm.shape[3] < to.shape[3]:
            mask[:, :, :, mask.shape[3] - 1 - t:mask.shape[3] - t] *= (1.0 / feather) * (t + 1)
    region = s[:, :, y:y + frm.shape[2], x:x + frm.shape[3]]
    s[:, :, y:y + frm.shape[2], x:x + frm.shape[3]] = frm * mask + region * (1 - mask)
    return s


@pytest.mark.parametrize("x,y,feather", [(16, 8, 0), (16, 8, 16), (0, 0, 24), (40, 32, 8)])
def test_latent_composite_matches_comfyui(ctx, x, y, feather):
    to, frm = _latent(h=8, w=10), _latent(h=5, w=4, seed=1)
    (out,) = lat.latent_composite.fn(ctx, to, frm, x, y, feather)
    assert torch.allclose(out["samples"], _composite_feather_reference(to["samples"], frm["samples"], x, y, feather))


def test_latent_composite_masked(ctx):
    dst, src = _latent(h=8, w=10), _latent(h=4, w=4, seed=2)
    mask = torch.rand(1, 32, 32)
    (out,) = lat.latent_composite_masked.fn(ctx, dst, src, 24, 16, False, mask)
    m = torch.nn.functional.interpolate(mask[:, None], size=(4, 4), mode="bilinear")
    ref = dst["samples"].clone()
    ref[:, :, 2:6, 3:7] = m * src["samples"] + (1 - m) * ref[:, :, 2:6, 3:7]
    assert torch.allclose(out["samples"], ref)


def test_blend_batch_and_repeat(ctx):
    a, b = _latent(), _latent(seed=1)
    (blend,) = lat.latent_blend.fn(ctx, a, b, 0.3)
    assert torch.allclose(blend["samples"], a["samples"] * 0.3 + b["samples"] * 0.7)  # the factor weighs samples1
    (batch,) = lat.latent_batch.fn(ctx, a, _latent(b=2, h=3, w=4, seed=3))
    assert batch["samples"].shape == (3, 4, 6, 8) and batch["batch_index"] == [0, 0, 1]
    (rep,) = lat.repeat_latent_batch.fn(ctx, batch, 2)
    assert rep["samples"].shape == (6, 4, 6, 8) and rep["batch_index"] == [0, 0, 1, 2, 2, 3]
    masked = dict(_latent(b=3), noise_mask=torch.rand(3, 1, 48, 64))
    (one,) = lat.latent_from_batch.fn(ctx, masked, 1, 5)  # length cut to what is left
    assert one["samples"].shape[0] == 2 and one["batch_index"] == [1, 2]
    assert torch.equal(one["noise_mask"], masked["noise_mask"][1:3])
    (last,) = lat.latent_from_batch.fn(ctx, masked, 9, 1)
    assert last["batch_index"] == [2]


def test_crop_flip_rotate(ctx):
    a = _latent(h=12, w=16)
    s = a["samples"]
    (crop,) = lat.latent_crop.fn(ctx, a, 64, 64, 16, 200)  # y past the end: ComfyUI keeps the last 8 rows
    assert torch.equal(crop["samples"], s[:, :, 4:12, 2:10])
    assert torch.equal(lat.latent_flip.fn(ctx, a, "x-axis: vertically")[0]["samples"], s.flip(2))
    assert torch.equal(lat.latent_flip.fn(ctx, a, "y-axis: horizontally")[0]["samples"], s.flip(3))
    (r90,) = lat.latent_rotate.fn(ctx, a, "90 degrees")
    assert r90["samples"].shape == (1, 4, 16, 12)
    assert torch.equal(r90["samples"][0, :, 0, :], s[0, :, :, 0].flip(-1))  # clockwise: the left column on top
    assert torch.equal(lat.latent_rotate.fn(ctx, a, "none")[0]["samples"], s)


def test_save_and_load_latent_in_comfyuis_file_format(ctx, settings):
    a = _latent()
    lat.save_latent.fn(ctx, a, "latents/test")
    lat.save_latent.fn(ctx, a, "latents/test")
    files = sorted((settings.output_dir / "latents").glob("*.latent"))
    assert [p.name for p in files] == ["test_00001_.latent", "test_00002_.latent"]
    data = load_file(files[0])
    assert set(data) == {"latent_tensor", "latent_format_version_0"} and torch.equal(data["latent_tensor"],
                                                                                       a["samples"])
    (files[0]).rename(settings.input_dir / "mine.latent")
    assert "mine.latent" in lat._latent_files(settings)
    (back,) = lat.load_latent.fn(ctx, "mine.latent")
    assert torch.equal(back["samples"], a["samples"])
    # the oldest files have no version marker and hold latents * 0.18215
    save_file({"latent_tensor": a["samples"] * 0.18215}, str(settings.input_dir / "old.latent"))
    (old,) = lat.load_latent.fn(ctx, "old.latent")
    assert torch.allclose(old["samples"], a["samples"], atol=1e-6)
    for bad in ("../x.latent", "missing.latent"):
        with pytest.raises(NodeError) as e:
            lat.load_latent.fn(ctx, bad)
        assert e.value.field == "latent"
    (settings.input_dir / "junk.latent").write_bytes(b"not safetensors")
    with pytest.raises(NodeError, match="not a safetensors"):
        lat.load_latent.fn(ctx, "junk.latent")


def test_save_latent_carries_the_workflow_in_its_metadata(settings):
    from safetensors import safe_open

    from nodeflow.core.context import ExecutionContext
    from nodeflow.core.model_cache import ModelCache
    import threading

    ctx = ExecutionContext(node_id=1, node_title="t", node_type="SaveLatent", settings=settings, models=ModelCache(),
                           cancel_event=threading.Event(), emit=lambda e: None, device_resolver=lambda: "cpu",
                           embedded=lambda: {"prompt": json.dumps({"1": {}})})
    lat.save_latent.fn(ctx, _latent(), "x")
    [path] = settings.output_dir.glob("x_*.latent")
    with safe_open(str(path), "pt") as f:
        assert json.loads(f.metadata()["prompt"]) == {"1": {}}


def test_upscaling_a_masked_latent_keeps_its_mask_for_the_sampler(ctx):
    from nodes.diffusion import nodes_latent
    from nodes.diffusion.sampling.ksampler import _prepare_mask

    masked = dict(_latent(), noise_mask=torch.rand(1, 1, 48, 64))
    (big,) = nodes_latent.latent_upscale_by.fn(ctx, masked, "bilinear", 2.0)
    assert big["samples"].shape == (1, 4, 12, 16) and big["noise_mask"] is masked["noise_mask"]
    # the KSampler brings the mask to the new latent size (ComfyUI's prepare_mask: bilinear, channels repeated)
    prepared = _prepare_mask(big["noise_mask"], big["samples"])
    ref = torch.nn.functional.interpolate(masked["noise_mask"], size=(12, 16), mode="bilinear").expand(1, 4, -1, -1)
    assert torch.allclose(prepared, ref)
