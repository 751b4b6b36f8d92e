"""One editor widget per input type, for the inspector. Each editor reports a finished edit through ``commit(value)``
and can be updated from the graph without echoing a commit back.

Integers beyond 32 bits (seeds go to 2**64-1) do not fit a QSpinBox: they get a validated line edit. Every number
field reads what was typed as the canvas does (typed_numbers.read_number) and says so when it was not taken as typed.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from PySide6.QtCore import QRegularExpression, Qt
from PySide6.QtGui import QRegularExpressionValidator, QValidator
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QPlainTextEdit, QSpinBox, QToolTip,
                               QWidget)

from nodeflow.app.canvas.node_layout import float_decimals
from nodeflow.app.typed_numbers import read_number
from nodeflow.core import socket_types as st

_INT32 = (-(2 ** 31), 2 ** 31 - 1)
MISSING_SUFFIX = "  (missing)"


class ValueEditor:
    """A widget plus ``set_value`` (no commit) and the commit callback it calls on a finished edit."""

    def __init__(self, widget: QWidget, setter: Callable[[Any], None]):
        self.widget = widget
        self._setter = setter

    def set_value(self, value: Any) -> None:
        self.widget.blockSignals(True)
        try:
            self._setter(value)
        finally:
            self.widget.blockSignals(False)


def make_editor(inp, value: Any, commit: Callable[[Any], None], settings=None,
                on_note: Callable[[str], None] | None = None) -> ValueEditor:
    """``on_note(text)``: also told what a number field says about a typed value (the window's status bar)."""
    t = inp.type
    if inp.files is not None or inp.choices is not None or t == st.COMBO:
        editor = _combo(inp, commit, settings)
    elif t == st.BOOLEAN:
        editor = _check(commit)
    elif t == st.INT:
        editor = _int(inp, commit)
    elif t == st.FLOAT:
        editor = _float(inp, commit)
    elif inp.multiline:
        editor = _multiline(commit)
    else:
        editor = _line(commit)
    editor.set_value(value)
    editor.widget.on_note = on_note
    if inp.tooltip:
        editor.widget.setToolTip(inp.tooltip)
    return editor


def _combo(inp, commit, settings) -> ValueEditor:
    box = QComboBox()
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(8)
    try:
        choices = [str(c) for c in (inp.choice_list(settings) or [])]
    except Exception:  # a pack's dynamic choices failing must not break the inspector
        choices = []

    def setter(value):
        box.clear()
        box.addItems(choices)
        if value is None:
            box.setCurrentIndex(-1)
        elif str(value) in choices:
            box.setCurrentIndex(choices.index(str(value)))
        else:  # a saved value that is not available here (e.g. a model this machine lacks): keep and flag it
            box.addItem(f"{value}{MISSING_SUFFIX}", value)
            box.setCurrentIndex(box.count() - 1)

    def activated(index):
        data = box.itemData(index)
        commit(data if data is not None else box.itemText(index))

    box.activated.connect(activated)
    return ValueEditor(box, setter)


def _check(commit) -> ValueEditor:
    box = QCheckBox()
    box.toggled.connect(lambda on: commit(bool(on)))
    return ValueEditor(box, lambda v: box.setChecked(bool(v)))


def _int(inp, commit) -> ValueEditor:
    lo = int(inp.min) if inp.min is not None else None
    hi = int(inp.max) if inp.max is not None else None
    if lo is not None and hi is not None and _INT32[0] <= lo and hi <= _INT32[1]:
        spin = _TypedSpinBox(inp)
        spin.setRange(lo, hi)
        spin.setSingleStep(int(inp.step or 1))
        spin.setKeyboardTracking(False)  # commit on Enter, focus loss or arrows: not on every keystroke
        spin.valueChanged.connect(lambda v: commit(int(v)))
        return ValueEditor(spin, lambda v: spin.setValue(int(v or 0)))
    edit = QLineEdit()
    edit.setValidator(QRegularExpressionValidator(QRegularExpression(r"-?\d{0,20}")))
    # room for a whole 20-digit seed (it showed only its last digits), and its start in view
    edit.setMinimumWidth(edit.fontMetrics().horizontalAdvance("0" * 21) + 16)

    def show(v) -> None:
        edit.setText("" if v is None else str(v))
        edit.setCursorPosition(0)

    def finished():
        text = edit.text().strip()
        if not text or text == "-":
            return
        value, note = read_number(text, inp)
        say(edit, note)
        if value is None:
            return
        show(value)
        commit(value)

    edit.last_note = ""
    edit.editingFinished.connect(finished)
    return ValueEditor(edit, show)


def _float(inp, commit) -> ValueEditor:
    spin = _TypedDoubleSpinBox(inp)
    lo = float(inp.min) if inp.min is not None else -1e9
    hi = float(inp.max) if inp.max is not None else 1e9
    spin.setRange(lo, hi)
    step = float(inp.step) if inp.step else 0.01
    spin.setSingleStep(step)
    by_step = max(2, min(6, -math.floor(math.log10(step)) + 1)) if step < 1 else 2
    spin.setKeyboardTracking(False)
    spin.valueChanged.connect(lambda v: commit(float(v)))

    def show(v) -> None:  # enough decimals for the value itself: QDoubleSpinBox rounds what it holds to them
        value = float(v or 0.0)
        spin.setDecimals(max(by_step, float_decimals(value, step)))
        spin.setValue(value)

    return ValueEditor(spin, show)


def say(field: QWidget, note: str) -> None:
    """Tell the user, by the field, what happened to the value just typed into it ("" when it was taken as typed);
    ``field.last_note`` keeps it for tests and the status bar."""
    field.last_note = note
    if note:
        QToolTip.showText(field.mapToGlobal(field.rect().bottomLeft()), note, field)
        if getattr(field, "on_note", None) is not None:
            field.on_note(note)


class _TypedNumber:
    """What the inspector's spin boxes add to Qt's: a typed out-of-range or non-number text is not dropped keystroke
    by keystroke nor reverted on Enter without a word (QSpinBox does both): the text stays as typed until the edit
    finishes, then it is read like the canvas reads it (clamped, with a note) and the note is shown."""

    def _init_typed(self, inp) -> None:
        self._inp = inp
        self.last_note = ""

    def validate(self, text, pos):  # noqa: D102 - Qt's name
        state, text, pos = super().validate(text, pos)
        return (QValidator.State.Intermediate if state == QValidator.State.Invalid else state), text, pos

    def _take_typed(self) -> None:
        text = self.cleanText()
        if text == self.textFromValue(self.value()).strip():
            return
        value, note = read_number(text, self._inp)
        say(self, note)
        if value is None:
            self.lineEdit().setText(self.textFromValue(self.value()))  # back to the kept value (the note says so)
        else:
            self.setValue(value)

    def keyPressEvent(self, event):  # noqa: N802 - Qt's name
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._take_typed()
        super().keyPressEvent(event)

    def focusOutEvent(self, event):  # noqa: N802 - Qt's name
        self._take_typed()
        super().focusOutEvent(event)


class _TypedSpinBox(_TypedNumber, QSpinBox):
    def __init__(self, inp):
        super().__init__()
        self._init_typed(inp)


class _TypedDoubleSpinBox(_TypedNumber, QDoubleSpinBox):
    def __init__(self, inp):
        super().__init__()
        self._init_typed(inp)


def _line(commit) -> ValueEditor:
    edit = QLineEdit()
    edit.editingFinished.connect(lambda: commit(edit.text()))
    return ValueEditor(edit, lambda v: edit.setText("" if v is None else str(v)))


class _PlainText(QPlainTextEdit):
    """Commits when focus leaves (a prompt is one edit, not one per keystroke)."""

    def __init__(self, commit):
        super().__init__()
        self._commit = commit
        self.setTabChangesFocus(True)
        self.setMinimumHeight(70)
        self.setMaximumHeight(140)

    def focusOutEvent(self, event):  # noqa: N802 - Qt's name
        super().focusOutEvent(event)
        self._commit(self.toPlainText())

    def keyPressEvent(self, event):  # noqa: N802 - Qt's name
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self._commit(self.toPlainText())
            return
        super().keyPressEvent(event)


def _multiline(commit) -> ValueEditor:
    edit = _PlainText(commit)

    def setter(v):
        text = "" if v is None else str(v)
        if edit.toPlainText() != text:
            edit.setPlainText(text)

    return ValueEditor(edit, setter)
