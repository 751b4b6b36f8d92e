"""Finished prompts, in ComfyUI's /history shape, oldest dropped first beyond a bound."""
from __future__ import annotations

import threading
from collections import OrderedDict

from nodeflow.server.jobs import Job, JobResult

#: ComfyUI's MAXIMUM_HISTORY_SIZE; and a bound on the requests' bytes kept, which ComfyUI lacks (10,000 prompts
#: carrying large workflows would otherwise hold gigabytes).
DEFAULT_MAX_ITEMS = 10_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


class History:
    def __init__(self, max_items: int = DEFAULT_MAX_ITEMS, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items: "OrderedDict[str, dict]" = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, job: Job, result: JobResult) -> None:
        entry = {
            "prompt": job.queue_tuple(),
            "outputs": result.outputs,
            "status": {"status_str": "success" if result.status == "success" else "error",
                       "completed": result.status == "success", "messages": result.messages},
            "meta": result.meta,
            # NodeFlow's own per-node report (ComfyUI clients ignore keys they do not know).
            "nodeflow": result.report,
        }
        with self._lock:
            self._items[job.prompt_id] = entry
            self._sizes[job.prompt_id] = job.size
            total = sum(self._sizes.values())
            while len(self._items) > 1 and (len(self._items) > self.max_items or total > self.max_bytes):
                old, _ = self._items.popitem(last=False)
                total -= self._sizes.pop(old, 0)

    def get(self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1) -> dict:
        """ComfyUI's get_history: one prompt ({id: entry} or {}), or the last ``max_items`` (from ``offset``)."""
        # Entries are never changed once added, so they are handed out as they are (and serialised at once).
        with self._lock:
            if prompt_id is not None:
                entry = self._items.get(prompt_id)
                return {} if entry is None else {prompt_id: entry}
            keys = list(self._items)
            if offset < 0 and max_items is not None:
                offset = len(keys) - max_items
            keys = keys[max(offset, 0):]
            if max_items is not None:
                keys = keys[:max(max_items, 0)]
            return {k: self._items[k] for k in keys}

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._sizes.clear()

    def delete(self, prompt_ids) -> None:
        with self._lock:
            for p in prompt_ids:
                if isinstance(p, str):
                    self._items.pop(p, None)
                    self._sizes.pop(p, None)

    def __len__(self) -> int:
        return len(self._items)
