"""Save Image writes ComfyUI's pixels: ``np.clip(255. * x, 0, 255).astype(np.uint8)`` of the decoded tensor
(ComfyUI nodes.py SaveImage.save_images: truncation, not rounding)."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from nodes.diffusion import nodes_image, nodes_latent, nodes_loaders
from tests.diffusion.tiny_models import make_context, make_settings, write_tiny_checkpoint


def test_saved_png_bytes_are_comfyuis_truncation_of_the_decoded_tensor(tmp_path):
    settings = make_settings(tmp_path)
    write_tiny_checkpoint(tmp_path / "models/checkpoints/tiny.safetensors", "sd1")
    _model, _clip, vae = nodes_loaders.load_checkpoint.fn(make_context(settings), "tiny.safetensors")
    torch.manual_seed(3)
    (images,) = nodes_latent.vae_decode.fn(make_context(settings), {"samples": torch.randn(2, 4, 8, 8)}, vae)
    ctx = make_context(settings, node_type="SaveImage")
    nodes_image.save_image.fn(ctx, images, "pixels")
    assert len(ctx.files) == 2
    expected = np.clip(255. * images.numpy(), 0, 255).astype(np.uint8)
    for path, want in zip(ctx.files, expected):
        with Image.open(path) as im:
            got = np.asarray(im.convert("RGB"))
        assert np.array_equal(got, want)
    rounded = np.clip(np.round(255. * images.numpy()), 0, 255).astype(np.uint8)
    assert (rounded != expected).mean() > 0.2  # rounding (the old way) would differ on many values
