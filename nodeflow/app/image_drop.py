"""Dropping a picture that carries no workflow onto the canvas, as in ComfyUI: the file is copied into the input
folder and a Load Image node for it appears where it was dropped. (A PNG that does carry a workflow opens it.)"""
from __future__ import annotations

import hashlib
from pathlib import Path

#: The node a dropped picture becomes (as in ComfyUI); its file field is found from its declaration.
LOAD_IMAGE_TYPE = "LoadImage"
#: What Load Image reads (Pillow); PNGs are looked into first, in case they carry a workflow.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def is_plain_image(path: Path) -> bool:
    """A picture that carries no workflow (a PNG that carries one opens as a workflow instead)."""
    from nodeflow.formats.png import carries_graph, read_text_chunks

    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES or not path.is_file():
        return False
    if suffix != ".png":
        return True
    try:
        return not carries_graph(read_text_chunks(path))
    except OSError:  # unreadable: let opening it report why
        return False


def copy_into_input(path: Path, input_dir: Path) -> str:
    """Copy ``path`` into ``input_dir`` (atomically) and return the name Load Image will use. The same picture
    dropped again reuses its copy; a different picture with a taken name gets "name (1).png"."""
    from nodeflow.formats.atomic import atomic_write_bytes

    data = path.read_bytes()
    digest = hashlib.sha256(data).digest()
    stem, suffix = path.stem, path.suffix.lower()
    for i in range(1000):
        name = f"{stem}{suffix}" if i == 0 else f"{stem} ({i}){suffix}"
        target = input_dir / name
        if not target.exists():
            atomic_write_bytes(target, data)
            return name
        if target.stat().st_size == len(data) and hashlib.sha256(target.read_bytes()).digest() == digest:
            return name
    raise OSError(f"too many pictures named {stem!r} in {input_dir}")
