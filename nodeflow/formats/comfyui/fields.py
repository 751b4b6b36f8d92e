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

MAX_JSON_BYTES = 64 * 1024 * 1024
#: Longest text anywhere in a file (prompts and notes are a few KB; a 10 MB "prompt" is an attack or an accident).
MAX_STRING_CHARS = 1_000_000
MAX_NODES = 20_000
MAX_LINKS = 200_000
#: Larger than any seed ComfyUI accepts (2**64 - 1): beyond this a number is garbage, not a value.
MAX_ABS_INT = 2 ** 64
MAX_DEPTH = 200


def check_limits(data: Any, where: str) -> None:
    """Walk the whole document once: no huge text, no non-finite or absurd numbers (which could not be saved as
    JSON again), no nesting deeper than a workflow ever needs. Iterative (depth never hits Python's limit), and
    the path of an offending value is only spelled out when there is one."""
    if type(data) not in (dict, list):
        return
    stack: list[tuple[Any, Any, int]] = [(data, None, 0)]
    while stack:
        container, trail, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise WorkflowError(f"{_path(where, trail)}: nested more than {MAX_DEPTH} levels deep")
        items = container.items() if type(container) is dict else enumerate(container)
        for key, item in items:
            t = type(item)
            if t is str:
                if len(item) > MAX_STRING_CHARS:
                    raise WorkflowError(f"{_path(where, (trail, key))}: text of {len(item)} characters is too "
                                        f"long (limit {MAX_STRING_CHARS})")
            elif t is int:
                if not -MAX_ABS_INT <= item <= MAX_ABS_INT:
                    raise WorkflowError(f"{_path(where, (trail, key))}: the number {str(item)[:24]}... is too "
                                        "large (limit 2^64)")
            elif t is float:
                if item != item or item in (math.inf, -math.inf):
                    raise WorkflowError(f"{_path(where, (trail, key))}: {item} is not a finite number")
            elif t is dict or t is list:
                stack.append((item, (trail, key), depth + 1))
        if type(container) is dict and any(len(k) > MAX_STRING_CHARS for k in container if type(k) is str):
            raise WorkflowError(f"{_path(where, trail)}: a key is too long (limit {MAX_STRING_CHARS} characters)")


def _path(where: str, trail) -> str:
    keys = []
    while trail is not None:
        trail, key = trail
        keys.append(key)
    out = where
    for key in reversed(keys):
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if str(key).isidentifier()
                                                        else f"[{json.dumps(key)[:40]}]")
    return out


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
