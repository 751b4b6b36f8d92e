"""Symbolic links the user placed in the configured folders (issue 10, item 9) are followed, as ComfyUI does:
what a folder lists, resolving finds; names from workflows keep every check; loops and dangling links are
harmless."""
from __future__ import annotations

import os

import pytest

from nodeflow.config import Folders

pytestmark = pytest.mark.skipif(os.name != "posix", reason="symbolic links need privileges on Windows")


@pytest.fixture
def folders(tmp_path):
    root = tmp_path / "models"
    (root / "checkpoints").mkdir(parents=True)
    (tmp_path / "input").mkdir()
    other_disk = tmp_path / "elsewhere"
    (other_disk / "sdxl").mkdir(parents=True)
    (other_disk / "big.safetensors").write_bytes(b"x")
    (other_disk / "sdxl" / "base.safetensors").write_bytes(b"x")
    (other_disk / "pic.png").write_bytes(b"x")
    (root / "checkpoints" / "linked.safetensors").symlink_to(other_disk / "big.safetensors")
    (root / "checkpoints" / "shelf").symlink_to(other_disk / "sdxl")
    (root / "checkpoints" / "gone.safetensors").symlink_to(other_disk / "missing.safetensors")
    (root / "checkpoints" / "loop").symlink_to(root / "checkpoints")
    (tmp_path / "input" / "photo.png").symlink_to(other_disk / "pic.png")
    return Folders(model_roots=(root,), input_dir=tmp_path / "input", output_dir=tmp_path / "out",
                   include_builtin=False)


def test_linked_files_and_folders_are_listed_and_resolved(folders, tmp_path):
    listed = folders.list_files("checkpoints")
    assert sorted(listed) == ["linked.safetensors", "shelf/base.safetensors"]  # no dangling link, loop once
    for name in listed:  # listing and resolving agree
        assert folders.resolve("checkpoints", name) is not None
    assert folders.resolve("checkpoints", "linked.safetensors") == (tmp_path / "elsewhere/big.safetensors")
    assert folders.resolve("input", "photo.png") == tmp_path / "elsewhere/pic.png"
    assert folders.resolve("checkpoints", "gone.safetensors") is None


@pytest.mark.parametrize("name", ["../elsewhere/big.safetensors", "shelf/../../../elsewhere/big.safetensors",
                                  "/etc/passwd", "C:/x.safetensors", "shelf/..", "."])
def test_names_from_workflows_keep_their_checks(folders, tmp_path, name):
    assert folders.resolve("checkpoints", name) is None


def test_validation_accepts_a_linked_model(folders, tmp_path, capsys, monkeypatch):
    import json

    from nodeflow.cli.main import main

    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps({"format": "nodeflow.workflow", "version": 1, "links": [], "nodes": [
        {"id": 1, "type": "CheckpointLoaderSimple", "values": {"ckpt_name": "shelf/base.safetensors"}},
        {"id": 2, "type": "LoadImage", "values": {"image": "photo.png"}}]}))
    assert main(["validate", str(wf), "--models", str(tmp_path / "models"), "--input", str(tmp_path / "input")]) == 0
    assert "ok (2 nodes" in capsys.readouterr().out
