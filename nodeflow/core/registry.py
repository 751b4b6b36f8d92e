"""The node registry: every node type from every pack, loaded so that one broken pack never stops the others.

Packs come from three places: the built-in packages under ``nodes/``, folders in the user's node-pack directories
(each sub-folder or ``.py`` file is a pack), and the ``nodeflow.nodes`` entry-point group. A pack module exposes
``NODE_TYPES`` (a list of NodeType) and optionally ``SOCKET_TYPES`` ({name: (colour, description)}) and
``WARM_UP`` (names of the modules its node functions import lazily, such as torch: the editor imports them in the
background once its window is up, so the first run does not wait for them).
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

from nodeflow.core import socket_types as st
from nodeflow.core.nodedef import DeclarationError, NodeType

ENTRY_POINT_GROUP = "nodeflow.nodes"


@dataclass(frozen=True)
class PackError:
    pack: str
    message: str
    detail: str = ""
    type_name: str | None = None

    def __str__(self) -> str:
        where = f"{self.pack}:{self.type_name}" if self.type_name else self.pack
        return f"node pack {where}: {self.message}"


class Registry:
    def __init__(self):
        self.types: dict[str, NodeType] = {}
        #: The socket types of this registry's packs (besides the value types every registry knows).
        self.socket_types = st.SocketTypes()
        self.errors: list[PackError] = []
        self.packs: list[str] = []
        #: Modules the packs' node functions import lazily (``WARM_UP``), in pack order.
        self.warm_up: list[str] = []

    # -- lookups ------------------------------------------------------------------------------------------------
    def get(self, type_name: str) -> NodeType | None:
        return self.types.get(type_name)

    def __contains__(self, type_name: str) -> bool:
        return type_name in self.types

    def __iter__(self):
        return iter(sorted(self.types.values(), key=lambda t: (t.category, t.display_name)))

    def categories(self) -> dict[str, list[NodeType]]:
        out: dict[str, list[NodeType]] = {}
        for t in self:
            out.setdefault(t.category, []).append(t)
        return out

    # -- registration -------------------------------------------------------------------------------------------
    def add(self, node_type: NodeType, pack: str = "") -> bool:
        """Check and register one type; a bad declaration is recorded as an error with pack and type name."""
        node_type = replace(node_type, pack=pack or node_type.pack)
        try:
            node_type.check_declaration(self.socket_types)
        except DeclarationError as e:
            self.errors.append(PackError(node_type.pack, f"bad declaration: {e}", type_name=node_type.type_name))
            return False
        if node_type.type_name in self.types:
            other = self.types[node_type.type_name].pack
            self.errors.append(PackError(node_type.pack, f"type name already registered by pack {other!r}",
                                         type_name=node_type.type_name))
            return False
        self.types[node_type.type_name] = node_type
        return True

    def add_module(self, module, pack: str) -> int:
        """Register one pack module: its socket types, then its node types; returns how many types were added."""
        self._add_socket_types(module, pack)
        return self._add_node_types(module, pack)

    def _add_socket_types(self, module, pack: str) -> None:
        try:
            for name, spec in (getattr(module, "SOCKET_TYPES", None) or {}).items():
                colour, desc = (spec, "") if isinstance(spec, str) else (spec[0], spec[1] if len(spec) > 1 else "")
                self.socket_types.register(name, colour, desc)
        except Exception as e:
            self.errors.append(PackError(pack, f"bad SOCKET_TYPES: {type(e).__name__}: {e}", traceback.format_exc()))

    def _add_node_types(self, module, pack: str) -> int:
        try:
            node_types = getattr(module, "NODE_TYPES", None)
            if node_types is None:
                self.errors.append(PackError(pack, "module has no NODE_TYPES list"))
                return 0
            added = 0
            for t in node_types:
                if not isinstance(t, NodeType):
                    self.errors.append(PackError(pack, f"NODE_TYPES holds {type(t).__name__}, not a NodeType"))
                    continue
                added += self.add(t, pack)
            self.packs.append(pack)
            for name in getattr(module, "WARM_UP", ()) or ():
                if isinstance(name, str) and name not in self.warm_up:
                    self.warm_up.append(name)
            return added
        except Exception as e:
            self.errors.append(PackError(pack, f"failed to register: {type(e).__name__}: {e}",
                                         traceback.format_exc()))
            return 0

    # -- finding packs (each returns the imported modules; load_registry registers them) ---------------------------
    def _guarded(self, pack: str, load) -> list[tuple[str, object]]:
        try:
            return [(pack, load())]
        except Exception as e:  # a broken pack is reported, the others still load
            self.errors.append(PackError(pack, f"failed to import: {type(e).__name__}: {e}",
                                         traceback.format_exc()))
            return []

    def import_builtin(self) -> list[tuple[str, object]]:
        import nodes

        found = []
        for info in sorted(pkgutil.iter_modules(nodes.__path__), key=lambda i: i.name):
            if not info.name.startswith("_"):
                found += self._guarded(info.name, lambda n=info.name: importlib.import_module(f"nodes.{n}"))
        return found

    def import_folder(self, folder: Path) -> list[tuple[str, object]]:
        """Each ``*.py`` file or package folder inside ``folder`` is one pack."""
        folder = Path(folder)
        if not folder.is_dir():
            return []
        found = []
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith((".", "_")):
                continue
            if entry.is_dir() and (entry / "__init__.py").is_file():
                path = entry / "__init__.py"
            elif entry.suffix == ".py":
                path = entry
            else:
                continue
            name = entry.stem
            found += self._guarded(f"user:{name}", lambda p=path, n=name: _import_path(f"nodeflow_user_packs.{n}", p))
        return found

    def import_entry_points(self) -> list[tuple[str, object]]:
        from importlib.metadata import entry_points

        found = []
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            found += self._guarded(f"entry:{ep.name}", ep.load)
        return found


def _import_path(module_name: str, path: Path):
    spec = importlib.util.spec_from_file_location(module_name, path,
                                                  submodule_search_locations=[str(path.parent)]
                                                  if path.name == "__init__.py" else None)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def load_registry(pack_dirs: Iterable[Path] = (), entry_points: bool = True, builtin: bool = True) -> Registry:
    """A registry of the built-in packs, the packs in ``pack_dirs`` and the entry points. Every pack's socket types
    are registered before any node type is checked, so a pack may use the types another one declares."""
    reg = Registry()
    found = reg.import_builtin() if builtin else []
    for d in pack_dirs:
        found += reg.import_folder(Path(d))
    if entry_points:
        found += reg.import_entry_points()
    for pack, module in found:
        reg._add_socket_types(module, pack)
    for pack, module in found:
        reg._add_node_types(module, pack)
    return reg
