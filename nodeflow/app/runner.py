"""The run queue: plans made on the GUI thread, executed one after another on a worker QThread.

Threads:
- ``Runner`` lives on the GUI thread. ``submit`` validates nothing and copies nothing itself: the caller passes a
  plan of a ``graph.copy()`` made on the GUI thread, so the editor can keep editing while the snapshot runs.
- ``_Worker`` lives on a QThread. Jobs reach it through a queued signal, so its event loop is the queue: one job at a
  time, in order. The executor's listener runs on that thread; it converts images to QImage there (allowed for
  QImage, not for widgets) and emits ``_Worker.event``, which Qt delivers to ``Runner`` on the GUI thread (queued
  connection). Everything that touches a widget happens in slots of GUI-thread objects.
- ``cancel`` marks the queued jobs cancelled and calls ``Executor.cancel()`` (thread-safe), which stops the running
  node at its next progress report (one sampler step).

One Runner (and one Executor) per application, so the output cache is shared by every run of every tab.
"""
from __future__ import annotations

import dataclasses
import itertools
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from nodeflow.core import events as ev
from nodeflow.core.executor import Executor, RunReport
from nodeflow.core.planning import Plan

_job_ids = itertools.count(1)


@dataclass(eq=False)
class RunJob:
    """One queued run: the plan of a snapshot of a document's graph."""

    plan: Plan
    #: Who asked (a Document); the runner never looks at it, the GUI-side feedback routes events with it.
    owner: Any = None
    #: Per-document key, so the executor explains "why did this node run" against that document's last run.
    key: str = "default"
    id: int = field(default_factory=lambda: next(_job_ids))
    status: str = "queued"  # queued | running | ok | error | cancelled | invalid | crashed
    report: RunReport | None = None
    #: Set by the GUI thread, read by the worker before it starts the job.
    cancelled: bool = False
    #: Traceback of an unexpected executor failure (status "crashed").
    crash: str = ""
    #: Remarks about the run as a whole (why a picture carries no ComfyUI chunks); appended by the worker, read
    #: once the job is done.
    notes: list[str] = field(default_factory=list)
    #: The seed controls were applied when this run was queued (a batch), not after it ran.
    seeds_advanced: bool = False

    @property
    def graph(self):
        return self.plan.graph

    @property
    def done(self) -> bool:
        return self.status not in ("queued", "running")


def convert_event(event: ev.Event) -> ev.Event:
    """Images in events become QImages (on the worker thread); everything else passes unchanged."""
    from nodeflow.app.images import to_qimage

    if isinstance(event, ev.NodePreview):
        return dataclasses.replace(event, image=to_qimage(event.image))
    if isinstance(event, ev.NodeFinished) and (event.ui.get("images") or event.ui.get("previews")):
        ui = dict(event.ui)
        for key in ("images", "previews"):  # previews: what an intermediate image / mask node shows on its card
            if ui.get(key):
                ui[key] = [q for q in (to_qimage(i) for i in event.ui[key]) if q is not None]
        return dataclasses.replace(event, ui=ui)
    return event


class _RateLimit:
    """Drops progress and preview events that come faster than the screen can show them.

    A node may report progress thousands of times a second; each report is a queued signal the GUI thread handles
    (repainting the node and the run bar), which is wasted work beyond what a screen shows. The last report
    (value == total) always passes, so a bar never stays short of full.
    """

    def __init__(self, interval_s: float = 1 / 30):
        self.interval_s = interval_s
        self._last: dict[tuple[type, int], float] = {}

    def allows(self, event: ev.Event) -> bool:
        if not isinstance(event, (ev.NodeProgress, ev.NodePreview)):
            return True
        if isinstance(event, ev.NodeProgress) and event.value >= event.total:
            return True
        key = (type(event), event.node_id)
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < self.interval_s:
            return False
        self._last[key] = now
        return True


class _Worker(QObject):
    event = Signal(object, object)  # RunJob, Event (images already QImages)
    jobStarted = Signal(object)
    jobDone = Signal(object, object, str)  # RunJob, RunReport | None, traceback text of a crash ("" if none)
    warmedUp = Signal(object)  # the module names imported
    warmUpProgress = Signal(int, int, str)  # modules imported so far, how many in all, the one being imported

    def __init__(self, executor: Executor):
        super().__init__()
        self.executor = executor

    @Slot(object)
    def warm_up(self, modules: list[str]) -> None:
        """Import what node functions will import, before the first run needs it (failures surface at that run)."""
        import importlib

        for i, name in enumerate(modules):
            self.warmUpProgress.emit(i, len(modules), name)
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the run that needs the module reports the error properly
                pass
        self.warmedUp.emit(list(modules))

    @Slot(object)
    def process(self, job: RunJob) -> None:
        if job.cancelled:
            self.jobDone.emit(job, None, "")
            return
        self.jobStarted.emit(job)
        rate = _RateLimit()

        asked = []

        def listener(event: ev.Event, job=job) -> None:
            # a cancel that reached the job before the GUI saw it start (its status still "queued") only set the
            # flag, and one before run() started was cleared by run(): the worker acts on the flag itself
            if job.cancelled and not asked:
                asked.append(True)
                self.executor.cancel()
            if not rate.allows(event):
                return
            try:
                event = convert_event(event)
            except Exception:  # a picture we cannot show must not fail the run
                if isinstance(event, ev.NodePreview):
                    return
            self.event.emit(job, event)

        from nodeflow.formats.embedding import workflow_chunks

        try:
            report = self.executor.execute(job.plan, listener=listener, key=job.key,
                                           embed=lambda: workflow_chunks(job.graph, self.executor.registry,
                                                                         job.notes.append))
        except Exception:  # the executor contains node failures; anything else is a bug we report, not a crash
            self.jobDone.emit(job, None, traceback.format_exc())
            return
        self.jobDone.emit(job, report, "")


