"""What the status bar says about memory and the device: cached outputs plus loaded models (a model is most of the
memory a session holds, and the figure stayed at 0 MB without them), and the device runs actually use.

Qt-free and torch-free at import: sizes are read from what the objects expose (``nbytes`` of arrays, parameters and
buffers of torch modules), and the device is resolved only once torch is already imported (resolving it would
otherwise import torch on the GUI thread)."""
from __future__ import annotations

import sys
from typing import Any

#: How deep to look into a cached model object (a loader's result holds modules in dicts or attributes).
MAX_DEPTH = 4


def object_bytes(obj: Any, _seen: set[int] | None = None, _depth: int = 0) -> int:
    """Bytes of the arrays and tensors ``obj`` holds (each counted once)."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen or _depth > MAX_DEPTH or obj is None or isinstance(obj, (str, bytes, int, float, bool)):
        return 0
    seen.add(id(obj))
    parameters = getattr(obj, "parameters", None)
    buffers = getattr(obj, "buffers", None)
    if callable(parameters) and callable(buffers) and hasattr(obj, "state_dict"):  # a torch module
        total = 0
        for t in [*parameters(), *buffers()]:
            if id(t) not in seen:
                seen.add(id(t))
                total += t.numel() * t.element_size()
        return total
    if hasattr(obj, "element_size") and hasattr(obj, "numel"):  # a tensor
        return int(obj.numel() * obj.element_size())
    nbytes = getattr(obj, "nbytes", None)
    if isinstance(nbytes, int):  # a numpy array
        return nbytes
    if isinstance(obj, dict):
        return sum(object_bytes(v, seen, _depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sum(object_bytes(v, seen, _depth + 1) for v in obj)
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        return sum(object_bytes(v, seen, _depth + 1) for v in attrs.values())
    return 0


def models_bytes(model_cache) -> tuple[int, int]:
    """(number of loaded models, their bytes)."""
    items = model_cache.items()
    seen: set[int] = set()
    return len(items), sum(object_bytes(v, seen) for _k, v in items)


def device_text(preference: str) -> str:
    """The device runs use: resolved once torch is loaded, else the preference ("auto" -> "auto (not loaded yet)")."""
    if "torch" not in sys.modules:
        return preference if preference != "auto" else "auto (decided at the first run)"
    from nodeflow.core.device import resolve_device

    try:
        return resolve_device(preference)
    except RuntimeError as e:  # a device asked for that torch does not have
        return f"{preference} (unavailable: {e})"


def cache_text(executor, preference: str) -> str:
    cache = executor.cache
    count, model_bytes = models_bytes(executor.models)
    mb = 2 ** 20
    models = f" + {count} model{'s' if count != 1 else ''} {model_bytes / mb:.0f} MB" if count else ""
    return (f"Cache {cache.total / mb:.0f} / {cache.budget_bytes / mb:.0f} MB{models} · "
            f"device {device_text(preference)}")
