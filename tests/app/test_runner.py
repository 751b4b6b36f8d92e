"""The run queue on its worker thread, and what runs look like in the window: node states, previews, images in the
node and the gallery, cancel within one step, errors, seed controls after a run."""
from __future__ import annotations

import sys
import threading
import time

from PySide6.QtGui import QImage

from nodeflow.core.environment import Environment
from nodeflow.core.planning import plan
from nodeflow.app.runner import Runner
from nodeflow.core import events as ev
from nodeflow.core import operations as ops
from nodeflow.core.builders import GraphBuilder
from nodeflow.core.executor import Executor
from tests.app.window_kit import CALLS, CanvasSpy, editor, wait_run, window_registry  # noqa: F401


def _chain(graph, registry, *, slow_steps=None, fail=False):
    b = GraphBuilder(registry, graph)
    c = b.add("Const", value=7)
    src = c
    if slow_steps:
        s = b.add("Slow", steps=slow_steps)
        b.link(c, "INT", s, "x")
        src = s
    if fail:
        f = b.add("Fail")
        b.link(src, "INT", f, "x")
        src = f
    sink = b.add("Sink")
    b.link(src, "INT", sink, "x")
    return b


# -- the runner on its own -----------------------------------------------------------------------------------------
def test_runner_delivers_events_on_the_gui_thread_with_qimages(qtbot, settings):
    reg = window_registry()
    runner = Runner(Executor(Environment(settings, reg)))
    try:
        b = GraphBuilder(reg)
        c = b.add("Const", value=2)
        p = b.add("PreviewSteps", steps=2)
        b.link(c, "INT", p, "x")
        s = b.add("Sink")
        b.link(p, "INT", s, "x")
        b.add("MakeImage", value=9)
        seen, threads = [], set()

        def on_event(job, event):
            threads.add(threading.current_thread() is threading.main_thread())
            seen.append(event)

        runner.event.connect(on_event)
        with qtbot.waitSignal(runner.jobFinished, timeout=10000) as blocker:
            job = runner.submit(plan(b.graph.copy(), runner.executor.env))
        assert blocker.args[0] is job and job.status == "ok"
        assert threads == {True}
        assert isinstance(seen[0], ev.RunStarted) and isinstance(seen[-1], ev.RunFinished)
        previews = [e for e in seen if isinstance(e, ev.NodePreview)]
        assert len(previews) == 2 and all(isinstance(e.image, QImage) and e.image.width() == 8 for e in previews)
        finished = [e for e in seen if isinstance(e, ev.NodeFinished) and e.ui.get("images")]
        image = finished[0].ui["images"][0]
        assert isinstance(image, QImage) and (image.width(), image.height()) == (16, 16)
        assert image.pixelColor(0, 0).red() == 9
        assert not runner.busy
    finally:
        runner.shutdown()


def test_runner_queues_runs_in_order_and_cancel_drops_the_queue(qtbot, settings):
    reg = window_registry()
    runner = Runner(Executor(Environment(settings, reg)))
    try:
        b = GraphBuilder(reg)
        _chain(b.graph, reg, slow_steps=400)
        first = runner.submit(plan(b.graph.copy(), runner.executor.env))
        second = runner.submit(plan(b.graph.copy(), runner.executor.env))
        assert runner.busy and len(runner.queued) == 2
        qtbot.waitUntil(lambda: first.status == "running", timeout=5000)
        runner.cancel()
        qtbot.waitUntil(lambda: first.done and second.done, timeout=5000)
        assert first.status == "cancelled" and second.status == "cancelled"
        assert second.report is None  # dropped before it started
        quick = GraphBuilder(reg)
        _chain(quick.graph, reg)
        third = runner.submit(plan(quick.graph.copy(), runner.executor.env))
        qtbot.waitUntil(lambda: third.done, timeout=10000)
        assert third.status == "ok"  # a cancel does not stick to later runs
    finally:
        runner.shutdown()


