"""Image and mask nodes against ComfyUI's published behaviour.

Each reference below is written out from ComfyUI's source (comfy/utils.py common_upscale and lanczos; nodes.py
ImagePadForOutpaint, ImageScale*, composite; comfy_extras/nodes_mask.py GrowMask (scipy.ndimage grey_dilation /
grey_erosion), FeatherMask, MaskComposite, ImageToMask, LoadImageMask; nodes.py EmptyImage) as plain loops or the
library ComfyUI calls, independent of the code under test.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from nodeflow.core.context import NodeError
from nodes.diffusion import nodes_image_ops as img
from nodes.diffusion import nodes_mask as msk
from tests.diffusion.tiny_models import make_context

torch.set_num_threads(1)


@pytest.fixture
def ctx(settings):
    return make_context(settings)


def _image(b=1, h=24, w=40, seed=0):
    return torch.rand(b, h, w, 3, generator=torch.Generator().manual_seed(seed))


def _mask(b=1, h=24, w=40, seed=1):
    return (torch.rand(b, h, w, generator=torch.Generator().manual_seed(seed)) > 0.6).float()


# -- scaling (common_upscale) --------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["nearest-exact", "bilinear", "area", "bicubic"])
def test_image_scale_is_torch_interpolation_by_mode(ctx, method):
    image = _image()
    (out,) = img.image_scale.fn(ctx, image, method, 64, 32, "disabled")
    ref = F.interpolate(image.movedim(-1, 1), size=(32, 64), mode=method).movedim(1, -1)
    assert out.shape == (1, 32, 64, 3) and torch.allclose(out, ref)
    assert ctx.ui["previews"][0].size == (64, 32)  # the editor shows the node's output


def test_image_scale_lanczos_is_pillows_on_8_bit(ctx):
    image = _image()
    (out,) = img.image_scale.fn(ctx, image, "lanczos", 50, 30, "disabled")
    pil = Image.fromarray(np.clip(255.0 * image[0].numpy(), 0, 255).astype(np.uint8))
    ref = np.asarray(pil.resize((50, 30), resample=Image.Resampling.LANCZOS), dtype=np.float32) / 255.0
    assert torch.allclose(out[0], torch.from_numpy(ref))


def test_image_scale_zero_keeps_the_aspect_and_crop_center_cuts_first(ctx):
    image = _image(h=24, w=40)
    (out,) = img.image_scale.fn(ctx, image, "bilinear", 0, 12, "disabled")
    assert out.shape[1:3] == (12, round(40 * 12 / 24))
    (both_zero,) = img.image_scale.fn(ctx, image, "bilinear", 0, 0, "disabled")
    assert both_zero is image
    (cropped,) = img.image_scale.fn(ctx, image, "nearest-exact", 24, 24, "center")
    # square target from 40x24: ComfyUI cuts x = round((40 - 40 * (1 / (40/24))) / 2) = 8 columns each side
    ref = F.interpolate(image.movedim(-1, 1)[..., :, 8:32], size=(24, 24), mode="nearest-exact").movedim(1, -1)
    assert torch.equal(cropped, ref)


def test_scale_by_and_total_pixels_sizes(ctx):
    image = _image(h=24, w=40)
    (out,) = img.image_scale_by.fn(ctx, image, "bilinear", 1.5)
    assert out.shape[1:3] == (36, 60)
    (out,) = img.image_scale_to_total_pixels.fn(ctx, image, "nearest-exact", 0.01, 1)
    scale = (0.01 * 1024 * 1024 / (40 * 24)) ** 0.5
    assert out.shape[1:3] == (round(24 * scale), round(40 * scale))
    (out,) = img.image_scale_to_total_pixels.fn(ctx, image, "nearest-exact", 0.01, 8)
    assert out.shape[1] % 8 == 0 and out.shape[2] % 8 == 0


# -- pixel operations ----------------------------------------------------------------------------------------------

def test_invert_crop_batch_and_empty_image(ctx):
    image = _image()
    assert torch.equal(img.image_invert.fn(ctx, image)[0], 1.0 - image)
    (crop,) = img.image_crop.fn(ctx, image, 16, 8, 30, 4)
    assert torch.equal(crop, image[:, 4:12, 30:46])  # cut where it leaves the picture: 10 columns
    other = _image(h=12, w=20, seed=3)
    (batch,) = img.image_batch.fn(ctx, image, other)
    assert batch.shape == (2, 24, 40, 3) and torch.equal(batch[0], image[0])
    (empty,) = img.empty_image.fn(ctx, 4, 2, 3, 0xFF8000)
    assert empty.shape == (3, 2, 4, 3)
    assert torch.allclose(empty[0, 0, 0], torch.tensor([1.0, 128 / 255, 0.0]))


def _pad_reference(image, left, top, right, bottom, feathering):
    """ComfyUI's ImagePadForOutpaint, its per-pixel loops as published."""
    b, h, w, c = image.shape
    new = torch.ones((b, h + top + bottom, w + left + right, c)) * 0.5
    new[:, top:top + h, left:left + w] = image
    mask = torch.ones((h + top + bottom, w + left + right))
    t = torch.zeros((h, w))
    if feathering > 0 and feathering * 2 < h and feathering * 2 < w:
        for i in range(h):
            for j in range(w):
                dt = i if top != 0 else h
                db = h - i if bottom != 0 else h
                dl = j if left != 0 else w
                dr = w - j if right != 0 else w
                d = min(dt, db, dl, dr)
                if d >= feathering:
                    continue
                v = (feathering - d) / feathering
                t[i, j] = v * v
    mask[top:top + h, left:left + w] = t
    return new, mask


