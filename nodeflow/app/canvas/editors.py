"""Real editors only while a value is being edited: a QLineEdit (numbers, text, titles) or a QPlainTextEdit
(prompts, notes) placed over the painted widget, in the viewport, with the font scaled to the zoom. Enter or
leaving the field commits; Escape cancels. Only one editor exists at a time."""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject, QRectF, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGraphicsView, QLineEdit, QPlainTextEdit, QWidget

from nodeflow.app.canvas.paint_tools import FONT_FAMILY
from nodeflow.app.theme_colors import Palette


class InlineEditors(QObject):
    def __init__(self, view: QGraphicsView, palette: Palette):
        super().__init__(view)
        self.view = view
        self.palette = palette
        self.widget: QWidget | None = None
        self._on_commit: Callable[[str], None] | None = None
        self._on_close: Callable[[], None] | None = None
        self._closing = False

    @property
    def active(self) -> bool:
        return self.widget is not None

    def _place(self, widget: QWidget, scene_rect: QRectF, pixel_size: float) -> None:
        rect = self.view.mapFromScene(scene_rect).boundingRect()
        zoom = self.view.transform().m11()
        f = QFont(FONT_FAMILY)
        f.setPixelSize(max(9, min(32, round(pixel_size * zoom))))
        widget.setFont(f)
        widget.setGeometry(rect.adjusted(0, 0, 1, 1))
        pal = self.palette
        widget.setStyleSheet(
            f"background: {pal.widget_bg}; color: {pal.widget_text}; border: 1px solid {pal.accent};"
            f" border-radius: 4px; padding: 0px 4px; selection-background-color: {pal.accent};")
        widget.show()
        widget.setFocus(Qt.FocusReason.OtherFocusReason)

    def edit_line(self, scene_rect: QRectF, text: str, on_commit: Callable[[str], None],
                  pixel_size: float = 11, align_right: bool = False) -> QLineEdit:
        """A one-line editor; ``on_commit(text)`` runs on Enter or when the field loses focus."""
        self.close(commit=True)
        edit = QLineEdit(self.view.viewport())
        edit.setObjectName("CanvasInlineEditor")
        edit.setText(text)
        edit.selectAll()
        if align_right:
            edit.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        edit.editingFinished.connect(lambda: self.close(commit=True))
        edit.installEventFilter(self)
        self.widget, self._on_commit, self._on_close = edit, on_commit, None
        self._place(edit, scene_rect, pixel_size)
        return edit

    def edit_text(self, scene_rect: QRectF, text: str, on_change: Callable[[str], None],
                  on_close: Callable[[], None] | None = None, pixel_size: float = 11) -> QPlainTextEdit:
        """A multiline editor; ``on_change(text)`` runs on every change (the caller merges them into one undo
        step), ``on_close`` when it closes (Escape, Ctrl+Enter, focus loss)."""
        self.close(commit=True)
        edit = QPlainTextEdit(self.view.viewport())
        edit.setObjectName("CanvasInlineTextEditor")
        edit.setPlainText(text)
        edit.moveCursor(edit.textCursor().MoveOperation.End)
        edit.textChanged.connect(lambda: on_change(edit.toPlainText()))
        edit.installEventFilter(self)
        self.widget, self._on_commit, self._on_close = edit, None, on_close
        self._place(edit, scene_rect, pixel_size)
        return edit

    def close(self, commit: bool = True) -> None:
        widget = self.widget
        if widget is None or self._closing:
            return
        self._closing = True
        try:
            on_commit, on_close = self._on_commit, self._on_close
            self.widget, self._on_commit, self._on_close = None, None, None
            if commit and on_commit is not None and isinstance(widget, QLineEdit):
                on_commit(widget.text())
            if on_close is not None:
                on_close()
            widget.removeEventFilter(self)
            widget.hide()
            widget.deleteLater()
            self.view.setFocus(Qt.FocusReason.OtherFocusReason)
        finally:
            self._closing = False

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if obj is not self.widget:
            return False
        if event.type() == QEvent.Type.KeyPress:
            key, mods = event.key(), event.modifiers()
            if key == Qt.Key.Key_Escape:
                self.close(commit=isinstance(obj, QPlainTextEdit))  # typed text is already applied live
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and isinstance(obj, QPlainTextEdit) and (
                    mods & Qt.KeyboardModifier.ControlModifier):
                self.close(commit=True)
                return True
        elif event.type() == QEvent.Type.FocusOut and isinstance(obj, QPlainTextEdit):
            if event.reason() != Qt.FocusReason.PopupFocusReason:  # keep it open under its context menu
                self.close(commit=True)
        return False
