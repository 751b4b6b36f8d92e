"""What a node shows (``ctx.ui``) as ComfyUI's output entries: saved files as {filename, subfolder, type} references
into the server's folders, pictures that were only shown (Preview Image) written once into the temp folder, text
as a list. Clients fetch the pictures with GET /view."""
from __future__ import annotations

import itertools
import secrets
import threading
import weakref
from pathlib import Path

#: How many shown pictures keep their temp file name (a cached Preview Image shows the same picture objects again).
_REMEMBERED = 4096


class OutputRefs:
    def __init__(self, output_dir: Path, temp_dir: Path):
        self.output_dir = Path(output_dir)
        self.temp_dir = Path(temp_dir)
        self._stem = f"NodeFlow_temp_{secrets.token_hex(3)}"
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        #: id(picture) -> (weak reference to it, its temp reference): a cached node is not written again.
        self._written: dict[int, tuple[weakref.ref, dict]] = {}

    def to_comfy(self, ui: dict) -> dict:
        out: dict = {}
        files = [f for f in ui.get("files") or () if isinstance(f, str)]
        if files:
            refs = [r for r in (self.file_ref(f) for f in files) if r is not None]
            if refs:
                out["images"] = refs
        elif ui.get("images"):
            out["images"] = [self.temp_ref(image) for image in ui["images"]]
        text = ui.get("text")
        if isinstance(text, str):
            out["text"] = [text]
        return out

    def file_ref(self, path: str) -> dict | None:
        """A file the node wrote, relative to the output folder (None if it lies elsewhere)."""
        p = Path(path).resolve()
        root = self.output_dir.resolve()
        if root not in p.parents:
            return None
        sub = p.parent.relative_to(root).as_posix()
        return {"filename": p.name, "subfolder": "" if sub == "." else sub, "type": "output"}

    def temp_ref(self, image) -> dict:
        with self._lock:
            known = self._written.get(id(image))
            if known is not None and known[0]() is image:
                return dict(known[1])
        from PIL import Image

        picture = image if isinstance(image, Image.Image) else Image.fromarray(image)
        name = f"{self._stem}_{next(self._counter):05}_.png"
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        picture.save(self.temp_dir / name, format="PNG", compress_level=1)  # as ComfyUI's previews: fast
        ref = {"filename": name, "subfolder": "", "type": "temp"}
        with self._lock:
            if len(self._written) >= _REMEMBERED:
                self._written = {k: v for k, v in self._written.items() if v[0]() is not None}
                if len(self._written) >= _REMEMBERED:
                    self._written.clear()
            try:
                self._written[id(image)] = (weakref.ref(image), ref)
            except TypeError:  # a picture type without weak references: written again when shown again
                pass
        return dict(ref)
