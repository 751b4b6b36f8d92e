"""The node canvas: renders a ``Graph`` (model/view split as in QtNodes) and turns gestures into operations on a
QUndoStack. It never changes the model directly and never runs anything.

    canvas = Canvas(graph, registry, undo_stack, settings=None, parent=None)

Signals
    selectionChanged(object)  list of selected node ids (coalesced: once per event-loop turn)
    nodeActivated(int)        a node was double-clicked (or Enter on one selected node): open it in the inspector
    imageClicked(int, int)    node id, image index: an output thumbnail was clicked
    runToRequested(int)       "Run to here" from a node's context menu
    message(str)              status text, e.g. why a connection was refused

Run feedback (GUI thread only)
    set_node_state(node_id, NodeRunState | None)   pending / cached / running (progress, "step 5/20") / done
                                                   (seconds) / error (message); ``reason`` shows on hover
    set_node_preview(node_id, QImage | None)       live preview drawn in the node while it runs
    set_node_images(node_id, list[QImage])         output images drawn in the node (click emits imageClicked)
    set_problems(list[Problem])                    validation problems drawn on their nodes and fields (a field's
                                                   marks go when it is edited or connected; runs check again)
    problems() -> list[Problem]                    those drawn now
    clear_states()                                 forget run states and previews (images stay)

Selection, clipboard, editing
    selected_node_ids() -> list[int];  select_nodes(ids, group_ids=());  select_all()
    copy_selection() -> str            NodeFlow workflow JSON of the selection (nodes, links between them, frames)
    paste(text, at=None) -> list[int]  fresh ids; ``at`` = scene position (QPointF or (x, y)) of the top-left;
                                       works across canvases and with text from the system clipboard
    copy_to_clipboard(), cut_to_clipboard(), paste_from_clipboard(at=None), duplicate_selection(),
    delete_selection(), has_selection() -> bool (nodes or frames)
    open_search(scene_pos=None, filter_from=None)   filter_from = (node id, socket, "out" | "in")
    commit_edits()                     apply and close an open inline editor (call before running or saving)

View
    fit_all(), fit_selection(), zoom(), set_zoom(z), zoom_by(factor, anchor=None), pan_by(dx, dy),
    visible_scene_rect(), set_theme(Palette), set_graph(graph), set_minimap_visible(bool)
    set_settings(settings)             folders for file choice lists (checkpoints...) after the user changed them

Keys (when the canvas has focus) are listed in ``shortcuts.py`` (KEYS for the handling, SHORTCUTS for a help
overlay). The window's own actions win over them (Qt shortcuts are matched first); route an Edit menu's Copy,
Paste, Delete... to the methods above. Ctrl+Z / Ctrl+Shift+Z fall back to ``undo_stack`` when they reach the canvas.
"""
from nodeflow.app.canvas.run_state import NodeRunState, RUN_KINDS
from nodeflow.app.canvas.shortcuts import KEYS, SHORTCUTS
from nodeflow.app.canvas.view import Canvas

__all__ = ["Canvas", "NodeRunState", "RUN_KINDS", "SHORTCUTS", "KEYS"]
