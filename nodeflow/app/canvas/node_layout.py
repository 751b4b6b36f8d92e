"""Node geometry, computed once per node change (not per paint) and Qt-free: where the title, the sockets, the
value widgets and the image area lie in the node's local coordinates, and what lies under a point.

Rows follow ComfyUI's arrangement: socket rows first (input i on the left, output i on the right), then one row
per value widget (a seed gets a second row for its control-after-generate mode), then the images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from nodeflow.core import socket_types as st
from nodeflow.core.graph import Node
from nodeflow.core.nodedef import Input, NodeType

TITLE_H = 26.0
ROW_H = 22.0
WIDGET_H = 20.0
WIDGET_GAP = 4.0
PAD = 8.0
SOCKET_R = 5.0
MULTILINE_H = 72.0
MIN_W = 200.0
MAX_AUTO_W = 420.0
#: Placeholders stay narrow whatever their "missing node type ..." title and raw values (both elided, in full on
#: hover), so they fit the 400-px columns an API-prompt import lays out and never cover their neighbours.
PLACEHOLDER_MAX_W = 300.0
CHAR_W = 6.6  # average advance of the 11 px UI font; widths are estimates, text is elided when painted
TITLE_CHAR_W = 7.8  # the 12 px bold title font
FILE_NAME_ROOM = 120.0  # extra width for a file choice's value
REROUTE_D = 16.0
NOTE_SIZE = (260.0, 150.0)
GRIP = 12.0
MAX_PLACEHOLDER_VALUES = 12
PLACEHOLDER_TYPE = "?"

WIDGET_KINDS = ("number", "combo", "toggle", "text", "multiline", "control", "readonly", "note")


@dataclass
class Slot:
    """A socket: ``side`` is "in" or "out"; (x, y) is its centre in node coordinates."""

    name: str
    type: str
    label: str
    side: str
    x: float
    y: float
    optional: bool = False
    #: An input that is a value widget turned into a socket.
    converted: bool = False


@dataclass
class WidgetRow:
    name: str
    kind: str
    x: float
    y: float
    w: float
    h: float
    input: Input | None = None
    #: Readonly rows of placeholders show this text.
    text: str = ""

    def contains(self, px: float, py: float) -> bool:
        return self.x <= px <= self.x + self.w and self.y <= py <= self.y + self.h

    @property
    def rect(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.w, self.h

    @property
    def center_y(self) -> float:
        return self.y + self.h / 2


@dataclass(frozen=True)
class Hit:
    """What lies under a point of a node: kind is one of output, input, widget, widget_socket, collapse, title,
    resize, image, body, none; ``name`` is the socket or widget name, ``index`` the image index, ``part`` where
    on a widget (dec, inc, value)."""

    kind: str
    name: str | None = None
    index: int | None = None
    part: str | None = None


@dataclass
class NodeLayout:
    kind: str  # node, note, reroute, placeholder
    width: float
    height: float
    collapsed: bool = False
    inputs: dict[str, Slot] = field(default_factory=dict)
    outputs: dict[str, Slot] = field(default_factory=dict)
    widgets: list[WidgetRow] = field(default_factory=list)
    image_rect: tuple[float, float, float, float] | None = None
    image_count: int = 0
    image_aspect: float = 1.0
    #: The size below which a user resize cannot shrink the node.
    min_size: tuple[float, float] = (MIN_W, TITLE_H)

    @property
    def title_h(self) -> float:
        return 0.0 if self.kind == "reroute" else TITLE_H

    def widget(self, name: str) -> WidgetRow | None:
        for row in self.widgets:
            if row.name == name and row.kind != "control":
                return row
        return None

    def thumb_rects(self) -> list[tuple[float, float, float, float]]:
        """One rectangle per image inside the image area (a grid when there are several)."""
        if self.image_rect is None or self.image_count <= 0:
            return []
        x, y, w, h = self.image_rect
        n = self.image_count
        cols = math.ceil(math.sqrt(n))
        rows = math.ceil(n / cols)
        gap = 4.0 if n > 1 else 0.0
        cw, ch = (w - gap * (cols - 1)) / cols, (h - gap * (rows - 1)) / rows
        return [(x + (i % cols) * (cw + gap), y + (i // cols) * (ch + gap), cw, ch) for i in range(n)]

    # -- hit testing ---------------------------------------------------------------------------------------------
    def hit(self, px: float, py: float) -> Hit:
        if not (-SOCKET_R * 2 <= px <= self.width + SOCKET_R * 2 and 0 <= py <= self.height):
            return Hit("none")
        if self.kind == "reroute":
            return Hit("body")
        if self.kind != "note" and 5 <= px <= 22 and py <= TITLE_H:
            return Hit("collapse")  # before sockets: a collapsed node's input dot sits just left of it
        slot = self.socket_at(px, py)
        if slot is not None:
            return Hit("input" if slot.side == "in" else "output", slot.name)
        if py <= TITLE_H:
            return Hit("title")
        if self.collapsed:
            return Hit("title")
        if px >= self.width - GRIP and py >= self.height - GRIP:
            return Hit("resize")
        for row in self.widgets:
            if row.contains(px, py):
                part = "value"
                if row.kind in ("number", "combo"):
                    if px <= row.x + 16:
                        part = "dec"
                    elif px >= row.x + row.w - 16:
                        part = "inc"
                return Hit("widget", row.name if row.kind != "control" else f"{row.name}:control", part=part)
            if (row.input is not None and row.input.kind == "either" and row.kind != "control"
                    and px < PAD and row.y <= py <= row.y + row.h):
                return Hit("widget_socket", row.name)
        for i, (x, y, w, h) in enumerate(self.thumb_rects()):
            if x <= px <= x + w and y <= py <= y + h:
                return Hit("image", index=i)
        return Hit("body")

    def socket_at(self, px: float, py: float, reach: float = 12.0) -> Slot | None:
        """The socket whose dot, or the edge strip of its row, is under the point."""
        best, best_d = None, math.inf
        for slot in (*self.inputs.values(), *self.outputs.values()):
            dx, dy = px - slot.x, py - slot.y
            if self.collapsed or self.kind == "reroute":
                d = math.hypot(dx, dy)
                ok = d <= reach
            else:
                inward = dx if slot.side == "in" else -dx  # positive: inside the node
                ok = -reach <= inward <= reach + 4 and abs(dy) <= ROW_H / 2
                d = abs(dx) + abs(dy)
            if ok and d < best_d:
                best, best_d = slot, d
        return best


# -- building a layout -----------------------------------------------------------------------------------------------
def text_width(text: str, char_w: float = CHAR_W) -> float:
    return len(text) * char_w


def widget_kind(inp: Input) -> str:
    if inp.type == st.BOOLEAN:
        return "toggle"
    if inp.type in (st.INT, st.FLOAT):
        return "number"
    if inp.type == st.COMBO or inp.choices is not None or inp.files is not None:
        return "combo"
    if inp.multiline:
        return "multiline"
    return "text"


def float_decimals(value: float | None, step: float | None, most: int = 6) -> int:
    """Decimals to show a float with: its step's, or more when the value has them (Karras's sigma_min 0.0291675
    with step 0.01 read as "0.03"), up to ``most``."""
    decimals = 2 if not step else max(0, min(most, -int(math.floor(math.log10(step))) if step < 1 else 0))
    if isinstance(value, (int, float)) and math.isfinite(value):
        shown = f"{value:.{most}f}".rstrip("0")
        decimals = max(decimals, len(shown.split(".")[1]) if "." in shown else 0)
    return decimals


def format_value(value: Any, inp: Input | None = None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.{float_decimals(value, inp.step if inp is not None else None)}f}"
    if value is None:
        return "—"
    text = str(value)
    return text.replace("\n", " ")


def compute_layout(node: Node, nt: NodeType | None, linked_inputs: Iterable[str] = (),
                   linked_outputs: Iterable[str] = (), image_count: int = 0, image_aspect: float = 1.0) -> NodeLayout:
    """The geometry of ``node``; ``nt`` None means a placeholder for an unknown type (sockets come from the links
    touching it: ``linked_inputs``/``linked_outputs`` in link order)."""
    if nt is not None and nt.type_name == "Reroute":
        return _reroute_layout()
    if nt is not None and nt.ui_only and nt.type_name == "Note":
        return _note_layout(node)
    linked = list(dict.fromkeys(linked_inputs))
    if nt is None:
        ins = [Slot(n, PLACEHOLDER_TYPE, n, "in", 0, 0) for n in linked]
        outs = [Slot(n, PLACEHOLDER_TYPE, n, "out", 0, 0) for n in dict.fromkeys(linked_outputs)]
        # the type in full (the title is cut to the node's width), then the values it keeps
        widget_specs: list[tuple[str, str, Input | None, str]] = [
            (f"#type{i}", "readonly", None, line) for i, line in enumerate(wrap_text(f"type: {node.type}"))]
        widget_specs += [(k, "readonly", None, f"{k}: {format_value(v)}")
                         for k, v in kept_values(node)[:MAX_PLACEHOLDER_VALUES]]
        title = placeholder_title(node)
        kind = "placeholder"
    else:
        ins, widget_specs = [], []
        for inp in nt.inputs:
            as_socket = inp.kind == "socket" or inp.name in node.socket_inputs or (
                inp.kind == "either" and inp.name in linked)
            if as_socket:
                ins.append(Slot(inp.name, inp.type, inp.display, "in", 0, 0, optional=inp.optional,
                                converted=inp.kind != "socket"))
            else:
                widget_specs.append((inp.name, widget_kind(inp), inp, ""))
                if inp.control_after_generate:
                    widget_specs.append((inp.name, "control", inp, ""))
        outs = [Slot(o.name, o.type, o.name, "out", 0, 0) for o in nt.outputs]
        title = node.label
        kind = "node"

    # width: the widest of title, socket rows and widget rows (estimated), or the user's size
    socket_rows = max(len(ins), len(outs))
    needed = text_width(title, TITLE_CHAR_W) + 70
    for i in range(socket_rows):
        left = text_width(ins[i].label) if i < len(ins) else 0
        right = text_width(outs[i].label) if i < len(outs) else 0
        needed = max(needed, left + right + 56)
    for name, wkind, inp, text in widget_specs:
        label = inp.display if inp is not None else text
        if wkind in ("number", "combo", "text", "toggle"):
            # file names (checkpoints, LoRAs) are long: such nodes start about as wide as ComfyUI's loaders
            needed = max(needed, text_width(label) + 110 + (FILE_NAME_ROOM if inp is not None and inp.files else 0))
        elif wkind == "readonly":
            needed = max(needed, text_width(text) + 2 * PAD)
    width = max(MIN_W, min(PLACEHOLDER_MAX_W if kind == "placeholder" else MAX_AUTO_W, needed))
    if node.size is not None:
        width = max(MIN_W * 0.75, float(node.size[0]))

    if node.collapsed:
        cw = max(80.0, min(width, text_width(title, TITLE_CHAR_W) + 60))
        mid = TITLE_H / 2
        return NodeLayout(kind, cw, TITLE_H, collapsed=True,
                          inputs={s.name: _at(s, 0.0, mid) for s in ins},
                          outputs={s.name: _at(s, cw, mid) for s in outs}, min_size=(cw, TITLE_H))

    y = TITLE_H + 6
    inputs = {s.name: _at(s, 0.0, y + i * ROW_H + ROW_H / 2) for i, s in enumerate(ins)}
    outputs = {s.name: _at(s, width, y + i * ROW_H + ROW_H / 2) for i, s in enumerate(outs)}
    y += socket_rows * ROW_H + (4 if socket_rows else 0)
    widgets = []
    for name, wkind, inp, text in widget_specs:
        h = MULTILINE_H if wkind == "multiline" else WIDGET_H
        widgets.append(WidgetRow(name, wkind, PAD, y, width - 2 * PAD, h, inp, text))
        y += h + WIDGET_GAP
    image_rect = None
    if image_count > 0:
        iw = width - 2 * PAD
        aspect = max(0.25, min(1.6, image_aspect or 1.0))
        cols = math.ceil(math.sqrt(image_count))
        rows = math.ceil(image_count / cols)
        ih = iw / cols * aspect * rows
        image_rect = (PAD, y + 2, iw, ih)
        y += ih + 4
    height = y + PAD - (WIDGET_GAP if widgets and image_rect is None else 0)
    min_h = height
    if node.size is not None and float(node.size[1]) > height:
        extra = float(node.size[1]) - height
        height = float(node.size[1])
        _grow(widgets, extra, image_rect)
        if image_rect is not None and not any(r.kind == "multiline" for r in widgets):
            image_rect = (image_rect[0], image_rect[1], image_rect[2], image_rect[3] + extra)
    layout = NodeLayout(kind, width, height, False, inputs, outputs, widgets, image_rect, image_count,
                        image_aspect, min_size=(MIN_W * 0.75, min_h))
    return layout


#: Characters of the 10 px readonly font that fit a placeholder's row.
PLACEHOLDER_ROW_CHARS = int((PLACEHOLDER_MAX_W - 2 * PAD - 8) / 6.0)


def wrap_text(text: str, width: int = PLACEHOLDER_ROW_CHARS) -> list[str]:
    """Lines of at most ``width`` characters (type names have no spaces: long words are split too)."""
    import textwrap

    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def kept_values(node: Node) -> list[tuple[str, Any]]:
    """What a placeholder keeps: its named values, else the positional values of the file it came from
    (ComfyUI's widgets_values, when their names could not be known)."""
    if node.values:
        return list(node.values.items())
    comfy = node.extra.get("comfy") if isinstance(node.extra, dict) else None
    positional = comfy.get("widgets_values") if isinstance(comfy, dict) else None
    if isinstance(positional, list):
        return [(f"value {i + 1}", v) for i, v in enumerate(positional)]
    if isinstance(positional, dict):  # some node packs save their widgets by name
        return list(positional.items())
    return []


def placeholder_title(node: Node) -> str:
    if node.title and node.title != node.type:
        return f"⚠ {node.title} · missing type {node.type}"
    return f"⚠ missing node type {node.type}"


def _at(slot: Slot, x: float, y: float) -> Slot:
    return Slot(slot.name, slot.type, slot.label, slot.side, x, y, slot.optional, slot.converted)


def _grow(widgets: list[WidgetRow], extra: float, image_rect) -> None:
    """Give the extra height of a resized node to its multiline widgets (evenly), shifting the rows below."""
    multi = [r for r in widgets if r.kind == "multiline"]
    if not multi:
        return
    share = extra / len(multi)
    shift = 0.0
    for row in widgets:
        row.y += shift
        if row.kind == "multiline":
            row.h += share
            shift += share


def _reroute_layout() -> NodeLayout:
    c = REROUTE_D / 2
    return NodeLayout("reroute", REROUTE_D, REROUTE_D,
                      inputs={"input": Slot("input", st.ANY, "", "in", c, c)},
                      outputs={"output": Slot("output", st.ANY, "", "out", c, c)}, min_size=(REROUTE_D, REROUTE_D))


def _note_layout(node: Node) -> NodeLayout:
    w, h = node.size if node.size is not None else NOTE_SIZE
    w, h = max(140.0, float(w)), max(TITLE_H + 40, float(h))
    if node.collapsed:
        return NodeLayout("note", min(w, 160.0), TITLE_H, collapsed=True)
    row = WidgetRow("text", "note", PAD, TITLE_H + 4, w - 2 * PAD, h - TITLE_H - 4 - PAD)
    return NodeLayout("note", w, h, widgets=[row], min_size=(140.0, TITLE_H + 40))
