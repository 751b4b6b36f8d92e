"""Atomic file writes: a crash or a full disk never leaves a half-written workflow or image.

Hand-written because the standard library's ``tempfile`` creates files 0600 whatever the umask, and no
well-kept library offers both "keep the mode a plain open would give" and "claim a new name without ever
showing an empty file". Temporary files are hidden (``.NAME.PID.RANDOM.tmp``) and carry the writer's process id,
so that ``remove_stale_temps`` can delete those left by a process that was killed, and only those.
"""
from __future__ import annotations

import errno
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

_TEMP_RE = re.compile(r"\..+\.(\d+)\.[0-9a-f]{12}\.tmp")


class WriteError(OSError):
    """A file that could not be written: the message says what, where and why (``str(e)`` is one line)."""

    def __init__(self, path, reason: str):
        super().__init__(f"cannot write {path}: {reason}")
        self.path, self.reason = Path(path), reason

    def __str__(self) -> str:
        return self.args[0]


def describe_os_error(e: OSError) -> str:
    """Why a write failed, in words a user acts on (a full disk, a read-only folder, a missing permission)."""
    hints = {errno.ENOSPC: "the disk is full", errno.EROFS: "the folder is on a read-only file system",
             errno.EACCES: "permission denied", errno.EPERM: "permission denied",
             errno.EISDIR: "it is a folder", errno.ENOTDIR: "a part of the path is not a folder",
             errno.ENAMETOOLONG: "the name is too long for the file system", errno.EDQUOT: "the disk quota is full"}
    return hints.get(e.errno, e.strerror or str(e))


def _new_temp(folder: Path, name: str, mode: int | None) -> tuple[int, Path]:
    # os.open with 0o666 lets the kernel apply the umask, as a plain open() would (mkstemp forces 0600).
    while True:
        tmp = folder / f".{name[:180]}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        if mode is not None:
            try:
                os.fchmod(fd, mode)  # keep the mode of the file being replaced
            except (AttributeError, OSError):
                pass  # Windows has no fchmod; there the mode bits hardly mean anything
        return fd, tmp


def _write_temp(folder: Path, name: str, data: bytes, mode: int | None) -> Path:
    fd, tmp = _new_temp(folder, name, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write to a temporary file beside ``path``, flush it to disk, then rename it over ``path``. A new file gets
    the mode a plain open would give (the umask applies); an existing file keeps its mode. Failures raise
    ``WriteError`` naming the path and the reason."""
    path = Path(path)
    try:
        if path.is_dir():
            raise WriteError(path, "it is a folder")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # a file where a folder should be
            raise WriteError(path, "a part of the path is not a folder") from None
        try:
            mode = path.stat().st_mode & 0o7777
        except OSError:
            mode = None
        tmp = _write_temp(path.parent, path.name, data, mode)
        try:
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except WriteError:
        raise
    except OSError as e:
        raise WriteError(path, describe_os_error(e)) from e
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_new_file(folder: str | os.PathLike, names: Iterable[str], data: bytes) -> Path:
    """Write ``data`` under the first of ``names`` (in ``folder``) that does not exist yet, never replacing a file,
    and never showing a name before its content is complete: the data goes to a hidden temporary file, which is
    then hard-linked to the name (a link fails if the name is taken: the claim and the write are one step). A
    crash leaves at most the hidden temporary file, which ``remove_stale_temps`` deletes later."""
    folder = Path(folder)
    try:
        tmp = _write_temp(folder, "new", data, None)
    except OSError as e:
        raise WriteError(folder, describe_os_error(e)) from e
    try:
        for name in names:
            target = folder / name
            try:
                os.link(tmp, target)
                return target
            except FileExistsError:
                continue
            except OSError as e:
                if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK,
                                   errno.EXDEV):
                    raise WriteError(target, describe_os_error(e)) from e
                # A file system without hard links (FAT, some network shares): rename, checked just before.
                # Two writers racing for the same name here could replace one another; on such file systems
                # nothing better is atomic.
                if target.exists():
                    continue
                os.replace(tmp, target)
                return target
        raise WriteError(folder, "no free file name")
    finally:
        tmp.unlink(missing_ok=True)


def _alive(pid: int, path: Path) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill there would terminate the process: go by age instead
        import time

        try:
            return time.time() - path.stat().st_mtime < 24 * 3600
        except OSError:
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or the platform cannot tell: keep the file
    return True


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the hidden temporary files of writers that are no longer running (killed mid-write). Those of a
    live process are left alone, so concurrent runs do not disturb one another."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = _TEMP_RE.fullmatch(name)
        p = Path(folder) / name
        if m and not _alive(int(m.group(1)), p):
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed
