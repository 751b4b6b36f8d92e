"""Files in the window: save and reopen, the unsaved-changes prompt, drops, PNGs with a workflow, unknown node types,
missing files, bad files, templates, recent files, autosave and crash recovery."""
from __future__ import annotations

from pathlib import Path

import pytest

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from nodeflow.app import preferences
from nodeflow.core import operations as ops
from nodeflow.core.builders import GraphBuilder
from nodeflow.formats import workflow
from tests.app.window_kit import build_editor, close_editor, editor  # noqa: F401

Btn = QMessageBox.StandardButton


def _small_graph(graph, registry):
    b = GraphBuilder(registry, graph)
    c = b.add("Const", value=3)
    s = b.add("Sink", label="hello")
    b.link(c, "INT", s, "x")
    return b


def _write_workflow(path: Path, registry) -> Path:
    b = _small_graph(None, registry)
    workflow.save(b.graph, path)
    return path


def _answer(monkeypatch, button):
    asked = []

    def question(*args, **kwargs):
        asked.append(args[2] if len(args) > 2 else "")
        return button

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def test_save_and_reopen(qtbot, editor, tmp_path, monkeypatch):
    _small_graph(editor.graph, editor.registry)
    editor.doc.mark_dirty()
    w = editor.window
    assert w.windowTitle().startswith("Untitled 1*")
    target = tmp_path / "saved"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    w.act.save.trigger()  # no path yet: Save asks for one
    saved = tmp_path / "saved.json"
    assert saved.is_file() and editor.doc.path == saved
    assert saved.read_text(encoding="utf-8") == workflow.dumps(editor.graph) + "\n"
    assert not editor.doc.dirty
    assert w.tabs.tabText(w.tabs.currentIndex()) == "saved.json"
    assert w.windowTitle() == "saved.json — NodeFlow"
    assert preferences.recent_files()[0] == str(saved.resolve())

    sink = next(n.id for n in editor.graph.nodes.values() if n.type == "Sink")
    from nodeflow.app.undo import push

    push(editor.doc.undo_stack, editor.graph, ops.SetValue(sink, "label", "changed"))
    assert editor.doc.dirty and w.tabs.tabText(w.tabs.currentIndex()) == "saved.json*"
    editor.doc.undo_stack.undo()  # back to the saved state: clean again
    assert not editor.doc.dirty and w.tabs.tabText(w.tabs.currentIndex()) == "saved.json"
    editor.doc.undo_stack.redo()
    w.act.save.trigger()  # has a path now: no dialog
    assert not editor.doc.dirty
    assert workflow.load(saved)[0] == editor.graph

    second = build_editor(editor.settings, editor.registry, autosave=False)
    try:
        view = second.window.file_actions.open_path(saved)
        assert view.document.graph == editor.graph and not view.document.dirty
        assert len(second.window.tabs.views()) == 1  # the empty start-up tab made way
        assert second.window.file_actions.open_path(saved) is view  # already open: switch to it
    finally:
        close_editor(second)


def test_unsaved_changes_prompt_on_tab_close(qtbot, editor, monkeypatch, tmp_path):
    _small_graph(editor.graph, editor.registry)
    editor.doc.mark_dirty()
    w = editor.window
    asked = _answer(monkeypatch, Btn.Cancel)
    assert not w.close_current_tab()
    assert asked and "Untitled 1" in asked[0] and len(w.tabs.views()) == 1

    _answer(monkeypatch, Btn.Discard)
    doc = editor.doc
    assert w.close_current_tab()
    assert doc.closed and w.tabs.current_view().document is not doc  # a fresh tab replaces the last one

    view = w.file_actions.open_path(_write_workflow(tmp_path / "wf.json", editor.registry))
    view.document.graph.apply(ops.SetValue(2, "label", "edited"))
    view.document.mark_dirty()
    _answer(monkeypatch, Btn.Save)
    assert w.close_view(view)
    assert workflow.load(tmp_path / "wf.json")[0].nodes[2].values["label"] == "edited"


