"""The node search: a small popup with a filter field and a ranked list, keyboard first (type, arrows, Enter).

Matching looks at the display name, the type name, the category and the description, and tolerates what people
type: word prefixes ("vae dec"), initials ("ksa" for "K Sampler Advanced"), letters in order ("emptlat"), and
small typos ("ksampeler"). ``rank`` is Qt-free and tested on its own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (QFrame, QLabel, QLineEdit, QListWidget, QListWidgetItem, QStyle,
                               QStyledItemDelegate, QVBoxLayout, QWidget)

from nodeflow.app.node_usage import NodeUsage
from nodeflow.app.theme_colors import DARK, Palette

FIELD_WEIGHTS = (("display", 1.0), ("type_name", 0.95), ("category", 0.6), ("description", 0.45))
MAX_RESULTS = 200


@dataclass(frozen=True)
class SearchEntry:
    type_name: str
    display: str
    category: str = ""
    description: str = ""

    @classmethod
    def of(cls, node_type) -> "SearchEntry":
        return cls(node_type.type_name, node_type.display_name, node_type.category, node_type.description or "")


# -- matching (Qt-free) ----------------------------------------------------------------------------------------------
_SPLIT = re.compile(r"[\s_/\-.:,()]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def words(text: str) -> list[str]:
    out = []
    for part in _SPLIT.split(text):
        out += [w.lower() for w in _CAMEL.split(part) if w]
    return out


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Damerau-Levenshtein distance (adjacent swaps count 1), stopping early above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2, prev = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if prev2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def token_score(token: str, text: str) -> float:
    """How well one typed token matches a text (0: not at all, 100: exactly)."""
    t = text.lower()
    if not token:
        return 1.0
    if t == token:
        return 100.0
    if t.startswith(token):
        return 90.0 - min(10.0, (len(t) - len(token)) * 0.2)
    ws = words(text)
    if any(w.startswith(token) for w in ws):
        return 80.0
    initials = "".join(w[0] for w in ws if w)
    if len(token) >= 2 and initials.startswith(token):
        return 72.0
    pos = t.find(token)
    if pos >= 0:
        return 62.0 - min(12.0, pos * 0.3)
    compact = t.replace(" ", "")
    span = _subsequence_span(token, compact)
    if span is not None and len(token) >= 3:
        return max(20.0, 48.0 - (span - len(token)) * 2.0)
    if len(token) >= 4:
        limit = 1 if len(token) < 7 else 2
        best = min((min(edit_distance(token, w, limit), edit_distance(token, w[:len(token)], limit))
                    for w in ws + [compact]), default=limit + 1)
        if best <= limit:
            return 36.0 - best * 8.0
    return 0.0


def _subsequence_span(token: str, text: str) -> int | None:
    """Length of the shortest window of ``text`` holding ``token``'s letters in order (greedy from each start)."""
    best = None
    start = text.find(token[0])
    while start >= 0:
        i, j = start, 0
        while i < len(text) and j < len(token):
            if text[i] == token[j]:
                j += 1
            i += 1
        if j < len(token):
            break
        span = i - start
        best = span if best is None or span < best else best
        start = text.find(token[0], start + 1)
    return best


def entry_score(query: str, entry: SearchEntry) -> float:
    tokens = [t for t in query.lower().split() if t]
    if not tokens:
        return 1.0
    total = 0.0
    for token in tokens:
        best = max(token_score(token, getattr(entry, f)) * w for f, w in FIELD_WEIGHTS)
        if best <= 0:
            return 0.0
        total += best
    whole = " ".join(tokens)
    if len(tokens) > 1 and entry.display.lower().startswith(whole):
        total += 30.0
    return total / len(tokens)


#: Points per unit of usage weight (log of prior + own adds): enough to order nodes that match a query about as
#: well, too little to lift a poor match over a good one.
USAGE_POINTS = 4.0


def rank(query: str, entries: list[SearchEntry], usage=None) -> list[SearchEntry]:
    """Matching entries, best first; ``usage`` (a NodeUsage) puts often used nodes first among similar matches,
    and orders the full list of an empty query (ties: shorter display names first, then alphabetical)."""
    weight = usage.weight if usage is not None else (lambda _t: 0.0)
    if not query.strip():
        if usage is None:
            return sorted(entries, key=lambda e: (e.category.lower(), e.display.lower()))
        return sorted(entries, key=lambda e: (-weight(e.type_name), e.display.lower()))
    scored = [(entry_score(query, e), e) for e in entries]
    scored = [(s + USAGE_POINTS * weight(e.type_name), e) for s, e in scored if s > 0]
    scored.sort(key=lambda se: (-se[0], len(se[1].display), se[1].display.lower()))
    return [e for _, e in scored]


