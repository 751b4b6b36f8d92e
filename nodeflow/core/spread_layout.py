"""Moving boxes apart so none overlaps another, keeping every position that already fits (Qt-free geometry).

Why: a workflow laid out by another editor (ComfyUI) was arranged for that editor's node heights; NodeFlow's nodes
can be taller (extra rows, run-state strips), so a node would cover the title of the one below it and the headers of
frames. ``spread(...)`` sweeps from the top: a box keeps its place when it fits, else it moves down just below what
it hits, and everything below it in its column (boxes whose x-range overlaps and that started lower) moves down as
much, so columns keep their spacing. Frames move with their header and grow to hold what they contained.

networkx and the usual layout libraries place graphs from scratch; keeping a user's arrangement and only resolving
overlaps is this small sweep, hand-written.
"""
from __future__ import annotations

from dataclasses import dataclass

Rect = tuple[float, float, float, float]  # x, y, width, height

GAP = 16.0  # room left between a box and the one it was pushed below
FRAME_HEADER = 34.0  # a frame's title band, which nodes must not cover
FRAME_PAD = 10.0  # room below a frame's lowest node


@dataclass
class Spread:
    positions: dict[int, tuple[float, float]]  # node id -> new top-left (only those that moved)
    frames: dict[int, Rect]  # frame id -> new rectangle (only those that changed)


def _overlap(a: Rect, b: Rect, gap: float = 0.0) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] + gap and b[1] < a[1] + a[3] + gap


def _same_column(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2]


def spread(nodes: dict[int, Rect], frames: dict[int, Rect] | None = None, gap: float = GAP,
           header: float = FRAME_HEADER) -> Spread:
    """New positions for ``nodes`` (id -> rect) so that no two overlap and no node covers a frame's header band."""
    frames = frames or {}
    members = {fid: [nid for nid, r in nodes.items() if _contains(f, r)] for fid, f in frames.items()}
    boxes: list[tuple[str, int, Rect]] = [("node", nid, r) for nid, r in nodes.items()]
    boxes += [("frame", fid, (f[0], f[1], f[2], header)) for fid, f in frames.items()]
    # top to bottom; a frame's header before a node at the same height (the node sits inside it)
    boxes.sort(key=lambda b: (b[2][1], b[0] != "frame", b[2][0]))
    placed: list[tuple[str, int, Rect, Rect]] = []  # kind, id, original rect, placed rect
    shift: dict[tuple[str, int], float] = {}
    for kind, bid, rect in boxes:
        # what moved above it in its column moves it as well (columns keep their spacing)
        dy = max([shift[(k, i)] for k, i, orig, _ in placed if _same_column(orig, rect) and orig[1] < rect[1]]
                 + [0.0])
        cur = (rect[0], rect[1] + dy, rect[2], rect[3])
        while True:  # then below whatever it still hits (each step moves down, so this ends)
            hits = [p for _, _, _, p in placed if _overlap(cur, p)]
            if not hits:
                break
            cur = (cur[0], max(p[1] + p[3] for p in hits) + gap, cur[2], cur[3])
        shift[(kind, bid)] = cur[1] - rect[1]
        placed.append((kind, bid, rect, cur))
    positions = {i: (p[0], p[1]) for k, i, _, p in placed if k == "node" and p[1] != nodes[i][1]}
    out_frames: dict[int, Rect] = {}
    final = {i: p for k, i, _, p in placed if k == "node"}
    for k, fid, _, p in placed:
        if k != "frame":
            continue
        x, y, w, h = frames[fid]
        top = p[1]
        bottom = max([y + h + (top - y)] + [final[n][1] + final[n][3] + FRAME_PAD for n in members[fid]])
        new = (x, top, w, bottom - top)
        if new != tuple(frames[fid]):
            out_frames[fid] = new
    return Spread(positions, out_frames)


def _contains(frame: Rect, r: Rect) -> bool:
    """A node belongs to a frame when its top-left corner lies inside it (as the editor decides what a frame drags)."""
    return frame[0] <= r[0] <= frame[0] + frame[2] and frame[1] <= r[1] <= frame[1] + frame[3]

