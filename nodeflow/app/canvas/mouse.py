"""Routes the view's mouse events: decides which gesture a press starts (from what is under the pointer and the
modifiers), feeds it moves, finishes it on release, and handles clicks that need no gesture (context menus,
double-clicks, hover cursors)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent

from nodeflow.app.canvas import interaction as ia
from nodeflow.app.canvas import menus
from nodeflow.app.canvas.edge_pan import EdgePanner

if TYPE_CHECKING:
    from nodeflow.app.canvas.services import CanvasServices

_HOVER_CURSORS = {"output": Qt.CursorShape.CrossCursor, "input": Qt.CursorShape.CrossCursor,
                  "widget_socket": Qt.CursorShape.CrossCursor, "resize": Qt.CursorShape.SizeFDiagCursor,
                  "collapse": Qt.CursorShape.PointingHandCursor, "image": Qt.CursorShape.PointingHandCursor}
_CTRL = Qt.KeyboardModifier.ControlModifier
_SHIFT = Qt.KeyboardModifier.ShiftModifier
_ALT = Qt.KeyboardModifier.AltModifier


class MouseRouter:
    def __init__(self, canvas: "CanvasServices"):
        self.canvas = canvas
        self.gesture: ia.Gesture | None = None
        self.edge_pan = EdgePanner(canvas)
        self.space_down = False
        self._right_press: QPointF | None = None

    # -- press --------------------------------------------------------------------------------------------------
    def press(self, event: QMouseEvent) -> None:
        canvas = self.canvas
        canvas.close_popups()
        canvas.setFocus(Qt.FocusReason.MouseFocusReason)
        if self.gesture is not None:  # a second button during a gesture: end the first cleanly
            self.cancel()
        view_pos = event.position()
        scene_pos = canvas.to_scene(view_pos)
        mods = event.modifiers()
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self.space_down):
            self._start(ia.PanGesture(canvas, view_pos, scene_pos))
            return
        if button == Qt.MouseButton.RightButton:
            if mods & _CTRL:
                self._start(ia.CutGesture(canvas, view_pos, scene_pos))
            else:
                self._right_press = view_pos
            return
        if button != Qt.MouseButton.LeftButton:
            return
        under = ia.what_is_under(canvas, scene_pos)
        if under.kind == "node":
            self._press_node(under, view_pos, scene_pos, mods)
        elif under.kind == "frame":
            if under.frame_part == "resize":
                self._start(ia.ResizeGesture(canvas, view_pos, scene_pos, frame=under.frame))
            else:
                narrow = self._select_for_press(under.frame, mods)
                self._start(ia.MoveGesture(canvas, view_pos, scene_pos, click_frame=under.frame,
                                           narrow_on_click=narrow))
        else:
            self._start(ia.BoxSelectGesture(canvas, view_pos, scene_pos, additive=bool(mods & (_CTRL | _SHIFT))))

    def _press_node(self, under: ia.Under, view_pos, scene_pos, mods) -> None:
        canvas, item, hit = self.canvas, under.node, under.hit
        nid = item.node_id
        if hit.kind == "output":
            self._start(ia.WireGesture(canvas, view_pos, scene_pos, nid, hit.name, "out"))
        elif hit.kind == "input":
            link = canvas.graph.link_into(nid, hit.name)
            if link is not None and link.src in canvas.graph_scene.nodes:
                self._start(ia.WireGesture(canvas, view_pos, scene_pos, link.src, link.src_output, "out",
                                           picked=link.id))
            else:
                self._start(ia.WireGesture(canvas, view_pos, scene_pos, nid, hit.name, "in"))
        elif hit.kind == "widget_socket":
            self._start(ia.WireGesture(canvas, view_pos, scene_pos, nid, hit.name, "in"))
        elif hit.kind == "widget":
            if not item.isSelected():
                canvas.select_nodes([nid])
            self._start(ia.WidgetGesture(canvas, view_pos, scene_pos, item, hit))
        elif hit.kind == "collapse":
            canvas.actions.toggle_collapse([nid])
        elif hit.kind == "resize":
            self._start(ia.ResizeGesture(canvas, view_pos, scene_pos, node=item))
        elif item.layout.kind == "reroute" and mods & _SHIFT:
            self._start(ia.WireGesture(canvas, view_pos, scene_pos, nid, "output", "out"))
        else:
            narrow = self._select_for_press(item, mods)
            kind = ia.CloneGesture if mods & _ALT else ia.MoveGesture
            gesture = kind(canvas, view_pos, scene_pos, click_node=item, narrow_on_click=narrow)
            if hit.kind == "image":
                gesture.on_click = lambda: canvas.imageClicked.emit(nid, hit.index)
            self._start(gesture)

    def _select_for_press(self, item, mods) -> bool:
        """Click selection rules; returns True when a click without a drag should narrow the selection to item."""
        if mods & _CTRL:
            item.setSelected(not item.isSelected())
            return False
        if mods & _SHIFT:
            item.setSelected(True)
            return False
        if not item.isSelected():
            self.canvas.graph_scene.clearSelection()
            item.setSelected(True)
            return False
        return True

    def _start(self, gesture: ia.Gesture) -> None:
        self.gesture = gesture
        self.canvas.viewport().setCursor(gesture.cursor)

    # -- move / release -----------------------------------------------------------------------------------------
    def move(self, event: QMouseEvent) -> None:
        view_pos = event.position()
        scene_pos = self.canvas.to_scene(view_pos)
        g = self.gesture
        if g is not None:
            g.move(view_pos, scene_pos, event.modifiers())
            # not for a press that barely moved: grabbing a socket near the edge must not scroll the view
            if g.auto_pan and g.dragging and (view_pos - g.press_view).manhattanLength() >= ia.DRAG_THRESHOLD:
                self.edge_pan.follow(view_pos, event.modifiers())
            else:
                self.edge_pan.stop()
            return
        if self._right_press is not None:
            return
        self._hover(scene_pos)

    def _hover(self, scene_pos: QPointF) -> None:
        cursor = Qt.CursorShape.OpenHandCursor if self.space_down else Qt.CursorShape.ArrowCursor
        if not self.space_down:
            under = ia.what_is_under(self.canvas, scene_pos, wires=False)
            if under.kind == "node":
                cursor = _HOVER_CURSORS.get(under.hit.kind, cursor)
                if under.hit.kind == "widget":
                    row = under.node.layout.widget(under.hit.name)
                    if row is not None and row.kind == "number" and under.hit.part == "value":
                        cursor = Qt.CursorShape.SizeHorCursor
                    elif row is not None and row.kind in ("text", "multiline", "note"):
                        cursor = Qt.CursorShape.IBeamCursor
                    else:
                        cursor = Qt.CursorShape.PointingHandCursor
            elif under.kind == "frame" and under.frame_part == "resize":
                cursor = Qt.CursorShape.SizeFDiagCursor
        self.canvas.viewport().setCursor(cursor)

    def release(self, event: QMouseEvent) -> None:
        view_pos = event.position()
        scene_pos = self.canvas.to_scene(view_pos)
        if event.button() == Qt.MouseButton.RightButton and self._right_press is not None:
            moved = (view_pos - self._right_press).manhattanLength() >= ia.DRAG_THRESHOLD
            self._right_press = None
            if not moved:
                self.context_menu(scene_pos, event.globalPosition().toPoint())
            return
        self.edge_pan.stop()
        gesture, self.gesture = self.gesture, None
        if gesture is None:
            return
        try:
            gesture.finish(view_pos, scene_pos, event.modifiers())
            on_click = getattr(gesture, "on_click", None)
            if on_click is not None and not gesture.dragging:
                on_click()
        finally:
            self.canvas.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            self.canvas.viewport().update()

    def cancel(self) -> None:
        self.edge_pan.stop()
        gesture, self.gesture = self.gesture, None
        if gesture is not None:
            gesture.cancel()
            self.canvas.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            self.canvas.viewport().update()

    # -- clicks -------------------------------------------------------------------------------------------------
    def double_click(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        canvas = self.canvas
        scene_pos = canvas.to_scene(event.position())
        under = ia.what_is_under(canvas, scene_pos)
        if under.kind == "node":
            kind = under.hit.kind
            if kind == "title":
                canvas.edit_title(under.node.node_id)
            elif kind in ("body", "image") and under.node.layout.kind != "reroute":
                canvas.nodeActivated.emit(under.node.node_id)
        elif under.kind == "frame" and under.frame_part == "title":
            canvas.edit_frame_title(under.frame.group_id)
        elif under.kind == "wire":
            canvas.actions.add_reroute_on_link(under.wire.link.id, scene_pos)
        else:
            canvas.open_search(scene_pos)

    def context_menu(self, scene_pos: QPointF, global_pos) -> None:
        canvas = self.canvas
        under = ia.what_is_under(canvas, scene_pos)
        if under.kind == "node":
            menu = menus.node_menu(canvas, under.node.node_id)
        elif under.kind == "wire":
            menu = menus.wire_menu(canvas, under.wire.link.id, scene_pos)
        elif under.kind == "frame":
            menu = menus.frame_menu(canvas, under.frame.group_id)
        else:
            menu = menus.canvas_menu(canvas, scene_pos)
        canvas.show_menu(menu, global_pos)
