"""Turn what nodes produce (PIL images, HxWx3 / HxWx4 uint8 arrays) into QImages.

QImage (unlike QPixmap) may be built on any thread, so the runner converts on its worker thread and the GUI thread
only receives ready images. numpy is imported lazily: it is not needed to open the window.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtGui import QImage


def to_qimage(image: Any) -> QImage | None:
    """A deep-copied QImage of ``image``; None when it is not something we know how to show."""
    if image is None:
        return None
    if isinstance(image, QImage):
        return image.copy()
    if hasattr(image, "getbands") and hasattr(image, "tobytes"):  # PIL
        return _from_pil(image)
    try:
        import numpy as np

        arr = np.asarray(image)
    except Exception:
        return None
    return _from_array(arr)


def _from_pil(img) -> QImage:
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() or img.mode == "P" else "RGB")
    w, h = img.size
    data = img.tobytes()
    fmt, channels = (QImage.Format.Format_RGBA8888, 4) if img.mode == "RGBA" else (QImage.Format.Format_RGB888, 3)
    # The QImage borrows ``data``; copy() detaches it before the bytes object goes away.
    return QImage(data, w, h, w * channels, fmt).copy()


def _from_array(arr) -> QImage | None:
    import numpy as np

    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        return None
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float32)
        if arr.max(initial=0.0) <= 1.0:  # float images in [0, 1]
            arr = arr * 255.0
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    arr = np.ascontiguousarray(arr)
    h, w, c = arr.shape
    fmt = QImage.Format.Format_RGBA8888 if c == 4 else QImage.Format.Format_RGB888
    return QImage(arr.tobytes(), w, h, w * c, fmt).copy()


def thumbnail(image: QImage, size: int) -> QImage:
    from PySide6.QtCore import Qt

    return image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
