"""The one reader of JSON someone handed us (workflow files, PNG chunks, the clipboard, settings): size-limited,
UTF-8 checked, and walked once for what would crash or mislead later (nesting deeper than any workflow needs, huge
text, non-finite or absurd numbers, text that is not valid Unicode). Every failure is one ``WorkflowError`` line
that says where (the file, and the node and field when the value lies inside a node).

Depends on nothing else in NodeFlow, so that ``nodeflow.config`` reads the settings file with it too.
"""
from __future__ import annotations

import json
import math
from typing import Any

MAX_FILE_BYTES = 256 * 1024 * 1024
#: Longest text anywhere in a file (prompts and notes are a few KB; a 10 MB "prompt" is an attack or an accident).
MAX_STRING_CHARS = 1_000_000
#: Larger than any seed ComfyUI accepts (2**64 - 1): beyond this a number is garbage, not a value.
MAX_ABS_INT = 2 ** 64
#: Workflows nest about 8 levels; values a node type stores may nest a few more.
MAX_DEPTH = 200


class WorkflowError(ValueError):
    """A workflow file that cannot be read; the message says where and what was expected."""


def parse_json(text: str | bytes, what: str = "file", limit: int = MAX_FILE_BYTES) -> Any:
    """JSON from a file someone handed us: size-limited, UTF-8 checked, its content walked by ``check_limits``;
    every failure a one-line WorkflowError."""
    if len(text) > limit:
        raise WorkflowError(f"the {what} is {len(text)} bytes, too large for a workflow (limit {limit})")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise WorkflowError(f"the {what} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise WorkflowError(f"the {what} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except (ValueError, RecursionError) as e:  # integers with thousands of digits, absurd nesting
        raise WorkflowError(f"the {what} is not usable JSON: {e}") from None
    check_limits(data, "" if what == "file" else what)  # a file's name is put in front by the caller
    return data


def _bad_text(s: str) -> str | None:
    """Why ``s`` cannot be kept, or None. A lone surrogate ("\\ud800" in JSON) is not a character: it cannot be
    written to a file or a terminal, so it is refused here, at load, rather than crash a save or a print later."""
    if len(s) > MAX_STRING_CHARS:
        return f"text of {len(s)} characters is too long (limit {MAX_STRING_CHARS})"
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError as e:
            return (f"the text holds U+{ord(s[e.start]):04X} at character {e.start}, a lone surrogate, which is "
                    "not valid Unicode")
    return None


def check_limits(data: Any, where: str) -> None:
    """Walk the whole document once: no huge or invalid text, no non-finite or absurd numbers (which could not be
    saved as JSON again), no nesting deeper than a workflow ever needs. Iterative (depth never hits Python's
    limit), and the path of an offending value is only spelled out when there is one."""
    if type(data) not in (dict, list):
        if type(data) is str and (why := _bad_text(data)):
            raise WorkflowError(f"{where}: {why}")
        return
    stack: list[tuple[Any, Any, int]] = [(data, None, 0)]
    while stack:
        container, trail, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise WorkflowError(f"{path_of(where, trail, data)}: nested more than {MAX_DEPTH} levels deep")
        items = container.items() if type(container) is dict else enumerate(container)
        for key, item in items:
            t = type(item)
            if t is str:
                if (why := _bad_text(item)) is not None:
                    raise WorkflowError(f"{path_of(where, (trail, key), data)}: {why}")
            elif t is int:
                if not -MAX_ABS_INT <= item <= MAX_ABS_INT:
                    raise WorkflowError(f"{path_of(where, (trail, key), data)}: the number {str(item)[:24]}... "
                                        "is too large (limit 2^64)")
            elif t is float:
                if item != item or item in (math.inf, -math.inf):
                    raise WorkflowError(f"{path_of(where, (trail, key), data)}: {item} is not a finite number")
            elif t is dict or t is list:
                stack.append((item, (trail, key), depth + 1))
        if type(container) is dict:
            for k in container:
                if type(k) is str and (why := _bad_text(k)) is not None:
                    raise WorkflowError(f"{path_of(where, trail, data)}: a key is unusable ({why})")


def path_of(where: str, trail, root: Any = None) -> str:
    """``where.nodes[3] (node 7).values.text``: the keys leading to a value, with the node they pass through
    named (NodeFlow's and ComfyUI's UI format: an object with an "id" in a list; an API prompt: its top-level key)."""
    keys = []
    while trail is not None:
        trail, key = trail
        keys.append(key)
    keys.reverse()
    out, here = where, root
    for depth, key in enumerate(keys):
        if depth == 8 and len(keys) > 12:
            out += f"...({len(keys) - 12} more levels)..."
        if 8 <= depth < len(keys) - 4:
            here = None
            continue
        try:
            here = here[key] if here is not None else None
        except (KeyError, IndexError, TypeError):
            here = None
        if depth == 0 and isinstance(key, str) and isinstance(here, dict) and "class_type" in here:
            out += f"{'.' if out else ''}node {key[:20]} ({str(here.get('class_type'))[:40]})"  # an API prompt
            continue
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out and str(key).isidentifier() else
                                                        str(key) if str(key).isidentifier()
                                                        else f"[{json.dumps(key)[:40]}]")
        node_id = here.get("id") if isinstance(here, dict) else None
        if isinstance(key, int) and isinstance(node_id, (int, str)) and not isinstance(node_id, bool):
            out += f" (node {str(node_id)[:20]})"
    return out or "the top level"
