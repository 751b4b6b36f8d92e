"""The image size a checkpoint was trained for, read from its file's header only (no weights, no torch), so the
editor can give a new Empty Latent Image the size that suits the model in the graph (issue 11: a 512 px latent on
the 64 px built-in model takes 100 s on 2 cores and draws tiles).

Order: the file's own declaration (``modelspec.resolution``, the Stability AI model-spec key, "1024x1024"), then
NodeFlow's demo models (they carry ``nodeflow.training`` and are trained at 64 px), then the family the key layout
shows: SDXL 1024, SD2 768 for v-prediction else 512, SD1 512.
"""
from __future__ import annotations

from pathlib import Path

#: NodeFlow's shapes models (nodes/demo) are trained at this size.
DEMO_SIZE = 64


def native_size(path: Path) -> tuple[int, int] | None:
    """(width, height), or None when the file cannot be read or says nothing usable."""
    header = _header(Path(path))
    if header is None:
        return None
    keys, meta = header
    declared = str(meta.get("modelspec.resolution", ""))
    w, _, h = declared.partition("x")
    if w.strip().isdigit() and h.strip().isdigit():
        return int(w), int(h)
    if "nodeflow.training" in meta:
        return DEMO_SIZE, DEMO_SIZE
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        return 1024, 1024
    if any(k.startswith("cond_stage_model.model.") for k in keys):  # SD2's OpenCLIP
        v = str(meta.get("modelspec.prediction_type", "")).startswith("v")
        return (768, 768) if v else (512, 512)
    if any(k.startswith("model.diffusion_model.") for k in keys):
        return 512, 512
    return None


def _header(path: Path) -> tuple[list[str], dict] | None:
    if path.suffix.lower() != ".safetensors" or not path.is_file():
        return None
    from safetensors import SafetensorError, safe_open

    try:  # safe_open reads the JSON header; tensors are only read on get_tensor
        with safe_open(str(path), framework="numpy") as f:
            return list(f.keys()), dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError):
        return None


def latent_defaults(graph, settings) -> dict:
    """Width and height for a new Empty Latent Image: the native size of the checkpoint the graph loads (the first
    Load Checkpoint whose file is found), or nothing (the declared 512 default stays)."""
    if settings is None:
        return {}
    for node in sorted(graph.nodes.values(), key=lambda n: n.id):
        if node.type != "CheckpointLoaderSimple" or node.mode == "muted":
            continue
        path = settings.folders.resolve("checkpoints", node.values.get("ckpt_name", ""))
        size = native_size(path) if path is not None else None
        if size is not None:
            return {"width": size[0], "height": size[1]}
    return {}


#: Pixels beyond this many times the model's native area make a run slow and the picture tiled or repeated.
OVERSIZE = 4
#: Latents above this many pixels (all images of the batch) are absurd on any machine a person has.
ABSURD_PIXELS = 64 * 1024 * 1024


def latent_warnings(graph, node, settings) -> list[str]:
    """Warnings the editor shows before running an Empty Latent Image that is far too large."""
    w, h = int(node.values.get("width", 512)), int(node.values.get("height", 512))
    batch = int(node.values.get("batch_size", 1))
    out = []
    if w * h * batch > ABSURD_PIXELS:
        out.append(f"{w}x{h} x {batch} is {w * h * batch / 1e6:.0f} megapixels: the latent alone needs "
                   f"{w * h * batch * 4 * 4 / 64 / 2 ** 20:.0f} MB and sampling far more")
    native = latent_defaults(graph, settings)
    if native:
        nw, nh = native["width"], native["height"]
        if w * h > OVERSIZE * nw * nh:
            out.append(f"{w}x{h} is {w * h / (nw * nh):.0f}x the pixels the checkpoint was trained for ({nw}x{nh}): "
                       f"slow, and the picture comes out tiled; try {nw}x{nh}")
    return out
