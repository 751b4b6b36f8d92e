"""The status bar's memory figure counts loaded models, and names the device runs use (not "auto")."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")  # imported here, not inside the first run (slow on a loaded machine)

from nodeflow.core.builders import GraphBuilder
from nodeflow.core.nodedef import INT, Input, node
from tests.app.window_kit import build_editor, close_editor, wait_run, window_registry


@node("LoadFakeModel", category="test", output_node=True, inputs=[Input("units", INT, default=512, min=1, max=4096)])
def load_fake_model(ctx, units):
    """Loads a torch module of units x units float32 weights through the shared model cache."""
    import torch

    ctx.models.get(("fake", units), lambda: torch.nn.Linear(units, units))


@pytest.fixture
def model_editor(qtbot, settings):
    reg = window_registry()
    assert reg.add(load_fake_model, "statustests"), reg.errors
    ed = build_editor(settings, reg, autosave=False)
    ed.window.show()
    qtbot.waitExposed(ed.window)
    yield ed
    close_editor(ed)


def test_cache_figure_counts_loaded_models_and_shows_the_real_device(qtbot, model_editor):
    ed = model_editor
    GraphBuilder(ed.registry, ed.graph).add("LoadFakeModel", units=1024)
    wait_run(qtbot, ed, ed.window.run_current(), timeout=60000)
    text = ed.window.cache_label.text()
    assert "+ 1 model 4 MB" in text, text  # 1024 x 1024 float32 weights (+ 4 KB bias)
    assert "device cpu" in text and "auto" not in text
    ed.window.free_memory()
    assert "model" not in ed.window.cache_label.text()