# -- the popup ---------------------------------------------------------------------------------------------------------
class _EntryDelegate(QStyledItemDelegate):
    """Display name on the left, category on the right, dim."""

    def __init__(self, popup: "SearchPopup"):
        super().__init__(popup)
        self.popup = popup

    def paint(self, painter: QPainter, option, index) -> None:
        pal = self.popup.palette_colors
        entry: SearchEntry = index.data(Qt.ItemDataRole.UserRole)
        painter.save()
        rect = option.rect
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(rect, QColor(pal.accent))
            text_c, dim_c = QColor("#ffffff"), QColor("#e6ecff")
        else:
            text_c, dim_c = QColor(pal.panel_text), QColor(pal.text_dim)
        fm = option.fontMetrics
        cat = fm.elidedText(entry.category, Qt.TextElideMode.ElideLeft, rect.width() // 3)
        cat_w = fm.horizontalAdvance(cat)
        painter.setPen(dim_c)
        painter.drawText(QRect(rect.right() - cat_w - 8, rect.top(), cat_w, rect.height()),
                         Qt.AlignmentFlag.AlignVCenter, cat)
        painter.setPen(text_c)
        name_w = rect.width() - cat_w - 24
        painter.drawText(QRect(rect.left() + 8, rect.top(), name_w, rect.height()), Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(entry.display, Qt.TextElideMode.ElideRight, name_w))
        painter.restore()

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 - Qt's name
        return QSize(200, option.fontMetrics.height() + 10)


class SearchPopup(QFrame):
    """Emits ``chosen(type_name)`` or ``dismissed()``; hides itself after either."""

    chosen = Signal(str)
    dismissed = Signal()

    def __init__(self, parent: QWidget, palette: Palette = DARK):
        super().__init__(parent)
        self.setObjectName("NodeSearchPopup")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.entries: list[SearchEntry] = []
        #: ranks often used nodes first; the window shares one (persisted) among its canvases
        self.usage = NodeUsage()
        self.heading = QLabel(self)
        self.field = QLineEdit(self)
        self.field.setPlaceholderText("Search nodes…")
        self.field.setClearButtonEnabled(True)
        self.list = QListWidget(self)
        self.list.setItemDelegate(_EntryDelegate(self))
        self.list.setUniformItemSizes(True)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.help = QLabel(self)
        self.help.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        for w in (self.heading, self.field, self.list, self.help):
            layout.addWidget(w)
        self.resize(360, 380)
        self.field.textChanged.connect(self._refilter)
        self.field.installEventFilter(self)
        self.list.itemActivated.connect(lambda _item: self.accept())
        self.list.itemClicked.connect(lambda _item: self.accept())
        self.list.currentItemChanged.connect(self._show_help)
        self.palette_colors = palette
        self.set_palette(palette)
        self.hide()

    def set_palette(self, pal: Palette) -> None:
        self.palette_colors = pal
        self.setStyleSheet(
            f"#NodeSearchPopup {{ background: {pal.panel_bg}; border: 1px solid {pal.border}; border-radius: 8px; }}"
            f"QLineEdit {{ background: {pal.widget_bg}; color: {pal.panel_text}; border: 1px solid {pal.border};"
            f" border-radius: 5px; padding: 5px 8px; selection-background-color: {pal.accent}; }}"
            f"QListWidget {{ background: transparent; border: none; outline: none; }}"
            f"QScrollBar:vertical {{ background: transparent; width: 8px; margin: 0; }}"
            f"QScrollBar::handle:vertical {{ background: {pal.border}; border-radius: 4px; min-height: 24px; }}"
            f"QScrollBar::add-line:vertical, QScrollBar::sub-line:vertical {{ height: 0; }}"
            f"QScrollBar::add-page:vertical, QScrollBar::sub-page:vertical {{ background: transparent; }}"
            f"QLabel {{ color: {pal.text_dim}; }}")

    def open(self, entries: list[SearchEntry], pos: QPoint, heading: str = "", text: str = "") -> None:
        """Show at ``pos`` (parent coordinates, kept inside the parent) with the given candidates."""
        self.entries = list(entries)
        self.heading.setText(heading)
        self.heading.setVisible(bool(heading))
        parent = self.parentWidget()
        x = max(0, min(pos.x(), parent.width() - self.width()))
        y = max(0, min(pos.y(), parent.height() - self.height()))
        self.move(x, y)
        self.field.blockSignals(True)
        self.field.setText(text)
        self.field.blockSignals(False)
        self._refilter()
        self.show()
        self.raise_()
        self.field.setFocus(Qt.FocusReason.PopupFocusReason)

    def results(self) -> list[SearchEntry]:
        """The entries listed now, best first."""
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def accept(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        entry: SearchEntry = item.data(Qt.ItemDataRole.UserRole)
        self.hide()
        self.chosen.emit(entry.type_name)

    def dismiss(self) -> None:
        if self.isVisible():
            self.hide()
            self.dismissed.emit()

    def _refilter(self) -> None:
        self.list.clear()
        for entry in rank(self.field.text(), self.entries, self.usage)[:MAX_RESULTS]:
            item = QListWidgetItem(entry.display)
            item.setData(Qt.ItemDataRole.UserRole, entry)
            item.setToolTip(entry.description or entry.type_name)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)
        else:
            self.help.setText("No matching node type")

    def _show_help(self, current, _previous=None) -> None:
        if current is None:
            return
        entry: SearchEntry = current.data(Qt.ItemDataRole.UserRole)
        first = (entry.description or "").strip().splitlines()[0] if entry.description else ""
        self.help.setText(f"{entry.type_name}" + (f" — {first}" if first else ""))

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if obj is self.field and event.type() == QEvent.Type.KeyPress:
            key = event.key()
            moves = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: 8, Qt.Key.Key_PageUp: -8}
            if key in moves and self.list.count():
                row = max(0, min(self.list.count() - 1, self.list.currentRow() + moves[key]))
                self.list.setCurrentRow(row)
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.accept()
                return True
            if key == Qt.Key.Key_Escape:
                self.dismiss()
                return True
        if obj is self.field and event.type() == QEvent.Type.FocusOut:
            if event.reason() not in (Qt.FocusReason.PopupFocusReason, Qt.FocusReason.ActiveWindowFocusReason):
                self.dismiss()
        return super().eventFilter(obj, event)
