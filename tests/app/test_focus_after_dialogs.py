"""After a modal dialog closes, keys go to the canvas again without a click (Ctrl+0, Delete ...)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtWidgets import QApplication

from tests.app.window_kit import editor  # noqa: F401


def test_focus_returns_to_the_canvas_after_the_settings_dialog(qtbot, editor):
    w = editor.window
    canvas = editor.view.canvas
    w.activateWindow()
    canvas.setFocus()
    qtbot.waitUntil(canvas.hasFocus, timeout=2000)
    seen = []

    def close_dialog():
        dialog = QApplication.activeModalWidget()
        seen.append(dialog)
        if dialog is not None:
            dialog.setFocus()  # the user worked in it
            dialog.reject()

    QTimer.singleShot(200, close_dialog)
    qtbot.keyClick(canvas, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)  # Settings…
    assert seen and seen[0] is not None
    w.setFocus()  # what some window managers leave focused after a modal dialog
    w.activateWindow()
    QApplication.sendEvent(w, QEvent(QEvent.Type.WindowActivate))
    qtbot.waitUntil(canvas.hasFocus, timeout=2000)
