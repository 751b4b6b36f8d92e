"""What a PNG saved by a server run embeds, as ComfyUI's server writes it: the prompt as received (``prompt``) and
each entry of the client's ``extra_data.extra_pnginfo`` (its editor sends ``workflow``), plus NodeFlow's own chunk,
so the picture opens in ComfyUI and in NodeFlow."""
from __future__ import annotations

import json

from nodeflow.formats.embedding import nodeflow_chunk
from nodeflow.formats.png import NODEFLOW_KEY


def _keyword_ok(key) -> bool:
    """A PNG text keyword: 1-79 Latin-1 characters, printable (the PNG specification)."""
    return isinstance(key, str) and 0 < len(key) < 80 and all(32 <= ord(c) < 256 and c != "\x7f" for c in key) \
        and key == key.strip()


def prompt_chunks(graph, prompt: dict, extra_pnginfo) -> dict[str, str]:
    texts = {NODEFLOW_KEY: nodeflow_chunk(graph), "prompt": json.dumps(prompt)}
    if isinstance(extra_pnginfo, dict):
        for key, value in extra_pnginfo.items():
            if _keyword_ok(key) and key not in texts and key != "parameters":
                texts[key] = json.dumps(value)
    return texts
