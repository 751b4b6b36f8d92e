"""A picture chosen from the input folder shows in its node at once, before any run, as in ComfyUI's Load Image.

Which nodes: any type whose declaration has a widget input listing files of the ``input`` folder (read from the
declaration, never from a type name). The file is read downscaled (Qt's QImageReader decodes a JPEG at the smaller
size directly), so large photos stay cheap on the GUI thread.
"""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QImageReader

PREVIEW_MAX_SIDE = 512


def input_picture_field(node_type) -> str | None:
    """The name of the node type's input-folder file field, if it has one."""
    for inp in node_type.widget_inputs:
        if inp.files == "input":
            return inp.name
    return None


def load_preview(settings, name) -> QImage | None:
    """The picture ``name`` from ``settings``' input folders, at most PREVIEW_MAX_SIDE on a side; None if it is
    not one (or there are no settings to look in)."""
    if settings is None or not isinstance(name, str) or not name:
        return None
    path = settings.folders.resolve("input", name)
    if path is None or not path.is_file():
        return None
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)  # EXIF orientation, as Load Image applies it
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > PREVIEW_MAX_SIDE:
        reader.setScaledSize(size.scaled(QSize(PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE), Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    return None if image.isNull() else image
