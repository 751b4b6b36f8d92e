"""Weights stored in 8 bits (fp8) and computed in the model's dtype, layer by layer.

Used for files whose weights are fp8 already (kept as stored: half of bf16's memory) and for UNETLoader's
weight_dtype fp8 choices (the loader converts the Linear weights to fp8 before building, one at a time). torch has no fp8 matmul on CPUs (and only on recent GPUs), so each Linear keeps its
weight in fp8 and a forward pre-hook hands the layer an up-cast copy for that call, dropped after it: memory holds
1 byte per weight plus one layer's copy, at the cost of a cast per layer and step (what ComfyUI does for fp8
weights too).
"""
from __future__ import annotations

FP8_NAMES = ("float8_e4m3fn", "float8_e5m2")


def is_fp8(dtype) -> bool:
    return str(dtype).replace("torch.", "") in FP8_NAMES


def keep_stored_fp8(module, compute_dtype) -> int:
    """A module loaded with its file's dtypes: fp8 Linear weights stay fp8 (computed in ``compute_dtype``),
    everything else is cast to ``compute_dtype``."""
    import torch

    count = 0
    for sub in module.modules():
        for name, param in list(sub.named_parameters(recurse=False)):
            keep = isinstance(sub, torch.nn.Linear) and name == "weight" and is_fp8(param.dtype)
            if keep:
                sub.register_forward_pre_hook(_upcast(compute_dtype))
                sub.register_forward_hook(_restore)
                sub._nodeflow_fp8 = True
                count += 1
            elif param.is_floating_point() and param.dtype != compute_dtype:
                setattr(sub, name, torch.nn.Parameter(param.detach().to(compute_dtype), requires_grad=False))
        for name, buf in list(sub.named_buffers(recurse=False)):
            if buf.is_floating_point() and buf.dtype != compute_dtype:
                sub._buffers[name] = buf.to(compute_dtype)
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
