"""Fit to window enlarges small pictures (the built-in model makes 64x64) by whole factors, pixels kept crisp."""
from __future__ import annotations

from PySide6.QtGui import QColor, QImage

from nodeflow.app.image_viewer import ImageViewer


def test_fit_enlarges_a_64px_image_by_a_whole_factor_with_nearest_neighbour(qtbot):
    viewer = ImageViewer()
    qtbot.addWidget(viewer)
    viewer.resize(900, 700)
    image = QImage(64, 64, QImage.Format.Format_RGB32)
    image.fill(QColor(0, 0, 0))
    image.setPixelColor(0, 0, QColor(255, 255, 255))  # one white pixel in a corner
    viewer.show_image(image, "tiny")
    qtbot.waitExposed(viewer)
    viewer._refresh()
    shown = viewer.label.pixmap().toImage()
    z = int(viewer.zoom)
    assert z >= 4 and viewer.zoom == z  # far beyond 1:1, by a whole factor
    assert shown.width() == 64 * z
    assert shown.pixelColor(z - 1, z - 1) == QColor(255, 255, 255)  # the whole block is the pixel's colour...
    assert shown.pixelColor(z, z) == QColor(0, 0, 0)  # ...and the next block is not blended into it
    viewer.fit.setChecked(False)
    assert viewer.label.pixmap().width() == 64 and viewer.zoom == 1.0
    big = QImage(2000, 1000, QImage.Format.Format_RGB32)
    big.fill(QColor(9, 9, 9))
    viewer.fit.setChecked(True)
    viewer.show_image(big, "big")
    assert viewer.label.pixmap().width() < 2000 and viewer.zoom < 1
