"""Files that are broken or made to hurt: a clear WorkflowError naming where, never a crash; `convert` exits 2
and writes nothing."""
import json
import struct
import zlib

import pytest

from nodeflow.cli.main import main
from nodeflow.formats.comfyui import WorkflowError, import_api, import_data, import_ui
from nodeflow.formats.open_any import load_graph
from tests.comfyui.build import find, node, txt2img, workflow


def broken(change):
    wf = txt2img()
    change(wf)
    return wf


CASES = {
    "nodes not a list": (broken(lambda wf: wf.update(nodes={"1": {}})), "nodes: expected a list"),
    "node not an object": (broken(lambda wf: wf["nodes"].append(7)), "nodes[7]: expected an object"),
    "id not a number": (broken(lambda wf: find(wf, 4).update(id=[4])), "nodes[0].id: expected an integer id"),
    "duplicate id": (broken(lambda wf: find(wf, 5).update(id=4)), "node id 4 is used twice"),
    "type missing": (broken(lambda wf: find(wf, 5).pop("type")), "nodes[1] (node 5).type: expected text"),
    "widgets_values text": (broken(lambda wf: find(wf, 5).update(widgets_values="512")),
                            "node 5 (EmptyLatentImage).widgets_values: expected a list"),
    "inputs not a list": (broken(lambda wf: find(wf, 3).update(inputs={"model": 1})),
                          "node 3 (KSampler).inputs: expected a list"),
    "mode text": (broken(lambda wf: find(wf, 3).update(mode="bypass")), "node 3 (KSampler).mode: expected a number"),
    "link to a missing node": (broken(lambda wf: wf["links"].append([40, 4, 0, 99, 0, "MODEL"])),
                               "node 99 does not exist"),
    "link slot out of range": (broken(lambda wf: wf["links"].append([41, 4, 7, 3, 0, "MODEL"])),
                               "has no output slot 7"),
    "link too short": (broken(lambda wf: wf["links"].append([42, 4])), "links[9]: expected [id"),
    "cycle": (workflow([node(1, "VAEDecode", inputs=[("samples", "LATENT", 2)], outputs=[("IMAGE", "IMAGE")]),
                        node(2, "VAEEncode", inputs=[("pixels", "IMAGE", 1)], outputs=[("LATENT", "LATENT")])],
                       [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 1, 0, "LATENT"]]), "cycle through node 1"),
    "10 MB prompt": (broken(lambda wf: find(wf, 6).update(widgets_values=["x" * 10_000_000])),
                     "nodes[2] (node 6).widgets_values[0]: text of 10000000 characters is too long"),
    "10 MB title": (broken(lambda wf: find(wf, 6).update(title="t" * 10_000_000)), "too long"),
    "huge number": (broken(lambda wf: find(wf, 3)["widgets_values"].__setitem__(0, 10 ** 30)),
                    "nodes[4] (node 3).widgets_values[0]: the number 1000000000"),
    "infinite number": (broken(lambda wf: find(wf, 3)["widgets_values"].__setitem__(3, float("inf"))),
                        "inf is not a finite number"),
    "position too far": (broken(lambda wf: find(wf, 3).update(pos=[1e300, 0])), "expected two finite numbers"),
    "group without bounds": (broken(lambda wf: wf["groups"].append({"title": "g"})), "groups[0].bounding"),
    "override with the wrong type": (
        broken(lambda wf: find(wf, 3)["properties"].update(nodeflow={"values": [1]})),
        "node 3 (KSampler).properties.nodeflow.values: expected an object"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_ui_files(registry, settings, case):
    data, message = CASES[case]
    with pytest.raises(WorkflowError) as e:
        import_ui(data, registry, settings)
    assert message in str(e.value)


def test_deep_nesting_and_a_forged_primitive_type(registry, settings):
    deep = txt2img()
    x = []
    for _ in range(300):
        x = [x]
    find(deep, 3)["properties"]["junk"] = x
    with pytest.raises(WorkflowError, match="nested more than 200 levels"):
        import_ui(deep, registry, settings)
    wf = txt2img()  # a primitive claiming to stand for a KSampler stays a primitive
    find(wf, 6)["inputs"].append({"name": "text", "type": "STRING", "widget": {"name": "text"}, "link": 30})
    wf["nodes"].append(node(30, "PrimitiveNode", outputs=[("STRING", "STRING")], wv=["hi"],
                            properties={"nodeflow": {"type": "KSampler"}}))
    wf["links"].append([30, 30, 0, 6, 1, "STRING"])
    g, _ = import_ui(wf, registry, settings)
    assert 30 not in g.nodes and g.nodes[6].values["text"] == "hi"


@pytest.mark.parametrize("text, message", [
    ("{", "not valid JSON"), ("[1, 2]", "not a ComfyUI workflow"), ('{"a": 1}', "not a ComfyUI workflow"),
    ('{"1": {"class_type": "X", "inputs": {"a": NaN}}}', "nan is not a finite number"),
    ('{"1": {"class_type": "X", "inputs": {"a": 1e999}}}', "inf is not a finite number"),
    ('{"1": {"class_type": "X", "inputs": {"a": ' + "9" * 5000 + "}}}", "not usable JSON"),
    ("[" * 100_000 + "]" * 100_000, "not usable JSON"),
])
def test_hostile_json_text(registry, settings, text, message):
    from nodeflow.formats.workflow import parse_json

    with pytest.raises(WorkflowError) as e:
        import_data(parse_json(text), registry, settings)
    assert message in str(e.value)


def test_hostile_api_values(registry, settings):
    with pytest.raises(WorkflowError, match="too long"):
        import_api({"1": {"class_type": "X", "inputs": {"a": "x" * 10_000_000}}}, registry, settings)
    with pytest.raises(WorkflowError, match="expected an object"):
        import_api({"1": {"class_type": "X", "inputs": {}, "_meta": "title"}}, registry, settings)


# -- PNGs -----------------------------------------------------------------------------------------------------------
def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def png_with(texts: list[tuple[bytes, bytes]]) -> bytes:
    """A 1x1 PNG with raw tEXt chunks (keyword, bytes as given: they need not be valid UTF-8)."""
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    for key, value in texts:
        out += _chunk(b"tEXt", key + b"\x00" + value)
    return out + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def test_png_whose_chunks_are_not_utf8(registry, settings, tmp_path):
    p = tmp_path / "latin.png"
    p.write_bytes(png_with([(b"workflow", b"\xff\xfe{not json \xe9")]))
    with pytest.raises(WorkflowError) as e:
        load_graph(p, registry)
    assert str(p) in str(e.value) and "not valid JSON" in str(e.value)


def test_truncated_png(registry, settings, tmp_path):
    data = png_with([(b"workflow", json.dumps(txt2img()).encode())])
    p = tmp_path / "cut.png"
    p.write_bytes(data[:200])  # inside the workflow chunk
    with pytest.raises(WorkflowError, match="truncated PNG"):
        load_graph(p, registry)


def test_a_damaged_workflow_chunk_falls_back_to_the_prompt(registry, settings, tmp_path):
    prompt = {"5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}}}
    p = tmp_path / "both.png"
    p.write_bytes(png_with([(b"workflow", b'{"nodes": 5, "links": []}'), (b"prompt", json.dumps(prompt).encode())]))
    from nodeflow.formats.open_any import load_graph_report

    g, report = load_graph_report(p, registry, settings)
    assert g.nodes[5].values == {"width": 64, "height": 64, "batch_size": 1}
    assert any("could not be used" in n and "not in ComfyUI's UI format" in n for n in report.notes)


# -- convert: exit 2, nothing written ------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["link to a missing node", "cycle", "10 MB prompt", "huge number"])
def test_convert_refuses_hostile_files_and_writes_nothing(tmp_path, capsys, case):
    src, dst = tmp_path / "in.json", tmp_path / "out.json"
    src.write_text(json.dumps(CASES[case][0]))
    assert main(["convert", str(src), "-o", str(dst)]) == 2
    assert not dst.exists() and not list(tmp_path.glob(".out.json*"))
    assert CASES[case][1] in capsys.readouterr().err


def test_convert_refuses_broken_pngs(tmp_path, capsys):
    src, dst = tmp_path / "in.png", tmp_path / "out.json"
    src.write_bytes(png_with([(b"prompt", b"\xff\xff")]))
    assert main(["convert", str(src), "-o", str(dst)]) == 2
    assert not dst.exists() and "not valid JSON" in capsys.readouterr().err


def test_a_primitive_with_an_input_is_kept_as_a_placeholder_and_written_back(registry, settings):
    from nodeflow.formats.comfyui import export_ui

    wf = txt2img()
    wf["nodes"].append(node(30, "PrimitiveNode", inputs=[("x", "IMAGE", None)], outputs=[("INT", "INT")], wv=[1]))
    wf["links"].append([30, 8, 0, 30, 0, "IMAGE"])
    find(wf, 30)["inputs"][0]["link"] = 30
    g, report = import_ui(wf, registry, settings)
    assert g.nodes[30].type == "PrimitiveNode" and report.placeholders == {"PrimitiveNode": [30]}
    assert import_ui(export_ui(g, registry), registry, settings)[0] == g
