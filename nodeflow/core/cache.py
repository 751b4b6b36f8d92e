"""The output cache: node results keyed by content signature, least-recently-used entries evicted by size."""
from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CacheEntry:
    outputs: tuple
    ui: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    files: list = field(default_factory=list)
    seconds: float = 0.0
    size: int = 0


def estimate_size(obj: Any, _depth: int = 0) -> int:
    """Bytes an output holds, roughly: tensors and arrays by their buffers, containers recursively.

    Objects may define ``__nodeflow_size__()``; loaded models report little because the model cache, not the
    output cache, owns their weights.
    """
    if _depth > 6 or obj is None:
        return 0
    size_fn = getattr(obj, "__nodeflow_size__", None)
    if callable(size_fn):
        return int(size_fn())
    nbytes = getattr(obj, "nbytes", None)  # numpy arrays and torch tensors
    if isinstance(nbytes, int):
        return nbytes
    if isinstance(obj, (bytes, bytearray, str)):
        return len(obj)
    if isinstance(obj, dict):
        return sum(estimate_size(v, _depth + 1) for v in obj.values()) + 64
    if isinstance(obj, (list, tuple)):
        return sum(estimate_size(v, _depth + 1) for v in obj) + 64
    if hasattr(obj, "size") and hasattr(obj, "mode") and hasattr(obj, "getbands"):  # PIL image
        w, h = obj.size
        return w * h * len(obj.getbands())
    return sys.getsizeof(obj, 64)


class OutputCache:
    def __init__(self, budget_bytes: int = 4 << 30):
        self.budget_bytes = int(budget_bytes)
        self._entries: "OrderedDict[str, CacheEntry]" = OrderedDict()
        self._lock = threading.Lock()
        self.total = 0
        self.evictions = 0

    def get(self, signature: str) -> CacheEntry | None:
        with self._lock:
            entry = self._entries.get(signature)
            if entry is not None:
                self._entries.move_to_end(signature)
            return entry

    def __contains__(self, signature: str) -> bool:
        return signature in self._entries

    def put(self, signature: str, entry: CacheEntry) -> bool:
        """Store an entry; returns False when it alone is larger than the budget (then it is not kept)."""
        entry.size = estimate_size(entry.outputs)
        with self._lock:
            old = self._entries.pop(signature, None)
            if old is not None:
                self.total -= old.size
            if entry.size > self.budget_bytes:
                return False
            self._entries[signature] = entry
            self.total += entry.size
            self._evict()
            return True

    def set_budget(self, budget_bytes: int) -> None:
        with self._lock:
            self.budget_bytes = int(budget_bytes)
            self._evict()

    def _evict(self) -> None:
        while self.total > self.budget_bytes and self._entries:
            _, old = self._entries.popitem(last=False)
            self.total -= old.size
            self.evictions += 1

    def free(self) -> int:
        """Drop everything; returns the bytes released (as estimated)."""
        with self._lock:
            freed = self.total
            self._entries.clear()
            self.total = 0
            return freed

    def __len__(self) -> int:
        return len(self._entries)
