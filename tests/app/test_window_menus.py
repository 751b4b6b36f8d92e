"""The window's Edit and View menus driven through their real QMenus: they act on the current tab's canvas only,
grey out what would do nothing, and the Minimap entry shows or hides the overview of every tab (a preference)."""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication

from nodeflow.app.undo import push
from nodeflow.core import operations as ops
from tests.app.window_kit import editor  # noqa: F401


def _menu_click(qtbot, menu, action) -> None:
    """Open ``menu`` (aboutToShow runs) and click ``action`` in it like a user."""
    menu.popup(QPoint(100, 100))
    qtbot.waitUntil(menu.isVisible)
    assert action.isEnabled(), action.text()
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())
    qtbot.waitUntil(lambda: not menu.isVisible())


def _menu_enabled(qtbot, menu) -> dict[str, bool]:
    menu.popup(QPoint(100, 100))
    qtbot.waitUntil(menu.isVisible)
    states = {a.text().split("\t")[0].replace("&", ""): a.isEnabled() for a in menu.actions() if a.text()}
    menu.hide()
    return states


def test_edit_menu_acts_on_the_current_tab_only(qtbot, editor, tmp_path):
    w, a, m = editor.window, editor.window.act, editor.window.menus
    first = w.tabs.current_view()
    const = w.add_node("Const")
    w.file_actions.new()
    second = w.tabs.current_view()
    assert second is not first and not second.document.graph.nodes

    states = _menu_enabled(qtbot, m.edit)
    assert not states["Cut"] and not states["Copy"] and not states["Delete"] and not states["Select All"]

    w.tabs.setCurrentWidget(first.canvas)
    _menu_click(qtbot, m.edit, a.select_all)
    assert first.canvas.selected_node_ids() == [const]
    QGuiApplication.clipboard().clear()
    _menu_click(qtbot, m.edit, a.copy)
    assert '"Const"' in QGuiApplication.clipboard().text()
    _menu_click(qtbot, m.edit, a.duplicate)
    assert len(first.document.graph.nodes) == 2

    w.tabs.setCurrentWidget(second.canvas)
    _menu_click(qtbot, m.edit, a.paste)
    assert [n.type for n in second.document.graph.nodes.values()] == ["Const"]
    assert len(first.document.graph.nodes) == 2  # the other tab is untouched
    m.edit.popup(QPoint(100, 100))
    qtbot.waitUntil(m.edit.isVisible)
    m.edit.grab().save(str(tmp_path / "edit_menu.png"))
    m.edit.hide()

    w.tabs.setCurrentWidget(first.canvas)
    first.canvas.select_all()
    _menu_click(qtbot, m.edit, a.cut)
    assert not first.document.graph.nodes and len(second.document.graph.nodes) == 1
    w.act.undo.trigger()  # cutting is one undo step on that tab's stack
    assert len(first.document.graph.nodes) == 2
    first.canvas.select_nodes([const])
    _menu_click(qtbot, m.edit, a.delete)
    assert list(first.document.graph.nodes) != [] and const not in first.document.graph.nodes


def test_view_menu_fits_and_toggles_the_minimap_of_every_tab(qtbot, editor, tmp_path):
    from nodeflow.app.preferences import Preferences

    w, a, m = editor.window, editor.window.act, editor.window.menus
    first = w.tabs.current_view()
    far = w.add_node("Const")
    push(first.document.undo_stack, first.document.graph, ops.MoveNodes.of({far: (5000, 3000)}))
    near = w.add_node("Const")
    push(first.document.undo_stack, first.document.graph, ops.MoveNodes.of({near: (0, 0)}))
    canvas = first.canvas
    qtbot.wait(200)  # the minimap rebuilds shortly after a change
    assert canvas.minimap.isVisible()

    first.canvas.select_nodes([])
    assert not _menu_enabled(qtbot, m.view)["Fit Selection"]
    m.view.popup(QPoint(100, 100))
    qtbot.waitUntil(m.view.isVisible)
    m.view.grab().save(str(tmp_path / "view_menu.png"))
    m.view.hide()
    _menu_click(qtbot, m.view, a.fit_all)
    visible = canvas.visible_scene_rect()
    # nodes 5000 px apart do not fit readably: Fit All shows the graph from its top-left at the lowest readable
    # zoom, and the rest is a scroll away (issue 11)
    from nodeflow.app.canvas.view import FIT_MIN_ZOOM

    assert abs(canvas.zoom() - FIT_MIN_ZOOM) < 1e-6
    assert visible.contains(canvas.graph_scene.nodes[near].scene_body_rect())
    canvas.select_nodes([far])
    _menu_click(qtbot, m.view, a.fit_selection)
    assert not canvas.visible_scene_rect().intersects(canvas.graph_scene.nodes[near].scene_body_rect())

    assert a.minimap.isCheckable() and a.minimap.isChecked()
    w.file_actions.new()
    second = w.tabs.current_view()
    _menu_click(qtbot, m.view, a.minimap)
    assert not a.minimap.isChecked()
    assert not first.canvas.minimap.wanted and not second.canvas.minimap.isVisible()
    assert Preferences.load().show_minimap is False
    w.file_actions.new()  # a tab opened later follows the choice
    assert not w.tabs.current_view().canvas.minimap.wanted
    _menu_click(qtbot, m.view, a.minimap)
    assert a.minimap.isChecked() and first.canvas.minimap.wanted
    assert Preferences.load().show_minimap is True
