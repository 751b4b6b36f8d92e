"""Shared painting resources: fonts in scene pixels (they scale with the zoom) and cached colours."""
from __future__ import annotations

from functools import lru_cache

from PySide6.QtGui import QColor, QFont

FONT_FAMILY = "DejaVu Sans"


@lru_cache(maxsize=None)
def font(pixel_size: int = 11, bold: bool = False, italic: bool = False) -> QFont:
    f = QFont(FONT_FAMILY)
    f.setPixelSize(pixel_size)
    f.setBold(bold)
    f.setItalic(italic)
    f.setHintingPreference(QFont.HintingPreference.PreferNoHinting)  # same glyph shapes at every zoom
    return f


@lru_cache(maxsize=4096)
def qcolor(text: str, alpha: int | None = None) -> QColor:
    """A QColor from '#rrggbb' / '#aarrggbb' (cached: never modify the result)."""
    c = QColor(text)
    if not c.isValid():
        c = QColor("#888888")
    if alpha is not None:
        c.setAlpha(alpha)
    return c


def lighter(text: str, factor: int = 130) -> QColor:
    return qcolor(text).lighter(factor)


def darker(text: str, factor: int = 130) -> QColor:
    return qcolor(text).darker(factor)
