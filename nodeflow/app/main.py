"""Starting the editor: ``nodeflow`` / ``nodeflow gui [FILE] [--screenshot OUT.png [--run]]``.

Start-up stays light: no torch before the window shows (node packs are declarations only); 1.5 s later the worker
thread imports what the packs name in ``WARM_UP`` (torch, diffusers), so the first Run does not wait ~7 s for them.
``--screenshot`` renders the window offscreen when there is no display, optionally after running the workflow to
completion, writes the PNG and exits 0 (used for the README pictures).
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Editor:
    app: object
    window: object
    runner: object


def _has_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def create_editor(file: str | None = None, settings_file: str | None = None, *, interactive: bool = True,
                  autosave: bool = True, registry=None) -> Editor:
    """The application, its one Runner (one Executor: the cache is shared by all tabs) and the window, with
    ``file`` open, or the default workflow (``workflows/default.json``), or an empty graph."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "nodeflow"])
    app.setApplicationName("NodeFlow")
    app.setOrganizationName("NodeFlow")

    from nodeflow.app import preferences
    from nodeflow.app.main_window import MainWindow
    from nodeflow.app.runner import Runner
    from nodeflow.config import Settings, SettingsError
    from nodeflow.core.device import set_reserve_gui_core
    from nodeflow.core.environment import Environment
    from nodeflow.core.executor import Executor
    from nodeflow.paths import WORKFLOWS_DIR

    # automatic torch thread counts leave a core to the GUI thread on small machines, so the canvas stays fluid
    set_reserve_gui_core(True)
    prefs = preferences.Preferences.load()
    settings_error = None
    try:
        settings = preferences.load_settings(settings_file, prefs)
    except SettingsError as e:  # a broken settings file or preference: start with the defaults and say so
        settings_error = str(e)
        settings = Settings.load(os.devnull)
    env = Environment(settings, registry) if registry is not None else Environment.create(settings)
    runner = Runner(Executor(env))
    app.aboutToQuit.connect(runner.shutdown)
    window = MainWindow(env, runner, prefs, settings_file=settings_file, autosave=autosave)
    window.file_actions.interactive = interactive
    if settings_error:
        window.log.error(f"Settings: {settings_error} (using defaults)")
    for warning in settings.warnings:  # a wrongly typed setting: its default is used
        window.log.error(f"Settings: {warning}")
    opened = window.file_actions.open_path(file) if file else None
    if opened is None and not file and interactive and autosave:
        from nodeflow.app.session import restore_session

        opened = restore_session(window) or None  # the last session's tabs, before the default workflow
    if opened is None:
        default = WORKFLOWS_DIR / "default.json"
        if not file and default.is_file():
            opened = window.file_actions.new_from_template(default)
        if opened is None:
            window.file_actions.new()
    return Editor(app, window, runner)


def run_app(args) -> int:
    screenshot = getattr(args, "screenshot", None)
    if not _has_display() and not os.environ.get("QT_QPA_PLATFORM"):
        if not screenshot:  # Qt would abort with a message about xcb plugins: say what to do instead
            print("nodeflow: no display to open the editor on (DISPLAY is not set).\n"
                  "  Run a workflow headless with `nodeflow run FILE`, or render the editor with "
                  "`nodeflow gui FILE --screenshot OUT.png [--run]`.", file=sys.stderr)
            return 1
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    editor = create_editor(getattr(args, "file", None), getattr(args, "settings", None),
                           interactive=not screenshot, autosave=not screenshot)
    window = editor.window
    if screenshot:
        from nodeflow.app.screenshot import take_screenshot

        state = getattr(args, "screenshot_state", None)
        ok = take_screenshot(editor, Path(screenshot), run=bool(getattr(args, "run", False)) or state == "error",
                             state=state)
        editor.runner.shutdown()
        return 0 if ok else 1
    _report_unexpected_errors(window)
    window.show()
    from PySide6.QtCore import QTimer

    QTimer.singleShot(0, window.file_actions.offer_recovery)
    # Once the window has painted, import torch & co. in the background so the first Run starts at once.
    started = []
    editor.runner.warmedUp.connect(lambda modules: window.log.info(
        f"Ready to run: node packs' libraries imported in the background in {time.monotonic() - started[0]:.1f} s",
        "\n".join(modules)))

    def warm_up():
        started.append(time.monotonic())
        editor.runner.warm_up(window.registry.warm_up)

    QTimer.singleShot(1500, warm_up)
    return editor.app.exec()


def _report_unexpected_errors(window) -> None:
    """A bug in a slot must not go unnoticed on a console nobody reads: it goes to the log panel as well."""
    import traceback

    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        try:
            window.log.error(f"Unexpected error: {kind.__name__}: {value}",
                             "".join(traceback.format_exception(kind, value, tb)))
        except Exception:  # the window may be gone at shutdown
            pass

    sys.excepthook = hook
