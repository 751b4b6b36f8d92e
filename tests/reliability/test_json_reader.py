"""The one JSON reader (issue 10, items 3 and 6): every source of workflow JSON (NodeFlow files, both ComfyUI
formats, PNG chunks) is size- and depth-limited and refuses invalid Unicode at load, naming the file, the node
and the field; convert and run exit 2 without a traceback and write nothing."""
from __future__ import annotations

import json

import pytest

from nodeflow.cli.main import main
from tests.comfyui.build import find, txt2img
from tests.comfyui.test_hostile import png_with

SURROGATE = "a \ud800 b"


def nodeflow_file(title="Text", value="x") -> dict:
    return {"format": "nodeflow.workflow", "version": 1,
            "nodes": [{"id": 7, "type": "PrimitiveString", "title": title, "values": {"value": value}}], "links": []}


def ui_file() -> dict:
    wf = txt2img()
    find(wf, 6)["widgets_values"] = [SURROGATE]
    return wf


def api_file() -> dict:
    return {"9": {"class_type": "CLIPTextEncode", "inputs": {"text": SURROGATE, "clip": ["4", 1]}}}


def deep(levels: int):
    x: list = []
    for _ in range(levels):
        x = [x]
    return x


def as_text(data) -> str:
    return json.dumps(data)  # ensure_ascii: the lone surrogate is written as the escape "\ud800"


CASES = {
    "nodeflow title": (nodeflow_file(title=SURROGATE), "nodes[0] (node 7).title: the text holds U+D800"),
    "nodeflow value": (nodeflow_file(value=SURROGATE), "nodes[0] (node 7).values.value: the text holds U+D800"),
    "nodeflow key": (nodeflow_file(value={SURROGATE: 1}), "nodes[0] (node 7).values.value: a key is unusable"),
    "ui widget value": (ui_file(), "nodes[2] (node 6).widgets_values[0]: the text holds U+D800"),
    "api input": (api_file(), 'node 9 (CLIPTextEncode).inputs.text: the text holds U+D800'),
    "nodeflow deep": (nodeflow_file(value=deep(500)), "nodes[0] (node 7).values.value[0][0][0]"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("container", ["json", "png"])
@pytest.mark.parametrize("command", ["convert", "run", "validate"])
def test_refused_at_load_naming_file_node_and_field(tmp_path, capsys, case, container, command):
    data, message = CASES[case]
    src = tmp_path / f"in.{container}"
    if container == "json":
        src.write_text(as_text(data))
    else:
        key = b"nodeflow" if "format" in data else (b"workflow" if "nodes" in data else b"prompt")
        src.write_bytes(png_with([(key, as_text(data).encode())]))
    dst = tmp_path / "out.json"
    argv = {"convert": ["convert", str(src), "-o", str(dst)], "run": ["run", str(src), "--out", str(tmp_path)],
            "validate": ["validate", str(src)]}[command]
    assert main(argv) == 2
    out = capsys.readouterr()
    err = out.out + out.err  # validate reports on stdout
    assert str(src) in err and message in err, err
    assert "Traceback" not in err and not dst.exists()
    if case.endswith("deep"):
        assert "nested more than 200 levels deep" in err


def test_deep_nesting_in_a_png_chunk_is_refused_like_the_same_json(tmp_path, capsys):
    text = as_text(nodeflow_file(value=deep(900)))
    (tmp_path / "a.json").write_text(text)
    (tmp_path / "a.png").write_bytes(png_with([(b"nodeflow", text.encode())]))
    messages = []
    for name in ("a.json", "a.png"):
        assert main(["convert", str(tmp_path / name), "-o", str(tmp_path / "o.json")]) == 2
        messages.append(capsys.readouterr().err.replace(name, "X").replace("embedded workflow.", ""))
    assert messages[0] == messages[1] and "nested more than 200 levels deep" in messages[0]
