"""The environment work happens in: the settings (folders, device, precision, budgets) and the registry of node
types with its socket types.

An entry point makes one (the CLI per command, the editor at start, a server per worker) and passes it down to
planning, the executor and every node's context; nothing below the entry points fetches settings or node types from
a process global, so two environments in one process (two server clients with other folders, tests) never see
each other.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from nodeflow.config import Folders, Settings
from nodeflow.core.registry import Registry, load_registry


@dataclass(frozen=True)
class Environment:
    settings: Settings
    registry: Registry

    @property
    def folders(self) -> Folders:
        return self.settings.folders

    @classmethod
    def create(cls, settings: Settings, *, builtin: bool = True, entry_points: bool = True) -> "Environment":
        """Settings plus a registry of the built-in packs, the settings' pack folders and the entry points."""
        return cls(settings, load_registry(settings.pack_dirs, entry_points=entry_points, builtin=builtin))

    def with_settings(self, settings: Settings) -> "Environment":
        """The same node types under other settings (the editor's Settings dialog; pack folders apply at the next
        start, since a pack's module cannot be unloaded)."""
        return replace(self, settings=settings)
