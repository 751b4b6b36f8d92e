"""Shared Qt fixtures for the app tests (offscreen; see tests/conftest.py)."""
from __future__ import annotations

import pytest


@pytest.fixture
def app_registry():
    """The test node pack plus the basic nodes (Note, Reroute, Seed, primitives): fast and independent of the
    heavier built-in packs."""
    import nodes.basic
    from tests.core.testpack import make_registry

    reg = make_registry(with_builtin=False)
    reg.add_module(nodes.basic, "basic")
    return reg


@pytest.fixture
def undo_stack(qapp):
    from PySide6.QtGui import QUndoStack

    stack = QUndoStack()
    yield stack
    stack.clear()


@pytest.fixture
def make_canvas(qtbot, app_registry):
    """``make_canvas(graph=None, stack=None, size=(1200, 800))`` -> a shown Canvas on ``graph``."""
    from PySide6.QtGui import QUndoStack

    from nodeflow.app.canvas import Canvas
    from nodeflow.core.graph import Graph

    made = []

    def make(graph=None, stack=None, size=(1200, 800), registry=None):
        graph = graph if graph is not None else Graph()
        stack = stack if stack is not None else QUndoStack()
        canvas = Canvas(graph, registry or app_registry, stack)
        canvas.resize(*size)
        qtbot.addWidget(canvas)
        canvas.show()
        qtbot.waitExposed(canvas)
        canvas.set_zoom(1.0)
        canvas.centerOn(0, 0)
        made.append((canvas, stack))
        return canvas

    yield make
    for canvas, stack in made:
        canvas.close()
        stack.clear()


class CanvasDriver:
    """Drives a canvas's viewport with real mouse and keyboard events, at scene coordinates."""

    def __init__(self, qtbot):
        self.qtbot = qtbot

    @staticmethod
    def point(canvas, scene_pos):
        from PySide6.QtCore import QPointF

        if not isinstance(scene_pos, QPointF):
            scene_pos = QPointF(*scene_pos)
        return canvas.mapFromScene(scene_pos)

    def click(self, canvas, scene_pos, button=None, mods=None):
        from PySide6.QtCore import Qt

        self.qtbot.mouseClick(canvas.viewport(), button or Qt.MouseButton.LeftButton,
                              mods or Qt.KeyboardModifier.NoModifier, self.point(canvas, scene_pos))

    def double_click(self, canvas, scene_pos):
        from PySide6.QtCore import Qt

        self.qtbot.mouseDClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                               self.point(canvas, scene_pos))

    def drag(self, canvas, start, end, button=None, mods=None, steps: int = 6):
        """Press at ``start``, move in ``steps`` steps, release at ``end`` (scene coordinates)."""
        from PySide6.QtCore import QPoint, Qt

        button = button or Qt.MouseButton.LeftButton
        mods = mods or Qt.KeyboardModifier.NoModifier
        a, b = self.point(canvas, start), self.point(canvas, end)
        vp = canvas.viewport()
        self.qtbot.mousePress(vp, button, mods, a)
        for i in range(1, steps + 1):
            p = QPoint(round(a.x() + (b.x() - a.x()) * i / steps), round(a.y() + (b.y() - a.y()) * i / steps))
            self.qtbot.mouseMove(vp, p)
        self.qtbot.mouseRelease(vp, button, mods, b)

    def drag_view(self, canvas, start, end, button=None, mods=None, steps: int = 6):
        """Like ``drag`` with viewport (screen) coordinates."""
        from PySide6.QtCore import QPoint, Qt

        button = button or Qt.MouseButton.LeftButton
        mods = mods or Qt.KeyboardModifier.NoModifier
        vp = canvas.viewport()
        a, b = QPoint(*start), QPoint(*end)
        self.qtbot.mousePress(vp, button, mods, a)
        for i in range(1, steps + 1):
            self.qtbot.mouseMove(vp, QPoint(round(a.x() + (b.x() - a.x()) * i / steps),
                                            round(a.y() + (b.y() - a.y()) * i / steps)))
        self.qtbot.mouseRelease(vp, button, mods, b)

    def key(self, widget, key, mods=None):
        from PySide6.QtCore import Qt

        self.qtbot.keyClick(widget, key, mods or Qt.KeyboardModifier.NoModifier)


@pytest.fixture
def driver(qtbot):
    return CanvasDriver(qtbot)
