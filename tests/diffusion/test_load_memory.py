"""GPU memory policy (with a fake device) and out-of-memory errors (the dtype choice: test_precision.py)."""
from __future__ import annotations

import pytest
import torch

from nodeflow.core.context import NodeError
from nodes.diffusion.models.memory import (DeviceMemory, GpuOutOfMemory, MovablePart, node_out_of_memory,
                                           out_of_memory_as_error)
from tests.diffusion.tiny_models import make_context

GB = 1024 ** 3


class FakeGpu:
    """A device with ``total`` bytes; parts count against it while their ``device`` is "cuda"."""

    def __init__(self, total: int):
        self.total = total
        self.parts: list[MovablePart] = []
        self.emptied = 0

    def free_bytes(self, device):
        if device == "cpu":
            return None
        return self.total - sum(p.nbytes for p in self.parts if p.device == device)

    def empty_cache(self, device):
        self.emptied += 1


def parts(gpu, **sizes):
    made = {name: MovablePart(name, [], nbytes=int(gb * GB)) for name, gb in sizes.items()}
    gpu.parts.extend(made.values())
    return made


def test_models_stay_on_the_device_until_room_is_needed():
    gpu = FakeGpu(10 * GB)
    memory = DeviceMemory(gpu, reserve_bytes=1 * GB)
    p = parts(gpu, unet=4, clip=1, vae=1, other=5)
    for name in ("clip", "unet", "vae"):
        with memory.use(p[name], "cuda"):
            assert p[name].device == "cuda"
    assert [x.name for x in memory.resident()] == ["clip", "unet", "vae"]  # nothing needed offloading
    with memory.use(p["other"], "cuda"):  # needs 5 + 1 reserve; 4 free -> the least recently used go first
        assert p["clip"].device == "cpu" and p["unet"].device == "cpu" and p["vae"].device == "cuda"
    assert gpu.emptied == 2


def test_a_model_in_use_is_never_offloaded():
    gpu = FakeGpu(10 * GB)
    memory = DeviceMemory(gpu, reserve_bytes=1 * GB)
    p = parts(gpu, unet=6, vae=3, big=5)
    with memory.use(p["unet"], "cuda"):
        with memory.use(p["vae"], "cuda"):
            pass
        with memory.use(p["big"], "cuda"):  # nothing fits beside the pinned UNet: the VAE goes, the UNet stays
            assert p["unet"].device == "cuda" and p["vae"].device == "cpu" and p["big"].device == "cuda"
    assert memory.offload_all() == 2
    assert all(x.device == "cpu" for x in p.values())


def test_cpu_use_never_offloads_and_brings_models_home():
    gpu = FakeGpu(1 * GB)
    memory = DeviceMemory(gpu)
    p = parts(gpu, unet=4)
    with memory.use(p["unet"], "cuda"):
        pass
    with memory.use(p["unet"], "cpu"):
        assert p["unet"].device == "cpu"
    assert memory.resident() == []


def test_real_modules_move(monkeypatch):
    module = torch.nn.Linear(4, 4)
    part = MovablePart("lin", [module])
    assert part.nbytes == (16 + 4) * 4
    memory = DeviceMemory(FakeGpu(GB))
    with memory.use(part, "meta"):
        assert module.weight.device.type == "meta"


class TooBigPart(MovablePart):
    def to(self, device):
        self.device = device
        if device != "cpu":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


def test_a_model_that_fails_to_move_goes_back_to_the_cpu():
    gpu = FakeGpu(10 * GB)
    memory = DeviceMemory(gpu)
    part = TooBigPart("huge", [], nbytes=20 * GB)
    with pytest.raises(GpuOutOfMemory):
        with out_of_memory_as_error("loading the UNet"):
            with memory.use(part, "cuda"):
                pass
    assert part.device == "cpu" and memory.resident() == []


def test_cuda_oom_becomes_a_node_error_naming_the_node():
    ctx = make_context(None, node_type="KSampler")
    with pytest.raises(NodeError) as err:
        with node_out_of_memory(ctx):
            with out_of_memory_as_error("running the UNet on a batch of 4 at 1024x1024"):
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    message = str(err.value)
    assert message.startswith("KSampler: out of GPU memory while running the UNet on a batch of 4 at 1024x1024")
    assert "smaller image size or batch size" in message
    with pytest.raises(GpuOutOfMemory):
        with out_of_memory_as_error("decoding"):
            raise RuntimeError("CUDA error: out of memory")


def test_other_errors_pass_through():
    with pytest.raises(ValueError):
        with node_out_of_memory(make_context(None)):
            raise ValueError("not about memory")


def test_cpu_uses_keep_freed_memory_and_give_it_back_after_the_outermost_use(monkeypatch):
    from nodes.diffusion.models import memory

    calls = []

    class FakeLibc:
        def mallopt(self, param, value):
            calls.append(("mallopt", param, value))
            return 1

        def malloc_trim(self, pad):
            calls.append(("trim",))
            return 1

    monkeypatch.setattr(memory, "_libc", FakeLibc())
    monkeypatch.setattr(memory, "_allocator_state", None)
    manager, unet, vae = DeviceMemory(), MovablePart("unet", [], nbytes=0), MovablePart("vae", [], nbytes=0)
    with manager.use(unet, "cpu"):  # a sampler's whole loop
        for _ in range(3):
            with manager.use(unet, "cpu"):  # each step
                pass
        assert ("trim",) not in calls
    assert calls == [("mallopt", memory._M_MMAP_THRESHOLD, memory.CPU_MMAP_THRESHOLD),
                     ("mallopt", memory._M_TRIM_THRESHOLD, memory.CPU_TRIM_THRESHOLD), ("trim",)]
    with manager.use(vae, "cpu"):
        pass
    assert calls[-1] == ("trim",) and len(calls) == 4  # thresholds set once
    memory.tune_cpu_allocator(False)
    assert calls[-2:] == [("mallopt", memory._M_MMAP_THRESHOLD, memory.GLIBC_DYNAMIC_MMAP_MAX),
                          ("mallopt", memory._M_TRIM_THRESHOLD, 2 * memory.GLIBC_DYNAMIC_MMAP_MAX)]
