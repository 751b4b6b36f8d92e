"""Who runs the queued prompts. ``Dispatcher`` is what the server needs from whoever does; ``LocalDispatcher``
is one worker thread per device, each holding one ``PromptRunner`` (one Executor, so one cache) for as long as the
server runs.

A pool of remote workers (issue 16, Ray) is another Dispatcher: it takes jobs from the same ``PromptQueue`` (a job is
plain data), runs each on a remote ``PromptRunner`` whose Sink carries the messages back, and ends every job with
``finish`` as here, so the history, the status broadcast and the closing ``executing`` message stay the same.
"""
from __future__ import annotations

import logging
import threading
from typing import Protocol

from nodeflow.server.history import History
from nodeflow.server.jobs import Job, JobResult
from nodeflow.server.messages import Sink, now_ms
from nodeflow.server.prompt_queue import PromptQueue
from nodeflow.server.runner import PromptRunner

log = logging.getLogger("nodeflow.server")


class Dispatcher(Protocol):
    def start(self) -> None: ...

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs, interrupt the running ones, wait for the workers."""

    def interrupt(self, prompt_id: str | None = None) -> None:
        """Interrupt the running prompt ``prompt_id`` (any running prompt when None)."""

    def free(self, unload_models: bool = False, free_memory: bool = False) -> None:
        """Release loaded models and cached outputs once the running prompts are done."""


def finish(job: Job, result: JobResult, queue: PromptQueue, history: History, sink: Sink) -> None:
    """End a job as ComfyUI does: the history first (clients fetch it when told the prompt is done), then the queue
    (which broadcasts the new queue length), then ``executing {node: null}`` to the prompt's client."""
    history.add(job, result)
    queue.done(job)
    log.info("prompt %s: %s", job.prompt_id, result.status)
    if job.client_id is not None:
        sink.send("executing", {"node": None, "prompt_id": job.prompt_id}, job.client_id)


class LocalDispatcher:
    def __init__(self, queue: PromptQueue, history: History, sink: Sink, runners: list[PromptRunner]):
        self.queue, self.history, self.sink = queue, history, sink
        self.runners = runners
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, PromptRunner] = {}
        self._interrupts: set[str] = set()
        self._free_requested: set[int] = set()

    def start(self) -> None:
        for k, runner in enumerate(self.runners):
            t = threading.Thread(target=self._work, args=(runner,), name=f"nodeflow-worker-{k}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.queue.close()
        self.interrupt()
        for t in self._threads:
            t.join(timeout)

    def interrupt(self, prompt_id: str | None = None) -> None:
        with self._lock:
            for pid, runner in self._running.items():
                if prompt_id is None or pid == prompt_id:
                    self._interrupts.add(pid)
                    runner.interrupt()

    def free(self, unload_models: bool = False, free_memory: bool = False) -> None:
        if unload_models or free_memory:
            with self._lock:
                self._free_requested = set(range(len(self.runners)))
            self.queue.wake()

    # -- a worker thread ------------------------------------------------------------------------------------------
    def _work(self, runner: PromptRunner) -> None:
        index = self.runners.index(runner)
        runner.warm_up()
        while not self._stop.is_set():
            job = self.queue.take(timeout=1.0)
            with self._lock:  # a /free applies before the next prompt, and soon when idle
                free = index in self._free_requested
                self._free_requested.discard(index)
            if free:
                log.info("freed %s", runner.free())
            if job is None:
                continue
            with self._lock:
                self._running[job.prompt_id] = runner
            try:
                result = runner.run(job, interrupted=lambda pid=job.prompt_id: pid in self._interrupts)
            except Exception:  # a bug must cost one prompt, never the worker
                log.exception("prompt %s failed", job.prompt_id)
                result = _crashed(job, self.sink)
            finally:
                with self._lock:
                    self._running.pop(job.prompt_id, None)
                    self._interrupts.discard(job.prompt_id)
            finish(job, result, self.queue, self.history, self.sink)


def _crashed(job: Job, sink: Sink) -> JobResult:
    data = {"prompt_id": job.prompt_id, "node_id": None, "node_type": "", "executed": [],
            "exception_message": "internal error while running the prompt (see the server's log)",
            "exception_type": "ServerError", "traceback": [], "current_inputs": {}, "current_outputs": [],
            "timestamp": now_ms()}
    if job.client_id is not None:
        sink.send("execution_error", data, job.client_id)
    return JobResult("error", messages=[["execution_error", data]])
