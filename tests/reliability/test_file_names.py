"""File names from workflows (issue 10, item 4): '.', './', parts over 255 bytes are refused by validation with
the node and field, never a crash; filename_prefix is checked against the limits the save will meet, and a
prefix that validates saves."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from nodeflow.cli.main import main
from nodeflow.config import is_safe_name, name_problem

LONG = "a" * 300


@pytest.mark.parametrize("name, why", [(".", "the folder itself"), ("./", "the folder itself"),
                                       (LONG + ".safetensors", "312 bytes long"),
                                       (f"{LONG}/x.safetensors", "300 bytes long"),
                                       ("é" * 130 + ".png", "264 bytes long"), ("../x", "'..'"),
                                       ("/etc/passwd", "absolute"), ("C:/x", "absolute"), ("a\\b", "backslash")])
def test_names_that_no_folder_can_hold(name, why):
    assert not is_safe_name(name) and why in name_problem(name)


def one_node(tmp_path, type_, field, value, extra_nodes=(), links=()):
    nodes = [{"id": 1, "type": type_, "values": {field: value}}, *extra_nodes]
    path = tmp_path / "wf.json"
    path.write_text(json.dumps({"format": "nodeflow.workflow", "version": 1, "nodes": nodes, "links": list(links)}))
    return str(path)


@pytest.mark.parametrize("type_, field", [("CheckpointLoaderSimple", "ckpt_name"), ("LoadImage", "image"),
                                          ("LoraLoader", "lora_name"), ("VAELoader", "vae_name")])
@pytest.mark.parametrize("value", [".", "./", LONG + ".x", LONG + "/x"])
def test_validation_names_node_and_field(tmp_path, capsys, settings, type_, field, value):
    f = one_node(tmp_path, type_, field, value)
    assert main(["validate", f, "--input", str(settings.input_dir)]) == 2
    out = capsys.readouterr()
    assert f"node 1 '{type_}', {field}: file name" in out.out and "Traceback" not in out.err


def save_workflow(tmp_path, prefix):
    Image.new("RGB", (4, 4)).save(tmp_path / "input" / "pic.png")
    return one_node(tmp_path, "SaveImage", "filename_prefix", prefix,
                    [{"id": 2, "type": "LoadImage", "values": {"image": "pic.png"}}],
                    [{"id": 1, "from": [2, "IMAGE"], "to": [1, "images"]}])


@pytest.mark.parametrize("prefix, why", [(".", "the folder itself"), ("x/", "ends with '/'"),
                                         ("p" * 244, "244 bytes long"), ("d" * 256 + "/p", "256 bytes long"),
                                         ("/".join(["d" * 200] * 6) + "/p", "characters long (limit 1024)")])
def test_filename_prefix_is_checked_against_what_the_save_meets(tmp_path, capsys, settings, prefix, why):
    f = save_workflow(tmp_path, prefix)
    assert main(["run", f, "--input", str(settings.input_dir), "--out", str(settings.output_dir)]) == 2
    err = capsys.readouterr().err
    assert "node 1 'SaveImage', filename_prefix:" in err and why in err and "Traceback" not in err


def test_the_longest_prefix_that_validates_saves(tmp_path, capsys, settings):
    f = save_workflow(tmp_path, "sub/" + "p" * 243)
    assert main(["run", f, "-q", "--input", str(settings.input_dir), "--out", str(settings.output_dir)]) == 0, \
        capsys.readouterr().err
    (saved,) = (settings.output_dir / "sub").iterdir()
    assert saved.name == "p" * 243 + "_00001_.png"  # 254 bytes: 255 once the counter passes 99,999


def test_a_prefix_too_long_for_the_output_folders_path(tmp_path, capsys, settings):
    out = tmp_path.joinpath(*["o" * 250] * 16)  # ~4,100 bytes of path already
    out.mkdir(parents=True)
    f = save_workflow(tmp_path, "p" * 200)
    assert main(["run", f, "--input", str(settings.input_dir), "--out", str(out)]) == 2
    assert "filename_prefix" in capsys.readouterr().err and not list(out.iterdir())
