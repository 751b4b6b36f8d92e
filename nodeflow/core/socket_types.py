"""Socket types: names (never integer codes), which ones carry editable values, their colours, and compatibility.

Value types (INT, FLOAT, STRING, BOOLEAN, COMBO) can be edited in a widget; every other type is an opaque object
passed along links (MODEL, LATENT, IMAGE, ...), registered by the node pack that produces it.
"""
from __future__ import annotations

from dataclasses import dataclass

INT, FLOAT, STRING, BOOLEAN, COMBO = "INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"
#: Accepts and produces anything (reroutes); resolved to the connected type when checking links.
ANY = "*"


@dataclass(frozen=True)
class SocketType:
    name: str
    color: str
    is_value: bool = False
    description: str = ""


_TYPES: dict[str, SocketType] = {}


def register(name: str, color: str, description: str = "", *, is_value: bool = False) -> SocketType:
    """Register a socket type; re-registering the same name keeps the first colour (packs may share types)."""
    if not name or name != name.strip():
        raise ValueError(f"bad socket type name {name!r}")
    existing = _TYPES.get(name)
    if existing is not None:
        return existing
    _TYPES[name] = SocketType(name, color, is_value, description)
    return _TYPES[name]


for _name, _color in ((INT, "#6fb3d2"), (FLOAT, "#a1c181"), (STRING, "#d4b483"), (BOOLEAN, "#c77dba"),
                      (COMBO, "#9aa5b1")):
    register(_name, _color, is_value=True)
register(ANY, "#cccccc", "anything")


def get(name: str) -> SocketType | None:
    return _TYPES.get(name)


def is_known(name: str) -> bool:
    return name in _TYPES


def is_value_type(name: str) -> bool:
    t = _TYPES.get(name)
    return bool(t and t.is_value)


def color(name: str) -> str:
    t = _TYPES.get(name)
    return t.color if t else "#888888"


def compatible(out_type: str, in_type: str) -> tuple[bool, str]:
    """Can an output of ``out_type`` feed an input of ``in_type``? Returns (ok, reason if not)."""
    if out_type == in_type or ANY in (out_type, in_type):
        return True, ""
    if out_type == INT and in_type == FLOAT:
        return True, ""  # an integer is a valid number
    return False, f"{out_type} cannot connect to {in_type}"
