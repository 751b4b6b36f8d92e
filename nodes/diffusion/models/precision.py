"""Which dtype models are loaded in, from the device, what its hardware does fast, and ``settings.precision``
("auto", "fp32", "bf16", "fp16").

``auto`` picks what is fast and safe on the device:

- CPU: bf16 where the CPU computes it natively (AVX512-BF16 or AMX; measured on a Zen 5 core: the SD1.5 UNet 2.3-4x
  and the VAE 2x faster than fp32), else fp32. fp16 is never used on CPUs (no fast kernels; lossy).
- CUDA: bf16 from compute capability 8.0 (Ampere), fp16 on 7.x, fp32 below (Pascal's fp16 is slow) and on the
  GTX 16 series (fp16 gives NaNs / black images there, as ComfyUI notes). The VAE is never fp16 (SDXL's VAE
  overflows): bf16 where the GPU has it, else fp32 (ComfyUI's choice).
- MPS: fp16, the VAE in fp32.

Why bf16 must not run on a CPU without bf16 support (measured with torch 2.13 on these machines, oneDNN limited to
AVX2 the way an AVX2-only CPU has it, torch.profiler, 1 thread, SD1.5-sized VAE decode of a 64 px image):
oneDNN has no bf16 kernels below AVX512 (``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` is False), so every bf16
convolution falls back to aten's unvectorised ``_slow_conv2d_forward`` (im2col + a scalar bf16 GEMM): 36 calls,
64.5 s, against 0.37 s for the 32 fp32 convolutions in ``mkldnn_convolution``; group norm, SiLU and upsampling were
as fast in bf16. The UNet, whose convolutions are a smaller share, ran 2x slower (4.6 s against 2.2 s per forward).
So there the VAE stays fp32 even when bf16 is asked for, and the explicit choice is warned about.

The hardware checks are small functions (``cpu_bf16_support``, ``cuda_capability``) so tests can mock them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

#: GPUs with compute capability 7.5 whose fp16 gives NaNs / black images (ComfyUI's list, abridged).
FP16_BROKEN_GPUS = ("GTX 16", "1660", "1650", "1630", "T500", "T550", "T600", "MX450", "MX550", "T1000", "T1200",
                    "T2000", "CMP 30HX")

_warned: set[str] = set()


#: Overrides the CPU's bf16 detection ("native", "emulated", "none"): the tests pin "none", because they compare
#: against fp32 references whatever CPU runs them.
CPU_BF16_ENV = "NODEFLOW_CPU_BF16"


def cpu_bf16_support() -> str:
    """"native" (AVX512-BF16 or AMX instructions, and oneDNN uses them), "emulated" (oneDNN converts on AVX512
    without bf16 instructions: no faster than fp32) or "none" (no oneDNN bf16: the slow aten fallback)."""
    forced = os.environ.get(CPU_BF16_ENV, "").strip().lower()
    return forced if forced in ("native", "emulated", "none") else _detect_cpu_bf16()


@lru_cache(maxsize=1)
def _detect_cpu_bf16() -> str:
    import torch

    try:
        onednn = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn = False
    if not onednn:
        return "none"
    try:
        native = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # older torch: the kernel's own flags
        native = bool(_cpuinfo_flags() & {"avx512_bf16", "amx_bf16"})
    return "native" if native else "emulated"


def _cpuinfo_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cuda_capability(device: str) -> tuple[int, int, str]:
    """(major, minor, name) of a CUDA device."""
    import torch

    index = torch.device(device).index
    index = torch.cuda.current_device() if index is None else index
    major, minor = torch.cuda.get_device_capability(index)
    return major, minor, torch.cuda.get_device_name(index)


def mps_has_bf16() -> bool:
    import torch

    check = getattr(torch.backends.mps, "is_macos_or_newer", None)
    return bool(check and check(14, 0))


@dataclass(frozen=True)
class PrecisionChoice:
    unet: object  # torch dtype of the diffusion model and the text encoders
    vae: object
    #: why an explicit choice was changed or is slow here (shown once per process)
    warnings: tuple[str, ...] = ()


def choose_precision(device: str, precision: str = "auto") -> PrecisionChoice:
    import torch

    fp32, bf16, fp16 = torch.float32, torch.bfloat16, torch.float16
    kind = str(device).split(":")[0]
    if precision == "fp32":
        return PrecisionChoice(fp32, fp32)
    if kind == "cpu":
        support = cpu_bf16_support()
        if precision == "auto":
            return PrecisionChoice(bf16, bf16) if support == "native" else PrecisionChoice(fp32, fp32)
        if precision == "fp16":
            return PrecisionChoice(fp32, fp32, ("precision fp16: not used on CPUs (torch has no fast fp16 kernels "
                                                "for them); running in fp32",))
        if support == "native":
            return PrecisionChoice(bf16, bf16)
        if support == "emulated":
            return PrecisionChoice(bf16, fp32, ("precision bf16: this CPU has no native bf16 (AVX512-BF16 / AMX); "
                                                "oneDNN emulates it, no faster than fp32; the VAE runs in fp32 "
                                                "(2.4x slower in emulated bf16)",))
        return PrecisionChoice(bf16, fp32, (
            "precision bf16: this CPU has no bf16 support (no AVX512-BF16 / AMX, oneDNN has no bf16 kernels for it), "
            "so bf16 convolutions run in torch's unvectorised fallback (_slow_conv2d_forward): sampling about 2x "
            "slower than fp32 and VAE decoding 150x slower; the VAE stays in fp32. Choose fp32 or auto",))
    if kind == "cuda":
        major, _minor, name = cuda_capability(device)
        fp16_broken = any(tag in name for tag in FP16_BROKEN_GPUS)
        vae = bf16 if major >= 8 else fp32
        if precision == "auto":
            unet = bf16 if major >= 8 else fp16 if major == 7 and not fp16_broken else fp32
            return PrecisionChoice(unet, vae)
        if precision == "bf16":
            if major >= 8:
                return PrecisionChoice(bf16, bf16)
            return PrecisionChoice(bf16, fp32, (f"precision bf16: {name} (compute capability {major}.x) has no "
                                                "native bf16 (from 8.0); torch emulates it, slowly; fp16 or auto "
                                                "is faster",))
        notes = ()
        if major < 7 or fp16_broken:
            notes = (f"precision fp16: {name} (compute capability {major}.x) computes fp16 slowly or with NaNs; "
                     "fp32 or auto is safer",)
        return PrecisionChoice(fp16, vae, notes)
    if kind == "mps":
        if precision == "bf16" and not mps_has_bf16():
            return PrecisionChoice(fp16, fp32, ("precision bf16: MPS has bf16 from macOS 14; using fp16",))
        return PrecisionChoice(bf16 if precision == "bf16" else fp16, fp32)
    return PrecisionChoice(fp32, fp32)


def model_dtype(device: str, precision: str = "auto"):
    """The diffusion model's (and the text encoders') dtype."""
    return choose_precision(device, precision).unet


def vae_dtype(device: str, precision: str = "auto"):
    """The VAE's dtype: never fp16 (SDXL's VAE overflows to NaN), never bf16 where the device lacks it."""
    return choose_precision(device, precision).vae


def warn_slow_precision(device: str, precision: str, log) -> None:
    """Tell (through ``log``, e.g. ``ctx.log``) why an explicit precision is slow or changed here, once a process."""
    for message in choose_precision(device, precision).warnings:
        if message not in _warned:
            _warned.add(message)
            log(message)
