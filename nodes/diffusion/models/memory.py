"""Where models sit, and what happens when GPU memory is short.

Policy (simple on purpose, one process-wide ``DeviceMemory``):

1. After loading, every model lives on the CPU.
2. Using one (``with memory.use(part, device)``) moves it to the device and pins it there for the duration.
3. After the use it stays on the device, so the next use costs nothing, until another model needs the room.
4. Before moving a model in, when the device's free memory is below the model's size plus a working reserve (for
   activations), the least recently used unpinned models go back to the CPU, one at a time, until it fits or none
   are left (it is then moved anyway: the allocator may still manage, and a real failure is reported as below).
5. A CUDA out-of-memory error offloads every unpinned model, empties the cache, and becomes a ``NodeError`` that
   names the node and suggests a smaller image size or batch.

The CPU and Apple's unified memory (MPS) report no free-memory figure: nothing is ever offloaded there.

On Linux the CPU allocator keeps freed memory while a model is in use (``tune_cpu_allocator``) and gives it back
when the use ends: glibc otherwise unmaps every large freed block, and oneDNN's per-call weight reorders then fault
in and zero fresh pages on every step (measured: 465,000 page faults per SD1.5 UNet forward at 64 px, fp32; the
forward 2.3x faster without them).
"""
from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Iterable, Protocol

from nodeflow.core.context import NodeError

#: Room kept free for activations when deciding whether a model fits next to the others.
WORKING_RESERVE_BYTES = 1024 ** 3
SMALLER_HINT = "try a smaller image size or batch size"
#: glibc thresholds while a model runs on the CPU: blocks up to 1 GiB come from (and go back to) the heap, and the
#: heap keeps up to 2 GiB of freed memory at its top; glibc's defaults are 128 KiB for both (the first one rising to
#: 32 MiB as big blocks are freed, which is not enough for an SD UNet's weight reorders).
CPU_MMAP_THRESHOLD = 1 << 30
CPU_TRIM_THRESHOLD = (1 << 31) - 1
#: glibc's own steady state once large blocks have been freed (its dynamic thresholds at their maximum): "off"
GLIBC_DYNAMIC_MMAP_MAX = 32 << 20
#: whether model uses on the CPU keep freed memory (benchmarks turn it off to measure the difference)
CPU_KEEPS_FREED_MEMORY = True


class MemoryBackend(Protocol):
    def free_bytes(self, device: str) -> int | None:
        """Bytes that can still be allocated on ``device``; None when unknown or unlimited."""

    def empty_cache(self, device: str) -> None:
        ...


class TorchBackend:
    def free_bytes(self, device: str) -> int | None:
        import torch

        if not str(device).startswith("cuda") or not torch.cuda.is_available():
            return None
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        # memory torch's allocator holds but doesn't use is free for our purpose
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))

    def empty_cache(self, device: str) -> None:
        import torch

        if str(device).startswith("cuda") and torch.cuda.is_available():
            torch.cuda.empty_cache()


def free_working_bytes(device: str) -> int | None:
    """Memory free for a computation's intermediate tensors: on CUDA the device's free memory (the allocator's unused
    cache included), on the CPU what Linux calls MemAvailable; None where unknown (MPS, other systems)."""
    kind = str(device).split(":")[0]
    if kind == "cuda":
        return TorchBackend().free_bytes(device)
    if kind != "cpu":
        return None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def refuse_if_too_big(nbytes: int, what: str, field: str, lower: str, device: str = "cpu") -> None:
    """Before allocating a tensor whose size is known from the values (a latent, an upscale, a decoded batch):
    refuse with the field, the estimate and the memory available, rather than let torch fail (or the system
    swap) after minutes. Unknown free memory (MPS, other systems) lets it through."""
    free = free_working_bytes(device)
    if free is not None and nbytes > free:
        raise NodeError(f"{what} needs about {_gib(nbytes)} of memory and {_gib(free)} is available; lower {lower}",
                        field=field)


def _gib(n: int) -> str:
    return f"{n / 1024 ** 3:.1f} GiB" if n >= 1024 ** 3 / 10 else f"{n / 1024 ** 2:.0f} MiB"


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
_allocator_state: bool | None = None
_libc = None


def _glibc():
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            import ctypes
            import platform

            try:
                if platform.libc_ver()[0] == "glibc":
                    _libc = ctypes.CDLL("libc.so.6")
            except OSError:
                pass
    return _libc or None


def tune_cpu_allocator(keep_freed: bool = True) -> bool:
    """Let glibc keep freed memory for reuse (``keep_freed``), or set its own steady-state thresholds back; False
    where the C library isn't glibc."""
    global _allocator_state
    libc = _glibc()
    if libc is None:
        return False
    if _allocator_state != keep_freed:
        mmap, trim = ((CPU_MMAP_THRESHOLD, CPU_TRIM_THRESHOLD) if keep_freed
                      else (GLIBC_DYNAMIC_MMAP_MAX, 2 * GLIBC_DYNAMIC_MMAP_MAX))
        libc.mallopt(_M_MMAP_THRESHOLD, mmap)
        libc.mallopt(_M_TRIM_THRESHOLD, trim)
        _allocator_state = keep_freed
    return True