@pytest.mark.parametrize("pads", [(8, 0, 16, 8, 5), (0, 8, 0, 0, 3), (8, 8, 8, 8, 0), (8, 0, 0, 0, 30)])
def test_pad_for_outpaint_matches_comfyui(ctx, pads):
    image = _image()
    out, mask = img.image_pad_for_outpaint.fn(ctx, image, *pads)
    ref_img, ref_mask = _pad_reference(image, *pads)
    assert torch.equal(out, ref_img)
    assert torch.allclose(mask[0], ref_mask)


def _composite_reference(dst, src, x, y, mask):
    """ComfyUI's composite (multiplier 1, non-negative offsets): mask resized bilinearly to the source."""
    dst, src = dst.clone().movedim(-1, 1), src.movedim(-1, 1)
    m = F.interpolate(mask.reshape(-1, 1, *mask.shape[-2:]), size=src.shape[2:], mode="bilinear")
    vh, vw = dst.shape[2] - y, dst.shape[3] - x
    m, s = m[:, :, :vh, :vw], src[:, :, :vh, :vw]
    dst[:, :, y:y + src.shape[2], x:x + src.shape[3]] = m * s + (1 - m) * dst[:, :, y:y + src.shape[2],
                                                                               x:x + src.shape[3]]
    return dst.movedim(1, -1)


def test_image_composite_masked_matches_comfyui(ctx):
    dst, src = _image(), _image(h=12, w=16, seed=5)
    mask = torch.rand(1, 6, 8, generator=torch.Generator().manual_seed(2))  # half size, same aspect: resized
    (out,) = img.image_composite_masked.fn(ctx, dst, src, 30, 16, False, mask)
    assert torch.allclose(out, _composite_reference(dst, src, 30, 16, mask))
    (plain,) = img.image_composite_masked.fn(ctx, dst, src, 3, 2, False, None)
    assert torch.equal(plain[:, 2:14, 3:19], src) and torch.equal(plain[:, :2], dst[:, :2])


def test_a_mask_of_the_wrong_shape_is_refused_naming_the_field(ctx):
    dst, src = _image(), _image(h=12, w=16, seed=5)
    with pytest.raises(NodeError) as e:
        img.image_composite_masked.fn(ctx, dst, src, 0, 0, False, torch.ones(1, 16, 8))
    assert e.value.field == "mask" and "16" in str(e.value) and "8x16" in str(e.value)


def test_canny_finds_the_edges_of_a_square(ctx):
    image = torch.zeros(1, 32, 32, 3)
    image[:, 8:24, 8:24] = 1.0
    (edges,) = img.canny.fn(ctx, image, 0.4, 0.8)
    assert edges.shape == (1, 32, 32, 3) and set(edges.unique().tolist()) <= {0.0, 1.0}
    on = edges[0, ..., 0] > 0
    assert on[6:26, 6:26].sum() > 40 and on[12:20, 12:20].sum() == 0 and on[:4].sum() == 0
    with pytest.raises(NodeError) as e:
        img.canny.fn(ctx, image, 0.9, 0.2)
    assert e.value.field == "low_threshold"


