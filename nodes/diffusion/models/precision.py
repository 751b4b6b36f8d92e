"""Which dtype models are loaded in, from the device and ``settings.precision`` ("auto", "fp32", "bf16", "fp16")."""
from __future__ import annotations


def model_dtype(device: str, precision: str = "auto"):
    """CUDA/MPS: fp16 unless asked otherwise. CPU: fp32, or bf16 when asked (fp16 is slow and lossy on CPUs)."""
    import torch

    kind = str(device).split(":")[0]
    table = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if kind == "cpu":
        return torch.bfloat16 if precision == "bf16" else torch.float32
    return table.get(precision, torch.float16)


def vae_dtype(device: str, precision: str = "auto"):
    """Like ``model_dtype``, but never fp16: SDXL's VAE overflows to NaN in fp16 (bf16 where the GPU has it)."""
    import torch

    dtype = model_dtype(device, precision)
    if dtype is not torch.float16:
        return dtype
    if str(device).startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32
