"""The window's actions and menus. Actions call into the window's helpers (file actions, run control, the current
canvas); keys the canvas handles itself are only shown in the menus (text after a tab), never registered twice."""
from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu


def _action(window, text: str, slot=None, shortcuts=(), tip: str = "") -> QAction:
    action = QAction(text, window)
    if shortcuts:
        action.setShortcuts([QKeySequence(s) if isinstance(s, str) else QKeySequence(s) for s in shortcuts])
    if tip:
        action.setToolTip(tip)
        action.setStatusTip(tip)
    if slot is not None:
        action.triggered.connect(lambda _checked=False: slot())
    return action


def _canvas_call(window, method: str, *args):
    """A slot calling ``method`` of the current tab's canvas (whichever tab is current when it fires)."""
    def call():
        canvas = window.current_canvas()
        fn = getattr(canvas, method, None) if canvas is not None else None
        if fn is not None:
            fn(*args)
    return call


def build_actions(w) -> SimpleNamespace:
    fa, K = w.file_actions, QKeySequence.StandardKey
    a = SimpleNamespace()
    a.new = _action(w, "&New", fa.new, [K.New])
    a.open = _action(w, "&Open…", fa.open_dialog, [K.Open])
    a.import_comfy = _action(w, "&Import ComfyUI Workflow…", fa.import_dialog)
    a.save = _action(w, "&Save", fa.save, [K.Save])
    a.save_as = _action(w, "Save &As…", fa.save_as, ["Ctrl+Shift+S"])
    a.close_tab = _action(w, "&Close Tab", w.close_current_tab, ["Ctrl+W"])
    a.next_tab = _action(w, "Next Tab", lambda: w.switch_tab(1), ["Ctrl+Tab", "Ctrl+PgDown"])
    a.prev_tab = _action(w, "Previous Tab", lambda: w.switch_tab(-1), ["Ctrl+Shift+Tab", "Ctrl+PgUp"])
    a.settings = _action(w, "Se&ttings…", w.open_settings, ["Ctrl+,"])
    a.quit = _action(w, "&Quit", w.close, ["Ctrl+Q"])
    a.undo = w.undo_group.createUndoAction(w, "&Undo")
    a.undo.setShortcuts([QKeySequence("Ctrl+Z")])
    a.redo = w.undo_group.createRedoAction(w, "&Redo")
    a.redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    # handled by the canvas's own keys (text fields keep theirs): the menu only names them
    a.cut = _action(w, "Cu&t\tCtrl+X", _canvas_call(w, "cut_to_clipboard"))
    a.copy = _action(w, "&Copy\tCtrl+C", _canvas_call(w, "copy_to_clipboard"))
    a.paste = _action(w, "&Paste\tCtrl+V", _canvas_call(w, "paste_from_clipboard"))
    a.paste_with_links = _action(w, "Paste with &Input Links\tCtrl+Shift+V",
                                 _canvas_call(w, "paste_from_clipboard", None, True))
    a.duplicate = _action(w, "D&uplicate\tCtrl+D", _canvas_call(w, "duplicate_selection"))
    a.delete = _action(w, "&Delete\tDel", _canvas_call(w, "delete_selection"))
    a.select_all = _action(w, "Select &All\tCtrl+A", _canvas_call(w, "select_all"))
    a.fit_all = _action(w, "&Fit All\tF", _canvas_call(w, "fit_all"))
    a.fit_selection = _action(w, "Fit &Selection\tShift+F", _canvas_call(w, "fit_selection"))
    a.minimap = _action(w, "&Minimap", tip="Show the overview in the corner of each canvas")
    a.minimap.setCheckable(True)
    a.minimap.setChecked(w.prefs.show_minimap)
    a.minimap.toggled.connect(w.set_minimap_visible)
    a.search = _action(w, "Add &Node…\tTab", _canvas_call(w, "open_search"))
    a.run = _action(w, "&Run", w.run_current, ["Ctrl+Return", "Ctrl+Enter"], "Run the workflow (Ctrl+Enter)")
    a.run_selected = _action(w, "Run to &Selected", w.run_selected, ["Ctrl+Shift+Return", "Ctrl+Shift+Enter"],
                             "Run only what the selected nodes need (Ctrl+Shift+Enter)")
    a.cancel = _action(w, "&Cancel", w.cancel_runs, ["Ctrl+Alt+Return", "Ctrl+Alt+Enter"],
                       "Stop the running workflow within one step and drop the queue (Ctrl+Alt+Enter)")
    a.cancel.setEnabled(False)
    a.free = _action(w, "&Free Memory", w.free_memory, [],
                     "Drop cached node outputs and loaded models")
    a.clear_states = _action(w, "C&lear Run Marks", _canvas_call(w, "clear_states"))
    a.help = _action(w, "&Keyboard Shortcuts", w.help_overlay.toggle, ["F1"])
    a.about = _action(w, "&About NodeFlow", w.show_about)
    theme_group = QActionGroup(w)
    a.themes = {}
    for name in ("dark", "light"):
        act = _action(w, name.capitalize(), lambda n=name: w.set_theme(n))
        act.setCheckable(True)
        theme_group.addAction(act)
        a.themes[name] = act
    for action in (a.run, a.run_selected, a.cancel, a.help, a.undo, a.redo, a.close_tab, a.save, a.save_as,
                   a.new, a.open, a.settings, a.quit, a.next_tab, a.prev_tab):
        w.addAction(action)  # shortcuts work wherever focus is, also with the menu bar hidden
    return a


