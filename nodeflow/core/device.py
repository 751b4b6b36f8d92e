"""Which torch device runs the nodes: CUDA, else MPS, else CPU. Resolving imports torch, so it happens lazily."""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=8)
def resolve_device(preference: str = "auto") -> str:
    if preference == "cpu":
        return "cpu"
    import torch

    if preference == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was asked for, but torch sees no CUDA GPU")
        return "cuda"
    if preference == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise RuntimeError("device 'mps' was asked for, but this torch build has no MPS support")
        return "mps"
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"