class Runner(QObject):
    """The application's run queue. Signals are emitted on the GUI thread."""

    jobQueued = Signal(object)  # RunJob
    jobStarted = Signal(object)  # RunJob
    event = Signal(object, object)  # RunJob, core event (images as QImage)
    jobFinished = Signal(object)  # RunJob (status and report set)
    busyChanged = Signal(bool)
    warmedUp = Signal(object)  # module names, once warm_up's imports are done
    #: (imported so far, in all, module being imported), while ``warm_state`` is "loading"
    warmUpProgress = Signal(int, int, str)
    _submit = Signal(object)
    _warm_up = Signal(object)

    #: How often (seconds) a thread running Python must offer the GIL to others. CPython's default, 5 ms, let a node
    #: computing in pure Python on the worker starve the GUI thread's callbacks for most of a second (measured:
    #: 0.5-0.8 s stalls of a 10 ms timer while such a node ran); 1 ms keeps the GUI fluid.
    GIL_SWITCH_INTERVAL_S = 0.001

    def __init__(self, executor: Executor, parent: QObject | None = None):
        super().__init__(parent)
        sys.setswitchinterval(min(sys.getswitchinterval(), self.GIL_SWITCH_INTERVAL_S))
        self.executor = executor
        self._pending: list[RunJob] = []  # queued or running, in order
        self._thread = QThread()
        self._thread.setObjectName("nodeflow-runner")
        self._worker = _Worker(executor)
        self._worker.moveToThread(self._thread)
        self._submit.connect(self._worker.process)
        self._warm_up.connect(self._worker.warm_up)
        #: "cold" (nothing imported yet), "loading" (the worker imports the packs' libraries), "ready"
        self.warm_state = "cold"
        self.warm_progress: tuple[int, int, str] = (0, 0, "")
        self._worker.warmedUp.connect(self._on_warmed_up)
        self._worker.warmUpProgress.connect(self._on_warm_up_progress)
        self._worker.event.connect(self._on_event)
        self._worker.jobStarted.connect(self._on_started)
        self._worker.jobDone.connect(self._on_done)
        self._thread.start()

    # -- queue ----------------------------------------------------------------------------------------------------
    def submit(self, work: Plan, *, owner=None, key: str = "default") -> RunJob:
        """Queue a plan (of a snapshot the caller made with ``graph.copy()``)."""
        assert threading.current_thread() is threading.main_thread(), "submit from the GUI thread"
        job = RunJob(work, owner, key)
        was_busy = self.busy
        self._pending.append(job)
        self.jobQueued.emit(job)
        if not was_busy:
            self.busyChanged.emit(True)
        self._submit.emit(job)
        return job

    def warm_up(self, modules) -> None:
        """Import ``modules`` on the worker thread, queued like a run: a run submitted meanwhile waits for the
        imports it would have made itself. Once per runner (later calls do nothing)."""
        if self.warm_state != "cold":
            return
        if not modules:
            self.warm_state = "ready"
            return
        self.warm_state = "loading"
        self.warm_progress = (0, len(modules), modules[0])
        self._warm_up.emit(list(modules))

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    @property
    def queued(self) -> list[RunJob]:
        return list(self._pending)

    @property
    def running(self) -> RunJob | None:
        return next((j for j in self._pending if j.status == "running"), None)

    def cancel(self, owner=None) -> None:
        """Cancel the running job and drop the queued ones (only those of ``owner`` when given)."""
        for job in self._pending:
            if owner is None or job.owner is owner:
                job.cancelled = True
                if job.status == "running":
                    self.executor.cancel()

    def cancel_job(self, job: RunJob) -> None:
        """Cancel one run: a queued one is dropped when the worker reaches it, a running one stops at its next
        step; the other queued runs stay."""
        if job.done:
            return
        job.cancelled = True
        if job.status == "running":
            self.executor.cancel()

    def free_memory(self) -> dict:
        """Drop cached outputs and loaded models (the cache is thread-safe; a running node keeps its references)."""
        return self.executor.free()

    def set_cache_budget(self, budget_bytes: int) -> None:
        self.executor.cache.set_budget(int(budget_bytes))

    def shutdown(self, wait_ms: int = 10000) -> None:
        """Cancel everything and stop the worker thread (call before the application quits)."""
        self.cancel()
        self._thread.quit()
        if not self._thread.wait(wait_ms):  # pragma: no cover - a node ignoring cancellation
            self._thread.terminate()
            self._thread.wait()

    # -- worker callbacks (GUI thread) ----------------------------------------------------------------------------
    @Slot(int, int, str)
    def _on_warm_up_progress(self, done: int, total: int, name: str) -> None:
        self.warm_progress = (done, total, name)
        self.warmUpProgress.emit(done, total, name)

    @Slot(object)
    def _on_warmed_up(self, modules) -> None:
        self.warm_state = "ready"
        n = len(modules)
        self.warm_progress = (n, n, "")
        self.warmedUp.emit(modules)

    @Slot(object)
    def _on_started(self, job: RunJob) -> None:
        job.status = "running"
        self.jobStarted.emit(job)

    @Slot(object, object)
    def _on_event(self, job: RunJob, event) -> None:
        self.event.emit(job, event)

    @Slot(object, object, str)
    def _on_done(self, job: RunJob, report, crash: str) -> None:
        job.report = report
        if crash:
            job.status = "crashed"
            job.crash = crash
        elif report is None:
            job.status = "cancelled"
        else:
            job.status = report.status
        if job in self._pending:
            self._pending.remove(job)
        self.jobFinished.emit(job)
        if not self._pending:
            self.busyChanged.emit(False)
