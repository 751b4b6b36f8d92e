"""Issue 11 item 13, checked by hand under a real X display and window manager with real X key events (xdotool):
after Settings, File > Open cancelled and the missing-models dialog (closed by Escape and by the WM's Alt+F4), do keys
reach the canvas again?  Run: Xvfb :97 & DISPLAY=:97 openbox & DISPLAY=:97 python docs/focus_check_x11.py"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from nodeflow.app.main import create_editor
from tests.app.test_missing_models import comfy_workflow

ed = create_editor(str(Path(__file__).resolve().parents[1] / "workflows" / "default.json"), interactive=False, autosave=False)
w, app = ed.window, ed.app
w.resize(1400, 900); w.show()
canvas = lambda: w.tabs.current_view().canvas
tmp = Path(tempfile.mkdtemp()) / "needs_sd15.json"; tmp.write_text(json.dumps(comfy_workflow()))

def x(*args):
    subprocess.run(["xdotool", *args], check=False)

def report(label):
    f = QApplication.focusWidget()
    c = canvas()
    print(f"{label}: focus={type(f).__name__ if f else None} canvas_has_focus={c.hasFocus()} "
          f"active={QApplication.activeWindow().__class__.__name__ if QApplication.activeWindow() else None} "
          f"modal={QApplication.activeModalWidget().__class__.__name__ if QApplication.activeModalWidget() else None} "
          f"zoom={c.transform().m11():.2f}", flush=True)

def click_canvas():
    c = canvas(); g = c.mapToGlobal(c.rect().center())
    x("mousemove", str(g.x() + 150), str(g.y() + 200)); x("click", "1")

def zoom_half():
    canvas().set_zoom(0.5)

def missing():
    w.file_actions.interactive = True
    w.file_actions.import_path(tmp)

steps = [
    (800, lambda: x("search", "--sync", "--name", "NodeFlow", "windowactivate") or None),
    (500, click_canvas), (500, lambda: report("after click")),
    (100, zoom_half), (100, lambda: x("key", "ctrl+0")), (400, lambda: report("baseline ctrl+0")),
    # Settings
    (100, zoom_half), (100, lambda: x("key", "ctrl+comma")), (900, lambda: report("settings open")),
    (100, lambda: x("key", "Escape")), (700, lambda: report("settings closed")),
    (100, lambda: x("key", "ctrl+0")), (400, lambda: report("settings: after ctrl+0")),
    # File > Open cancelled
    (100, zoom_half), (100, lambda: x("key", "ctrl+o")), (1500, lambda: report("open dialog")),
    (100, lambda: x("key", "Escape")), (700, lambda: report("open cancelled")),
    (100, lambda: x("key", "ctrl+0")), (400, lambda: report("open: after ctrl+0")),
    # missing-models dialog (opens on importing a ComfyUI file that names an absent checkpoint)
    (100, missing), (1200, lambda: report("missing-models open")),
    (100, lambda: x("key", "Escape")), (700, lambda: report("missing closed")),
    (100, zoom_half), (100, lambda: x("key", "ctrl+0")), (400, lambda: report("missing: after ctrl+0")),
    # closed by the window manager (openbox's Alt+F4), not by the dialog's own keys
    (100, zoom_half), (100, lambda: x("key", "ctrl+comma")), (900, lambda: report("settings open (2)")),
    (100, lambda: x("key", "alt+F4")), (700, lambda: report("settings closed by WM")),
    (100, lambda: x("key", "ctrl+0")), (400, lambda: report("settings WM: after ctrl+0")),
    (100, zoom_half), (100, lambda: x("key", "ctrl+o")), (1500, lambda: report("open dialog (2)")),
    (100, lambda: x("key", "alt+F4")), (700, lambda: report("open closed by WM")),
    (100, lambda: x("key", "ctrl+0")), (400, lambda: report("open WM: after ctrl+0")),
    (100, missing), (1200, lambda: report("missing-models open (2)")),
    (100, lambda: x("key", "alt+F4")), (700, lambda: report("missing closed by WM")),
    (100, zoom_half), (100, lambda: x("key", "ctrl+0")), (400, lambda: report("missing WM: after ctrl+0")),
    (100, lambda: (ed.runner.shutdown(), app.quit())),
]

def run(i=0):
    if i >= len(steps):
        return
    delay, fn = steps[i]
    def go():
        nxt = steps[i + 1][0] if i + 1 < len(steps) else 0
        QTimer.singleShot(nxt, lambda: run(i + 1))  # scheduled first: a modal dialog's own loop runs it
        fn()
    QTimer.singleShot(delay if i == 0 else 0, go)

run()
app.exec()
