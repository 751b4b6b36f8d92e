"""The first Run of a session: while the worker imports the packs' libraries (torch ... 5-20 s on few cores) the
run bar says so with progress, the Run button is marked waiting and the nodes say what they wait for."""
from __future__ import annotations

import sys

from nodeflow.core.builders import GraphBuilder
from tests.app.window_kit import CanvasSpy, editor, wait_run  # noqa: F401


def test_the_first_run_shows_the_libraries_loading_then_runs(qtbot, editor, tmp_path, monkeypatch):
    (tmp_path / "nf_slow_lib_a.py").write_text("import time\ntime.sleep(0.4)\n")
    (tmp_path / "nf_slow_lib_b.py").write_text("import time\ntime.sleep(0.4)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(editor.registry, "warm_up", ["nf_slow_lib_a", "nf_slow_lib_b"])
    try:
        b = GraphBuilder(editor.registry, editor.graph)
        img = b.add("MakeImage", value=20)
        spy = CanvasSpy(editor.view.canvas)
        bar = editor.window.run_bar
        run_text = editor.window.act.run.text()
        job = editor.window.run_current()  # Run before any background import began
        assert editor.runner.warm_state == "loading"
        assert "Run waiting: loading libraries (first run only)" in bar.text
        assert "nf_slow_lib_a (1/2)" in bar.text
        assert "waiting for libraries" in editor.window.act.run.text()
        assert spy.states(img)[-1].badge() == "waiting for libraries"
        qtbot.waitUntil(lambda: "nf_slow_lib_b (2/2)" in bar.text, timeout=5000)
        assert bar.progress.value() == 1 and bar.progress.maximum() == 2
        wait_run(qtbot, editor, job)
        assert job.status == "ok" and editor.runner.warm_state == "ready"
        assert editor.window.act.run.text() == run_text
        assert bar.text == "Done"
        # the second run does not load anything again
        job2 = editor.window.run_current()
        assert "libraries" not in bar.text and spy.states(img)[-1].badge() == "queued"
        wait_run(qtbot, editor, job2)
    finally:
        for name in ("nf_slow_lib_a", "nf_slow_lib_b"):
            sys.modules.pop(name, None)


def test_a_warm_up_without_a_queued_run_says_loading_and_ends_ready(qtbot, editor, tmp_path, monkeypatch):
    (tmp_path / "nf_slow_lib_c.py").write_text("import time\ntime.sleep(0.3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        bar = editor.window.run_bar
        editor.runner.warm_up(["nf_slow_lib_c"])
        qtbot.waitUntil(lambda: "Loading libraries (first run only)" in bar.text, timeout=3000)
        assert "waiting" not in editor.window.act.run.text()
        qtbot.waitUntil(lambda: editor.runner.warm_state == "ready", timeout=5000)
        qtbot.wait(20)
        assert bar.text == "Ready"
    finally:
        sys.modules.pop("nf_slow_lib_c", None)


def test_the_editor_keeps_a_core_for_its_gui_and_the_thread_setting_says_so(qtbot, settings, monkeypatch):
    from nodeflow.app.main import create_editor
    from nodeflow.app.preferences import Preferences
    from nodeflow.app.settings_dialog import SettingsDialog
    from nodeflow.core import device
    from tests.app.window_kit import window_registry

    monkeypatch.setattr(device, "_reserve_gui_core", False)
    ed = create_editor(interactive=False, autosave=False, registry=window_registry())
    try:
        assert device._reserve_gui_core is True
        tip = SettingsDialog(Preferences(), ed.window.settings, ed.window).cpu_threads.toolTip()
        assert "physical core" in tip and "half" not in tip and str(device.FEW_CORES) in tip
    finally:
        ed.window.close()
        ed.runner.shutdown()