# -- runs in the window --------------------------------------------------------------------------------------------
def test_run_shows_states_images_and_gallery_then_cached(qtbot, editor):
    b = GraphBuilder(editor.registry, editor.graph)
    c = b.add("Const", value=4)
    sink = b.add("Sink")
    b.link(c, "INT", sink, "x")
    img = b.add("MakeImage", value=200)
    spy = CanvasSpy(editor.view.canvas)
    job = editor.window.run_current()
    assert spy.kinds(c)[0] == "pending" and spy.kinds(img)[0] == "pending"  # marked before anything runs
    wait_run(qtbot, editor, job)
    assert job.status == "ok"
    assert "running" in spy.kinds(c) and spy.kinds(c)[-1] == "done"
    assert spy.states(c)[-1].reason == "first run"
    assert spy.kinds(img)[-1] == "done" and spy.states(img)[-1].seconds is not None
    node_images = [args for args in spy.calls["set_node_images"] if args[0] == img]
    assert node_images and isinstance(node_images[-1][1][0], QImage)
    gallery = editor.window.gallery
    assert len(gallery.entries) == 1 and gallery.list.count() == 1
    entry = gallery.entries[0]
    assert entry.info == {"value": 200} and entry.node_title == "MakeImage"
    assert "value: 200" in entry.describe()
    assert any("run ok" in m for m in editor.window.log.messages("info"))

    job2 = editor.window.run_current()
    wait_run(qtbot, editor, job2)
    assert spy.kinds(c)[-1] == "cached" and spy.kinds(img)[-1] == "cached"
    assert "reused" in spy.states(img)[-1].reason
    assert len(gallery.entries) == 1  # a reused result is not a new picture...
    assert len([a for a in spy.calls["set_node_images"] if a[0] == img]) == 2  # ...but the node shows it again

    editor.window.open_image(entry.image, entry.node_title, entry.describe())
    qtbot.waitUntil(lambda: editor.window.viewer.isVisible())
    assert editor.window.viewer.image.size() == entry.image.size()


def test_gallery_click_opens_the_viewer(qtbot, editor):
    b = GraphBuilder(editor.registry, editor.graph)
    b.add("MakeImage", value=50, size=64)
    wait_run(qtbot, editor, editor.window.run_current())
    gallery = editor.window.gallery
    item = gallery.list.item(0)
    rect = gallery.list.visualItemRect(item)
    from PySide6.QtCore import Qt

    qtbot.mouseClick(gallery.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: editor.window.viewer is not None and editor.window.viewer.isVisible())
    assert editor.window.viewer.image.width() == 64
    assert "value: 50" in editor.window.viewer.info.toPlainText()


def test_previews_and_progress_reach_node_and_run_bar(qtbot, editor):
    b = GraphBuilder(editor.registry, editor.graph)
    c = b.add("Const")
    p = b.add("PreviewSteps", steps=3)
    s = b.add("Sink")
    b.link(c, "INT", p, "x")
    b.link(p, "INT", s, "x")
    spy = CanvasSpy(editor.view.canvas)
    texts = []
    editor.window.run_bar.progress.valueChanged.connect(lambda _v: texts.append(editor.window.run_bar.text))
    wait_run(qtbot, editor, editor.window.run_current())
    previews = [img for nid, img in spy.calls["set_node_preview"] if nid == p and img is not None]
    assert len(previews) == 3 and isinstance(previews[0], QImage)
    running = [s for s in spy.states(p) if s is not None and s.kind == "running" and s.progress]
    assert [s.progress for s in running] == [(1, 3), (2, 3), (3, 3)]
    assert running[-1].text == "step 3/3"
    assert any("PreviewSteps — step 2/3" in t for t in texts)
    assert editor.window.run_bar.text == "Done"


