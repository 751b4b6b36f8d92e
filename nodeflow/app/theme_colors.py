"""Colours of the editor for the dark (default) and light themes, shared by the canvas and the window.

Qt-free: colours are ``#rrggbb`` / ``#aarrggbb`` strings, usable in style sheets and with ``QColor(text)``.

    from nodeflow.app.theme_colors import DARK, LIGHT, palette
    pal = palette("light")
    pal.category_color("sampling")   # title-bar colour of nodes in that category
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Palette:
    name: str
    # window / panels (for the window engineer)
    window_bg: str
    panel_bg: str
    panel_text: str
    border: str
    accent: str
    # canvas
    canvas_bg: str
    grid_minor: str
    grid_major: str
    # nodes
    node_body: str
    node_border: str
    node_shadow: str
    title_text: str
    text: str
    text_dim: str
    widget_bg: str
    widget_hover: str
    widget_text: str
    selection: str
    # states
    error: str
    warning: str
    success: str
    running: str
    pending: str
    cached: str
    bypass: str
    muted: str
    # notes, frames, placeholders, minimap
    note_body: str
    note_text: str
    frame_default: str
    placeholder: str
    minimap_bg: str
    minimap_view: str
    #: Title-bar colours; a category always gets the same one (see ``category_color``).
    category_colors: tuple[str, ...] = field(default_factory=tuple)
    #: Categories with a fixed colour (checked by prefix: "sampling/custom" uses "sampling").
    known_categories: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def is_dark(self) -> bool:
        return self.name == "dark"

    def category_color(self, category: str) -> str:
        top = (category or "misc").split("/")[0].lower()
        for name, colour in self.known_categories:
            if top == name:
                return colour
        return self.category_colors[zlib.crc32(top.encode()) % len(self.category_colors)]


DARK = Palette(
    name="dark",
    window_bg="#1e1f22", panel_bg="#25272b", panel_text="#d8dadf", border="#3a3d43", accent="#4c8dff",
    canvas_bg="#1b1c1f", grid_minor="#232428", grid_major="#2b2d32",
    node_body="#2c2e33", node_border="#17181a", node_shadow="#66000000", title_text="#f1f2f4", text="#d6d8dd",
    text_dim="#8d929b", widget_bg="#222428", widget_hover="#30333a", widget_text="#e4e6ea", selection="#f0b429",
    error="#ef4f4f", warning="#f0a431", success="#4cc38a", running="#4c8dff", pending="#8d929b", cached="#38b2ac",
    bypass="#9b4dca", muted="#55585e",
    note_body="#4a4431", note_text="#f3ead1", frame_default="#5a7ab0", placeholder="#7a4b4b",
    minimap_bg="#cc141517", minimap_view="#4c8dff",
    category_colors=("#3d6e9e", "#4f7d4a", "#8a5a2b", "#6b4f8f", "#8c3f4f", "#2f7f7f", "#7d7436", "#4e5b8f"),
    known_categories=(("loaders", "#3d6e9e"), ("conditioning", "#8a6a2b"), ("sampling", "#6b4f8f"),
                      ("latent", "#8c3f6f"), ("image", "#2f6f8f"), ("utils", "#4b5563"), ("test", "#4f7d4a")),
)

LIGHT = Palette(
    name="light",
    window_bg="#f3f4f6", panel_bg="#ffffff", panel_text="#1f2328", border="#d0d4da", accent="#2f6fe0",
    canvas_bg="#eceef1", grid_minor="#e2e5e9", grid_major="#d5d9df",
    node_body="#ffffff", node_border="#b8bec7", node_shadow="#33000000", title_text="#ffffff", text="#22262b",
    text_dim="#6b7280", widget_bg="#f1f3f5", widget_hover="#e3e7ec", widget_text="#1f2328", selection="#e09b00",
    error="#d93636", warning="#c7800f", success="#22945f", running="#2f6fe0", pending="#8a9099", cached="#1f8f8a",
    bypass="#8e44c4", muted="#b3b7be",
    note_body="#fff4c2", note_text="#3b3420", frame_default="#7f9cc9", placeholder="#c98b8b",
    minimap_bg="#ddf7f8fa", minimap_view="#2f6fe0",
    category_colors=("#4a7fb5", "#5c9357", "#b07636", "#7d62a8", "#b0506a", "#3a9494", "#9a8f3f", "#5f6fb0"),
    known_categories=(("loaders", "#4a7fb5"), ("conditioning", "#b08a36"), ("sampling", "#7d62a8"),
                      ("latent", "#b0507f"), ("image", "#3a86a8"), ("utils", "#6b7280"), ("test", "#5c9357")),
)

PALETTES = {"dark": DARK, "light": LIGHT}


def palette(name: str = "dark") -> Palette:
    """The palette called ``name`` ("dark" or "light"); unknown names give the dark one."""
    return PALETTES.get(name, DARK)
