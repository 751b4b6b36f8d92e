"""The mask editor for Load Image (every inpainting workflow needs one): paint the area to change, erase, brush size
and hardness, then save. As ComfyUI's mask editor does with its "clipspace", the result is a new PNG in the input
folder (``clipspace/clipspace-mask-<time>.png``) whose transparency is the mask, and the node's image value is
rewritten to it through an operation (one undo step); Load Image turns the transparency into its MASK output.

The painting is QPainter on a mask image at the picture's own resolution (a soft brush is a radial gradient: full
strength inside ``hardness`` of the radius, fading to nothing at the edge). Opened with ``open()``: not blocking.
"""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen, QRadialGradient
from PySide6.QtWidgets import (QButtonGroup, QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QRadioButton,
                               QSlider, QVBoxLayout, QWidget)

from nodeflow.formats.atomic import atomic_write_bytes

CLIPSPACE = "clipspace"
OVERLAY = QColor(255, 40, 120, 150)  # how the masked area shows over the picture


def soft_brush_stamp(mask: QImage, center: QPointF, radius: float, hardness: float, erase: bool) -> None:
    """One dab of the brush into ``mask`` (ARGB32, alpha = mask strength)."""
    p = QPainter(mask)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    grad = QRadialGradient(center, max(radius, 0.5))
    grad.setColorAt(0.0, QColor(255, 255, 255, 255))
    grad.setColorAt(max(0.0, min(0.999, hardness)), QColor(255, 255, 255, 255))
    grad.setColorAt(1.0, QColor(255, 255, 255, 0))
    p.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationOut if erase
                         else QPainter.CompositionMode.CompositionMode_SourceOver)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(grad)
    p.drawEllipse(center, radius, radius)
    p.end()


def _bgra(image: QImage):
    """A (h, w, 4) uint8 copy of an ARGB32 image's pixels, in memory order B, G, R, A (little-endian)."""
    import numpy as np

    img = image.convertToFormat(QImage.Format.Format_ARGB32)
    h, w = img.height(), img.width()
    rows = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h).reshape(h, img.bytesPerLine())
    return rows[:, : w * 4].reshape(h, w, 4).copy()


def _from_bgra(arr) -> QImage:
    h, w = arr.shape[:2]
    return QImage(arr.tobytes(), w, h, w * 4, QImage.Format.Format_ARGB32).copy()


def mask_from_alpha(image: QImage) -> QImage:
    """The mask an image already carries: where it is transparent (as Load Image reads it)."""
    import numpy as np

    out = np.zeros((image.height(), image.width(), 4), np.uint8)
    if image.hasAlphaChannel():
        out[..., 3] = 255 - _bgra(image)[..., 3]
        out[..., :3] = 255
    return _from_bgra(out).convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)


def compose(image: QImage, mask: QImage) -> QImage:
    """The picture with alpha = 1 - mask (masked pixels transparent), as ComfyUI's clipspace file holds it."""
    pixels = _bgra(image)
    pixels[..., 3] = 255 - _bgra(mask)[..., 3]
    return _from_bgra(pixels)


class MaskCanvas(QWidget):
    """The picture fitted to the widget with the mask over it. Left button paints (or erases in erase mode),
    right button always erases."""

    changed = Signal()

    def __init__(self, image: QImage, mask: QImage, parent: QWidget | None = None):
        super().__init__(parent)
        self.image, self.mask = image, mask
        self.radius, self.hardness, self.erase = 24.0, 0.6, False
        self._last: QPointF | None = None
        self._erasing_now = False
        self.setMinimumSize(240, 240)
        self.setMouseTracking(True)
        self._hover: QPointF | None = None

    def _frame(self) -> tuple[QRectF, float]:
        w, h = self.image.width(), self.image.height()
        s = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * s) / 2, (self.height() - h * s) / 2, w * s, h * s), s

    def to_image(self, pos: QPointF) -> QPointF:
        frame, s = self._frame()
        return QPointF((pos.x() - frame.x()) / s, (pos.y() - frame.y()) / s)

    def _dab(self, pos: QPointF) -> None:
        at = self.to_image(pos)
        erase = self.erase or self._erasing_now
        if self._last is not None:  # fill the stroke between events, not just where the mouse was seen
            steps = max(1, int((at - self._last).manhattanLength() / max(1.0, self.radius * 0.3)))
            for i in range(1, steps + 1):
                soft_brush_stamp(self.mask, self._last + (at - self._last) * (i / steps), self.radius,
                                 self.hardness, erase)
        else:
            soft_brush_stamp(self.mask, at, self.radius, self.hardness, erase)
        self._last = at
        self.update()
        self.changed.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._erasing_now = event.button() == Qt.MouseButton.RightButton
            self._last = None
            self._dab(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        self._hover = event.position()
        if event.buttons() & (Qt.MouseButton.LeftButton | Qt.MouseButton.RightButton):
            self._dab(event.position())
        else:
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        self._last = None
        self._erasing_now = False

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(30, 31, 34))
        frame, s = self._frame()
        p.drawImage(frame, self.image)
        tinted = QImage(self.mask.size(), QImage.Format.Format_ARGB32_Premultiplied)
        tinted.fill(OVERLAY)
        tp = QPainter(tinted)
        tp.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationIn)
        tp.drawImage(0, 0, self.mask)
        tp.end()
        p.drawImage(frame, tinted)
        if self._hover is not None:  # the brush outline under the pointer
            p.setPen(QPen(QColor(255, 255, 255, 200), 1.0))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawEllipse(self._hover, self.radius * s, self.radius * s)
        p.end()


