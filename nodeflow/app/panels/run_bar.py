"""The run bar: Run, Run to selected, Cancel, Free memory, and a progress bar naming the running node and its step."""
from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QProgressBar, QToolBar, QToolButton, QWidget


#: Friendlier names for what the packs warm up.
LIBRARY_NAMES = {"nodes.diffusion.warm_up": "diffusion nodes"}


class RunBar(QToolBar):
    def __init__(self, run: QAction, run_selected: QAction, cancel: QAction, free: QAction,
                 parent: QWidget | None = None):
        super().__init__("Run", parent)
        self.setObjectName("runBar")
        self.setMovable(False)
        self.setIconSize(QSize(16, 16))
        self.run_action = run
        self._run_text = run.text()
        self.addAction(run)
        button = self.widgetForAction(run)
        if isinstance(button, QToolButton):
            button.setObjectName("runButton")
        self.addAction(run_selected)
        self.addAction(cancel)
        self.addSeparator()
        self.progress = QProgressBar()
        self.progress.setMinimumWidth(320)
        self.progress.setMaximumWidth(560)
        self.progress.setTextVisible(True)
        self.addWidget(self.progress)
        self.queue_label = QLabel("")
        self.queue_label.setObjectName("dimText")
        self.queue_label.setMinimumWidth(80)
        self.addWidget(self.queue_label)
        self.addSeparator()
        self.addAction(free)
        self.set_idle()

    def set_loading(self, done: int, total: int, module: str, waiting: bool, seconds: float | None = None) -> None:
        """The worker is importing the node packs' libraries (torch ...; first run only, 5-20 s on few cores).
        ``waiting``: a run is queued behind the imports, and the Run button says so."""
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        shown = LIBRARY_NAMES.get(module, module)
        step = f"{shown} ({done + 1}/{total})" if module else f"{done}/{total}"
        if seconds is not None:
            step += f" · {seconds:.0f} s"
        what = "Run waiting: loading libraries" if waiting else "Loading libraries"
        self.progress.setFormat(f"{what} (first run only) — {step}")
        self._set_waiting(waiting)

    def _set_waiting(self, waiting: bool) -> None:
        text = f"{self._run_text} (waiting for libraries)" if waiting else self._run_text
        if self.run_action.text() != text:
            self.run_action.setText(text)

    def set_idle(self, text: str = "Ready") -> None:
        self._set_waiting(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat(text)

    def set_node(self, title: str, value: float | None = None, total: float | None = None,
                 text: str | None = None) -> None:
        """``title`` running; with ``total``, at step ``value`` of ``total``."""
        self._set_waiting(False)
        if total and total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(1.0, max(0.0, value / total))))
            step = text or f"{int(value)}/{int(total)}"
            self.progress.setFormat(f"{title} — {step}")
        else:
            self.progress.setRange(0, 0)  # busy indicator until the node reports progress
            self.progress.setFormat(f"{title}")

    def set_queue(self, queued: int) -> None:
        self.queue_label.setText(f"{queued} queued" if queued else "")

    @property
    def text(self) -> str:
        return self.progress.format()
