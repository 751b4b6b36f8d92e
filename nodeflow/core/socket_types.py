"""Socket types: names (never integer codes), which ones carry editable values, their colours, and compatibility.

Value types (INT, FLOAT, STRING, BOOLEAN, COMBO) can be edited in a widget and are the same everywhere; every other
type is an opaque object passed along links (MODEL, LATENT, IMAGE, ...), declared by the node pack that produces it
(its ``SOCKET_TYPES``) and known to the registry that loaded the pack (``Registry.socket_types``), so two
registries in one process never see each other's types.
"""
from __future__ import annotations

from dataclasses import dataclass

INT, FLOAT, STRING, BOOLEAN, COMBO = "INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"
VALUE_TYPES = (INT, FLOAT, STRING, BOOLEAN, COMBO)
#: Accepts and produces anything (reroutes); resolved to the connected type when checking links.
ANY = "*"
UNKNOWN_COLOR = "#888888"


@dataclass(frozen=True)
class SocketType:
    name: str
    color: str
    is_value: bool = False
    description: str = ""


_BUILTIN = tuple(SocketType(name, color, True) for name, color in (
    (INT, "#6fb3d2"), (FLOAT, "#a1c181"), (STRING, "#d4b483"), (BOOLEAN, "#c77dba"), (COMBO, "#9aa5b1"))) + (
    SocketType(ANY, "#cccccc", False, "anything"),)


class SocketTypes:
    """The socket types one registry knows: the value types and ANY, plus those its packs declare."""

    def __init__(self):
        self._types: dict[str, SocketType] = {t.name: t for t in _BUILTIN}

    def register(self, name: str, color: str, description: str = "") -> SocketType:
        """Register a link type; re-registering a name keeps the first colour (packs may share types)."""
        if not isinstance(name, str) or not name or name != name.strip():
            raise ValueError(f"bad socket type name {name!r}")
        existing = self._types.get(name)
        if existing is not None:
            return existing
        self._types[name] = SocketType(name, color, False, description)
        return self._types[name]

    def get(self, name: str) -> SocketType | None:
        return self._types.get(name)

    def is_known(self, name: str) -> bool:
        return name in self._types

    def color(self, name: str) -> str:
        t = self._types.get(name)
        return t.color if t else UNKNOWN_COLOR

    def __iter__(self):
        return iter(self._types.values())


def is_value_type(name: str) -> bool:
    return name in VALUE_TYPES


def compatible(out_type: str, in_type: str) -> tuple[bool, str]:
    """Can an output of ``out_type`` feed an input of ``in_type``? Returns (ok, reason if not)."""
    if out_type == in_type or ANY in (out_type, in_type):
        return True, ""
    if out_type == INT and in_type == FLOAT:
        return True, ""  # an integer is a valid number
    return False, f"{out_type} cannot connect to {in_type}"
