"""Defensive reading of ComfyUI JSON: every field type-checked, every message naming where it was found.

ComfyUI files come from anywhere (shared on forums, embedded in images), so nothing is trusted: a wrong type, an
absurd size or a non-finite number is a WorkflowError that says which node and field, never a crash later on.
"""
from __future__ import annotations

import json
import math
from typing import Any

# The checks NodeFlow's own files use too; re-exported here, where the ComfyUI readers find them (``f.obj`` ...).
from nodeflow.formats.workflow import MAX_COORD, WorkflowError, int_id, kind, lst, obj, opt_text, rect, text
from nodeflow.formats.workflow import pair as _strict_pair

# The one JSON walk (size, depth, text, numbers) is shared with NodeFlow's own files and the PNG chunks.
from nodeflow.formats.json_limits import MAX_ABS_INT, MAX_DEPTH, MAX_STRING_CHARS, check_limits  # noqa: F401

MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_NODES = 20_000
MAX_LINKS = 200_000


def json_copy(data: Any) -> Any:
    """A deep copy of JSON data, several times faster than copy.deepcopy (and proof that it is JSON)."""
    try:
        return json.loads(json.dumps(data, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as e:
        raise WorkflowError(f"not JSON data: {e}") from None


def opt_list(v: Any, where: str) -> list:
    return [] if v is None else lst(v, where)


def ident(v: Any, where: str) -> int:
    """A node or link id: an integer (ComfyUI writes numbers; some tools write them as digit strings)."""
    if isinstance(v, str) and v.strip().lstrip("-").isdigit() and len(v) < 17:
        v = int(v)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return int_id(v, where, "an integer id")


def slot(v: Any, where: str) -> int:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 10_000:
        raise WorkflowError(f"{where}: expected a slot number (0 or more), found {v!r}"[:200])
    return v


def pair(v: Any, where: str) -> tuple[float, float]:
    """[x, y] (or {"0": x, "1": y}, as some ComfyUI versions write it) of finite, sane numbers."""
    if isinstance(v, (list, tuple)) and len(v) >= 2:
        v = list(v[:2])  # some writers append extra entries; x and y are what matters
    return _strict_pair(v, where)
