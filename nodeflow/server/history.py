"""Finished prompts, in ComfyUI's /history shape, oldest dropped first beyond a bound."""
from __future__ import annotations

import threading
from collections import OrderedDict

from nodeflow.server.jobs import Job, JobResult

#: ComfyUI's MAXIMUM_HISTORY_SIZE.
DEFAULT_MAX_ITEMS = 10_000


class History:
    def __init__(self, max_items: int = DEFAULT_MAX_ITEMS):
        self.max_items = max_items
        self._items: "OrderedDict[str, dict]" = OrderedDict()
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
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

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

    def delete(self, prompt_ids) -> None:
        with self._lock:
            for p in prompt_ids:
                if isinstance(p, str):
                    self._items.pop(p, None)

    def __len__(self) -> int:
        return len(self._items)
