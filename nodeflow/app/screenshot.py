"""``--screenshot OUT.png``: render the window (offscreen when there is no display), optionally after a run, with an
optional state for the README pictures: ``search`` (the canvas's search popup open) or ``error`` (after a run,
the log showing the failure and the failing node selected)."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QPoint, QTimer
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QApplication

STATES = ("search", "error")


def settle(app, seconds: float = 0.3) -> None:
    """Let queued signals, timers and paint events run."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)


def wait_for_runs(app, runner, timeout_s: float) -> bool:
    """Block (running the event loop) until the runner's queue is empty; False on timeout."""
    if not runner.busy:
        return True
    loop = QEventLoop()
    runner.busyChanged.connect(lambda busy: None if busy else loop.quit())
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    return not runner.busy


def take_screenshot(editor, out: Path, *, run: bool = False, state: str | None = None, size=(1600, 1000),
                    timeout_s: float = 1800, settle_s: float = 0.3) -> bool:
    app, window, runner = editor.app, editor.window, editor.runner
    window.resize(*size)
    window.show()
    settle(app, settle_s)
    view = window.tabs.current_view()
    if view is not None:
        view.canvas.fit_all()
    if run and view is not None:
        window.run_current()
        if not wait_for_runs(app, runner, timeout_s):
            window.log.error(f"screenshot: the run did not finish within {timeout_s:.0f} s")
            runner.cancel()
        settle(app, settle_s)
    if state == "error":
        show_error_state(window)
    elif state == "search" and view is not None:
        view.canvas.setFocus()
        view.canvas.open_search()
    settle(app, settle_s * 1.5)
    image = composite_grab(window)
    out.parent.mkdir(parents=True, exist_ok=True)
    return image.save(str(out))


def show_error_state(window) -> None:
    """Select the first node that failed (inspector shows it) and bring the log forward with its entry selected."""
    window.docks["log"].show()
    window.docks["log"].raise_()
    entries = window.log.entries
    failed = next((i for i, e in enumerate(entries) if e.level == "error" and e.node_id is not None), None)
    if failed is None:
        return
    entry = entries[failed]
    window.log.tree.setCurrentItem(window.log.tree.topLevelItem(failed))
    view = window.tabs.view_of(entry.document)
    if view is not None and entry.node_id in view.document.graph.nodes:
        view.canvas.select_nodes([entry.node_id])


def composite_grab(window):
    """The window's pixels plus any visible popup (the search popup is its own top-level window)."""
    pixmap = window.grab()
    origin = window.mapToGlobal(QPoint(0, 0))
    popups = [w for w in QApplication.topLevelWidgets() if w is not window and w.isVisible()
              and w.width() > 1 and w.height() > 1 and not w.inherits("QMenu")]
    if popups:
        painter = QPainter(pixmap)
        for popup in popups:
            painter.drawPixmap(popup.mapToGlobal(QPoint(0, 0)) - origin, popup.grab())
        painter.end()
    return pixmap
