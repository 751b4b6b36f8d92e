"""The window with its real widgets: start-up (default or empty workflow, no torch), library, inspector, themes,
help overlay, pack errors in the log, and the screenshot mode used for the README."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from nodeflow.core import operations as ops
from nodeflow.core.builders import GraphBuilder
from nodeflow.formats import workflow
from tests.app.window_kit import build_editor, close_editor, editor, window_registry  # noqa: F401
from tests.conftest import REPO


def test_window_opens_with_an_empty_workflow(qtbot, editor, tmp_path):
    w = editor.window
    assert [v.document.name for v in w.tabs.views()] == ["Untitled 1"]
    assert not editor.graph.nodes and not editor.doc.dirty
    assert w.windowTitle() == "Untitled 1 — NodeFlow"
    assert set(w.docks) == {"library", "inspector", "gallery", "log", "queue"}
    assert all(d.isVisible() for d in w.docks.values())
    assert "Sink" in w.library.visible_types() and "MakeImage" in w.library.visible_types()
    assert w.run_bar.text == "Ready" and not w.act.cancel.isEnabled()
    shot = tmp_path / "window.png"
    assert w.grab().save(str(shot))
    assert QImage(str(shot)).width() == w.width()


def test_startup_opens_default_workflow_without_importing_torch(tmp_path):
    """A fresh interpreter: build the real editor (all built-in packs) and check what got imported."""
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    script = textwrap.dedent(f"""
        import json, os, sys, time
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        t0 = time.perf_counter()
        import nodeflow.paths
        nodeflow.paths.WORKFLOWS_DIR = __import__("pathlib").Path({str(workflows)!r})
        from nodeflow.app.main import create_editor
        from nodeflow.core.registry import load_registry
        reg = load_registry()
        from nodeflow.core.builders import GraphBuilder
        from nodeflow.formats import workflow
        b = GraphBuilder(reg)
        b.add("Note", text="hello")
        workflow.save(b.graph, nodeflow.paths.WORKFLOWS_DIR / "default.json")
        ed = create_editor()
        ed.window.show()
        ed.app.processEvents()
        seconds = time.perf_counter() - t0
        view = ed.window.tabs.current_view()
        print(json.dumps({{"torch": "torch" in sys.modules, "seconds": seconds, "name": view.document.name,
                           "path": str(view.document.path), "nodes": len(view.document.graph.nodes),
                           "types": len(reg.types), "pack_errors": [str(e) for e in reg.errors]}}))
        ed.window.file_actions.interactive = False
        ed.window.close()
        ed.runner.shutdown()
    """)
    env = {**__import__("os").environ, "NODEFLOW_HOME": str(tmp_path / "home"),
           "NODEFLOW_SETTINGS": str(tmp_path / "none.json")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env,
                         cwd=REPO)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["torch"] is False
    assert result["name"] == "default" and result["path"] == "None"  # a template: Save never overwrites it
    assert result["nodes"] == 1 and result["types"] > 10
    assert result["seconds"] < 10  # generous: the benchmark measures it properly


def test_library_search_and_double_click_add_a_node(qtbot, editor):
    lib = editor.window.library
    lib.search.setText("sink")
    assert set(lib.visible_types()) == {"BlobSink", "FloatSink", "Sink"}
    lib.search.setText("float sink")
    assert lib.visible_types() == ["FloatSink"]
    item = lib.tree.findItems("FloatSink", Qt.MatchFlag.MatchRecursive | Qt.MatchFlag.MatchExactly)[0]
    lib.tree.itemActivated.emit(item, 0)
    nodes = list(editor.graph.nodes.values())
    assert [n.type for n in nodes] == ["FloatSink"]
    assert editor.view.canvas.selected_node_ids() == [nodes[0].id]
    qtbot.waitUntil(lambda: editor.window.inspector.node_id == nodes[0].id)
    assert editor.doc.dirty
    editor.window.act.undo.trigger()
    assert not editor.graph.nodes and not editor.doc.dirty
    lib.search.setText("")
    assert len(lib.visible_types()) == len(editor.registry.types)


def test_library_drag_carries_the_type_and_a_drop_adds_the_node(qtbot, editor):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    from nodeflow.app.panels.library import NODE_TYPE_MIME

    lib = editor.window.library
    item = lib.tree.findItems("Const", Qt.MatchFlag.MatchRecursive | Qt.MatchFlag.MatchExactly)[0]
    mime = lib.tree.mimeData([item])
    assert bytes(mime.data(NODE_TYPE_MIME)).decode() == "Const"
    viewport = editor.view.canvas.viewport()
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, QDragEnterEvent(QPoint(100, 80), *args))
    QApplication.sendEvent(viewport, QDropEvent(QPointF(100, 80), *args))
    (node,) = editor.graph.nodes.values()
    scene = editor.view.canvas.mapToScene(QPoint(100, 80))
    assert node.type == "Const" and node.pos == (scene.x(), scene.y())


def test_inspector_edits_values_through_the_undo_stack(qtbot, editor):
    b = GraphBuilder(editor.registry, editor.graph)
    sink = b.add("Sink", label="before")
    seed = b.add("TestSeed", seed=7)
    canvas, inspector = editor.view.canvas, editor.window.inspector
    canvas.select_nodes([sink])
    qtbot.waitUntil(lambda: inspector.node_id == sink)  # the canvas reports selections once per event-loop turn
    assert set(inspector.editors) == {"label", "mode"}  # x is a socket
    label = inspector.editors["label"].widget
    label.setText("after")
    label.editingFinished.emit()
    assert editor.graph.nodes[sink].values["label"] == "after" and editor.doc.dirty
    combo = inspector.editors["mode"].widget
    combo.setCurrentIndex(1)
    combo.activated.emit(1)
    assert editor.graph.nodes[sink].values["mode"] == "fancy"
    editor.window.act.undo.trigger()
    editor.window.act.undo.trigger()
    assert editor.graph.nodes[sink].values["label"] == "before"
    qtbot.waitUntil(lambda: inspector.editors["label"].widget.text() == "before")  # follows the graph
    # a change made elsewhere (the canvas, a run's seed control) shows up too
    editor.graph.apply(ops.SetValue(sink, "label", "from elsewhere"))
    qtbot.waitUntil(lambda: inspector.editors["label"].widget.text() == "from elsewhere")
    # seeds: a 64-bit value in a line edit, and the control after generate
    canvas.select_nodes([seed])
    qtbot.waitUntil(lambda: inspector.node_id == seed)
    seed_edit = inspector.editors["seed"].widget
    seed_edit.setText(str(2 ** 63 + 5))
    seed_edit.editingFinished.emit()
    assert editor.graph.nodes[seed].values["seed"] == 2 ** 63 + 5
    control = inspector._controls["seed"]
    control.setCurrentText("randomize")
    control.activated.emit(control.currentIndex())
    assert editor.graph.nodes[seed].controls == {"seed": "randomize"}
    inspector._title.setText("My seed")
    inspector._title.editingFinished.emit()
    assert editor.graph.nodes[seed].title == "My seed"
    canvas.select_nodes([sink, seed])
    qtbot.waitUntil(lambda: inspector.node_id is None)
    assert not inspector.editors


def test_theme_switch_and_help_overlay(qtbot, editor, tmp_path):
    from nodeflow.app import preferences

    w = editor.window
    w.act.themes["light"].trigger()
    assert w.palette_colors.name == "light" and preferences.Preferences.load().theme == "light"
    assert w.palette().window().color().lightness() > 200
    w.act.help.trigger()
    assert w.help_overlay.isVisible()
    sections = dict(w.help_overlay.sections())
    assert ("Ctrl+Return / Ctrl+Enter", "Run") in sections["Window"]
    assert any(text == "Search and add a node" for _k, text in sections["Canvas"])
    w.grab().save(str(tmp_path / "help.png"))
    qtbot.keyClick(w.help_overlay, Qt.Key.Key_Escape)
    assert not w.help_overlay.isVisible()
    w.act.themes["dark"].trigger()
    assert w.palette().window().color().lightness() < 60


def test_pack_load_errors_are_listed_in_the_log_at_start(qtbot, settings, tmp_path):
    from nodeflow.core.registry import load_registry

    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "broken_pack.py").write_text("raise RuntimeError('this pack is broken')\n", encoding="utf-8")
    reg = load_registry([packs], entry_points=False, builtin=False)
    ed = build_editor(settings, reg, autosave=False)
    try:
        (entry,) = [e for e in ed.window.log.entries if e.level == "error"]
        assert "broken_pack" in entry.message and "this pack is broken" in entry.message
        assert "Traceback" in entry.details
    finally:
        close_editor(ed)


def test_settings_apply_to_the_shared_executor(qtbot, editor, tmp_path):
    from nodeflow.app.preferences import Preferences

    prefs = Preferences(output_dir=str(tmp_path / "out"), cache_budget_mb=123, theme="dark", device="cpu")
    editor.window.apply_preferences(prefs)
    assert editor.runner.executor.cache.budget_bytes == 123 * 2 ** 20
    assert editor.runner.executor.settings.output_dir == tmp_path / "out"
    assert editor.window.settings.device == "cpu"
    assert Preferences.load().cache_budget_mb == 123
    from nodeflow.app.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Preferences.load(), editor.window.settings, editor.window)
    assert dialog.cache.value() == 123 and dialog.output_dir.edit.text() == str(tmp_path / "out")
    dialog.cache.setValue(256)
    assert dialog.result_preferences().cache_budget_mb == 256


def _screenshot_args(path, out, **kw):
    return argparse.Namespace(file=str(path), screenshot=str(out), run=kw.get("run", False), settings=None,
                              screenshot_state=kw.get("state"))


def test_screenshot_mode_writes_a_png_after_the_run(qtbot, settings, tmp_path, monkeypatch):
    from nodeflow.app.main import run_app

    from nodeflow.app import screenshot

    reg = window_registry()
    monkeypatch.setattr("nodeflow.core.environment.load_registry", lambda *a, **k: reg)
    real_settle = screenshot.settle
    monkeypatch.setattr(screenshot, "settle", lambda app, seconds=0.3: real_settle(app, 0.03))
    b = GraphBuilder(reg)
    b.add("MakeImage", value=99, size=32)
    wf = tmp_path / "shot.json"
    workflow.save(b.graph, wf)
    out = tmp_path / "shots" / "window.png"
    assert run_app(_screenshot_args(wf, out, run=True)) == 0
    image = QImage(str(out))
    assert image.width() == 1600 and image.height() == 1000


def test_screenshot_error_state(qtbot, settings, tmp_path):
    from nodeflow.app.main import create_editor
    from nodeflow.app.screenshot import take_screenshot

    reg = window_registry()
    b = GraphBuilder(reg)
    c = b.add("Const")
    f = b.add("Fail")
    s = b.add("Sink")
    b.link(c, "INT", f, "x")
    b.link(f, "INT", s, "x")
    wf = tmp_path / "error.json"
    workflow.save(b.graph, wf)
    out = tmp_path / "error.png"
    ed = create_editor(str(wf), interactive=False, autosave=False, registry=reg)
    try:
        assert take_screenshot(ed, out, run=True, state="error", settle_s=0.05)
        assert QImage(str(out)).width() == 1600
        assert ed.window.inspector.node_id == f
        assert "failed" in ed.window.log.details.toPlainText()
    finally:
        ed.window.close()
        ed.runner.shutdown()


def test_repeated_adds_do_not_pile_up_and_tabs_cycle(qtbot, editor):
    w = editor.window
    first, second = w.add_node("Const"), w.add_node("Const")
    a, b = editor.graph.nodes[first].pos, editor.graph.nodes[second].pos
    assert abs(a[0] - b[0]) >= 20 or abs(a[1] - b[1]) >= 20
    w.file_actions.new()
    assert w.tabs.currentIndex() == 1
    w.act.next_tab.trigger()
    assert w.tabs.currentIndex() == 0
    w.act.prev_tab.trigger()
    assert w.tabs.currentIndex() == 1
