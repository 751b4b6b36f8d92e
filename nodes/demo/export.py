"""Write the trained shapes model as an SD1 single-file checkpoint (original key layout, fp16, safetensors).

The file goes through the project's own writer (``nodes.diffusion.models.single_file``), so it loads through
Load Checkpoint like any user checkpoint.
"""
from __future__ import annotations

from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[2] / "assets" / "models" / "checkpoints" / "nodeflow_shapes.safetensors"


def export_single_file(final_dir: Path, path: Path, metadata: dict | None = None) -> Path:
    """``final_dir`` holds diffusers folders ``unet/``, ``vae/``, ``text_encoder/`` (as train.py writes them); the
    run's seed and recipe (``run.json`` beside it) are recorded in the file's metadata."""
    import json

    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    from nodes.diffusion.models.single_file import save_single_file

    final_dir = Path(final_dir)
    unet = UNet2DConditionModel.from_pretrained(final_dir / "unet")
    vae = AutoencoderKL.from_pretrained(final_dir / "vae")
    text = CLIPTextModel.from_pretrained(final_dir / "text_encoder")
    meta = {"modelspec.title": "NodeFlow shapes", "modelspec.license": "MIT", "modelspec.resolution": "64x64",
            **(metadata or {})}
    run_file = final_dir.parent / "run.json"
    if run_file.exists():
        run = json.loads(run_file.read_text())
        meta["nodeflow.training"] = json.dumps({"seed": run["seed"], "recipe": run["recipe"]})
    return save_single_file(path, unet=unet, vae=vae, text_encoders=[text], family="sd1",
                            prediction_type="epsilon", dtype=torch.float16, metadata=meta)
