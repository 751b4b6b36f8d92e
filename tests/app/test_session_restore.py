"""The last session's tabs reopen at the next start: saved files from their files, unsaved work from its content
(when nobody was asked to discard it), the current tab as it was."""
from __future__ import annotations

from nodeflow.core.builders import GraphBuilder
from nodeflow.formats import workflow
from tests.app.window_kit import window_registry


def _close(ed):
    ed.window.file_actions.interactive = False  # no prompts: unsaved work is kept for the next start
    ed.window.close()
    ed.runner.shutdown()


def test_tabs_of_the_last_session_reopen_with_their_unsaved_changes(qtbot, settings, tmp_path):
    from nodeflow.app.main import create_editor

    reg = window_registry()
    saved = tmp_path / "saved.json"
    b = GraphBuilder(reg)
    b.add("MakeImage", value=1)
    workflow.save(b.graph, saved)

    ed = create_editor(str(saved), registry=reg)
    ed.window.file_actions.new()
    GraphBuilder(reg, ed.window.tabs.current_view().document.graph).add("MakeImage", value=77)
    ed.window.tabs.current_view().document.mark_dirty()
    ed.window.tabs.setCurrentWidget(ed.window.tabs.views()[0].canvas)
    _close(ed)

    again = create_editor(registry=reg)
    try:
        views = again.window.tabs.views()
        assert [v.document.name for v in views][0] == "saved.json"
        assert len(views) == 2
        first, second = views
        assert first.document.path == saved and not first.document.dirty
        assert second.document.dirty
        assert [n.values["value"] for n in second.document.graph.nodes.values()] == [77]
        assert again.window.tabs.current_view() is first
    finally:
        _close(again)


def test_no_session_file_opens_the_default_workflow(qtbot, settings):
    from nodeflow.app.main import create_editor
    from nodeflow.app.session import session_file

    assert not session_file().exists()
    ed = create_editor(registry=window_registry())
    try:
        assert len(ed.window.tabs.views()) == 1
    finally:
        _close(ed)
