"""precision "auto" per device and hardware (the capability checks mocked), and the warning an explicit slow choice
gets once."""
from __future__ import annotations

import pytest
import torch

from nodeflow.core import events as ev
from nodes.diffusion.models import precision as p
from nodes.diffusion.nodes_loaders import load_checkpoint
from tests.diffusion.tiny_models import make_context, make_settings, write_tiny_checkpoint

FP32, BF16, FP16 = torch.float32, torch.bfloat16, torch.float16
load_node = load_checkpoint.fn


@pytest.fixture
def cpu(monkeypatch):
    def set_support(kind: str):
        monkeypatch.setattr(p, "cpu_bf16_support", lambda: kind)
        monkeypatch.setattr(p, "_warned", set())
    return set_support


@pytest.fixture
def gpu(monkeypatch):
    def set_gpu(major: int, name: str):
        monkeypatch.setattr(p, "cuda_capability", lambda device: (major, 0, name))
    return set_gpu


def both(device, precision):
    return p.model_dtype(device, precision), p.vae_dtype(device, precision)


def test_auto_on_a_cpu_without_native_bf16_is_fp32(cpu):
    for support in ("none", "emulated"):
        cpu(support)
        assert both("cpu", "auto") == (FP32, FP32)


def test_auto_on_a_cpu_with_native_bf16_is_bf16(cpu):
    cpu("native")
    assert both("cpu", "auto") == (BF16, BF16)
    assert both("cpu", "fp32") == (FP32, FP32)


def test_explicit_bf16_without_support_keeps_the_vae_in_fp32_and_says_why(cpu):
    cpu("none")
    assert both("cpu", "bf16") == (BF16, FP32)
    [warning] = p.choose_precision("cpu", "bf16").warnings
    assert "_slow_conv2d_forward" in warning and "fp32" in warning
    assert p.choose_precision("cpu", "auto").warnings == ()


def test_fp16_is_never_used_on_cpus(cpu):
    cpu("native")
    assert both("cpu", "fp16") == (FP32, FP32)
    assert p.choose_precision("cpu", "fp16").warnings


def test_cuda_by_compute_capability(gpu):
    gpu(8, "NVIDIA A100")
    assert both("cuda", "auto") == (BF16, BF16)
    assert both("cuda:1", "fp16") == (FP16, BF16)  # the VAE never in fp16
    gpu(7, "NVIDIA GeForce RTX 2080")
    assert both("cuda", "auto") == (FP16, FP32)
    assert both("cuda", "bf16") == (BF16, FP32) and p.choose_precision("cuda", "bf16").warnings
    gpu(7, "NVIDIA GeForce GTX 1660 SUPER")
    assert both("cuda", "auto") == (FP32, FP32)
    gpu(6, "NVIDIA GeForce GTX 1080")
    assert both("cuda", "auto") == (FP32, FP32)
    assert p.choose_precision("cuda", "fp16").warnings


def test_mps(monkeypatch):
    monkeypatch.setattr(p, "mps_has_bf16", lambda: False)
    assert both("mps", "auto") == (FP16, FP32)
    assert both("mps", "bf16") == (FP16, FP32)


def test_env_override_and_detection(monkeypatch):
    monkeypatch.setenv(p.CPU_BF16_ENV, "native")
    assert p.cpu_bf16_support() == "native"
    monkeypatch.delenv(p.CPU_BF16_ENV)
    p._detect_cpu_bf16.cache_clear()
    try:
        detected = p.cpu_bf16_support()
        onednn = torch.ops.mkldnn._is_mkldnn_bf16_supported()
        assert (detected == "none") == (not onednn)
        if onednn:
            assert (detected == "native") == ("avx512_bf16" in p._cpuinfo_flags() or "amx_bf16" in p._cpuinfo_flags())
    finally:
        p._detect_cpu_bf16.cache_clear()


def test_the_loader_warns_once_through_the_node_log(tmp_path, cpu):
    cpu("none")
    settings = make_settings(tmp_path, precision="bf16")
    write_tiny_checkpoint(tmp_path / "models/checkpoints/tiny.safetensors", "sd1")
    events: list = []
    model, _clip, vae = load_node(make_context(settings, events=events), "tiny.safetensors")
    load_node(make_context(settings, events=events), "tiny.safetensors")
    assert model.dtype == BF16 and vae.dtype == FP32 and next(vae.module.parameters()).dtype == FP32
    logs = [e.message for e in events if isinstance(e, ev.NodeLog)]
    assert len(logs) == 1 and "bf16" in logs[0]
