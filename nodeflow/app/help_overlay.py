"""The keyboard help: an overlay over the window listing the window's shortcuts (read from its actions, so the list
never drifts from the menus) and the canvas's (``canvas/shortcuts.py``). F1 or ? opens it; any key or click closes."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRectF, Qt
from PySide6.QtGui import QAction, QColor, QFont, QFontMetricsF, QKeySequence, QPainter
from PySide6.QtWidgets import QWidget


def action_shortcuts(actions: list[QAction]) -> list[tuple[str, str]]:
    rows = []
    for action in actions:
        keys = [t for k in action.shortcuts() if (t := k.toString(QKeySequence.SequenceFormat.NativeText))]
        if keys:
            rows.append((" / ".join(keys), action.text().replace("&", "").replace("…", "")))
    return rows


def canvas_shortcuts() -> list[tuple[str, str]]:
    try:
        from nodeflow.app.canvas.shortcuts import SHORTCUTS
    except ImportError:
        return []
    return list(SHORTCUTS)


class HelpOverlay(QWidget):
    """Covers its parent; painted rather than laid out, so it costs nothing until shown."""

    def __init__(self, parent: QWidget, actions_provider):
        super().__init__(parent)
        self._actions = actions_provider
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.hide()
        parent.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if obj is self.parent() and event.type() == QEvent.Type.Resize:
            self.setGeometry(self.parent().rect())
        return False

    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
        else:
            self.open()

    def open(self) -> None:
        self.setGeometry(self.parent().rect())
        self.raise_()
        self.show()
        self.setFocus()

    def sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        return [("Window", action_shortcuts(self._actions())), ("Canvas", canvas_shortcuts())]

    def keyPressEvent(self, event):  # noqa: N802 - Qt's name
        self.hide()

    def mousePressEvent(self, event):  # noqa: N802 - Qt's name
        self.hide()

    def paintEvent(self, event):  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(0, 0, 0, 190))
        pal = self.palette()
        margin = 40
        panel = QRectF(self.rect()).adjusted(margin, margin, -margin, -margin)
        p.setBrush(pal.window())
        p.setPen(QColor(pal.mid().color()))
        p.drawRoundedRect(panel, 8, 8)
        title_font = QFont(self.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.4)
        title_font.setBold(True)
        p.setFont(title_font)
        p.setPen(pal.windowText().color())
        p.drawText(panel.adjusted(20, 12, -20, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                   "Keyboard and mouse")
        body = QFont(self.font())
        bold = QFont(body)
        bold.setBold(True)
        line = p.fontMetrics().height() * 0 + body.pointSizeF() * 2.0
        sections = self.sections()
        col_w = (panel.width() - 40) / max(1, len(sections))
        for col, (name, rows) in enumerate(sections):
            x = panel.left() + 20 + col * col_w
            y = panel.top() + 56
            p.setFont(bold)
            p.setPen(pal.link().color())
            p.drawText(QRectF(x, y, col_w, line), name)
            y += line * 1.3
            # the keys column is as wide as its longest entry (at most half), descriptions get the rest
            keys_w = min(col_w * 0.5, max((QFontMetricsF(bold).horizontalAdvance(k) for k, _t in rows), default=0))
            text_x, text_w = x + keys_w + 16, col_w - keys_w - 28
            for keys, text in rows:
                if y > panel.bottom() - line:
                    break
                p.setFont(bold)
                p.setPen(pal.windowText().color())
                p.drawText(QRectF(x, y, keys_w, line), Qt.AlignmentFlag.AlignLeft,
                           QFontMetricsF(bold).elidedText(keys, Qt.TextElideMode.ElideRight, keys_w))
                p.setFont(body)
                p.setPen(pal.placeholderText().color())
                p.drawText(QRectF(text_x, y, text_w, line), Qt.AlignmentFlag.AlignLeft,
                           QFontMetricsF(body).elidedText(text, Qt.TextElideMode.ElideRight, text_w))
                y += line
        p.setFont(body)
        p.setPen(pal.placeholderText().color())
        p.drawText(panel.adjusted(20, 0, -20, -10), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
                   "Press any key to close")
        p.end()
