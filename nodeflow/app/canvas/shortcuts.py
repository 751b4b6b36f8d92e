"""The canvas's keyboard and mouse shortcuts, listed once: the canvas's key handling reads ``KEYS`` and the
window's help overlay shows ``SHORTCUTS``. Undo/redo belong to the window's undo stack actions (Ctrl+Z /
Ctrl+Shift+Z / Ctrl+Y); the canvas falls back to them when the key reaches it."""
from __future__ import annotations

#: action name -> key sequences (QKeySequence text, portable form).
KEYS: dict[str, tuple[str, ...]] = {
    "delete": ("Delete", "Backspace"),
    "copy": ("Ctrl+C",),
    "paste": ("Ctrl+V",),
    "paste_with_links": ("Ctrl+Shift+V",),
    "cut": ("Ctrl+X",),
    "duplicate": ("Ctrl+D",),
    "select_all": ("Ctrl+A",),
    "fit_all": ("F", "Home"),
    "fit_selection": ("Shift+F", "."),  # "." as in ComfyUI
    "zoom_in": ("Ctrl++", "Ctrl+="),
    "zoom_out": ("Ctrl+-",),
    "zoom_reset": ("Ctrl+0",),
    "mute": ("Ctrl+M",),
    "bypass": ("Ctrl+B",),
    "collapse": ("Alt+C",),
    "frame_selection": ("Ctrl+G",),
    "search": ("Tab",),
    "rename": ("F2",),
    "activate": ("Return", "Enter"),
    "undo": ("Ctrl+Z",),
    "redo": ("Ctrl+Shift+Z", "Ctrl+Y"),
    "cancel": ("Escape",),
}

#: (keys, description) in the order the help overlay shows them.
SHORTCUTS: list[tuple[str, str]] = [
    ("Tab / double-click empty canvas", "Search and add a node"),
    ("Right-click empty canvas", "Add a node by category, add a frame or a note"),
    ("Drag from a socket", "Connect; drop on empty canvas to add a compatible node"),
    ("Drag from a connected input", "Pick up the wire (drop on empty canvas to disconnect)"),
    ("Double-click a wire", "Add a reroute dot"),
    ("Shift+drag a reroute dot", "Start a new wire from it"),
    ("Ctrl+right-drag", "Cut the wires crossed"),
    ("Drag a number", "Scrub the value (click to type it)"),
    ("Double-click a title", "Rename the node or frame"),
    ("Wheel", "Zoom around the cursor"),
    ("Middle-drag / Space+drag", "Pan"),
    ("Drag on empty canvas", "Box select (Ctrl/Shift adds)"),
    ("Alt+drag a node", "Copy the selection and move the copy"),
    ("Drag to the edge of the view", "Scroll while moving nodes, wires or a selection box"),
    ("F / Home", "Fit all"),
    ("Shift+F / .", "Fit selection (all when nothing is selected)"),
    ("Ctrl+0 / Ctrl++ / Ctrl+-", "Zoom 100% / in / out"),
    ("Ctrl+A", "Select all"),
    ("Delete / Backspace", "Delete the selection"),
    ("Ctrl+C / Ctrl+X / Ctrl+V", "Copy / cut / paste (across tabs; ComfyUI workflow text too)"),
    ("Ctrl+Shift+V", "Paste keeping the links into the copied nodes' inputs"),
    ("Ctrl+D", "Duplicate"),
    ("Ctrl+M", "Mute / unmute"),
    ("Ctrl+B", "Bypass / un-bypass"),
    ("Alt+C", "Collapse / expand"),
    ("Ctrl+G", "Frame the selection"),
    ("F2", "Rename the selected node"),
    ("Enter", "Open the selected node (inspector)"),
    ("Ctrl+Z / Ctrl+Shift+Z", "Undo / redo"),
    ("Escape", "Cancel the current gesture or popup"),
    ("Ctrl+Shift+E", "Convert the selection to a subgraph"),
    ("Double-click a subgraph node", "Open it (a breadcrumb shows where; Escape goes back)"),
    ("Ctrl+Shift+U", "Unpack the selected subgraph"),
]
