"""Opening a ComfyUI file that names model files we lack shows the missing-models dialog: the file, where it was
looked for, the link the file carries, and "Use instead" rewriting the value in one undo step; focus then returns
to the canvas."""
from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from tests.app.test_import_layout import diffusion_editor  # noqa: F401

URL = "https://huggingface.co/example/sd15/resolve/main/v1-5-pruned-emaonly.safetensors"


def comfy_workflow(ckpt="v1-5-pruned-emaonly.safetensors"):
    return {"last_node_id": 2, "last_link_id": 0, "version": 0.4, "links": [], "groups": [],
            "nodes": [{"id": 1, "type": "CheckpointLoaderSimple", "pos": [0, 0], "size": [315, 98], "mode": 0,
                       "order": 0, "inputs": [], "outputs": [{"name": "MODEL", "type": "MODEL", "links": None},
                                                            {"name": "CLIP", "type": "CLIP", "links": None},
                                                            {"name": "VAE", "type": "VAE", "links": None}],
                       "properties": {"models": [{"name": ckpt, "url": URL, "directory": "checkpoints"}]},
                       "widgets_values": [ckpt]}]}


def test_missing_models_dialog_lists_the_file_the_folders_and_the_link_and_replaces_it(qtbot, diffusion_editor,
                                                                                       tmp_path, settings):
    ed = diffusion_editor
    (settings.folders.roots("checkpoints")[0] / "mine.safetensors").write_bytes(b"0")
    path = tmp_path / "needs_sd15.json"
    path.write_text(json.dumps(comfy_workflow()))
    view = ed.window.file_actions.import_path(path)
    qtbot.waitUntil(lambda: ed.window.missing_models_dialog is not None
                    and ed.window.missing_models_dialog.isVisible(), timeout=3000)
    dialog = ed.window.missing_models_dialog
    row = dialog.rows[0]
    assert "v1-5-pruned-emaonly.safetensors" in row["name"].text()
    assert str(settings.folders.roots("checkpoints")[0]) in row["where"].text()
    qtbot.mouseClick(row["copy"][0], Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == URL
    assert row["choice"].currentText() == "mine.safetensors"
    qtbot.mouseClick(row["use"], Qt.MouseButton.LeftButton)
    node = view.document.graph.nodes[1]
    assert node.values["ckpt_name"] == "mine.safetensors"
    assert view.document.undo_stack.count() == 1  # one undo step
    view.document.undo_stack.undo()
    assert view.document.graph.nodes[1].values["ckpt_name"] == "v1-5-pruned-emaonly.safetensors"
    dialog.close()
    qtbot.waitUntil(lambda: view.canvas.hasFocus(), timeout=2000)  # keys go to the canvas again


def test_a_file_with_all_its_models_opens_without_the_dialog(qtbot, diffusion_editor, tmp_path, settings):
    ed = diffusion_editor
    (settings.folders.roots("checkpoints")[0] / "have.safetensors").write_bytes(b"0")
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(comfy_workflow("have.safetensors")))
    ed.window.file_actions.import_path(path)
    qtbot.wait(50)
    assert ed.window.missing_models_dialog is None