def test_cancel_stops_a_slow_node_within_one_step(qtbot, editor):
    CALLS.clear()
    b = _chain(editor.graph, editor.registry, slow_steps=1000)
    slow = next(n.id for n in editor.graph.nodes.values() if n.type == "Slow")
    spy = CanvasSpy(editor.view.canvas)
    job = editor.window.run_current()
    qtbot.waitUntil(lambda: CALLS["Slow.step"] >= 3, timeout=5000)
    assert editor.window.act.cancel.isEnabled()
    editor.window.act.cancel.trigger()
    steps_at_cancel = CALLS["Slow.step"]
    t0 = time.perf_counter()
    wait_run(qtbot, editor, job)
    assert job.status == "cancelled"
    assert CALLS["Slow.step"] - steps_at_cancel <= 1
    assert time.perf_counter() - t0 < 1.0
    assert CALLS["Slow.step"] < 1000
    assert spy.kinds(slow)[-1] is None  # the interrupted node's mark is cleared
    assert any("cancelled" in m for m in editor.window.log.messages("warning"))
    assert not editor.window.act.cancel.isEnabled()
    assert b is not None


def test_node_error_is_shown_on_the_node_and_in_the_log(qtbot, editor):
    _chain(editor.graph, editor.registry, fail=True)
    fail = next(n.id for n in editor.graph.nodes.values() if n.type == "Fail")
    sink = next(n.id for n in editor.graph.nodes.values() if n.type == "Sink")
    spy = CanvasSpy(editor.view.canvas)
    job = wait_run(qtbot, editor, editor.window.run_current())
    assert job.status == "error"
    state = spy.states(fail)[-1]
    assert state.kind == "error" and state.message == "the flag says fail" and "flag" in state.reason
    errors = [e for e in editor.window.log.entries if e.level == "error"]
    failure = next(e for e in errors if e.node_id == fail)
    assert f"Fail ({fail}) failed (field flag): the flag says fail" in failure.message
    assert "Traceback" in failure.details and "NodeError" in failure.details
    assert "x: 7" in failure.details  # the inputs it received
    assert spy.kinds(sink)[-1] is None  # skipped: not run
    assert editor.window.docks["log"].windowTitle().startswith("Log (")
    # the editor keeps working: fix the value and run again
    editor.graph.apply(ops.SetValue(fail, "flag", False))
    job2 = wait_run(qtbot, editor, editor.window.run_current())
    assert job2.status == "ok" and spy.kinds(fail)[-1] == "done"


def test_validation_problems_show_before_anything_runs(qtbot, editor):
    CALLS.clear()
    b = GraphBuilder(editor.registry, editor.graph)
    sink = b.add("Sink")  # its input is not connected
    b.add("MakeImage")
    spy = CanvasSpy(editor.view.canvas)
    job = editor.window.run_current()
    problems = spy.calls["set_problems"][0][0]
    assert [(p.kind, p.node_id) for p in problems] == [("missing_input", sink)]
    assert any("not connected" in m for m in editor.window.log.messages("error"))
    wait_run(qtbot, editor, job)
    assert CALLS["Sink"] == 0 and CALLS["MakeImage"] == 1  # the valid branch still ran


def test_seed_control_applies_after_run_through_undo(qtbot, editor):
    b = GraphBuilder(editor.registry, editor.graph)
    seed = b.add("TestSeed", seed=41)
    sink = b.add("Sink")
    b.link(seed, "seed", sink, "x")
    editor.graph.apply(ops.SetNodeField(seed, "controls", {"seed": "increment"}))
    assert not editor.doc.dirty
    wait_run(qtbot, editor, editor.window.run_current())
    assert editor.graph.nodes[seed].values["seed"] == 42
    assert editor.doc.dirty and editor.doc.undo_stack.count() == 1
    editor.doc.undo_stack.undo()
    assert editor.graph.nodes[seed].values["seed"] == 41


