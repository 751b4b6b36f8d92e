"""The settings dialog with its real widgets: what it stores (QSettings) and how applied settings reach the runner,
every open canvas (file choice lists, missing-file marks) and the inspector."""
from __future__ import annotations

import os

from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from nodeflow.core.builders import GraphBuilder
from nodeflow.formats import workflow
from tests.app.window_kit import editor  # noqa: F401


def _accept_settings_dialog(qtbot, window, fill) -> None:
    """Open File > Settings (modal), let ``fill(dialog)`` change it, press OK."""
    seen = []

    def drive():
        dialog = QApplication.activeModalWidget()
        seen.append(dialog)
        fill(dialog)
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, drive)
    window.act.settings.trigger()
    assert seen and seen[0] is not None


def test_cpu_threads_field_is_stored_and_applied(qtbot, editor, tmp_path):
    from nodeflow.app.preferences import Preferences

    w = editor.window
    shots = []

    def fill(dialog):
        spin = dialog.cpu_threads
        assert spin.value() == 0 and spin.text() == "automatic"
        assert spin.maximum() == (os.cpu_count() or 1)  # more threads than cores only slows every step
        spin.setValue(1)
        shots.append(dialog.grab())

    _accept_settings_dialog(qtbot, w, fill)
    shots[0].save(str(tmp_path / "settings.png"))
    assert w.settings.cpu_threads == 1 and editor.runner.executor.settings.cpu_threads == 1
    assert Preferences.load().cpu_threads == 1

    shown = []
    _accept_settings_dialog(qtbot, w, lambda d: (shown.append(d.cpu_threads.value()), d.cpu_threads.setValue(0)))
    assert shown == [1]
    assert w.settings.cpu_threads == 0 and Preferences.load().cpu_threads == 0


def test_preferences_keep_or_override_the_settings_files_cpu_threads(settings):
    from dataclasses import replace

    from nodeflow.app.preferences import Preferences

    base = replace(settings, cpu_threads=4)
    Preferences().save()
    assert Preferences.load().cpu_threads is None
    assert Preferences.load().apply(base).cpu_threads == 4  # never set in the dialog: the file's value
    Preferences(cpu_threads=0).save()
    assert Preferences.load().apply(base).cpu_threads == 0  # "automatic" chosen in the dialog wins


def test_applied_settings_reach_every_open_canvas(qtbot, editor, tmp_path, driver):
    """A new input folder: each tab's file choices list its files, and missing-file marks found on open go away."""
    w = editor.window
    b = GraphBuilder(editor.registry)
    b.add("ReadFile", name="new.png")
    wf = tmp_path / "reads.json"
    workflow.save(b.graph, wf)
    w.file_actions.open_path(wf)
    w.file_actions.new()
    views = w.tabs.views()
    assert len(views) == 2
    reads = views[0]
    (nid,) = reads.document.graph.nodes
    assert [p.kind for p in reads.canvas.problems()] == ["missing_file"]

    folder = tmp_path / "new_input"
    folder.mkdir()
    (folder / "new.png").write_bytes(b"not really a png")
    prefs = w.prefs.copy()
    prefs.input_dir = str(folder)
    w.apply_preferences(prefs)

    assert all(v.canvas.settings is w.settings for v in views)
    assert w.settings.input_dir == folder
    assert reads.canvas.problems() == []
    # the real combo on the canvas lists the new folder's file
    w.tabs.setCurrentWidget(reads.canvas)
    canvas = reads.canvas
    canvas.fit_all()
    qtbot.wait(10)
    row = canvas.graph_scene.nodes[nid].layout.widget("name")
    centre = canvas.graph_scene.nodes[nid].pos() + QPointF(row.x + row.w / 2, row.center_y)
    driver.click(canvas, centre)
    menu = canvas.last_menu
    assert menu is not None and "new.png" in [a.text() for a in menu.actions()]
    menu.close()
