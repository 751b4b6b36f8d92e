"""The editor's stored preferences (QSettings, an INI file in the per-user data folder) and how they become
``nodeflow.config.Settings``.

Preferences only override what the user set in the dialog; the settings file and environment variables still apply
underneath (the same layering the CLI uses with its flags).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from PySide6.QtCore import QSettings

from nodeflow.config import Settings

THEMES = ("dark", "light")
MAX_RECENT = 10


def preferences_file() -> Path:
    from nodeflow.config import default_data_dir

    return Path(os.environ.get("NODEFLOW_HOME") or default_data_dir()).expanduser() / "editor.ini"


def qsettings() -> QSettings:
    """The editor's QSettings; an explicit INI path so tests (NODEFLOW_HOME) and portable setups stay isolated."""
    return QSettings(str(preferences_file()), QSettings.Format.IniFormat)


@dataclass
class Preferences:
    model_dirs: list[str] = field(default_factory=list)
    input_dir: str = ""
    output_dir: str = ""
    device: str = ""  # "" keeps the settings file's value
    precision: str = ""
    cache_budget_mb: int = 0  # 0 keeps the settings file's value
    cpu_threads: int | None = None  # None keeps the settings file's value; 0 is "automatic", a value of its own
    theme: str = "dark"
    autosave_seconds: int = 30
    show_minimap: bool = True

    @classmethod
    def load(cls, store: QSettings | None = None) -> "Preferences":
        store = store or qsettings()
        p = cls()
        p.model_dirs = [d for d in _as_list(store.value("folders/models", [])) if d]
        p.input_dir = str(store.value("folders/input", "") or "")
        p.output_dir = str(store.value("folders/output", "") or "")
        p.device = str(store.value("run/device", "") or "")
        p.precision = str(store.value("run/precision", "") or "")
        p.cache_budget_mb = _as_int(store.value("run/cache_budget_mb", 0), 0)
        threads = _as_int(store.value("run/cpu_threads", ""), -1)
        p.cpu_threads = threads if threads >= 0 else None
        theme = str(store.value("ui/theme", "dark") or "dark")
        p.theme = theme if theme in THEMES else "dark"
        p.autosave_seconds = max(5, _as_int(store.value("ui/autosave_seconds", 30), 30))
        p.show_minimap = str(store.value("ui/minimap", "true")).lower() not in ("false", "0")
        return p

    def save(self, store: QSettings | None = None) -> None:
        store = store or qsettings()
        store.setValue("folders/models", list(self.model_dirs))
        store.setValue("folders/input", self.input_dir)
        store.setValue("folders/output", self.output_dir)
        store.setValue("run/device", self.device)
        store.setValue("run/precision", self.precision)
        store.setValue("run/cache_budget_mb", int(self.cache_budget_mb))
        store.setValue("run/cpu_threads", "" if self.cpu_threads is None else int(self.cpu_threads))
        store.setValue("ui/theme", self.theme)
        store.setValue("ui/autosave_seconds", int(self.autosave_seconds))
        store.setValue("ui/minimap", bool(self.show_minimap))
        store.sync()

    def apply(self, base: Settings) -> Settings:
        """``base`` (settings file + environment) with these preferences on top."""
        return base.with_overrides(models=self.model_dirs or None, output=self.output_dir or None,
                                   input=self.input_dir or None, device=self.device or None,
                                   precision=self.precision or None,
                                   cache_budget_mb=self.cache_budget_mb or None, cpu_threads=self.cpu_threads)

    def copy(self) -> "Preferences":
        return Preferences(**{f.name: (list(v) if isinstance(v := getattr(self, f.name), list) else v)
                              for f in fields(self)})


def load_settings(settings_file: str | None = None, prefs: Preferences | None = None) -> Settings:
    """Settings for the editor: file/environment, then the stored preferences. A broken file falls back to the
    defaults (the error is returned to the caller through ``SettingsError`` only when there is no fallback)."""
    base = Settings.load(settings_file)
    return (prefs or Preferences.load()).apply(base)


# -- recent files ---------------------------------------------------------------------------------------------------
def recent_files(store: QSettings | None = None) -> list[str]:
    store = store or qsettings()
    return [p for p in _as_list(store.value("files/recent", [])) if p][:MAX_RECENT]


def add_recent_file(path: str | Path, store: QSettings | None = None) -> list[str]:
    store = store or qsettings()
    path = str(Path(path).resolve())
    items = [path] + [p for p in recent_files(store) if p != path]
    store.setValue("files/recent", items[:MAX_RECENT])
    store.sync()
    return items[:MAX_RECENT]


def clear_recent_files(store: QSettings | None = None) -> None:
    store = store or qsettings()
    store.setValue("files/recent", [])
    store.sync()


def _as_list(value) -> list[str]:
    # INI QSettings returns a plain string for one-element lists and None/"" for empty ones
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _as_int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
