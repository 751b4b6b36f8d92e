"""Models shared by every node and every run of the process: a checkpoint is loaded once, whoever asks for it."""
from __future__ import annotations

import threading
from typing import Any, Callable, Hashable


class ModelCache:
    def __init__(self):
        self._items: dict[Hashable, Any] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        #: How many times each key was actually loaded (tests and the benchmark check "never loaded twice").
        self.loads: dict[Hashable, int] = {}

    def get(self, key: Hashable, loader: Callable[[], Any]) -> Any:
        """Return the object cached under ``key``, calling ``loader()`` once if it is not there yet."""
        with self._lock:
            if key in self._items:
                return self._items[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one load per key even when two runs ask at once
            with self._lock:
                if key in self._items:
                    return self._items[key]
            value = loader()
            with self._lock:
                self._items[key] = value
                self.loads[key] = self.loads.get(key, 0) + 1
            return value

    def items(self) -> list[tuple[Hashable, Any]]:
        with self._lock:
            return list(self._items.items())

    def drop(self, key: Hashable) -> None:
        with self._lock:
            self._items.pop(key, None)

    def free(self) -> int:
        """Forget every model; returns how many were dropped."""
        with self._lock:
            n = len(self._items)
            self._items.clear()
            self._key_locks.clear()
        return n

    def __len__(self) -> int:
        return len(self._items)
