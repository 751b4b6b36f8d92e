"""Writes what workers saved into the caller's output folder, numbered as Save Image numbers them
(``prefix_00001_.png``, the next free counter, claimed with O_EXCL), each file written atomically.

The numbering is here, not on the workers, so files from many machines never collide and a folder that already
holds pictures continues its count. (Save Image's own ``_reserve`` lives in a node pack, which the batch code does
not import; this is the same rule.)
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path, PurePosixPath

from nodeflow.batch.jobs import JobOutcome
from nodeflow.config import is_safe_name
from nodeflow.formats.atomic import atomic_write_bytes

_COUNTER = re.compile(r"^(?P<stem>.*)_(?P<n>\d{5,})_(?P<ext>\.[A-Za-z0-9]+)$")


class UnsafeOutput(ValueError):
    pass


class OutputWriter:
    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)
        self._lock = threading.Lock()

    def write(self, outcome: JobOutcome) -> list[str]:
        """Write the outcome's files; their final paths (in the order the run saved them)."""
        return [str(self.write_one(f.name, f.data)) for f in outcome.files]

    def write_one(self, name: str, data: bytes) -> Path:
        rel = PurePosixPath(name)
        if not is_safe_name(name) or rel.is_absolute() or ".." in rel.parts:
            raise UnsafeOutput(f"{name!r}: a worker's output must stay inside the output folder")
        folder = self.out_dir.joinpath(*rel.parent.parts)
        folder.mkdir(parents=True, exist_ok=True)
        m = _COUNTER.match(rel.name)
        with self._lock:  # one writer per batch; O_EXCL guards against other processes writing the same folder
            path = self._reserve(folder, m.group("stem"), m.group("ext")) if m else self._unique(folder, rel.name)
        try:
            atomic_write_bytes(path, data)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    @staticmethod
    def _reserve(folder: Path, stem: str, ext: str) -> Path:
        pattern = re.compile(re.escape(stem) + r"_(\d{5,})_" + re.escape(ext))
        counters = [int(m.group(1)) for f in os.listdir(folder) if (m := pattern.fullmatch(f))]
        counter = max(counters, default=0) + 1
        while True:
            path = folder / f"{stem}_{counter:05}_{ext}"
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                return path
            except FileExistsError:
                counter += 1

    @staticmethod
    def _unique(folder: Path, name: str) -> Path:
        """A name without a counter (a node that picks its own): kept, or given ``-2``, ``-3``... if taken."""
        stem, dot, ext = name.rpartition(".")
        stem, ext = (stem, dot + ext) if dot else (name, "")
        k = 1
        while True:
            path = folder / (name if k == 1 else f"{stem}-{k}{ext}")
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                return path
            except FileExistsError:
                k += 1
