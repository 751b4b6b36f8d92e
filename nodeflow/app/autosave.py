"""Autosave of unsaved documents and recovery after a crash.

Each editor session writes its dirty documents into its own folder ``<data>/autosave/<session>/`` and holds
``<session>.lock`` (a QLockFile, which records the process id). A clean exit removes both. At the next start a
session folder whose lock can be taken belonged to a process that is gone: its files are offered for recovery.
Two editors running at once never see each other's autosaves as crashed (the other lock is alive).
"""
from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from PySide6.QtCore import QLockFile, QObject, QTimer

from nodeflow.formats.atomic import atomic_write_text
from nodeflow.formats.json_limits import parse_json
from nodeflow.formats.workflow import to_dict

AUTOSAVE_FORMAT = "nodeflow.autosave"


@dataclass
class Recovery:
    """One recoverable document from a session that did not close properly."""

    file: Path
    name: str
    original_path: str | None
    saved_at: float
    workflow: dict


class Autosaver(QObject):
    def __init__(self, root: Path, documents: Callable[[], Iterable], interval_s: int = 30,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.root = Path(root)
        self.session = uuid.uuid4().hex[:12]
        self.folder = self.root / self.session
        self._documents = documents
        self._lock = QLockFile(str(self.root / f"{self.session}.lock"))
        self._lock.setStaleLockTime(0)  # stale only when the owning process is gone, never by age
        self._locked = False
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.save_now)
        self.set_interval(interval_s)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._locked = self._lock.tryLock(0)
        self._timer.start()

    def set_interval(self, seconds: int) -> None:
        self._timer.setInterval(max(1, int(seconds)) * 1000)

    def file_for(self, doc) -> Path:
        return self.folder / f"{doc.uid}.json"

    def save_now(self) -> list[Path]:
        """Write every dirty document; remove the files of documents that are clean again."""
        written = []
        for doc in list(self._documents()):
            target = self.file_for(doc)
            if not doc.dirty:
                target.unlink(missing_ok=True)
                continue
            payload = {"format": AUTOSAVE_FORMAT, "name": doc.name,
                       "path": str(doc.path) if doc.path else None, "saved_at": time.time(),
                       "workflow": to_dict(doc.graph)}
            try:
                atomic_write_text(target, json.dumps(payload, ensure_ascii=False, default=repr))
            except (OSError, ValueError):
                continue  # a full disk must not interrupt editing; the next tick tries again
            written.append(target)
        return written

    def forget(self, doc) -> None:
        """The document was saved, discarded or closed: its autosave is no longer needed."""
        self.file_for(doc).unlink(missing_ok=True)

    def stop(self) -> None:
        """Clean exit: nothing to recover from this session."""
        self._timer.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
        if self._locked:
            self._lock.unlock()
            self._locked = False

    def simulate_crash(self) -> None:
        """For tests: leave the files behind as a crashed process would (its lock becomes stale)."""
        self._timer.stop()
        if self._locked:
            self._lock.unlock()
            self._locked = False


def find_recoverable(root: Path, own_session: str | None = None) -> list[Recovery]:
    """Autosaved documents of sessions whose process is gone, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found: list[Recovery] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != own_session):
        lock = QLockFile(str(root / f"{folder.name}.lock"))
        lock.setStaleLockTime(0)
        if not lock.tryLock(0):
            continue  # that editor is still running
        lock.unlock()
        for file in sorted(folder.glob("*.json")):
            try:
                data = parse_json(file.read_bytes())  # the one limited reader, as for any workflow file
            except (OSError, ValueError):  # WorkflowError is a ValueError
                continue
            if not isinstance(data, dict) or data.get("format") != AUTOSAVE_FORMAT:
                continue
            found.append(Recovery(file, str(data.get("name") or "Recovered"), data.get("path"),
                                  float(data.get("saved_at") or 0), data.get("workflow")))
    return sorted(found, key=lambda r: -r.saved_at)


def discard_recoveries(recoveries: Iterable[Recovery]) -> None:
    """Remove recovered (or declined) files, and their session folders once empty."""
    folders = set()
    for rec in recoveries:
        rec.file.unlink(missing_ok=True)
        folders.add(rec.file.parent)
    for folder in folders:
        try:
            folder.rmdir()
            (folder.parent / f"{folder.name}.lock").unlink(missing_ok=True)
        except OSError:
            pass  # something else is still in there
