"""Boxes moved apart so none overlaps, keeping what fits (the geometry behind imported layouts)."""
from __future__ import annotations

from nodeflow.core.spread_layout import FRAME_HEADER, GAP, spread


def _rects(nodes, moved):
    return {i: (moved.get(i, r[:2])[0], moved.get(i, r[:2])[1], r[2], r[3]) for i, r in nodes.items()}


def _overlaps(rects):
    items = list(rects.items())
    return [(a, b) for n, (a, ra) in enumerate(items) for b, rb in items[n + 1:]
            if ra[0] < rb[0] + rb[2] and rb[0] < ra[0] + ra[2] and ra[1] < rb[1] + rb[3] and rb[1] < ra[1] + ra[3]]


def test_boxes_that_fit_keep_their_positions():
    nodes = {1: (0, 0, 200, 100), 2: (0, 150, 200, 100), 3: (300, 0, 200, 300)}
    result = spread(nodes)
    assert result.positions == {} and result.frames == {}


def test_a_taller_node_pushes_its_column_down_and_keeps_the_spacing():
    nodes = {1: (0, 0, 200, 180), 2: (0, 120, 200, 100), 3: (0, 260, 200, 100), 4: (400, 100, 200, 100)}
    result = spread(nodes)
    moved = _rects(nodes, result.positions)
    assert _overlaps(moved) == []
    assert moved[2][1] == 180 + GAP  # just below the node it overlapped
    assert moved[3][1] - moved[2][1] == 260 - 120  # the rest of the column moved as much
    assert 1 not in result.positions and 4 not in result.positions  # what fits stays


def test_nodes_never_cover_a_frame_header_and_frames_grow_to_hold_their_nodes():
    nodes = {1: (0, 0, 200, 150), 2: (20, 140, 180, 100)}
    frames = {7: (0, 120, 400, 200)}  # node 1 covers the header; node 2 lies inside the frame
    result = spread(nodes, frames)
    moved = _rects(nodes, result.positions)
    frame = result.frames[7]
    assert frame[1] >= 150  # the header moved below node 1
    assert moved[2][1] >= frame[1] + FRAME_HEADER  # the frame's node stays below its header...
    assert moved[2][1] + moved[2][3] <= frame[1] + frame[3]  # ...and inside the frame
    assert _overlaps(moved) == []
