"""Imported ComfyUI layouts never overlap on NodeFlow's canvas: nodes keep their places where they fit and columns
move down where NodeFlow's nodes are taller; frame headers stay uncovered."""
from __future__ import annotations

import json

import pytest

from nodeflow.core.spread_layout import FRAME_HEADER
from tests.app.window_kit import build_editor, close_editor
from tests.comfyui import templates


def _overlapping(rects):
    items = list(rects.items())
    return [(a, b) for n, (a, ra) in enumerate(items) for b, rb in items[n + 1:] if ra.intersects(rb)]


@pytest.fixture
def diffusion_editor(qtbot, settings):
    from nodeflow.core.registry import load_registry

    ed = build_editor(settings, load_registry(entry_points=False), autosave=False)
    ed.window.resize(1400, 900)
    ed.window.show()
    qtbot.waitExposed(ed.window)
    yield ed
    close_editor(ed)


def test_imported_area_composition_has_no_overlapping_nodes_or_covered_frame_headers(qtbot, diffusion_editor,
                                                                                     tmp_path):
    wf = templates.load("0.1.48/area_composition.json")
    path = tmp_path / "area_composition.json"
    path.write_text(json.dumps(wf))
    original = {n["id"]: tuple(n["pos"]) for n in wf["nodes"]}
    view = diffusion_editor.window.file_actions.import_path(path)
    scene = view.canvas.graph_scene
    bodies = {nid: item.scene_body_rect() for nid, item in scene.nodes.items()}
    assert _overlapping(bodies) == []
    for group in view.document.graph.groups.values():
        x, y, w, _ = group.rect
        from PySide6.QtCore import QRectF

        header = QRectF(x, y, w, FRAME_HEADER)
        assert [nid for nid, r in bodies.items() if r.intersects(header)] == [], group.title
    kept = [nid for nid, node in view.document.graph.nodes.items() if tuple(node.pos) == original.get(nid)]
    assert kept  # positions that fit are ComfyUI's own