def test_run_to_selected_runs_only_that_branch(qtbot, editor):
    CALLS.clear()
    b = GraphBuilder(editor.registry, editor.graph)
    c = b.add("Const")
    s = b.add("Sink")
    b.link(c, "INT", s, "x")
    b.add("MakeImage")
    editor.view.canvas.select_nodes([c])
    job = wait_run(qtbot, editor, editor.window.run_selected())
    assert job.plan.targets == [c] and job.status == "ok"
    assert CALLS["Const"] == 1 and CALLS["Sink"] == 0 and CALLS["MakeImage"] == 0


def test_free_memory_empties_the_shared_cache(qtbot, editor):
    b = GraphBuilder(editor.registry, editor.graph)
    b.add("MakeImage")
    wait_run(qtbot, editor, editor.window.run_current())
    cache = editor.runner.executor.cache
    assert len(cache._entries) > 0
    editor.window.act.free.trigger()
    assert len(cache._entries) == 0
    assert any(m.startswith("Freed") for m in editor.window.log.messages("info"))


def test_runs_of_two_tabs_share_the_cache(qtbot, editor):
    b = GraphBuilder(editor.registry, editor.graph)
    b.add("MakeImage", value=11)
    wait_run(qtbot, editor, editor.window.run_current())
    first = editor.view
    second = editor.window.file_actions.new()
    GraphBuilder(editor.registry, second.document.graph).add("MakeImage", value=11)
    spy = CanvasSpy(second.canvas)
    wait_run(qtbot, editor, editor.window.run_current())
    assert spy.kinds(1)[-1] == "cached"
    assert first.canvas is not second.canvas


def test_canvas_image_click_and_run_to_here(qtbot, editor):
    CALLS.clear()
    b = GraphBuilder(editor.registry, editor.graph)
    img = b.add("MakeImage", value=77, size=24)
    c = b.add("Const")
    s = b.add("Sink")
    b.link(c, "INT", s, "x")
    wait_run(qtbot, editor, editor.window.run_current())
    editor.view.canvas.imageClicked.emit(img, 0)  # a thumbnail in the node was clicked
    viewer = editor.window.viewer
    assert viewer is not None and viewer.isVisible() and viewer.image.width() == 24
    assert "value: 77" in viewer.info.toPlainText()
    editor.view.canvas.runToRequested.emit(c)  # "Run to here" from the node's menu
    qtbot.waitUntil(lambda: not editor.runner.busy)
    assert CALLS["Const"] == 1  # cached from the first run: nothing ran again
    assert CALLS["Sink"] == 1


def test_the_gui_stays_responsive_while_a_node_computes(qtbot, editor):
    from PySide6.QtCore import QTimer

    b = GraphBuilder(editor.registry, editor.graph)
    c = b.add("Const")
    busy = b.add("Busy", ms=800)
    s = b.add("Sink")
    b.link(c, "INT", busy, "x")
    b.link(busy, "INT", s, "x")
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    ticks.append(time.perf_counter())
    job = editor.window.run_current()
    timer.start()
    wait_run(qtbot, editor, job)
    timer.stop()
    ticks.append(time.perf_counter())
    assert job.status == "ok"
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) >= 5 and max(gaps) < 0.4, f"{len(ticks)} ticks; the event loop stalled for {max(gaps):.3f} s"


def test_a_flood_of_progress_reports_is_thinned_to_what_the_screen_can_show(qtbot, editor):
    b = GraphBuilder(editor.registry, editor.graph)
    c = b.add("Const")
    busy = b.add("Busy", ms=300)  # reports progress after every millisecond of work
    b.link(c, "INT", busy, "x")
    b.link(busy, "INT", b.add("Sink"), "x")
    seen = []
    editor.runner.event.connect(lambda job, e: seen.append(e) if isinstance(e, ev.NodeProgress) else None)
    assert wait_run(qtbot, editor, editor.window.run_current()).status == "ok"
    assert 2 <= len(seen) <= 0.3 * 30 + 3, len(seen)  # about 30 a second, plus the first and the last
    assert seen[-1].value == seen[-1].total