def build_menus(w, a: SimpleNamespace) -> SimpleNamespace:
    m = SimpleNamespace()
    bar = w.menuBar()
    file = bar.addMenu("&File")
    file.addAction(a.new)
    m.templates = QMenu("New from &Template", w)
    m.templates.aboutToShow.connect(lambda: w.file_actions.fill_templates_menu(m.templates))
    file.addMenu(m.templates)
    file.addAction(a.open)
    m.recent = QMenu("Open &Recent", w)
    m.recent.aboutToShow.connect(lambda: w.file_actions.fill_recent_menu(m.recent))
    file.addMenu(m.recent)
    file.addAction(a.import_comfy)
    file.addSeparator()
    file.addActions([a.save, a.save_as, a.close_tab])
    file.addSeparator()
    file.addAction(a.settings)
    file.addSeparator()
    file.addAction(a.quit)
    edit = m.edit = bar.addMenu("&Edit")
    edit.addActions([a.undo, a.redo])
    edit.addSeparator()
    edit.addActions([a.cut, a.copy, a.paste, a.paste_with_links, a.duplicate, a.delete, a.select_all])
    edit.addSeparator()
    edit.addAction(a.search)
    edit.aboutToShow.connect(lambda: update_edit_actions(w, a))
    view = m.view = bar.addMenu("&View")
    view.addActions([a.fit_all, a.fit_selection])
    view.addSeparator()
    view.addAction(a.minimap)
    view.addSeparator()
    view.aboutToShow.connect(lambda: update_edit_actions(w, a))
    view.addActions([a.next_tab, a.prev_tab])
    view.addSeparator()
    m.panels = view.addMenu("&Panels")
    theme = view.addMenu("&Theme")
    theme.addActions(list(a.themes.values()))
    run = bar.addMenu("&Run")
    run.addActions([a.run, a.run_selected, a.cancel])
    run.addSeparator()
    run.addActions([a.free, a.clear_states])
    help_menu = bar.addMenu("&Help")
    help_menu.addActions([a.help, a.about])
    return m


def update_edit_actions(w, a: SimpleNamespace) -> None:
    """Greys out what would do nothing on the current canvas (run as a menu opens: no bookkeeping per click)."""
    from PySide6.QtGui import QGuiApplication

    canvas = w.current_canvas()
    selected = canvas is not None and canvas.has_selection()
    for action in (a.cut, a.copy, a.duplicate, a.delete, a.fit_selection):
        action.setEnabled(selected)
    a.paste.setEnabled(canvas is not None and bool(QGuiApplication.clipboard().text()))
    a.paste_with_links.setEnabled(a.paste.isEnabled())
    has_nodes = canvas is not None and bool(canvas.graph.nodes or canvas.graph.groups)
    a.select_all.setEnabled(has_nodes)
    a.fit_all.setEnabled(canvas is not None)
    a.search.setEnabled(canvas is not None)
