"""Upscale models: ESRGAN (original and BasicSR / Real-ESRGAN / BSRGAN key layouts, pixel-unshuffled x2) and
Real-ESRGAN's SRVGGNetCompact, built tiny in their real key layouts, loaded strictly through the nodes, upscaled
in tiles; spandrel's output is the reference where spandrel imports (it cannot here: see the skip reason)."""
import math
import re

import pytest
import torch
from safetensors.torch import save_file

from nodeflow.core.context import NodeError
from nodes.diffusion import nodes_upscale as up
from nodes.diffusion.models import upscale_arch
from nodes.diffusion.models.upscale_model import spandrel_import_error
from tests.diffusion.tiny_models import make_context

torch.set_num_threads(1)


def _conv(gen, cin, cout):
    return {"weight": torch.randn(cout, cin, 3, 3, generator=gen) * (0.5 / math.sqrt(cin * 9)),
            "bias": torch.randn(cout, generator=gen) * 0.01}


def new_rrdb(in_ch=3, out_ch=3, nf=8, gc=4, nb=2, ups=2, seed=0) -> dict:
    """BasicSR's RRDBNet names (Real-ESRGAN's RealESRGAN_x4plus layout), random weights."""
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def put(name, cin, cout):
        sd.update({f"{name}.{k}": v for k, v in _conv(g, cin, cout).items()})

    put("conv_first", in_ch, nf)
    for b in range(nb):
        for r in (1, 2, 3):
            for i in range(1, 5):
                put(f"body.{b}.rdb{r}.conv{i}", nf + (i - 1) * gc, gc)
            put(f"body.{b}.rdb{r}.conv5", nf + 4 * gc, nf)
    put("conv_body", nf, nf)
    for u in range(1, ups + 1):
        put(f"conv_up{u}", nf, nf)
    put("conv_hr", nf, nf)
    put("conv_last", nf, out_ch)
    return sd


