"""What a running node sees: progress, previews, cancellation, the device, shared models, its results.

One ``ExecutionContext`` per node per run (chaiNNer's explicit per-node context). Node functions never touch the
executor or the UI; everything goes through here and comes out as events.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable

from nodeflow.core import events as ev

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from nodeflow.config import Folders, Settings
    from nodeflow.core.model_cache import ModelCache


class Cancelled(Exception):
    """Raised inside a node when the run was cancelled; the executor turns it into a cancelled run."""


class NodeError(Exception):
    """A failure a node reports on purpose, optionally naming the input (field) that caused it."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class ExecutionContext:
    def __init__(self, *, node_id: int, node_title: str, node_type: str, settings: "Settings",
                 models: "ModelCache", cancel_event: threading.Event, emit: Callable[[ev.Event], None],
                 device_resolver: Callable[[], str], embedded: Callable[[], dict] | None = None,
                 upstream: Callable[[], dict[int, dict]] | None = None, files: dict[str, "Path"] | None = None):
        self.node_id = node_id
        self.node_title = node_title
        self.node_type = node_type
        #: The run's settings (from its Environment): folders, output folder, precision. Nodes get nothing else.
        self.settings = settings
        self.models = models
        self._cancel = cancel_event
        self._emit = emit
        self._device_resolver = device_resolver
        self._embedded = embedded
        self._upstream = upstream
        self._files = files or {}
        #: What the node shows in the editor (images, files, text); cached with its outputs.
        self.ui: dict[str, Any] = {}
        #: Parameters actually used (e.g. the seed), recorded with every result made downstream.
        self.info: dict[str, Any] = {}
        self.files: list[str] = []

    # -- progress and cancellation -------------------------------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def progress(self, value: float, total: float, text: str | None = None) -> None:
        """Report progress; cancellation takes effect here (raises Cancelled)."""
        self._emit(ev.NodeProgress(self.node_id, float(value), float(total), text))
        self.check_cancelled()

    def preview(self, image: Any) -> None:
        """Publish a live preview (PIL image or HxWx3 uint8 array)."""
        self._emit(ev.NodePreview(self.node_id, image))

    def log(self, message: str) -> None:
        self._emit(ev.NodeLog(self.node_id, message))

    # -- environment ---------------------------------------------------------------------------------------------
    @property
    def device(self) -> str:
        """The torch device name to run on ("cuda", "mps" or "cpu"); resolving it imports torch."""
        return self._device_resolver()

    @property
    def folders(self) -> "Folders":
        return self.settings.folders

    def resolve(self, kind: str, name: str, field: str | None = None) -> "Path | None":
        """The file ``name`` in the ``kind`` folders. When it is the value of this node's input ``field``, the path
        the plan found is used (validation looked it up once); a name that came through a link is looked up here."""
        path = self._files.get(field) if field is not None else None
        return path if path is not None else self.folders.resolve(kind, name)

    def embedded(self) -> dict[str, str]:
        """What outputs embed, as the host that started the run computed it (a PNG's workflow chunks: NodeFlow's
        own, ComfyUI's prompt and workflow). Empty when the host embeds nothing."""
        return dict(self._embedded()) if self._embedded else {}

    def upstream_info(self) -> dict[int, dict]:
        """``info`` recorded by this node's ancestors in this run (cached ones included), by node id."""
        return self._upstream() if self._upstream else {}

    # -- results -------------------------------------------------------------------------------------------------
    def show(self, *, images: list | None = None, text: str | None = None, **more: Any) -> None:
        """What an output node shows: PIL images, text; merged into ``ui``."""
        if images is not None:
            self.ui.setdefault("images", []).extend(images)
        if text is not None:
            self.ui["text"] = text
        self.ui.update(more)

    def record(self, **info: Any) -> None:
        self.info.update(info)

    def output_file(self, path: str) -> None:
        """Report a file this node wrote (listed in the run report)."""
        self.files.append(str(path))
