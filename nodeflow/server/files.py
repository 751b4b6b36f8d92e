"""The server's folders as clients name them: ``type`` input | output | temp, a ``subfolder`` and a ``filename``
(GET /view, POST /upload/image and /upload/mask).

Names from requests are checked as names in workflow files are (``config.is_safe_name``; found files through
``Folders.resolve(..., links_out=False)``, which refuses symlinks leading out, unlike a run's own look-ups):
nothing outside the three folders is ever read or written. Uploads are pictures only (checked with Pillow), placed without overwriting unless asked; an upload with
the name of an identical file reuses it, one with the name of a different file gets "name (1).png", as ComfyUI does.
"""
from __future__ import annotations

import hashlib
import io
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from nodeflow.config import MODEL_SUFFIXES, Folders, is_safe_name

FOLDER_TYPES = ("input", "output", "temp")
IMAGE_SUFFIXES = MODEL_SUFFIXES["input"]


class FileRequestError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _plain(name: str) -> bool:
    return not any(ord(c) < 32 or ord(c) == 127 for c in name)


def check_filename(name) -> str:
    """A file name alone (no folder part), safe to join to a folder and to put in a header."""
    if not isinstance(name, str) or "/" in name or not is_safe_name(name) or not _plain(name) \
            or name in (".", "..") or '"' in name:
        raise FileRequestError(f"invalid file name {str(name)[:80]!r}")
    return name


def check_subfolder(sub) -> str:
    if sub in (None, ""):
        return ""
    sub = str(sub).strip("/")
    if not sub:
        return ""
    if not is_safe_name(sub) or not _plain(sub) or any(part == "." for part in PurePosixPath(sub).parts):
        raise FileRequestError(f"invalid subfolder {sub[:80]!r}")
    return sub


def split_annotation(filename: str) -> tuple[str, str | None]:
    """ComfyUI's annotated names: "name.png [output]" names the folder type in the name."""
    for t in FOLDER_TYPES:
        if filename.endswith(f" [{t}]"):
            return filename[: -len(t) - 3], t
    return filename, None


@dataclass(frozen=True)
class ServerFolders:
    folders: Folders
    temp_dir: Path

    def root(self, folder_type: str) -> Path:
        """The folder a type writes into."""
        if folder_type == "input":
            return Path(self.folders.input_dir)
        if folder_type == "output":
            return Path(self.folders.output_dir)
        if folder_type == "temp":
            return Path(self.temp_dir)
        raise FileRequestError(f"unknown folder type {str(folder_type)[:40]!r} (input, output or temp)")

    def find(self, folder_type: str, filename: str, subfolder: str = "") -> Path:
        """The existing file, inside its folder; FileRequestError (400 bad name, 404 not there) otherwise."""
        filename, annotated = split_annotation(filename) if isinstance(filename, str) else (filename, None)
        folder_type = annotated or folder_type or "output"
        self.root(folder_type)
        name = check_filename(filename)
        sub = check_subfolder(subfolder)
        rel = f"{sub}/{name}" if sub else name
        if folder_type == "temp":
            found = Folders((), self.temp_dir, self.temp_dir, include_builtin=False).resolve("output", rel,
                                                                                           links_out=False)
        else:  # clients on the network never read through a link leading out of the folder
            found = self.folders.resolve(folder_type, rel, links_out=False)
        if found is None or not found.is_file():
            raise FileRequestError("file not found", 404)
        return found

    def target_dir(self, folder_type: str, subfolder: str) -> Path:
        """The folder an upload goes to (created), checked to lie inside its root once symlinks are followed."""
        root = self.root(folder_type)
        sub = check_subfolder(subfolder)
        folder = root / PurePosixPath(sub) if sub else root
        folder.mkdir(parents=True, exist_ok=True)
        real_root, real = root.resolve(), folder.resolve()
        if real != real_root and real_root not in real.parents:
            raise FileRequestError("the subfolder leads outside its folder", 403)
        return folder


def _digest(path: Path) -> str:
    h = hashlib.blake2b()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_image(path: Path) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.verify()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise FileRequestError(f"not a picture Pillow can read ({type(e).__name__})") from None


