"""A new Empty Latent Image takes the native size of the checkpoint the graph loads (read from the file's header):
the built-in model 64, SD1 512, SDXL 1024, or what the file declares."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF
from safetensors.numpy import save_file

from nodes.demo.export import SHIPPED
from nodes.diffusion.native_size import native_size

UNET = "model.diffusion_model.input_blocks.0.0.weight"


def _ckpt(path, keys, metadata=None):
    save_file({k: np.zeros((1,), np.float16) for k in keys}, str(path), metadata=metadata)
    return path


def test_native_size_from_declaration_demo_model_and_key_layout(tmp_path):
    assert native_size(SHIPPED) == (64, 64)  # the built-in shapes model
    sd1 = _ckpt(tmp_path / "sd1.safetensors", [UNET, "cond_stage_model.transformer.text_model.x"])
    sdxl = _ckpt(tmp_path / "xl.safetensors", [UNET, "conditioner.embedders.0.transformer.x",
                                               "conditioner.embedders.1.model.x"])
    sd2v = _ckpt(tmp_path / "sd2.safetensors", [UNET, "cond_stage_model.model.x"],
                 {"modelspec.prediction_type": "v"})
    declared = _ckpt(tmp_path / "d.safetensors", [UNET], {"modelspec.resolution": "640x384"})
    assert native_size(sd1) == (512, 512) and native_size(sdxl) == (1024, 1024)
    assert native_size(sd2v) == (768, 768) and native_size(declared) == (640, 384)
    (tmp_path / "broken.safetensors").write_bytes(b"\x00" * 3)
    assert native_size(tmp_path / "broken.safetensors") is None and native_size(tmp_path / "nope.ckpt") is None


def test_a_new_empty_latent_follows_the_checkpoint_in_the_graph(qtbot, settings):
    from nodeflow.core.builders import GraphBuilder
    from nodeflow.core.registry import load_registry
    from tests.app.window_kit import build_editor, close_editor

    _ckpt(settings.folders.roots("checkpoints")[0] / "xl.safetensors",
          [UNET, "conditioner.embedders.0.transformer.x", "conditioner.embedders.1.model.x"])
    ed = build_editor(settings, load_registry(entry_points=False), autosave=False)
    try:
        canvas = ed.view.canvas
        lone = canvas.actions.add_node("EmptyLatentImage", QPointF(0, 0))
        assert ed.graph.nodes[lone].values["width"] == 512  # no checkpoint in the graph: the declared default
        GraphBuilder(ed.registry, ed.graph).add("CheckpointLoaderSimple", ckpt_name="xl.safetensors")
        latent = canvas.actions.add_node("EmptyLatentImage", QPointF(0, 300))
        values = ed.graph.nodes[latent].values
        assert (values["width"], values["height"]) == (1024, 1024)
    finally:
        close_editor(ed)


def test_an_oversized_latent_is_warned_of_before_the_run(tmp_path, settings):
    from nodeflow.core.builders import GraphBuilder
    from nodeflow.core.registry import load_registry
    from nodes.diffusion.native_size import latent_warnings

    import shutil

    shutil.copy(SHIPPED, settings.folders.roots("checkpoints")[0] / "shapes.safetensors")
    reg = load_registry(entry_points=False)
    b = GraphBuilder(reg)
    b.add("CheckpointLoaderSimple", ckpt_name="shapes.safetensors")
    fine = b.add("EmptyLatentImage", width=64, height=64)
    big = b.add("EmptyLatentImage", width=512, height=512)
    absurd = b.add("EmptyLatentImage", width=16384, height=16384, batch_size=4)
    g = b.graph
    assert latent_warnings(g, g.nodes[fine], settings) == []
    (warning,) = latent_warnings(g, g.nodes[big], settings)
    assert "64x the pixels" in warning and "try 64x64" in warning
    assert any("megapixels" in w for w in latent_warnings(g, g.nodes[absurd], settings))
