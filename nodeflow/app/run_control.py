"""Starting runs and showing what they do: the GUI-thread side of the runner.

``RunControl.run(view)`` snapshots the document's graph and plans it (``core.planning``: problems go on the nodes
and into the log before anything runs), marks the plan's cone as pending and queues the plan. Runner events then
become node states, live previews, node images (with what they were made from, carried by the events), gallery
entries, log lines and run-bar progress. After a run the seed controls ("increment", "randomize" ...) are applied
through the document's undo stack.

All of this runs on the GUI thread: the runner delivers its signals through queued connections.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from nodeflow.app.canvas.run_state import NodeRunState, format_seconds
from nodeflow.app.panels.gallery import GalleryEntry, merge_info
from nodeflow.app.undo import push
from nodeflow.core import events as ev
from nodeflow.core.controls import after_run_operations
from nodeflow.core.planning import plan
from nodeflow.core.validation import Problem


def missing_file_report(problems: list[Problem]) -> str:
    """Missing models by name with the folders searched (one line each)."""
    lines = []
    for p in problems:
        if p.kind == "missing_file":
            where = (p.expected or "").removeprefix("a file in ")
            lines.append(f"- {p.message.removeprefix('file ').removesuffix(' not found')} "
                         f"(node {p.node_id} '{p.node_title}', {p.field}); searched: {where}")
    return "\n".join(lines)


ALL_CACHED = ("nothing new: every result was reused from the cache. Change a value, or set a seed's "
              "control_after_generate to randomize, to make a new image")
ALL_CACHED_SHORT = "Everything cached: change a value or randomize the seed"


def fixed_seed_fields(graph, registry) -> list[str]:
    """'Title: field' of every value with a control_after_generate left on fixed (why a rerun changes nothing)."""
    found = []
    for node in graph.nodes.values():
        nt = registry.get(node.type)
        for inp in nt.inputs if nt is not None and node.mode != "muted" else ():
            if inp.control_after_generate and inp.name not in node.socket_inputs \
                    and node.controls.get(inp.name, "fixed") == "fixed":
                found.append(f"{node.label}: {inp.name}")
    return found


@dataclass
class _JobView:
    titles: dict[int, str]  # node id -> title, from the snapshot (the live graph may have changed)
    marks: set[int]  # nodes marked pending when the job was queued


class RunControl(QObject):
    """Connects the application's Runner to the views (document + canvas) of the window."""

    jobsChanged = Signal(int)  # number of queued or running jobs
    #: An image an output node produced this run: (view, node id, GalleryEntry).
    imageProduced = Signal(object, int, object)
    #: For the queue panel: (job, QImage) of each new picture, (job, node title) as a node starts.
    jobImage = Signal(object, object)
    jobNode = Signal(object, str)

    #: Auto-queue waits this long after the last change (typing a prompt is many changes).
    AUTO_QUEUE_DELAY_MS = 400

    def __init__(self, runner, log, gallery, run_bar, env_provider, view_of, parent=None, current_view=None):
        """``env_provider()``: the window's current Environment; ``view_of(document)`` returns the open view (with
        .document and .canvas) or None once it was closed."""
        super().__init__(parent)
        self.runner, self.log, self.gallery, self.run_bar = runner, log, gallery, run_bar
        self._env = env_provider
        self._view_of = view_of
        self._current = current_view or (lambda: None)
        self._outcomes: dict[str, str] = {}  # document uid -> how its last run ended (the idle run bar text)
        self._jobs: dict[int, _JobView] = {}  # job id -> what the GUI keeps about it while it runs
        #: (document uid, node id) -> (images, node title, parameters text): the node's latest images, for the viewer.
        self.node_images: dict[tuple[str, int], tuple[list, str, str]] = {}
        runner.jobStarted.connect(self._job_started)
        runner.event.connect(self._event)
        runner.jobFinished.connect(self._job_finished)
        runner.jobQueued.connect(lambda _job: self._queue_changed())
        self.auto_queue = False
        self._advancing_seeds = False  # seed controls being applied: not a change auto-queue reacts to
        self._auto_timer = QTimer(self)
        self._auto_timer.setSingleShot(True)
        self._auto_timer.timeout.connect(self._auto_run)
        self._auto_view = None
        self._loading_since = None
        self._loading_timer = QTimer(self)
        self._loading_timer.setInterval(500)
        self._loading_timer.timeout.connect(self._loading_tick)
        runner.warmUpProgress.connect(self._warm_up_progress)
        runner.warmedUp.connect(self._warmed_up)

    # -- starting -------------------------------------------------------------------------------------------------
    def run(self, view, targets=None):
        """Queue a run of the view's document (``targets``: node ids to run up to; None: all output nodes)."""
        doc, canvas = view.document, view.canvas
        canvas.commit_edits()  # a value still being typed belongs to this run
        work = plan(doc.graph.copy(), self._env(), targets)
        canvas.set_problems(work.problems)
        cone = work.reach & {n for n in work.graph.nodes if self._runs(work.graph.nodes[n])}
        if targets is not None and not cone:
            self.log.warning(f"{doc.name}: nothing to run (select nodes that can run)", document=doc)
            return None
        if targets is None and not cone:
            self.log.warning(f"{doc.name}: nothing to run: add an output node (Save Image, Preview Image ...)",
                             document=doc)
            return None
        relevant = work.relevant_problems
        if relevant:
            self._log_problems(doc, relevant)
        self._warn_before_run(doc, work)
        if self.runner.warm_state == "cold":  # Run before the background imports began: they go first, visibly
            self.runner.warm_up(self._env().registry.warm_up)
        loading = self.runner.warm_state == "loading"
        for nid in work.cone:
            canvas.set_node_state(nid, NodeRunState("pending", text="waiting for libraries" if loading else ""))
        job = self.runner.submit(work, owner=doc, key=doc.uid)
        self._jobs[job.id] = _JobView({n.id: n.label for n in work.graph.nodes.values()}, set(work.cone))
        if loading:
            self._warm_up_progress(*self.runner.warm_progress)
        return job

    def run_batch(self, view, count: int) -> list:
        """Queue ``count`` runs of the view's document ("Queue x N"). Each run's snapshot is taken first, then the
        seed controls apply (as ComfyUI applies them when queueing), so every run of the batch differs."""
        jobs = []
        for _ in range(max(1, int(count))):
            job = self.run(view)
            if job is None:
                break
            job.seeds_advanced = True
            self._apply_seed_controls(view.document)
            jobs.append(job)
        return jobs

    def set_auto_queue(self, on: bool) -> None:
        self.auto_queue = bool(on)
        if not on:
            self._auto_timer.stop()

    def graph_changed(self, view) -> None:
        """The user changed the view's graph: with auto-queue on, run it again once the changes settle."""
        if self.auto_queue and not self._advancing_seeds and view is not None and not view.document.closed:
            self._auto_view = view
            try:
                self._auto_timer.start(self.AUTO_QUEUE_DELAY_MS)
            except RuntimeError:  # the window is being torn down (its stacks clear after the timer went)
                self.auto_queue = False

    def _auto_run(self) -> None:
        view, self._auto_view = self._auto_view, None
        if view is None or view.document.closed or not self.auto_queue:
            return
        if any(j.owner is view.document and j.status == "queued" for j in self.runner.queued):
            return  # a queued run of it will take the change
        self.run(view)

    def _warn_before_run(self, doc, work) -> None:
        """Declarations may warn of a run that would be absurdly slow or large (a 16384 px latent)."""
        env = self._env()
        for nid in work.cone:
            node = work.graph.nodes.get(nid)
            nt = env.registry.get(node.type) if node is not None else None
            check = nt.extra.get("run_warnings") if nt is not None else None
            if not callable(check):
                continue
            try:
                warnings = check(work.graph, node, env.settings)
            except Exception:  # noqa: BLE001 - a pack's advice must never stop a run
                continue
            for text in warnings:
                self.log.warning(f"{doc.name}: {node.label} ({nid}): {text}", document=doc, node_id=nid)

    def _runs(self, node) -> bool:
        """A node that a run could execute (not muted, not a note)."""
        nt = self._env().registry.get(node.type)
        return node.mode != "muted" and nt is not None and not nt.ui_only

    def _log_problems(self, doc, problems: list[Problem]) -> None:
        missing = missing_file_report(problems)
        others = [p for p in problems if p.kind != "missing_file"]
        if missing:
            self.log.error(f"{doc.name}: missing model or input files", missing, document=doc,
                           node_id=next(p.node_id for p in problems if p.kind == "missing_file"))
        for p in others:
            self.log.error(f"{doc.name}: {p}", document=doc, node_id=p.node_id)

    # -- runner signals (GUI thread) --------------------------------------------------------------------------------
    def _warm_up_progress(self, done: int, total: int, module: str) -> None:
        import time

        if self._loading_since is None:
            self._loading_since = time.monotonic()
            self._loading_timer.start()
        self.run_bar.set_loading(done, total, module, waiting=self.runner.busy,
                                 seconds=time.monotonic() - self._loading_since)

    def _loading_tick(self) -> None:
        """One import (torch) takes most of the time: the seconds keep counting so it never looks hung."""
        if self.runner.warm_state == "loading":
            self._warm_up_progress(*self.runner.warm_progress)
        else:
            self._loading_timer.stop()

    def _warmed_up(self, _modules) -> None:
        self._loading_timer.stop()
        if not self.runner.busy:
            self.run_bar.set_idle("Ready")
        else:  # the queued runs start now: their nodes are no longer waiting for libraries
            self.run_bar.set_node("starting")
            for job in self.runner.queued:
                canvas = self._canvas(job)
                for nid in self._job_view(job).marks if canvas is not None else ():
                    canvas.set_node_state(nid, NodeRunState("pending"))

    def _queue_changed(self) -> None:
        n = len(self.runner.queued)
        running = self.runner.running is not None
        self.run_bar.set_queue(max(0, n - (1 if running else 0)))
        self.jobsChanged.emit(n)

    def _job_started(self, job) -> None:
        self._queue_changed()
        doc = job.owner
        self.run_bar.set_node(f"{doc.name if doc else 'workflow'}: starting")

    def _canvas(self, job):
        view = self._view_of(job.owner)
        return view.canvas if view is not None else None

    def _job_view(self, job) -> "_JobView":
        return self._jobs.setdefault(job.id, _JobView({n.id: n.label for n in job.graph.nodes.values()}, set()))

    def _title(self, job, nid: int) -> str:
        return self._job_view(job).titles.get(nid, f"node {nid}")

    def _event(self, job, event) -> None:
        canvas = self._canvas(job)
        nid = getattr(event, "node_id", None)
        if isinstance(event, ev.RunStarted):
            if canvas is not None:
                for stale in self._job_view(job).marks - set(event.planned):
                    canvas.set_node_state(stale, None)
        elif isinstance(event, ev.NodeStarted):
            self.run_bar.set_node(self._node_text(job, self._title(job, nid)))
            self.jobNode.emit(job, self._title(job, nid))
            if canvas is not None:
                canvas.set_node_state(nid, NodeRunState("running", reason=event.reason))
        elif isinstance(event, ev.NodeProgress):
            step = event.text or f"step {int(event.value)}/{int(event.total)}"
            self.run_bar.set_node(self._node_text(job, self._title(job, nid)), event.value, event.total, step)
            if canvas is not None:
                canvas.set_node_state(nid, NodeRunState("running", (int(event.value), int(event.total)), step))
        elif isinstance(event, ev.NodePreview):
            if canvas is not None and event.image is not None:
                canvas.set_node_preview(nid, event.image)
        elif isinstance(event, ev.NodeFinished):
            self._finished(job, canvas, event)
        elif isinstance(event, ev.NodeFailed):
            self._failed(job, canvas, event)
        elif isinstance(event, ev.NodeSkipped):
            if canvas is not None:
                canvas.set_node_state(nid, None)
            self.log.warning(f"{self._title(job, nid)} ({nid}): {event.reason}", document=job.owner, node_id=nid)
        elif isinstance(event, ev.NodeLog):
            self.log.info(f"{self._title(job, nid)}: {event.message}", document=job.owner, node_id=nid)

    def _finished(self, job, canvas, event: ev.NodeFinished) -> None:
        nid = event.node_id
        if canvas is not None:
            kind = "cached" if event.cached else "done"
            canvas.set_node_state(nid, NodeRunState(kind, seconds=event.seconds, reason=event.reason))
        images = event.ui.get("images") or []
        info = merge_info(event.info, event.upstream) if images else {}
        previews = [] if images else event.ui.get("previews") or []  # shown on the card, not in the gallery
        if previews and canvas is not None:
            canvas.set_node_images(nid, previews)
            self.node_images[(job.owner.uid, nid)] = (previews, self._title(job, nid), "")
        if images and canvas is not None:
            canvas.set_node_images(nid, images)
            details = GalleryEntry(images[0], self._title(job, nid), info).describe()
            self.node_images[(job.owner.uid, nid)] = (images, self._title(job, nid), details)
        if images and not event.cached:  # a reused result is not a new picture
            files = event.ui.get("files") or []
            for i, image in enumerate(images):
                image_info = {**info, "file": files[i]} if i < len(files) else info
                entry = GalleryEntry(image, self._title(job, nid), image_info,
                                     job.owner.name if job.owner is not None else "", nid)
                self.gallery.add(entry)
                self.imageProduced.emit(self._view_of(job.owner), nid, entry)
                self.jobImage.emit(job, image)
        text = event.ui.get("text")
        if text and not event.cached:
            self.log.info(f"{self._title(job, nid)}: {text}", document=job.owner, node_id=nid)

    def _failed(self, job, canvas, event: ev.NodeFailed) -> None:
        nid = event.node_id
        title = self._title(job, nid)
        if canvas is not None:
            canvas.set_node_state(nid, NodeRunState("error", message=event.message,
                                                    reason=f"{event.field}: {event.message}" if event.field
                                                    else event.message))
        inputs = "\n".join(f"  {k}: {v}" for k, v in (event.inputs or {}).items())
        details = (f"Inputs:\n{inputs}\n\n" if inputs else "") + (event.traceback or "")
        where = f" (field {event.field})" if event.field else ""
        self.log.error(f"{title} ({nid}) failed{where}: {event.message}", details, document=job.owner, node_id=nid)

    def _job_finished(self, job) -> None:
        doc = job.owner
        canvas = self._canvas(job)
        report = job.report
        self._clear_leftover_marks(job, canvas)
        name = doc.name if doc is not None else "workflow"
        for note in job.notes:
            self.log.info(f"{name}: {note}", document=doc)
        if job.status == "crashed":
            self.log.error(f"{name}: the run stopped unexpectedly", job.crash, document=doc)
        elif report is None or job.status == "cancelled":
            self.log.warning(f"{name}: run cancelled", document=doc)
        else:
            if report.status == "invalid" and canvas is not None:
                canvas.set_problems(report.problems)
            ran, cached = len(report.executed), len(report.cached)
            summary = f"{name}: run {report.status} in {format_seconds(report.seconds_total)}: " \
                      f"{ran} ran, {cached} cached"
            (self.log.info if report.status == "ok" else self.log.error)(summary, document=doc)
            if report.status == "ok" and not ran and cached:
                self._explain_all_cached(job, doc)
            if report.status in ("ok", "error") and (ran or cached) and doc is not None and not doc.closed \
                    and not job.seeds_advanced:
                self._apply_seed_controls(doc)
        self._jobs.pop(job.id, None)
        self._queue_changed()
        if job.status == "ok" and report is not None and not report.executed and report.cached:
            outcome = ALL_CACHED_SHORT
        else:
            outcome = {"ok": "Done", "error": "Finished with errors", "cancelled": "Cancelled",
                       "invalid": "Not run: invalid workflow", "crashed": "Run failed"}.get(job.status, "Ready")
        if doc is not None:
            self._outcomes[doc.uid] = outcome  # each tab shows how its own last run ended
        if not self.runner.busy:
            self.show_tab(self._current())

    def show_tab(self, view) -> None:
        """The run bar for the current tab while nothing runs: that tab's last outcome, not another tab's."""
        if self.runner.busy:
            return
        doc = view.document if view is not None else None
        self.run_bar.set_idle(self._outcomes.get(doc.uid, "Ready") if doc is not None else "Ready")

    def _node_text(self, job, text: str) -> str:
        """Progress of a run of another tab names that tab."""
        current = self._current()
        if job.owner is not None and current is not None and current.document is not job.owner:
            return f"{job.owner.name}: {text}"
        return text

    def _explain_all_cached(self, job, doc) -> None:
        """A ComfyUI user expects Queue to make a new picture; when nothing had to run, say why and what to do."""
        fixed = fixed_seed_fields(job.graph, self._env().registry)
        hint = (f" ({', '.join(fixed[:3])} {'is' if len(fixed) == 1 else 'are'} fixed)" if fixed else "")
        self.log.warning(f"{doc.name if doc is not None else 'workflow'}: {ALL_CACHED}{hint}", document=doc)

    def _clear_leftover_marks(self, job, canvas) -> None:
        """Nodes still marked pending (or running) when the run ended did not run: clear their marks. Live previews
        stayed until now (the run's outputs have arrived): they go."""
        if canvas is None:
            return
        for nid in self._job_view(job).marks:
            canvas.set_node_preview(nid, None)
        records = job.report.records if job.report is not None else {}
        for nid in self._job_view(job).marks:
            record = records.get(nid)
            if record is None or record.status in ("cancelled", "skipped"):
                canvas.set_node_state(nid, None)
                if job.status == "cancelled":  # its picture is from an earlier run: say so
                    canvas.mark_outdated(nid)

    def _apply_seed_controls(self, doc) -> None:
        batch = after_run_operations(doc.graph, self._env().registry)
        if batch.ops:
            self._advancing_seeds = True
            try:
                push(doc.undo_stack, doc.graph, batch)
            finally:
                self._advancing_seeds = False
