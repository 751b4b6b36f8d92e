"""The prompt queue: bounded, ordered by ComfyUI's "number", shared by the HTTP handlers (put, list, delete) and
the workers (take, done). Thread-safe; every change is announced (``on_change``) so the server can broadcast
ComfyUI's status message."""
from __future__ import annotations

import heapq
import threading
from typing import Callable

from nodeflow.server.jobs import Job

#: Prompts waiting at once, and their requests' bytes together; beyond either POST /prompt is refused (503)
#: rather than the server growing without end (a parsed prompt takes several times its JSON's size).
DEFAULT_MAX_PENDING = 10_000
DEFAULT_MAX_PENDING_BYTES = 256 * 1024 * 1024


class QueueFull(Exception):
    pass


class PromptQueue:
    def __init__(self, max_pending: int = DEFAULT_MAX_PENDING, on_change: Callable[[], None] | None = None,
                 max_bytes: int = DEFAULT_MAX_PENDING_BYTES):
        self.max_pending = max_pending
        self.max_bytes = max_bytes
        self._bytes = 0
        self.on_change = on_change or (lambda: None)
        self._lock = threading.Condition()
        self._pending: list[Job] = []
        self._running: dict[str, Job] = {}
        self._closed = False

    def put(self, job: Job) -> None:
        with self._lock:
            if len(self._pending) >= self.max_pending:
                raise QueueFull(f"the queue holds {len(self._pending)} prompts, its limit")
            if self._pending and self._bytes + job.size > self.max_bytes:
                raise QueueFull(f"the prompts waiting take {self._bytes // (1024 * 1024)} MB, the queue's limit")
            heapq.heappush(self._pending, job)
            self._bytes += job.size
            self._lock.notify()
        self.on_change()

    def take(self, timeout: float | None = None) -> Job | None:
        """The next job (now running), or None after ``timeout`` seconds or once the queue is closed."""
        with self._lock:
            if not self._pending and not self._closed:
                self._lock.wait(timeout)
            if not self._pending or self._closed:
                return None
            job = heapq.heappop(self._pending)
            self._bytes -= job.size
            self._running[job.prompt_id] = job
        self.on_change()
        return job

    def done(self, job: Job) -> None:
        with self._lock:
            self._running.pop(job.prompt_id, None)
        self.on_change()

    def wake(self) -> None:
        """Wake the waiting workers (a flag to apply, shutting down)."""
        with self._lock:
            self._lock.notify_all()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    # -- what clients see and change ------------------------------------------------------------------------------
    def remaining(self) -> int:
        """ComfyUI's queue_remaining: waiting plus running."""
        with self._lock:
            return len(self._pending) + len(self._running)

    def snapshot(self) -> tuple[list[Job], list[Job]]:
        """(running, pending in run order)."""
        with self._lock:
            return list(self._running.values()), sorted(self._pending)

    def running_ids(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def clear(self) -> int:
        with self._lock:
            n = len(self._pending)
            self._pending, self._bytes = [], 0
        self.on_change()
        return n

    def delete(self, prompt_ids) -> int:
        wanted = {p for p in prompt_ids if isinstance(p, str)}
        with self._lock:
            kept = [j for j in self._pending if j.prompt_id not in wanted]
            n = len(self._pending) - len(kept)
            if n:
                heapq.heapify(kept)
                self._pending = kept
                self._bytes = sum(j.size for j in kept)
        if n:
            self.on_change()
        return n