def release_freed_cpu_memory() -> None:
    """Give the memory the allocator kept back to the system (after a model use on the CPU)."""
    libc = _glibc()
    if libc is not None and _allocator_state:
        libc.malloc_trim(0)


class MovablePart:
    """A group of modules moved together (a UNet; a checkpoint's text encoders; a VAE)."""

    def __init__(self, name: str, modules: Iterable, nbytes: int | None = None):
        self.name = name
        self.modules = list(modules)
        self.nbytes = nbytes if nbytes is not None else sum(_module_bytes(m) for m in self.modules)
        self.device = "cpu"

    def to(self, device: str) -> None:
        import torch

        for module in self.modules:
            torch.nn.Module.to(module, device)  # nn.Module's own .to: diffusers' override warns about dtypes
        self.device = str(device)

    def __repr__(self) -> str:
        return f"MovablePart({self.name!r}, {self.nbytes / 2 ** 20:.0f} MiB on {self.device})"


def _module_bytes(module) -> int:
    return sum(t.numel() * t.element_size() for t in list(module.parameters()) + list(module.buffers()))


class DeviceMemory:
    def __init__(self, backend: MemoryBackend | None = None, reserve_bytes: int = WORKING_RESERVE_BYTES):
        self.backend = backend or TorchBackend()
        self.reserve_bytes = reserve_bytes
        self._resident: OrderedDict[int, MovablePart] = OrderedDict()  # least recently used first
        self._pins: dict[int, int] = {}
        self._lock = threading.RLock()

    @contextmanager
    def use(self, part: MovablePart, device: str):
        """Hold ``part`` on ``device`` for the duration of the block."""
        device = str(device)
        if device == "cpu" and CPU_KEEPS_FREED_MEMORY:
            tune_cpu_allocator(True)
        with self._lock:
            if part.device != device:
                if device != "cpu":
                    self._make_room(part, device)
                try:
                    part.to(device)
                except BaseException:
                    part.to("cpu")  # a half-moved model goes home whole (it failed to fit)
                    self._resident.pop(id(part), None)
                    raise
            key = id(part)
            if device == "cpu":
                self._resident.pop(key, None)
            else:
                self._resident[key] = part
                self._resident.move_to_end(key)
            self._pins[key] = self._pins.get(key, 0) + 1
        try:
            yield part
        finally:
            with self._lock:
                self._pins[key] -= 1
                if not self._pins[key]:
                    del self._pins[key]
                    if device == "cpu" and not self._pins:
                        release_freed_cpu_memory()

    def _make_room(self, part: MovablePart, device: str) -> None:
        free = self.backend.free_bytes(device)
        if free is None:
            return
        need = part.nbytes + self.reserve_bytes
        for key, other in list(self._resident.items()):
            if free >= need:
                break
            if other is part or self._pins.get(key) or other.device != device:
                continue
            self._offload(key, other)
            free = self.backend.free_bytes(device) or 0

    def _offload(self, key: int, part: MovablePart) -> None:
        device = part.device
        part.to("cpu")
        self._resident.pop(key, None)
        self.backend.empty_cache(device)

    def offload_all(self) -> int:
        """Move every unpinned model back to the CPU; returns how many moved."""
        with self._lock:
            moved = 0
            for key, part in list(self._resident.items()):
                if not self._pins.get(key):
                    self._offload(key, part)
                    moved += 1
            return moved

    def resident(self) -> list[MovablePart]:
        with self._lock:
            return list(self._resident.values())


_default: DeviceMemory | None = None
_default_lock = threading.Lock()


def device_memory() -> DeviceMemory:
    """The process-wide manager."""
    global _default
    with _default_lock:
        if _default is None:
            _default = DeviceMemory()
        return _default


# -- out of memory ---------------------------------------------------------------------------------------------------

class GpuOutOfMemory(NodeError):
    """The device ran out of memory; the message says what was running and what to try."""


def is_out_of_memory(error: BaseException) -> bool:
    import torch

    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                  getattr(torch.cuda, "OutOfMemoryError", None)) if t is not None)
    if oom_types and isinstance(error, oom_types):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


@contextmanager
def out_of_memory_as_error(what: str, hint: str = SMALLER_HINT):
    """Turn an OOM inside the block into ``GpuOutOfMemory`` after freeing what can be freed."""
    failed = None
    try:
        yield
    except Exception as e:  # noqa: BLE001 - only OOM is translated, the rest re-raised as is
        if isinstance(e, GpuOutOfMemory) or not is_out_of_memory(e):
            raise
        failed = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
    # Raised outside the except block so the failed frames (and their GPU tensors) can be released first.
    if failed is not None:
        device_memory().offload_all()
        TorchBackend().empty_cache("cuda")
        raise GpuOutOfMemory(f"out of GPU memory while {what}; {hint} ({failed})")


@contextmanager
def node_out_of_memory(ctx):
    """For node functions: an OOM (or a ``GpuOutOfMemory`` from a model method) names the node."""
    message = None
    try:
        with out_of_memory_as_error("running this node"):
            yield
    except GpuOutOfMemory as e:
        message = str(e)
    if message is not None:
        raise NodeError(f"{ctx.node_title}: {message}")
