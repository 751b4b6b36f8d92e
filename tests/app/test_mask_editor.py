"""The mask editor for Load Image: paint and erase with a soft brush, save into the input folder's clipspace as
ComfyUI does (the mask is the new picture's transparency), the node then names that file (one undo step), and
Load Image reads it back as its MASK."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage

from tests.app.test_import_layout import diffusion_editor  # noqa: F401


def test_paint_erase_save_rewrites_load_image_and_the_mask_loads(qtbot, diffusion_editor, settings):
    from nodeflow.core.builders import GraphBuilder

    ed = diffusion_editor
    root = settings.folders.roots("input")[0]
    picture = QImage(64, 48, QImage.Format.Format_RGB32)
    picture.fill(QColor(10, 200, 30))
    assert picture.save(str(root / "photo.png"))
    node = GraphBuilder(ed.registry, ed.graph).add("LoadImage", image="photo.png")
    canvas = ed.view.canvas
    from nodeflow.app.canvas.menus import node_menu

    menu = node_menu(canvas, node)
    action = next(a for a in menu.actions() if a.text() == "Open in Mask Editor")
    action.trigger()  # the node's context menu, as the user opens it
    dialog = ed.window.mask_editor
    assert dialog is not None and dialog.isVisible()
    paint = dialog.canvas
    dialog.size_slider.setValue(6)
    dialog.hardness_slider.setValue(100)
    frame, scale = paint._frame()

    def at(x, y):  # picture coordinates -> widget position
        return QPoint(round(frame.x() + x * scale), round(frame.y() + y * scale))

    qtbot.mousePress(paint, Qt.MouseButton.LeftButton, pos=at(10, 24))
    for x in range(12, 55, 3):
        qtbot.mouseMove(paint, at(x, 24))
    qtbot.mouseRelease(paint, Qt.MouseButton.LeftButton, pos=at(54, 24))
    qtbot.mousePress(paint, Qt.MouseButton.RightButton, pos=at(32, 24))  # erase the middle
    qtbot.mouseRelease(paint, Qt.MouseButton.RightButton, pos=at(32, 24))
    mask = paint.mask
    assert mask.pixelColor(16, 24).alpha() == 255 and mask.pixelColor(32, 24).alpha() == 0
    assert mask.pixelColor(32, 5).alpha() == 0  # far from the stroke
    dialog.erase_mode.setChecked(True)
    qtbot.mouseClick(paint, Qt.MouseButton.LeftButton, pos=at(50, 24))  # erase mode: the left button erases
    assert mask.pixelColor(50, 24).alpha() == 0
    dialog.save()
    name = ed.graph.nodes[node].values["image"]
    assert name.startswith("clipspace/clipspace-mask-") and name.endswith(".png")
    saved = QImage(str(root / name))
    assert saved.hasAlphaChannel() and saved.size() == picture.size()
    assert saved.pixelColor(16, 24).alpha() == 0 and saved.pixelColor(32, 5).alpha() == 255
    assert ed.doc.undo_stack.count() == 1
    torch = pytest.importorskip("torch")
    from nodes.diffusion.nodes_image import load_image

    class Ctx:
        folders = settings.folders

        def resolve(self, kind, value, field):
            return settings.folders.resolve(kind, value)

    rgb, loaded_mask = load_image.fn(Ctx(), name)
    assert loaded_mask[0, 24, 16].item() == pytest.approx(1.0) and loaded_mask[0, 5, 32].item() == 0.0
    assert rgb.shape[1:3] == (48, 64) and torch is not None
