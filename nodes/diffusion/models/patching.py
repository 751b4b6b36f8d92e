"""Weight patches (LoRA) applied for the duration of one use and reverted after, ComfyUI's ModelPatcher idea.

MODEL and CLIP objects share their modules with every clone and carry their own patch list. ``SharedModule.applied``
swaps each patched parameter for a patched copy and puts the original Parameter object back afterwards: the base
weights are never written to, so they come back bit for bit even if the use fails halfway. A lock serialises uses
of a shared module with different patch lists (two runs, two LoRAs on one checkpoint).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True, eq=False)
class LowRankDelta:
    """``up @ down * scale`` (LoRA), compared by identity; tensors stay on the CPU until applied."""

    up: object
    down: object
    scale: float = 1.0

    def weight_delta(self, shape, device):
        import torch

        up = self.up.to(device=device, dtype=torch.float32).flatten(1)
        down = self.down.to(device=device, dtype=torch.float32).flatten(1)
        delta = (up @ down) * self.scale
        if delta.numel() != _numel(shape):
            raise ValueError(f"LoRA delta of shape {tuple(delta.shape)} does not fit a weight of shape {tuple(shape)}")
        return delta.reshape(shape)


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


@dataclass(frozen=True)
class WeightPatch:
    """Add ``strength * delta`` to the parameter ``key`` (a ``state_dict`` name of the patched module)."""

    key: str
    delta: LowRankDelta
    strength: float


@contextmanager
def patched_parameters(module, patches: Sequence[WeightPatch]):
    """Within the block, ``module``'s patched parameters are new tensors ``W + sum(strength * delta)``."""
    import torch

    grouped: dict[str, list[WeightPatch]] = {}
    for patch in patches:
        if patch.strength:
            grouped.setdefault(patch.key, []).append(patch)
    originals = []
    try:
        with torch.no_grad():
            for key, group in grouped.items():
                owner_name, _, attr = key.rpartition(".")
                owner = module.get_submodule(owner_name) if owner_name else module
                original = owner._parameters[attr]
                weight = original.detach().to(torch.float32)
                for patch in group:
                    weight = weight + patch.strength * patch.delta.weight_delta(original.shape, original.device)
                originals.append((owner, attr, original))
                owner._parameters[attr] = torch.nn.Parameter(weight.to(_patched_dtype(original.dtype)),
                                                             requires_grad=False)
        yield module
    finally:
        for owner, attr, original in reversed(originals):
            owner._parameters[attr] = original


def _patched_dtype(dtype):
    """The dtype a patched copy is kept in: the weight's own, except fp8 (3 mantissa bits would round most of a
    LoRA's small delta away): those patched layers are held in bf16 for the use (the fp8 layers' up-cast hook
    takes any stored dtype), so only the LoRA'd layers cost 2 bytes a weight, and only while patched."""
    import torch

    from nodes.diffusion.models.weight_storage import is_fp8

    return torch.bfloat16 if is_fp8(dtype) else dtype


class SharedModule:
    """A module shared by several MODEL / CLIP objects; ``applied(patches)`` holds it patched for one use."""

    def __init__(self, module, name: str = ""):
        self.module = module
        self.name = name
        self._lock = threading.RLock()
        self._active: tuple | None = None
        self._depth = 0
        #: memoised lookups about the module (e.g. LoRA key maps), filled by whoever needs them
        self.memo: dict = {}

    @contextmanager
    def applied(self, patches: Sequence[WeightPatch] = ()):
        patches = tuple(patches)
        with self._lock:
            if self._depth:  # nested use in the same thread (e.g. apply_model inside patched())
                if self._active != patches:
                    raise RuntimeError(f"{self.name or 'model'} is already in use with other patches")
                self._depth += 1
                try:
                    yield self.module
                finally:
                    self._depth -= 1
                return
            with patched_parameters(self.module, patches):
                self._active, self._depth = patches, 1
                try:
                    yield self.module
                finally:
                    self._active, self._depth = None, 0