class MaskEditor(QDialog):
    #: the new file's name in the input folder ("clipspace/clipspace-mask-....png")
    saved = Signal(str)

    def __init__(self, image_path: Path, input_root: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.input_root = Path(input_root)
        self.setWindowTitle(f"Mask editor — {Path(image_path).name}")
        image = QImage(str(image_path))
        if image.isNull():
            raise ValueError(f"{image_path}: not a readable image")
        self.image = image.convertToFormat(QImage.Format.Format_RGB32)
        self.canvas = MaskCanvas(self.image, mask_from_alpha(image), self)
        self.paint_mode = QRadioButton("Paint")
        self.erase_mode = QRadioButton("Erase")
        self.paint_mode.setChecked(True)
        modes = QButtonGroup(self)
        modes.addButton(self.paint_mode)
        modes.addButton(self.erase_mode)
        self.erase_mode.toggled.connect(lambda on: setattr(self.canvas, "erase", on))
        side = max(self.image.width(), self.image.height())
        self.size_slider = self._slider(1, max(2, side // 2), max(1, side // 20), self._set_size)
        self.hardness_slider = self._slider(0, 100, 60, lambda v: setattr(self.canvas, "hardness", v / 100))
        self.size_label, self.hardness_label = QLabel(), QLabel()
        self._set_size(self.size_slider.value())
        self.hardness_slider.valueChanged.connect(lambda v: self.hardness_label.setText(f"hardness {v} %"))
        self.hardness_label.setText(f"hardness {self.hardness_slider.value()} %")
        clear = QDialogButtonBox()
        clear_button = clear.addButton("Clear mask", QDialogButtonBox.ButtonRole.ResetRole)
        clear_button.clicked.connect(self.clear_mask)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        tools = QHBoxLayout()
        for w in (self.paint_mode, self.erase_mode, QLabel("  brush"), self.size_slider, self.size_label,
                  self.hardness_slider, self.hardness_label):
            tools.addWidget(w)
        tools.addStretch(1)
        tools.addWidget(clear)
        hint = QLabel("Paint the area to change (left button); the right button erases. Saved as a new picture in "
                      "the input folder, which Load Image then uses.")
        hint.setObjectName("dimText")
        hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(tools)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(hint)
        layout.addWidget(buttons)
        self.resize(820, 700)
        self.saved_name: str | None = None

    def _slider(self, lo: int, hi: int, value: int, slot) -> QSlider:
        s = QSlider(Qt.Orientation.Horizontal)
        s.setRange(lo, hi)
        s.setValue(value)
        s.setMinimumWidth(110)
        s.valueChanged.connect(slot)
        return s

    def _set_size(self, value: int) -> None:
        self.canvas.radius = float(value)
        self.size_label.setText(f"size {value} px")
        self.canvas.update()

    def clear_mask(self) -> None:
        self.canvas.mask.fill(Qt.GlobalColor.transparent)
        self.canvas.update()

    def save(self) -> None:
        name = f"{CLIPSPACE}/clipspace-mask-{int(time.time() * 1000)}.png"
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        if not compose(self.image, self.canvas.mask).save(buffer, "PNG"):
            raise OSError("could not encode the masked picture")
        atomic_write_bytes(self.input_root / name, bytes(buffer.data()))
        self.saved_name = name
        self.saved.emit(name)
        self.accept()