# -- masks ---------------------------------------------------------------------------------------------------------

def test_load_image_mask_channels(ctx, settings):
    rgba = np.zeros((6, 5, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    rgba[:2, :, 3] = 0  # the top two rows transparent
    Image.fromarray(rgba, "RGBA").save(settings.input_dir / "m.png")
    (alpha,) = msk.load_image_mask.fn(ctx, "m.png", "alpha")
    assert alpha.shape == (1, 6, 5) and torch.equal(alpha[0, :2], torch.ones(2, 5)) and alpha[0, 2:].sum() == 0
    (red,) = msk.load_image_mask.fn(ctx, "m.png", "red")
    assert torch.allclose(red, torch.full((1, 6, 5), 200 / 255))
    with pytest.raises(NodeError) as e:
        msk.load_image_mask.fn(ctx, "nope.png", "alpha")
    assert e.value.field == "image"


def test_image_to_mask_and_back(ctx):
    image = _image()
    (m,) = msk.image_to_mask.fn(ctx, image, "green")
    assert torch.equal(m, image[..., 1])
    (back,) = msk.mask_to_image.fn(ctx, m)
    assert back.shape == image.shape and torch.equal(back[..., 0], m) and torch.equal(back[..., 2], m)
    assert ctx.ui["previews"]


def test_solid_invert_crop_threshold(ctx):
    (solid,) = msk.solid_mask.fn(ctx, 0.25, 8, 4)
    assert solid.shape == (1, 4, 8) and torch.all(solid == 0.25)
    assert torch.equal(msk.invert_mask.fn(ctx, solid)[0], 1 - solid)
    m = torch.rand(2, 10, 12)
    assert torch.equal(msk.crop_mask.fn(ctx, m, 3, 2, 4, 5)[0], m[:, 2:7, 3:7])
    assert torch.equal(msk.threshold_mask.fn(ctx, m, 0.3)[0], (m > 0.3).float())
    with pytest.raises(NodeError) as e:
        msk.crop_mask.fn(ctx, m, 20, 0, 4, 4)
    assert e.value.field == "x"


@pytest.mark.parametrize("expand,tapered", [(2, True), (3, False), (-2, True), (-1, False), (0, True)])
def test_grow_mask_equals_scipy_grey_morphology(ctx, expand, tapered):
    from scipy import ndimage

    m = torch.rand(2, 20, 17, generator=torch.Generator().manual_seed(4)) * (_mask(2, 20, 17) > 0)
    (out,) = msk.grow_mask.fn(ctx, m, expand, tapered)
    c = 0 if tapered else 1
    kernel = np.array([[c, 1, c], [1, 1, 1], [c, 1, c]])
    for b in range(2):
        ref = m[b].numpy()
        for _ in range(abs(expand)):
            ref = (ndimage.grey_erosion if expand < 0 else ndimage.grey_dilation)(ref, footprint=kernel)
        assert np.allclose(out[b].numpy(), ref), b


def test_feather_mask_matches_comfyui(ctx):
    m = torch.rand(1, 9, 11)
    (out,) = msk.feather_mask.fn(ctx, m, 3, 2, 4, 1)
    ref = m.clone()
    for x in range(3):
        ref[:, :, x] *= (x + 1.0) / 3
    for x in range(4):
        ref[:, :, -x] *= (x + 1) / 4
    for y in range(2):
        ref[:, y, :] *= (y + 1) / 2
    for y in range(1):
        ref[:, -y, :] *= (y + 1) / 1
    assert torch.allclose(out, ref)


@pytest.mark.parametrize("op", msk.COMPOSITE_OPERATIONS)
def test_mask_composite_matches_comfyui(ctx, op):
    dst, src = torch.rand(1, 10, 12), torch.rand(1, 6, 8)
    (out,) = msk.mask_composite.fn(ctx, dst, src, 7, 5, op)
    ref = dst.clone()
    d, s = ref[:, 5:10, 7:12], src[:, :5, :5]
    if op in ("and", "or", "xor"):
        fn = {"and": torch.bitwise_and, "or": torch.bitwise_or, "xor": torch.bitwise_xor}[op]
        ref[:, 5:10, 7:12] = fn(d.round().bool(), s.round().bool()).float()
    else:
        ref[:, 5:10, 7:12] = {"multiply": d * s, "add": d + s, "subtract": d - s}[op]
    assert torch.allclose(out, ref.clamp(0, 1))
