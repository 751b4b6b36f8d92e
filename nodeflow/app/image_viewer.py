"""A simple full-size image viewer: fit to the window or 1:1 with scrolling, the image's parameters beside it, and
Save As. One viewer is reused, so clicking through the gallery does not pile up windows."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (QCheckBox, QDialog, QFileDialog, QHBoxLayout, QLabel, QMessageBox, QPlainTextEdit,
                               QPushButton, QScrollArea, QSizePolicy, QVBoxLayout, QWidget)


def fit_pixmap(pix: QPixmap, width: int, height: int) -> tuple[QPixmap, float]:
    """The picture fitted to (width, height), and its zoom. Large pictures shrink smoothly; small ones (the built-in
    model makes 64x64) grow too: by the largest whole factor with nearest-neighbour (crisp pixels), or smoothly
    when not even 2x fits."""
    if pix.isNull() or width <= 0 or height <= 0:
        return pix, 1.0
    scale = min(width / pix.width(), height / pix.height())
    if scale < 1:
        return pix.scaled(width, height, Qt.AspectRatioMode.KeepAspectRatio,
                          Qt.TransformationMode.SmoothTransformation), scale
    whole = int(scale)
    if whole >= 2:
        return pix.scaled(pix.width() * whole, pix.height() * whole, Qt.AspectRatioMode.IgnoreAspectRatio,
                          Qt.TransformationMode.FastTransformation), float(whole)
    return pix, 1.0


class ImageViewer(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Image")
        self.resize(900, 700)
        self.image = QImage()
        self.zoom = 1.0  # of the picture shown
        self.label = QLabel()
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.label)
        self.scroll.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.info = QPlainTextEdit()
        self.info.setReadOnly(True)
        self.info.setMaximumWidth(260)
        self.fit = QCheckBox("Fit to window")
        self.fit.setChecked(True)
        self.fit.toggled.connect(self._refresh)
        save = QPushButton("Save As…")
        save.clicked.connect(self.save_as)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.fit)
        buttons.addStretch(1)
        buttons.addWidget(save)
        buttons.addWidget(close)
        body = QHBoxLayout()
        body.addWidget(self.scroll, 1)
        body.addWidget(self.info)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addLayout(buttons)
        QShortcut(QKeySequence("F"), self, activated=self.fit.toggle)

    def show_image(self, image: QImage, title: str = "Image", details: str = "") -> None:
        self.image = image
        self.setWindowTitle(f"{title} — {image.width()}x{image.height()}")
        self.info.setPlainText(details)
        self._refresh()
        self.show()
        self.raise_()
        self.activateWindow()

    def _refresh(self) -> None:
        if self.image.isNull():
            self.label.clear()
            return
        pix = QPixmap.fromImage(self.image)
        if self.fit.isChecked():
            self.scroll.setWidgetResizable(True)
            area = self.scroll.viewport().size()
            pix, self.zoom = fit_pixmap(pix, area.width(), area.height())
        else:
            self.zoom = 1.0
            self.scroll.setWidgetResizable(False)
            self.label.resize(pix.size())
        self.label.setPixmap(pix)

    def resizeEvent(self, event):  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if self.fit.isChecked():
            self._refresh()

    def save_as(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save image", "image.png", "PNG image (*.png)")
        if path and not self.image.save(path):
            QMessageBox.warning(self, "Save image", f"Could not write {path}.")
