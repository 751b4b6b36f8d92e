"""The README's editor pictures of issue 11 (run from the repository root, under a display or offscreen):

    python docs/editor_shots.py OUT_DIR [first_run|area_composition|queue|missing_models|mask_editor ...]

Each picture is the real window driven the way a user would (buttons clicked, files opened), then grabbed."""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _editor(file=None, data_dir=None):
    from nodeflow.app.main import create_editor

    ed = create_editor(file, interactive=False, autosave=False)
    ed.window.resize(1600, 1000)
    ed.window.show()
    return ed


def _save(ed, out: Path) -> None:
    from nodeflow.app.screenshot import composite_grab, settle, wait_for_runs

    settle(ed.app, 0.4)
    out.parent.mkdir(parents=True, exist_ok=True)
    composite_grab(ed.window).save(str(out))
    print("wrote", out)
    wait_for_runs(ed.app, ed.runner, 600)  # a worker still importing torch must not be cut off
    ed.runner.shutdown()
    ed.window.close()  # a window left open would be composited over the next picture
    ed.window.deleteLater()
    settle(ed.app, 0.1)


def first_run(out: Path) -> None:
    """The default workflow right after Run on a fresh start: the libraries load, Run waits."""
    from nodeflow.app.screenshot import settle

    ed = _editor()
    settle(ed.app, 0.3)
    ed.window.tabs.current_view().canvas.fit_all()
    ed.window.run_current()
    settle(ed.app, 1.2)
    _save(ed, out / "first_run_loading.png")


def area_composition(out: Path) -> None:
    from tests.comfyui import templates

    wf = templates.all_workflows()["0.1.48/area_composition.json"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "area_composition.json"
        path.write_text(json.dumps(wf))
        from nodeflow.app.screenshot import settle

        ed = _editor(str(path))
        settle(ed.app, 0.3)  # the view's own first fit runs first
        canvas = ed.window.tabs.current_view().canvas
        canvas.set_zoom(0.55)  # the whole template with its titles readable
        canvas.centerOn(canvas.graph_scene.nodes_bounding_rect().center())
        _save(ed, out / "import_area_composition.png")


def queue(out: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from nodeflow.app.screenshot import settle, wait_for_runs

    ed = _editor()
    w = ed.window
    w.runner.warm_up(w.registry.warm_up)
    wait_for_runs(ed.app, ed.runner, 120)
    settle(ed.app, 0.3)
    view = w.tabs.current_view()
    canvas = view.canvas
    canvas.fit_all()
    from nodeflow.app.undo import push
    from nodeflow.core import operations as ops

    sampler = next(n for n in view.document.graph.nodes.values() if n.type == "KSampler")
    push(view.document.undo_stack, view.document.graph,
         ops.SetNodeField(sampler.id, "controls", {"seed": "randomize"}))  # as a new KSampler starts
    w.docks["queue"].raise_()
    w.queue_panel.batch.setValue(4)
    QTest.mouseClick(w.queue_panel.queue_button, Qt.MouseButton.LeftButton)
    settle(ed.app, 0.5)
    wait_for_runs(ed.app, ed.runner, 600)
    _save(ed, out / "queue_batch_of_4.png")


def missing_models(out: Path) -> None:
    """A ComfyUI workflow naming an SD1.5 checkpoint the folders lack, with the link ComfyUI templates carry."""
    from nodeflow.app.screenshot import settle
    from tests.app.test_missing_models import comfy_workflow

    ed = _editor()
    ed.window.file_actions.interactive = True
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "needs_sd15.json"
        path.write_text(json.dumps(comfy_workflow()))
        ed.window.file_actions.import_path(path)
        settle(ed.app, 0.5)
        _save(ed, out / "missing_models.png")


def mask_editor(out: Path) -> None:
    """Load Image's mask editor with a stroke painted over part of a picture."""
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QColor, QImage, QPainter, QRadialGradient
    from PySide6.QtTest import QTest

    from nodeflow.app.screenshot import settle
    from nodeflow.core.builders import GraphBuilder

    ed = _editor()
    w = ed.window
    root = w.settings.folders.roots("input")[0]
    root.mkdir(parents=True, exist_ok=True)
    picture = QImage(512, 512, QImage.Format.Format_RGB32)
    picture.fill(QColor(40, 70, 160))
    p = QPainter(picture)
    grad = QRadialGradient(QPointF(256, 256), 180)
    grad.setColorAt(0, QColor(250, 200, 60))
    grad.setColorAt(1, QColor(200, 60, 40))
    p.setBrush(grad)
    p.setPen(Qt.PenStyle.NoPen)
    p.drawEllipse(QPointF(256, 256), 170, 170)
    p.end()
    picture.save(str(root / "mask_demo.png"))
    view = w.tabs.current_view()
    node = GraphBuilder(w.registry, view.document.graph).add("LoadImage", pos=(0, 700), image="mask_demo.png")
    dialog = w.open_mask_editor(view, node)
    settle(ed.app, 0.3)
    canvas = dialog.canvas
    dialog.size_slider.setValue(28)
    dialog.hardness_slider.setValue(45)
    frame, scale = canvas._frame()

    def at(x, y):
        return QPoint(round(frame.x() + x * scale), round(frame.y() + y * scale))

    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, pos=at(150, 190))
    for i in range(40):
        QTest.mouseMove(canvas, at(150 + i * 6, 190 + (i % 10) * 4))
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=at(390, 226))
    QTest.mouseMove(canvas, at(300, 330))
    settle(ed.app, 0.3)
    _save(ed, out / "mask_editor.png")


SHOTS = {"first_run": first_run, "area_composition": area_composition, "queue": queue,
         "missing_models": missing_models, "mask_editor": mask_editor}


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    for name in argv[1:] or list(SHOTS):
        SHOTS[name](out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
