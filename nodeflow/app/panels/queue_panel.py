"""The queue and history panel, as ComfyUI users know it: every run queued this session, newest first, with its
state (queued, running with the node it is at, done with its time, failed, cancelled) and the first picture it made.
"Queue" with a batch count queues N runs at once (each with the seed controls applied, so each makes a new
picture); a queued run can be cancelled on its own; auto-queue runs again whenever the graph changes.

The panel only shows and asks: ``queueRequested(n)``, ``cancelRequested(job)`` and ``autoQueueChanged(bool)`` are
for the window to act on. GUI thread only (the runner's signals arrive there)."""
from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QListWidget, QListWidgetItem, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from nodeflow.app.canvas.run_state import format_seconds
from nodeflow.app.images import thumbnail

THUMB = 32
MAX_BATCH = 100
#: Finished runs kept in the list (their pictures stay in the Results panel).
MAX_HISTORY = 200
STATUS_TEXT = {"queued": "queued", "running": "running", "ok": "done", "error": "failed", "cancelled": "cancelled",
               "invalid": "not run (invalid)", "crashed": "stopped unexpectedly"}


class QueuePanel(QWidget):
    queueRequested = Signal(int)  # batch count
    cancelRequested = Signal(object)  # RunJob
    autoQueueChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.batch = QSpinBox()
        self.batch.setRange(1, MAX_BATCH)
        self.batch.setPrefix("× ")
        self.batch.setToolTip("Batch count: how many runs one Queue adds (seed controls apply between them)")
        self.queue_button = QPushButton("Queue")
        self.queue_button.setToolTip("Queue the current workflow this many times")
        self.queue_button.clicked.connect(lambda: self.queueRequested.emit(self.batch.value()))
        self.auto = QCheckBox("Auto-queue")
        self.auto.setToolTip("Queue again whenever the workflow changes (and nothing of it is queued)")
        self.auto.toggled.connect(self.autoQueueChanged)
        self.cancel_button = QPushButton("Cancel run")
        self.cancel_button.setToolTip("Cancel the selected queued or running run (the others stay queued)")
        self.cancel_button.clicked.connect(self._cancel_selected)
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(False)
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())
        top = QHBoxLayout()
        top.setContentsMargins(4, 2, 4, 2)
        for w in (self.queue_button, self.batch, self.auto):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.list, 1)
        self._items: dict[int, QListWidgetItem] = {}
        self._jobs: dict[int, object] = {}
        self._node: dict[int, str] = {}
        self._images: dict[int, int] = {}
        self._started: dict[int, float] = {}
        self._update_buttons()

    # -- what the runner reports ----------------------------------------------------------------------------------
    def job_queued(self, job) -> None:
        item = QListWidgetItem()
        item.setData(Qt.ItemDataRole.UserRole, job.id)
        self.list.insertItem(0, item)
        self._items[job.id], self._jobs[job.id] = item, job
        self._images[job.id] = 0
        self._refresh(job)
        self._trim()

    def job_started(self, job) -> None:
        self._started[job.id] = time.monotonic()
        self._refresh(job)

    def job_node(self, job, title: str) -> None:
        self._node[job.id] = title
        self._refresh(job)

    def job_image(self, job, image: QImage) -> None:
        """A picture the run made: the first becomes the row's icon, the others are counted."""
        if job.id not in self._items:
            return
        if self._images[job.id] == 0:
            self._items[job.id].setIcon(QIcon(QPixmap.fromImage(thumbnail(image, THUMB))))
        self._images[job.id] += 1
        self._refresh(job)

    def job_finished(self, job) -> None:
        self._node.pop(job.id, None)
        self._refresh(job)

    # -- reading ----------------------------------------------------------------------------------------------
    def row_text(self, job) -> str:
        name = job.owner.name if job.owner is not None else "workflow"
        status = "cancelling" if job.cancelled and not job.done else STATUS_TEXT.get(job.status, job.status)
        parts = [f"#{job.id} {name}", status]
        if job.status == "running" and self._node.get(job.id):
            parts.append(self._node[job.id])
        if job.done and job.report is not None:
            parts.append(format_seconds(job.report.seconds_total))
            if job.status == "ok" and not job.report.executed and job.report.cached:
                parts.append("all cached")
        n = self._images.get(job.id, 0)
        if n:
            parts.append(f"{n} image{'s' if n != 1 else ''}")
        return " · ".join(parts)

    def rows(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def item_of(self, job) -> QListWidgetItem | None:
        return self._items.get(job.id)

    # -- internals ----------------------------------------------------------------------------------------------
    def _refresh(self, job) -> None:
        item = self._items.get(job.id)
        if item is not None:
            item.setText(self.row_text(job))
            item.setToolTip(self.row_text(job))
        self._update_buttons()

    def _selected_job(self):
        item = self.list.currentItem()
        return self._jobs.get(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def _cancel_selected(self) -> None:
        job = self._selected_job()
        if job is not None and not job.done:
            self.cancelRequested.emit(job)
            self._refresh(job)

    def _update_buttons(self) -> None:
        job = self._selected_job()
        self.cancel_button.setEnabled(job is not None and not job.done and not job.cancelled)

    def _trim(self) -> None:
        while self.list.count() > MAX_HISTORY:
            item = self.list.takeItem(self.list.count() - 1)
            jid = item.data(Qt.ItemDataRole.UserRole)
            for d in (self._items, self._jobs, self._node, self._images, self._started):
                d.pop(jid, None)
