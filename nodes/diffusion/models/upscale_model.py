"""Loading an upscale model file: NodeFlow's own ESRGAN / Real-ESRGAN compact code first (see upscale_arch: it
works without spandrel), spandrel for every other architecture where spandrel imports (the ``.[upscale]`` extra)."""
from __future__ import annotations

from pathlib import Path

from nodes.diffusion.models.upscale_arch import UnknownArchitecture, build, unwrap_state_dict


class UpscaleModel:
    """An image-to-image model with a fixed integer scale: ``model(x)`` maps [B, C, h, w] in 0..1 to
    [B, C, h * scale, w * scale]."""

    def __init__(self, module, scale: int, architecture: str, in_channels: int = 3, out_channels: int = 3,
                 call=None):
        self.module, self.scale, self.architecture = module, int(scale), architecture
        self.in_channels, self.out_channels = in_channels, out_channels
        self._call = call or module

    def __call__(self, x):
        return self._call(x)

    def __repr__(self) -> str:
        return f"UpscaleModel({self.architecture}, x{self.scale})"


def read_weights(path: Path) -> dict:
    """The tensors of a .safetensors or (weights-only) pickled model file, unwrapped."""
    import pickle
    import zipfile

    import torch

    from nodes.diffusion.models.checkpoint_file import PICKLE_SUFFIXES, CheckpointError, read_state_dict

    if Path(path).suffix.lower() in PICKLE_SUFFIXES:
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)  # never arbitrary pickles
        except pickle.UnpicklingError as e:
            raise CheckpointError("this pickled file holds Python objects besides weights, which are not loaded "
                                  f"for safety; convert it to .safetensors ({str(e).splitlines()[0][:200]})") from e
        except (EOFError, zipfile.BadZipFile, RuntimeError, OSError, ValueError) as e:
            raise CheckpointError(f"could not read it, probably truncated or corrupt ({e})") from e
        if not isinstance(obj, dict):
            raise CheckpointError("the file holds no state dict")
        sd = unwrap_state_dict(obj)
    else:
        sd = unwrap_state_dict(read_state_dict(Path(path))[0])
    sd = {k: v for k, v in sd.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not sd:
        raise CheckpointError("the file holds no weights")
    return sd


def from_state_dict(sd: dict) -> UpscaleModel:
    try:
        arch, module = build(sd)
    except UnknownArchitecture:
        return _with_spandrel(sd)
    return UpscaleModel(module, module.scale, arch, module.in_channels, module.out_channels)


def spandrel_import_error() -> str | None:
    """None when spandrel imports here, else why not."""
    try:
        import spandrel  # noqa: F401
    except Exception as e:  # noqa: BLE001 - a broken torchvision raises RuntimeError, not ImportError
        return f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    return None


def _with_spandrel(sd: dict) -> UpscaleModel:
    why = spandrel_import_error()
    if why is not None:
        raise UnknownArchitecture(
            "not an ESRGAN (RRDBNet) or Real-ESRGAN compact (SRVGGNet) model, the architectures NodeFlow reads "
            f"itself; other architectures need spandrel (pip install 'nodeflow[upscale]'), which is not usable "
            f"here ({why})")
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    try:
        descriptor = ModelLoader().load_from_state_dict(sd).eval()
    except UnsupportedModelError as e:
        raise UnknownArchitecture(f"an architecture neither NodeFlow nor spandrel knows ({e})") from None
    if not isinstance(descriptor, ImageModelDescriptor):
        raise UnknownArchitecture(f"a {descriptor.architecture.name} model, not a single-image upscale model")
    return UpscaleModel(descriptor.model, descriptor.scale, f"spandrel:{descriptor.architecture.id}",
                        descriptor.input_channels, descriptor.output_channels, call=descriptor)


def load_upscale_model(path: Path) -> UpscaleModel:
    return from_state_dict(read_weights(path))
