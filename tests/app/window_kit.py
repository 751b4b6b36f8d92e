"""Shared pieces of the window, runner and file tests: a registry with the engine's test nodes plus an image-making
output node and a seed node, an editor fixture with the real widgets, and spies on the canvas."""
from __future__ import annotations

import pytest

from nodeflow.core.environment import Environment
from nodeflow.core.nodedef import INT, Input, Output, node
from tests.core.testpack import CALLS, make_registry


@node("MakeImage", category="test/images", output_node=True,
      inputs=[Input("value", INT, default=3, min=0, max=255), Input("size", INT, default=16, min=1, max=512)])
def make_image(ctx, value, size):
    """A tiny solid-colour picture, shown by the node (the diffusion pack's Save Image does the same)."""
    from PIL import Image

    CALLS["MakeImage"] += 1
    ctx.record(value=value)
    ctx.show(images=[Image.new("RGB", (size, size), (value, 128, 255 - value))])


@node("TestSeed", category="test", inputs=[Input("seed", INT, default=5, min=0, max=2 ** 64 - 1,
                                                   control_after_generate=True)],
      outputs=[Output("seed", INT)])
def test_seed(ctx, seed):
    ctx.record(seed=seed)
    return (seed,)


@node("PreviewSteps", category="test", inputs=[Input("x", INT, kind="socket"),
                                                Input("steps", INT, default=3, min=1, max=100)],
      outputs=[Output("INT", INT)])
def preview_steps(ctx, x, steps):
    """Reports progress and a live preview (an HxWx3 uint8 array) at each step, like a sampler."""
    import time

    import numpy as np

    for i in range(steps):
        time.sleep(0.05)  # a sampler step takes time; faster reports are thinned out by the runner
        ctx.preview(np.full((8, 8, 3), 40 * i, dtype=np.uint8))
        ctx.progress(i + 1, steps)
    return (x,)


@node("Busy", category="test", inputs=[Input("x", INT, kind="socket"), Input("ms", INT, default=400, min=1, max=10000)],
      outputs=[Output("INT", INT)])
def busy(ctx, x, ms):
    """Pure-Python work holding the GIL between progress reports (the worst case for a responsive GUI)."""
    import time

    end = time.perf_counter() + ms / 1000
    steps = 0
    while time.perf_counter() < end:
        sum(i * i for i in range(20000))
        steps += 1
        ctx.progress(steps, steps + 1)
    ctx.progress(steps, steps)
    return (x,)


WINDOW_TYPES = [make_image, test_seed, preview_steps, busy]


def window_registry():
    reg = make_registry(with_builtin=False)
    for t in WINDOW_TYPES:
        assert reg.add(t, "windowtests"), reg.errors
    return reg


class CanvasSpy:
    """Records what the window tells a canvas, without changing what the canvas does."""

    METHODS = ("set_node_state", "set_node_preview", "set_node_images", "set_problems")

    def __init__(self, canvas):
        self.calls: dict[str, list] = {m: [] for m in self.METHODS}
        for name in self.METHODS:
            original = getattr(canvas, name)

            def wrapper(*args, _name=name, _orig=original):
                self.calls[_name].append(args)
                return _orig(*args)

            setattr(canvas, name, wrapper)

    def states(self, node_id: int) -> list:
        return [s for nid, s in self.calls["set_node_state"] if nid == node_id]

    def kinds(self, node_id: int) -> list:
        return [s.kind if s is not None else None for s in self.states(node_id)]


class Editor:
    def __init__(self, window, runner, registry, settings):
        self.window, self.runner, self.registry, self.settings = window, runner, registry, settings

    @property
    def view(self):
        return self.window.tabs.current_view()

    @property
    def doc(self):
        return self.view.document

    @property
    def graph(self):
        return self.doc.graph


def build_editor(settings, registry=None, autosave: bool = True):
    from nodeflow.app.main_window import MainWindow
    from nodeflow.app.preferences import Preferences
    from nodeflow.app.runner import Runner
    from nodeflow.core.executor import Executor

    registry = registry or window_registry()
    env = Environment(settings, registry)
    runner = Runner(Executor(env))
    window = MainWindow(env, runner, Preferences(), autosave=autosave)
    window.file_actions.new()
    return Editor(window, runner, registry, settings)


def close_editor(editor: Editor) -> None:
    editor.window.file_actions.interactive = False  # no prompts at teardown
    editor.window.close()
    editor.runner.shutdown()
    editor.window.deleteLater()


@pytest.fixture
def editor(qtbot, settings):
    ed = build_editor(settings)
    ed.window.resize(1200, 800)
    ed.window.show()
    qtbot.waitExposed(ed.window)
    yield ed
    close_editor(ed)


def wait_run(qtbot, editor, job, timeout=10000):
    qtbot.waitUntil(lambda: job.done, timeout=timeout)
    qtbot.wait(10)  # let the remaining queued signals land
    return job
