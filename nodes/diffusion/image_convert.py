"""IMAGE tensors <-> PIL images. IMAGE is float [B, H, W, C] in 0..1 on the CPU (ComfyUI's convention)."""
from __future__ import annotations


def tensor_to_pils(images) -> list:
    import numpy as np
    from PIL import Image

    # ComfyUI's SaveImage quantisation, truncating (not rounding), so the same latent gives the same file bytes.
    arr = np.clip(255.0 * images.detach().float().cpu().numpy(), 0, 255).astype(np.uint8)
    if arr.ndim == 3:
        arr = arr[None]
    return [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a[..., :3]) for a in arr]


def pil_to_tensor(image):
    """An RGB image as IMAGE [1, H, W, 3]."""
    import numpy as np
    import torch

    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)[None]