def test_unsaved_changes_prompt_on_window_close(qtbot, editor, monkeypatch):
    editor.doc.mark_dirty()
    _answer(monkeypatch, Btn.Cancel)
    editor.window.close()
    assert editor.window.isVisible()
    _answer(monkeypatch, Btn.Discard)
    editor.window.close()
    assert not editor.window.isVisible()


def _drop(target, paths, qtbot):
    """What a file manager's drag does: enter (Qt delivers the drop only where the enter was accepted), drop."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(20, 20), *args)
    QApplication.sendEvent(target, enter)
    event = QDropEvent(QPointF(20, 20), *args)
    QApplication.sendEvent(target, event)
    return enter.isAccepted()


def test_dropping_workflow_files_opens_tabs(qtbot, editor, tmp_path):
    from nodeflow.formats.png import NODEFLOW_KEY, save_png
    from PIL import Image

    a = _write_workflow(tmp_path / "a.json", editor.registry)
    graph = _small_graph(None, editor.registry).graph
    png = save_png(Image.new("RGB", (8, 8)), tmp_path / "made.png", {NODEFLOW_KEY: workflow.dumps(graph)})
    w = editor.window
    _drop(w.tabs.current_view().canvas.viewport(), [a], qtbot)  # onto the canvas
    assert [v.document.name for v in w.tabs.views()] == ["a.json"]
    _drop(w, [png], qtbot)  # onto the window
    names = [v.document.name for v in w.tabs.views()]
    assert names == ["a.json", "made"]
    png_doc = w.tabs.current_view().document
    assert png_doc.path is None and png_doc.graph == graph  # Save asks for a .json: the picture stays as it is
    assert not _drop(w, [tmp_path / "missing.json"], qtbot)  # not a file: refused
    assert len(w.tabs.views()) == 2


def test_dropping_a_plain_picture_adds_a_load_image_node_for_a_copy_in_the_input_folder(qtbot, settings, tmp_path):
    from PIL import Image

    from nodeflow.core.registry import load_registry

    ed = build_editor(settings, registry=load_registry(entry_points=False))  # the real Load Image node
    try:
        ed.window.resize(1000, 700)
        ed.window.show()
        qtbot.waitExposed(ed.window)
        src = tmp_path / "photos"
        src.mkdir()
        Image.new("RGB", (16, 12), (200, 30, 30)).save(src / "cat.png")  # no workflow in it
        Image.new("RGB", (16, 12), (30, 30, 200)).save(src / "dog.jpg")
        view = ed.window.tabs.current_view()
        graph = view.document.graph
        assert _drop(view.canvas.viewport(), [src / "cat.png"], qtbot)
        [node] = [n for n in graph.nodes.values() if n.type == "LoadImage"]
        assert node.values["image"] == "cat.png"
        copy = Path(settings.input_dir) / "cat.png"
        assert copy.read_bytes() == (src / "cat.png").read_bytes()
        dropped_at = view.canvas.mapToScene(QPoint(20, 20))
        assert node.pos == (dropped_at.x(), dropped_at.y())
        assert len(ed.window.tabs.views()) == 1  # no tab opened for it
        [shown] = [p.toImage() for p in view.canvas.graph_scene.nodes[node.id].images]  # shown before any run
        assert shown.pixelColor(shown.width() // 2, shown.height() // 2).red() > 150

        _drop(view.canvas.viewport(), [src / "cat.png", src / "dog.jpg"], qtbot)  # the same cat again, and a dog
        names = sorted(n.values["image"] for n in graph.nodes.values() if n.type == "LoadImage")
        assert names == ["cat.png", "cat.png", "dog.jpg"]  # the identical picture reuses its copy
        Image.new("RGB", (16, 12), (0, 200, 0)).save(src / "cat.png")  # another picture, same name
        _drop(view.canvas.viewport(), [src / "cat.png"], qtbot)
        assert "cat (1).png" in {n.values["image"] for n in graph.nodes.values()}

        [newest] = [n for n in graph.nodes.values() if n.values.get("image") == "cat (1).png"]
        [green] = [p.toImage() for p in view.canvas.graph_scene.nodes[newest.id].images]
        assert green.pixelColor(green.width() // 2, green.height() // 2).green() > 150
        from nodeflow.core import operations as ops

        graph.apply(ops.SetValue(newest.id, "image", "dog.jpg"))  # choosing another file shows that one
        [blue] = [p.toImage() for p in view.canvas.graph_scene.nodes[newest.id].images]
        assert blue.pixelColor(blue.width() // 2, blue.height() // 2).blue() > 150
        graph.apply(ops.SetValue(newest.id, "image", "cat (1).png"))

        view.document.undo_stack.undo()
        assert "cat (1).png" not in {n.values["image"] for n in graph.nodes.values() if n.type == "LoadImage"}
        from nodeflow.core.validation import validate

        assert [p for p in validate(graph, ed.registry, settings) if p.kind == "missing_file"] == []
    finally:
        close_editor(ed)


def test_unknown_node_types_open_as_placeholders_with_one_log_message(qtbot, editor, tmp_path):
    data = workflow.to_dict(_small_graph(None, editor.registry).graph)
    data["nodes"].append({"id": 9, "type": "FancyUpscaler", "pos": [0, 300], "values": {"scale": 4}})
    data["nodes"].append({"id": 10, "type": "FancyUpscaler", "pos": [300, 300], "values": {}})
    data["nodes"].append({"id": 11, "type": "MysteryNode", "pos": [600, 300], "values": {}})
    path = tmp_path / "unknown.json"
    path.write_text(__import__("json").dumps(data), encoding="utf-8")
    view = editor.window.file_actions.open_path(path)
    assert view is not None and set(view.document.graph.nodes) >= {9, 10, 11}
    warnings = [m for m in editor.window.log.messages("warning") if "unknown type" in m]
    assert warnings == ["unknown.json: 3 nodes of unknown type kept as placeholders: FancyUpscaler, MysteryNode"]
    view.canvas.select_nodes([9])
    inspector = editor.window.inspector
    qtbot.waitUntil(lambda: inspector.node_id == 9)
    # saving keeps the placeholders exactly
    view.document.save(tmp_path / "again.json")
    assert workflow.load(tmp_path / "again.json")[0] == view.document.graph


def test_missing_files_are_listed_with_the_folders_searched(qtbot, editor, tmp_path):
    b = GraphBuilder(editor.registry)
    r = b.add("ReadFile", name="photo_that_is_not_there.png")
    s = b.add("Sink")
    b.link(r, "INT", s, "x")
    path = tmp_path / "needs_file.json"
    workflow.save(b.graph, path)
    editor.window.file_actions.open_path(path)
    entry = next(e for e in editor.window.log.entries if "missing" in e.message)
    assert entry.level == "error" and "1 missing model or input file" in entry.message
    assert "'photo_that_is_not_there.png'" in entry.details
    assert str(editor.settings.input_dir) in entry.details


def test_bad_file_shows_a_message_and_keeps_the_tabs(qtbot, editor, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]) or Btn.Ok)
    before = editor.window.tabs.views()
    bad = tmp_path / "broken.json"
    bad.write_text("{ not json", encoding="utf-8")
    assert editor.window.file_actions.open_path(bad) is None
    assert shown and "broken.json" in shown[0] and "not valid JSON" in shown[0]
    not_png = tmp_path / "fake.png"
    not_png.write_bytes(b"hello")
    assert editor.window.file_actions.open_path(not_png) is None
    assert "not a PNG" in shown[-1]
    assert editor.window.tabs.views() == before
    assert len(editor.window.log.messages("error")) == 2


def test_new_from_template_never_overwrites_the_example(qtbot, editor, tmp_path, monkeypatch):
    templates = tmp_path / "workflows"
    templates.mkdir()
    _write_workflow(templates / "txt2img_basic.json", editor.registry)
    monkeypatch.setattr("nodeflow.app.file_actions.WORKFLOWS_DIR", templates)
    menu = editor.window.menus.templates
    editor.window.file_actions.fill_templates_menu(menu)
    assert [a.text() for a in menu.actions()] == ["Txt2img basic"]
    menu.actions()[0].trigger()
    doc = editor.window.tabs.current_view().document
    assert doc.name == "txt2img_basic" and doc.path is None and len(doc.graph.nodes) == 2


def test_autosave_and_recovery_after_a_crash(qtbot, settings, monkeypatch):
    first = build_editor(settings)
    _small_graph(first.graph, first.registry)
    first.doc.mark_dirty()
    clean = first.window.file_actions.new()  # a clean document is not autosaved
    written = first.window.autosaver.save_now()
    assert [p.name for p in written] == [f"{first.window.tabs.views()[0].document.uid}.json"]
    assert not first.window.autosaver.file_for(clean.document).exists()
    expected = first.window.tabs.views()[0].document.graph.copy()
    crashed_session = first.window.autosaver.session
    first.window.autosaver.simulate_crash()  # the process "dies": files and a stale lock stay behind
    first.window.autosaver = None
    close_editor(first)

    second = build_editor(settings)
    try:
        asked = _answer(monkeypatch, Btn.Yes)
        assert second.window.file_actions.offer_recovery() == 1
        assert asked and "Recover 1 unsaved workflow" in asked[0]
        doc = second.window.tabs.current_view().document
        assert doc.graph == expected and doc.dirty and doc.name == "Untitled 1"
        assert second.window.file_actions.offer_recovery() == 0  # offered once
        root = second.window.autosaver.root
        assert not (root / crashed_session).exists() and not (root / f"{crashed_session}.lock").exists()
    finally:
        close_editor(second)


def test_a_running_editor_is_not_mistaken_for_a_crash(qtbot, settings, monkeypatch):
    first = build_editor(settings)
    second = None
    try:
        first.doc.mark_dirty()
        first.window.autosaver.save_now()
        second = build_editor(settings)
        asked = _answer(monkeypatch, Btn.Yes)
        assert second.window.file_actions.offer_recovery() == 0 and not asked
    finally:
        close_editor(first)
        if second is not None:
            close_editor(second)
    assert not (settings.data_dir / "autosave" / first.window.autosaver.session).exists()  # clean exit


def test_import_entry_without_the_importer_says_so(qtbot, editor, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_comfyui(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "nodeflow.formats" and fromlist and "comfyui" in fromlist:
            raise ImportError("not here")
        return real_import(name, globals, locals, fromlist, level)

    shown = []
    monkeypatch.setattr(builtins, "__import__", no_comfyui)
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: shown.append(a[2]))
    editor.window.act.import_comfy.trigger()
    assert shown and "not available" in shown[0]


def test_a_comfyui_file_opens_through_the_importer(qtbot, editor, tmp_path):
    comfyui = pytest.importorskip("nodeflow.formats.comfyui")
    if not hasattr(comfyui, "import_data"):
        pytest.skip("the ComfyUI importer has no import_data yet")
    data = {"last_node_id": 2, "last_link_id": 1, "version": 0.4, "links": [[1, 1, 0, 2, 0, "INT"]],
            "nodes": [{"id": 1, "type": "Const", "pos": [0, 0], "size": [200, 80], "mode": 0, "widgets_values": [5],
                       "inputs": [], "outputs": [{"name": "INT", "type": "INT", "links": [1]}]},
                      {"id": 2, "type": "SomethingComfyOnly", "pos": [300, 0], "size": [200, 80], "mode": 0,
                       "widgets_values": [], "inputs": [{"name": "x", "type": "INT", "link": 1}], "outputs": []}]}
    path = tmp_path / "comfy.json"
    path.write_text(__import__("json").dumps(data), encoding="utf-8")
    view = editor.window.file_actions.open_path(path)  # File > Open and drops take ComfyUI files too
    assert view is not None and view.document.path is None and len(view.document.graph.nodes) == 2
    assert any("imported" in m for m in editor.window.log.messages("info"))
    assert any("SomethingComfyOnly" in m for m in editor.window.log.messages("warning"))


def test_recent_files_menu(qtbot, editor, tmp_path):
    path = _write_workflow(tmp_path / "recent_one.json", editor.registry)
    editor.window.file_actions.open_path(path)
    menu = editor.window.menus.recent
    editor.window.file_actions.fill_recent_menu(menu)
    first = menu.actions()[0]
    assert first.text() == "&1 recent_one.json" and first.toolTip() == str(path.resolve())
    editor.window.close_current_tab()
    first.trigger()
    assert editor.window.tabs.current_view().document.path == path
