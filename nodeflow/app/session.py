"""The last session's tabs, reopened at the next start (as ComfyUI and most editors do).

On a clean exit the window writes ``session.json`` beside the editor's preferences: its tabs in order, which was
current, and for each one the file it came from and, where it holds changes nobody was asked about, its workflow
(a tab the user chose to discard is restored from its file, or left out). Changes lost to a crash come back
through the autosave recovery instead. Atomic write; a broken or foreign file is ignored."""
from __future__ import annotations

import json
from pathlib import Path

from nodeflow.formats.atomic import atomic_write_text
from nodeflow.formats.workflow import WorkflowError, from_dict, to_dict

SESSION_FORMAT = "nodeflow.session"


def session_file() -> Path:
    from nodeflow.app.preferences import preferences_file

    return preferences_file().parent / "session.json"


def snapshot(views, current, keep_unsaved: bool) -> dict:
    tabs = []
    for view in views:
        doc = view.document
        entry = {"name": doc.name, "path": str(doc.path) if doc.path is not None else None}
        if doc.dirty and keep_unsaved:
            entry["workflow"] = to_dict(doc.graph)
        elif doc.path is None:
            continue  # never saved and its changes were discarded: nothing to restore
        if not doc.graph.nodes and doc.path is None:
            continue
        tabs.append(entry)
    index = next((i for i, v in enumerate(views) if v is current), 0)
    return {"format": SESSION_FORMAT, "version": 1, "tabs": tabs, "current": min(index, max(0, len(tabs) - 1))}


def save_session(window, keep_unsaved: bool) -> Path | None:
    views = window.tabs.views()
    data = snapshot(views, window.tabs.current_view(), keep_unsaved)
    path = session_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(data, ensure_ascii=False, default=repr))
    except (OSError, ValueError):
        return None  # not being able to remember tabs must not stop the editor from closing
    return path


def restore_session(window) -> int:
    """Reopen the tabs of the last session; returns how many opened."""
    from nodeflow.app.document import Document

    path = session_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT or not isinstance(data.get("tabs"), list):
        return 0
    views = []
    for tab in data["tabs"]:
        if not isinstance(tab, dict):
            continue
        file = tab.get("path") if isinstance(tab.get("path"), str) else None
        if isinstance(tab.get("workflow"), dict):
            try:
                graph, report = from_dict(tab["workflow"], window.registry)
            except WorkflowError as e:
                window.log.error(f"Could not restore {tab.get('name')}: {e}")
                continue
            doc = Document(graph, file, str(tab.get("name") or "Untitled"))
            doc.mark_dirty()
            views.append(window.add_document(doc, report))
        elif file and Path(file).is_file():
            view = window.file_actions.open_path(file)
            if view is not None:
                views.append(view)
    current = data.get("current", 0)
    if views and isinstance(current, int) and 0 <= current < len(views):
        window.tabs.setCurrentWidget(views[current].canvas)
    if views:
        window.log.info(f"Restored {len(views)} tab{'s' if len(views) != 1 else ''} of the last session")
    return len(views)
