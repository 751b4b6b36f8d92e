"""PNG files that carry their workflow: text chunks written with Pillow, read back defensively.

NodeFlow writes ``nodeflow`` (its own workflow JSON), ``parameters`` (A1111-style text) and, when the graph can be
written for ComfyUI, ComfyUI's ``prompt`` and ``workflow`` (see ``embedding``), so ComfyUI opens our images too.
"""
from __future__ import annotations

import io
import os
import zlib
from pathlib import Path

from nodeflow.formats.atomic import atomic_write_bytes
from nodeflow.formats.workflow import WorkflowError, parse_json

NODEFLOW_KEY = "nodeflow"
#: ComfyUI's chunks: its editor graph ("workflow") and its API prompt ("prompt").
COMFYUI_KEYS = ("workflow", "prompt")
MAX_TEXT_BYTES = 64 * 1024 * 1024


def encode_png(image, texts: dict[str, str], compress_level: int = 4) -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)  # tEXt when latin-1 encodable, iTXt (UTF-8) otherwise
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info, compress_level=compress_level)
    return buf.getvalue()


def save_png(image, path: str | os.PathLike, texts: dict[str, str], compress_level: int = 4) -> Path:
    """Encode in memory, then write atomically: a failed save leaves nothing half-written."""
    return atomic_write_bytes(path, encode_png(image, texts, compress_level))


def read_text_chunks(path: str | os.PathLike) -> dict[str, str]:
    """All tEXt/zTXt/iTXt chunks of a PNG. Walks the chunks itself (rather than through Pillow) so that a
    truncated file or a chunk that is not valid text gives a clear error or is skipped, never a crash."""
    data = Path(path).read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise WorkflowError(f"{path}: not a PNG file")
    texts: dict[str, str] = {}
    pos, ended = 8, False
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        ctype = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if len(body) < length or pos + 12 + length > len(data):
            if texts:
                break  # the text we need came before the damage
            raise WorkflowError(f"{path}: truncated PNG ({ctype.decode('latin-1', 'replace')} chunk cut short)")
        if ctype in (b"tEXt", b"zTXt", b"iTXt") and length <= MAX_TEXT_BYTES:
            item = _decode_text_chunk(ctype, body)
            if item is not None:
                texts.setdefault(*item)
        if ctype == b"IEND":
            ended = True
            break
        pos += 12 + length
    if not ended and not texts:
        raise WorkflowError(f"{path}: truncated PNG (it ends before its last chunk)")
    return texts


def _decode_text_chunk(ctype: bytes, body: bytes) -> tuple[str, str] | None:
    try:
        key, _, rest = body.partition(b"\x00")
        keyword = key.decode("latin-1")
        if ctype == b"tEXt":
            return keyword, _text(rest, "latin-1")
        if ctype == b"zTXt":
            return keyword, _text(zlib.decompressobj().decompress(rest[1:], MAX_TEXT_BYTES), "latin-1")
        compressed = rest[0]  # rest[1] is the compression method: zlib is the only one defined
        _lang, _, rest = rest[2:].partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        if compressed:
            text = zlib.decompressobj().decompress(text, MAX_TEXT_BYTES)
        return keyword, _text(text, "utf-8")
    except (IndexError, zlib.error, UnicodeDecodeError):
        return None  # a damaged chunk is skipped; the others may still hold the workflow


def _text(raw: bytes, encoding: str) -> str:
    # ComfyUI writes UTF-8 JSON into tEXt chunks, which are latin-1 by the spec: prefer UTF-8 when it decodes.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode(encoding)


def carries_comfyui_graph(texts: dict[str, str]) -> bool:
    return any(k in texts for k in COMFYUI_KEYS)


def carries_graph(texts: dict[str, str]) -> bool:
    """Whether a PNG's text chunks hold a workflow (NodeFlow's or ComfyUI's), i.e. it opens as a graph."""
    return NODEFLOW_KEY in texts or carries_comfyui_graph(texts)


def read_workflow(path: str | os.PathLike) -> dict:
    """The NodeFlow workflow embedded in a PNG (its ``nodeflow`` chunk); ComfyUI's chunks are opened through
    ``open_any``, which imports them."""
    texts = read_text_chunks(path)
    if NODEFLOW_KEY not in texts:
        raise WorkflowError(f"{path}: no NodeFlow workflow is embedded in this PNG")
    try:
        return parse_json(texts[NODEFLOW_KEY], "embedded workflow")
    except WorkflowError as e:
        raise WorkflowError(f"{path}: {e}") from None
