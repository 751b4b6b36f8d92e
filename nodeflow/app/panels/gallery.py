"""The results gallery: every image the output nodes made since the editor started, newest first, each with the
parameters it was made with (seed, steps, cfg, sampler: from the node's and its ancestors' recorded info).
Clicking an image opens it full size."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from nodeflow.app.images import thumbnail
from nodeflow.app.panels import add_clear_bar_layout
from nodeflow.core.graph import id_order

THUMB = 128
NO_IMAGES = "No images yet: run a workflow with an output node."
#: Full-size images are kept in memory; beyond this many the oldest leave the gallery (their files stay on disk).
MAX_ENTRIES = 500
#: Parameters shown first, in this order; anything else recorded follows.
KEY_ORDER = ("seed", "steps", "cfg", "sampler", "sampler_name", "scheduler", "denoise", "width", "height",
             "checkpoint", "model")


@dataclass
class GalleryEntry:
    image: QImage
    node_title: str
    info: dict = field(default_factory=dict)
    document_name: str = ""
    node_id: int | None = None
    created: float = field(default_factory=time.time)

    @property
    def caption(self) -> str:
        seed = self.info.get("seed")
        # the seed on a line of its own: after the title it was cut ("Save Image · seed 46489…")
        return f"seed\u00a0{seed}\n{self.node_title}" if seed is not None else self.node_title

    def describe(self) -> str:
        """Multi-line text: where it came from and every recorded parameter."""
        w, h = self.image.width(), self.image.height()
        head = f"{self.node_title} ({self.document_name}) · {w}x{h} · " \
               f"{time.strftime('%H:%M:%S', time.localtime(self.created))}"
        return "\n".join([head, *(f"{k}: {_short(v)}" for k, v in ordered_info(self.info))])


def ordered_info(info: dict) -> list[tuple[str, Any]]:
    keys = [k for k in KEY_ORDER if k in info] + sorted(k for k in info if k not in KEY_ORDER)
    return [(k, info[k]) for k in keys]


def merge_info(own: dict, upstream: dict[int, dict]) -> dict:
    """The node's own info wins; ancestors' fill in the rest (the sampler's seed reaches the Save Image node)."""
    merged: dict = {}
    for nid in sorted(upstream, key=id_order):
        merged.update(upstream[nid] or {})
    merged.update(own or {})
    return merged


def _short(value: Any, limit: int = 120) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


class GalleryPanel(QWidget):
    imageClicked = Signal(object)  # GalleryEntry

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.entries: list[GalleryEntry] = []
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 88, THUMB + 48))  # room for a 16-digit seed in the theme's font
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(True)
        self.list.itemClicked.connect(self._clicked)
        self.list.itemActivated.connect(self._clicked)
        self.count_label = add_clear_bar_layout(self, self.list, self.clear, NO_IMAGES)

    def add(self, entry: GalleryEntry) -> None:
        self.entries.insert(0, entry)
        item = QListWidgetItem(QIcon(QPixmap.fromImage(thumbnail(entry.image, THUMB))), entry.caption)
        item.setToolTip(entry.describe())
        # the view sizes items to a guess of their text, eliding a 16-digit seed: give them the full cell
        item.setSizeHint(QSize(self.list.gridSize().width() - 8, self.list.gridSize().height() - 4))
        item.setData(Qt.ItemDataRole.UserRole, entry)
        self.list.insertItem(0, item)
        while len(self.entries) > MAX_ENTRIES:
            self.entries.pop()
            self.list.takeItem(self.list.count() - 1)
        self._update_label()

    def clear(self) -> None:
        self.entries.clear()
        self.list.clear()
        self._update_label()

    def _clicked(self, item: QListWidgetItem) -> None:
        entry = item.data(Qt.ItemDataRole.UserRole)
        if entry is not None:
            self.imageClicked.emit(entry)

    def _update_label(self) -> None:
        n = len(self.entries)
        self.count_label.setText(f"{n} image{'s' if n != 1 else ''} this session (click one to open it)" if n
                                 else NO_IMAGES)