def test_an_executor_failure_is_reported_not_fatal(qtbot, editor, monkeypatch):
    def broken_run(*args, **kwargs):
        raise RuntimeError("engine bug")

    GraphBuilder(editor.registry, editor.graph).add("MakeImage")
    monkeypatch.setattr(editor.runner.executor, "execute", broken_run)
    job = wait_run(qtbot, editor, editor.window.run_current())
    assert job.status == "crashed" and "engine bug" in job.crash
    entry = editor.window.log.entries[-1]
    assert entry.level == "error" and "stopped unexpectedly" in entry.message and "RuntimeError" in entry.details
    assert editor.window.run_bar.text == "Run failed"
    monkeypatch.undo()
    assert wait_run(qtbot, editor, editor.window.run_current()).status == "ok"  # the worker is still there


def test_gallery_keeps_a_bounded_number_of_images(qtbot, editor, monkeypatch):
    from nodeflow.app.panels import gallery as gallery_module

    monkeypatch.setattr(gallery_module, "MAX_ENTRIES", 3)
    panel = editor.window.gallery
    for i in range(5):
        panel.add(gallery_module.GalleryEntry(QImage(4, 4, QImage.Format.Format_RGB888), f"n{i}", {"seed": i}))
    assert [e.node_title for e in panel.entries] == ["n4", "n3", "n2"] and panel.list.count() == 3


def test_ctrl_enter_or_ctrl_s_while_typing_a_value_uses_the_typed_value(qtbot, editor, driver, tmp_path):
    """The window's shortcuts reach past an open inline editor: its text is applied before the run or the save."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtWidgets import QLineEdit

    from nodeflow.formats import workflow

    w = editor.window
    nid = w.add_node("MakeImage")
    canvas = editor.view.canvas
    node = canvas.graph_scene.nodes[nid]

    def type_value(text):
        row = node.layout.widget("value")
        driver.click(canvas, node.pos() + QPointF(row.x + row.w / 2, row.center_y))
        edit = canvas.editors.widget
        assert isinstance(edit, QLineEdit)
        edit.setText(text)
        return edit

    CALLS.clear()
    with qtbot.waitSignal(editor.runner.jobFinished, timeout=10000) as blocker:
        qtbot.keyClick(type_value("77"), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert blocker.args[0].graph.nodes[nid].values["value"] == 77 and CALLS["MakeImage"] == 1
    assert editor.graph.nodes[nid].values["value"] == 77 and not canvas.editors.active
    editor.doc.path = tmp_path / "typed.json"  # saved before: Ctrl+S writes without asking
    qtbot.keyClick(type_value("88"), Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    graph, _ = workflow.load(tmp_path / "typed.json", editor.registry)
    assert graph.nodes[nid].values["value"] == 88 and not editor.doc.dirty


def test_warm_up_imports_the_packs_lazy_modules_on_the_worker_thread(qtbot, settings, tmp_path, monkeypatch):
    (tmp_path / "nf_warm_probe.py").write_text(
        "import threading\nTHREAD = threading.current_thread() is threading.main_thread()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    runner = Runner(Executor(Environment(settings, window_registry())))
    try:
        with qtbot.waitSignal(runner.warmedUp, timeout=10000) as blocker:
            runner.warm_up(["nf_warm_probe", "nf_no_such_module"])  # a broken name is skipped, not fatal
        assert blocker.args == [["nf_warm_probe", "nf_no_such_module"]]
        import nf_warm_probe

        assert nf_warm_probe.THREAD is False  # imported by the worker, not the GUI thread
    finally:
        runner.shutdown()
        sys.modules.pop("nf_warm_probe", None)


def test_the_diffusion_pack_names_its_heavy_imports_for_the_warm_up():
    import importlib.util

    from nodeflow.core.registry import load_registry

    reg = load_registry(entry_points=False)
    assert "nodes.diffusion.warm_up" in reg.warm_up
    assert all(importlib.util.find_spec(name) is not None for name in reg.warm_up)
