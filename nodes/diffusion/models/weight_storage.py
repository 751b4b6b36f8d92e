"""Weights stored in 8 bits (fp8) and computed in the model's dtype, layer by layer (UNETLoader's weight_dtype).

torch has no fp8 matmul on CPUs (and only on recent GPUs), so each Linear keeps its weight in fp8 and a forward
pre-hook hands the layer an up-cast copy for that call, dropped after it: memory holds 1 byte per weight plus one
layer's copy, at the cost of a cast per layer and step (what ComfyUI does for fp8 weights too).
"""
from __future__ import annotations


def store_weights_as(module, storage_dtype, compute_dtype) -> int:
    """Convert every Linear weight of ``module`` to ``storage_dtype``; returns how many were converted."""
    import torch

    count = 0
    for sub in module.modules():
        if isinstance(sub, torch.nn.Linear) and sub.weight.dtype != storage_dtype:
            sub.weight = torch.nn.Parameter(sub.weight.detach().to(storage_dtype), requires_grad=False)
            sub.register_forward_pre_hook(_upcast(compute_dtype))
            sub.register_forward_hook(_restore)
            count += 1
    return count


def _upcast(compute_dtype):
    import torch

    def hook(layer, args):
        stored = layer._parameters["weight"]
        layer._stored_weight = stored
        layer._parameters["weight"] = torch.nn.Parameter(stored.to(compute_dtype), requires_grad=False)

    return hook


def _restore(layer, args, output):
    layer._parameters["weight"] = layer._stored_weight
    del layer._stored_weight