def place_upload(staged: Path, filename: str, fields: dict[str, str], folders: ServerFolders) -> dict:
    """Move a received file into its folder; ComfyUI's answer {"name", "subfolder", "type"}."""
    folder_type = fields.get("type") or "input"
    name = check_filename(filename)
    if not name.lower().endswith(IMAGE_SUFFIXES):
        raise FileRequestError(f"{name!r}: only pictures can be uploaded ({', '.join(IMAGE_SUFFIXES)})")
    check_image(staged)
    sub = check_subfolder(fields.get("subfolder", ""))
    folder = folders.target_dir(folder_type, sub)
    overwrite = fields.get("overwrite") in ("true", "1")
    stem, suffix = os.path.splitext(name)
    candidate, k = name, 1
    digest = None
    while True:
        final = folder / candidate
        if overwrite:
            _install(staged, final, exclusive=False)
            break
        if final.exists():
            digest = digest or _digest(staged)
            if final.is_file() and _digest(final) == digest:
                break  # the same picture under the same name: keep the one there
        elif _install(staged, final, exclusive=True):
            break
        candidate = f"{stem} ({k}){suffix}"
        k += 1
    return {"name": candidate, "subfolder": sub, "type": folder_type}


def _install(staged: Path, final: Path, exclusive: bool) -> bool:
    """Copy next to ``final`` then link (exclusive: never replaces a file that appeared meanwhile) or replace."""
    tmp = final.parent / f".upload-{secrets.token_hex(6)}"
    shutil.copyfile(staged, tmp)
    try:
        if not exclusive:
            os.replace(tmp, final)
            return True
        try:
            os.link(tmp, final)
            return True
        except FileExistsError:
            return False
    finally:
        tmp.unlink(missing_ok=True)


def apply_mask(staged: Path, original_ref: str, folders: ServerFolders) -> None:
    """/upload/mask: the uploaded picture's alpha put into the original it refers to (its text chunks kept), as
    ComfyUI's mask editor expects; the result replaces the staged upload."""
    import json

    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    try:
        ref = json.loads(original_ref)
    except (TypeError, ValueError):
        raise FileRequestError("original_ref must be JSON: {\"filename\", \"subfolder\", \"type\"}") from None
    if not isinstance(ref, dict):
        raise FileRequestError("original_ref must be a JSON object")
    original = folders.find(ref.get("type") or "output", ref.get("filename"), ref.get("subfolder", ""))
    check_image(staged)
    with Image.open(original) as im:
        info = PngInfo()
        for key, value in getattr(im, "text", {}).items():
            info.add_text(key, value)
        rgba = im.convert("RGBA")
    with Image.open(staged) as mask:
        alpha = mask.convert("RGBA").getchannel("A")
    if alpha.size != rgba.size:
        raise FileRequestError(f"the mask is {alpha.size[0]}x{alpha.size[1]}, the picture "
                               f"{rgba.size[0]}x{rgba.size[1]}")
    rgba.putalpha(alpha)
    buf = io.BytesIO()
    rgba.save(buf, format="PNG", compress_level=4, pnginfo=info)
    staged.write_bytes(buf.getvalue())


def view_variant(path: Path, preview: str | None, channel: str | None) -> tuple[bytes, str] | None:
    """/view's ``preview=webp;90`` / ``jpeg;90`` and ``channel=rgb|a`` (ComfyUI's); None: send the file as it is."""
    if not preview and channel in (None, "", "rgba"):
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise FileRequestError(f"not a picture Pillow can read ({type(e).__name__})") from None
    if preview:
        parts = preview.split(";")
        fmt = parts[0] if parts[0] in ("webp", "jpeg") and "a" not in (channel or "") else "webp"
        quality = int(parts[-1]) if parts[-1].isdigit() and 1 <= int(parts[-1]) <= 100 else 90
        if fmt == "jpeg" or channel == "rgb":
            im = im.convert("RGB")
        buf = io.BytesIO()
        im.save(buf, format=fmt.upper(), quality=quality)
        return buf.getvalue(), f"image/{fmt}"
    if channel == "rgb":
        out = im.convert("RGB")
    elif channel == "a":
        alpha = im.getchannel("A") if im.mode == "RGBA" else Image.new("L", im.size, 255)
        out = Image.new("RGBA", im.size)
        out.putalpha(alpha)
    else:
        raise FileRequestError("channel must be rgba, rgb or a")
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return buf.getvalue(), "image/png"