def old_layout(sd: dict) -> dict:
    """The same weights under the original ESRGAN names (model.0, model.1.sub.N.RDBk.convj.0, model.3/6/.., HR,
    last), as in xinntao's ESRGAN repository and spandrel's mapping."""
    ups = sum(1 for k in sd if re.fullmatch(r"conv_up\d+\.weight", k))
    nb = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("body."))
    out = {}
    for k, v in sd.items():
        if m := re.fullmatch(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(\w+)", k):
            out[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{m[4]}"] = v
        elif k.startswith("conv_body."):
            out[f"model.1.sub.{nb}.{k.split('.')[1]}"] = v
        elif k.startswith("conv_first."):
            out[f"model.0.{k.split('.')[1]}"] = v
        elif m := re.fullmatch(r"conv_up(\d)\.(\w+)", k):
            out[f"model.{3 * int(m[1])}.{m[2]}"] = v
        elif k.startswith("conv_hr."):
            out[f"model.{3 * ups + 2}.{k.split('.')[1]}"] = v
        elif k.startswith("conv_last."):
            out[f"model.{3 * ups + 4}.{k.split('.')[1]}"] = v
    assert len(out) == len(sd)
    return out


def bsrgan_layout(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        k = re.sub(r"^body\.(\d+)\.rdb(\d)\.", r"RRDB_trunk.\1.RDB\2.", k)
        k = k.replace("conv_body.", "trunk_conv.").replace("conv_hr.", "HRconv.")
        k = re.sub(r"^conv_up(\d)\.", r"upconv\1.", k)
        out[k] = v
    return out


def compact(in_ch=3, nf=8, convs=3, scale=4, seed=0) -> dict:
    """Real-ESRGAN's SRVGGNetCompact (realesr-general-x4v3 layout): body.0 conv, PReLU/conv pairs, last conv."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    convs_io = [(in_ch, nf)] + [(nf, nf)] * convs
    index = 0
    for cin, cout in convs_io:
        sd.update({f"body.{index}.{k}": v for k, v in _conv(g, cin, cout).items()})
        sd[f"body.{index + 1}.weight"] = torch.full((cout,), 0.25) + 0.01 * torch.randn(cout, generator=g)
        index += 2
    sd.update({f"body.{index}.{k}": v for k, v in _conv(g, nf, in_ch * scale * scale).items()})
    return sd


@pytest.fixture
def ctx(tmp_path):
    from tests.diffusion.tiny_models import make_settings

    settings = make_settings(tmp_path)
    (tmp_path / "models" / "upscale_models").mkdir(parents=True)
    return make_context(settings)


def _write(ctx, name, sd):
    path = ctx.settings.folders.roots("upscale_models")[0] / name
    if name.endswith(".safetensors"):
        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    else:
        torch.save({"params_ema": sd}, str(path))  # how Real-ESRGAN publishes its .pth files
    return name


def _reference_rrdb(sd, x, unshuffle=1):
    """ESRGAN's forward written from the paper's description, on the BasicSR-named weights."""
    import torch.nn.functional as F

    def conv(name, t):
        return F.conv2d(t, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)

    lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    if unshuffle > 1:
        x = F.pixel_unshuffle(x, unshuffle)
    feat = conv("conv_first", x)
    trunk = feat
    nb = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("body."))
    for b in range(nb):
        block_in = trunk
        for r in (1, 2, 3):
            rin = trunk
            outs = [rin]
            for i in range(1, 5):
                outs.append(lrelu(conv(f"body.{b}.rdb{r}.conv{i}", torch.cat(outs, 1))))
            trunk = conv(f"body.{b}.rdb{r}.conv5", torch.cat(outs, 1)) * 0.2 + rin
        trunk = trunk * 0.2 + block_in
    feat = feat + conv("conv_body", trunk)
    u = 1
    while f"conv_up{u}.weight" in sd:
        feat = lrelu(conv(f"conv_up{u}", F.interpolate(feat, scale_factor=2, mode="nearest")))
        u += 1
    return conv("conv_last", lrelu(conv("conv_hr", feat)))


@pytest.mark.parametrize("layout", ["new", "old", "bsrgan"])
def test_esrgan_layouts_load_strictly_and_upscale_x4(ctx, layout):
    sd = new_rrdb()
    file_sd = {"new": sd, "old": old_layout(sd), "bsrgan": bsrgan_layout(sd)}[layout]
    name = _write(ctx, f"esrgan_{layout}.safetensors", file_sd)
    (model,) = up.upscale_model_loader.fn(ctx, name)
    assert model.scale == 4 and model.architecture == "ESRGAN"
    # every parameter of the module came from the file, and the file has nothing else
    assert {k: tuple(v.shape) for k, v in model.module.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in sd.items()}
    image = torch.rand(1, 12, 10, 3, generator=torch.Generator().manual_seed(1))
    (out,) = up.image_upscale_with_model.fn(ctx, model, image)
    ref = _reference_rrdb(sd, image.movedim(-1, 1)).clamp(0, 1).movedim(1, -1)
    assert out.shape == (1, 48, 40, 3) and torch.allclose(out, ref, atol=1e-5)
    assert ctx.ui["previews"]


def test_real_esrgan_x2plus_takes_the_picture_pixel_unshuffled(ctx):
    sd = new_rrdb(in_ch=12, ups=2, seed=3)
    torch.save({"params_ema": sd, "params": {}}, str(ctx.settings.folders.roots("upscale_models")[0] / "x2.pth"))
    (model,) = up.upscale_model_loader.fn(ctx, "x2.pth")
    assert model.scale == 2 and model.in_channels == 3
    image = torch.rand(2, 8, 6, 3)
    (out,) = up.image_upscale_with_model.fn(ctx, model, image)
    ref = _reference_rrdb(sd, image.movedim(-1, 1), unshuffle=2).clamp(0, 1).movedim(1, -1)
    assert out.shape == (2, 16, 12, 3) and torch.allclose(out, ref, atol=1e-5)


def test_compact_model_is_a_residual_over_nearest(ctx):
    import torch.nn.functional as F

    sd = compact()
    name = _write(ctx, "general-x4v3.pth", sd)
    (model,) = up.upscale_model_loader.fn(ctx, name)
    assert model.architecture == "RealESRGAN_Compact" and model.scale == 4
    x = torch.rand(1, 3, 9, 7)
    h = x
    for i in range(0, 8, 2):
        h = F.prelu(F.conv2d(h, sd[f"body.{i}.weight"], sd[f"body.{i}.bias"], padding=1), sd[f"body.{i + 1}.weight"])
    h = F.conv2d(h, sd["body.8.weight"], sd["body.8.bias"], padding=1)
    ref = F.pixel_shuffle(h, 4) + F.interpolate(x, scale_factor=4, mode="nearest")
    (out,) = up.image_upscale_with_model.fn(ctx, model, x.movedim(1, -1))
    assert torch.allclose(out, ref.clamp(0, 1).movedim(1, -1), atol=1e-5)


def test_large_images_go_in_tiles_blended_over_the_overlap(ctx, monkeypatch):
    sd = compact(convs=1, scale=2, seed=5)
    (model,) = up.upscale_model_loader.fn(ctx, _write(ctx, "c.safetensors", sd))
    image = torch.rand(1, 40, 150, 3, generator=torch.Generator().manual_seed(2))
    (whole,) = up.image_upscale_with_model.fn(ctx, model, image)
    monkeypatch.setattr(up, "TILE", 64)
    monkeypatch.setattr(up, "OVERLAP", 16)
    calls = []
    real = model._call
    model._call = lambda t: (calls.append(tuple(t.shape)), real(t))[1]
    (tiled,) = up.image_upscale_with_model.fn(ctx, model, image)
    assert len(calls) == 3 and all(s[2] <= 64 and s[3] <= 64 for s in calls)
    assert tiled.shape == whole.shape == (1, 80, 300, 3)
    # only the seams differ (3x3 convs see a few pixels across them), and there by little
    assert (tiled - whole).abs().mean() < 0.01 and torch.allclose(tiled[:, :, :40], whole[:, :, :40], atol=1e-5)


def test_strict_loading_refuses_missing_and_unexpected_keys(ctx):
    sd = new_rrdb()
    missing = dict(sd)
    del missing["body.1.rdb2.conv3.bias"]
    extra = dict(sd, **{"body.0.rdb1.conv6.weight": torch.zeros(1)})
    for name, weights in (("missing.safetensors", missing), ("extra.safetensors", extra)):
        _write(ctx, name, weights)
        with pytest.raises(NodeError) as e:
            up.upscale_model_loader.fn(ctx, name)
        assert e.value.field == "model_name" and name in str(e.value) and "ESRGAN" in str(e.value)


def test_an_unknown_architecture_is_a_clear_error(ctx):
    _write(ctx, "swinir.safetensors", {"layers.0.residual_group.blocks.0.norm1.weight": torch.ones(4),
                                       "conv_first.weight": torch.ones(4, 3, 3, 3)})
    with pytest.raises(NodeError) as e:
        up.upscale_model_loader.fn(ctx, "swinir.safetensors")
    message = str(e.value)
    assert e.value.field == "model_name" and "swinir.safetensors" in message
    if spandrel_import_error() is not None:
        assert "ESRGAN" in message and "spandrel" in message
    with pytest.raises(NodeError) as e:
        up.upscale_model_loader.fn(ctx, "absent.pth")
    assert e.value.field == "model_name" and "not found" in str(e.value)


def test_a_pickle_with_code_is_not_loaded(ctx, tmp_path):
    import collections

    path = ctx.settings.folders.roots("upscale_models")[0] / "evil.pth"
    torch.save({"params_ema": collections.Counter(a=1)}, str(path))
    with pytest.raises(NodeError) as e:
        up.upscale_model_loader.fn(ctx, "evil.pth")
    assert e.value.field == "model_name"


@pytest.mark.skipif(spandrel_import_error() is not None,
                    reason=f"spandrel cannot be imported here ({spandrel_import_error()}); it needs a torchvision "
                           "that matches torch")
@pytest.mark.parametrize("kind", ["new", "old", "x2", "compact"])
def test_equal_to_spandrel(kind):
    from spandrel import ModelLoader

    sd = {"new": lambda: new_rrdb(), "old": lambda: old_layout(new_rrdb()), "x2": lambda: new_rrdb(in_ch=12),
          "compact": lambda: compact()}[kind]()
    descriptor = ModelLoader().load_from_state_dict(dict(sd)).eval()
    _, ours = upscale_arch.build(dict(sd))
    x = torch.rand(1, 3, 12, 16)
    with torch.no_grad():
        assert descriptor.scale == ours.scale
        assert torch.allclose(ours(x), descriptor(x), atol=1e-5)


def test_out_of_memory_retries_with_smaller_tiles_then_names_the_node(ctx):
    from nodes.diffusion.models.upscale_model import UpscaleModel

    seen = []

    def nearest_x2(t, limit):
        seen.append(t.shape[-1])
        if max(t.shape[-2:]) > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return torch.nn.functional.interpolate(t, scale_factor=2, mode="nearest")

    module = torch.nn.Conv2d(3, 3, 1)
    model = UpscaleModel(module, 2, "test", call=lambda t: nearest_x2(t, 256))
    image = torch.rand(1, 300, 300, 3)
    (out,) = up.image_upscale_with_model.fn(ctx, model, image)
    assert seen[0] == 300 and max(seen[1:]) <= 256  # the whole picture, then 256 px tiles
    assert torch.allclose(out, torch.nn.functional.interpolate(image.movedim(-1, 1), scale_factor=2,
                                                               mode="nearest").movedim(1, -1))
    hopeless = UpscaleModel(module, 2, "test", call=lambda t: nearest_x2(t, 16))
    with pytest.raises(NodeError, match="out of GPU memory"):
        up.image_upscale_with_model.fn(ctx, hopeless, image)
