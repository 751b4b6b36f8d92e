"""Opening anything (open_any), PNG chunks both ways (Save Image embeds ComfyUI's), and `nodeflow convert`."""
import json

import pytest
from PIL import Image

from nodeflow.cli.main import main
from nodeflow.formats import workflow
from nodeflow.formats.comfyui import export_api, import_ui
from nodeflow.formats.embedding import workflow_chunks
from nodeflow.formats.open_any import load_graph, load_graph_report
from nodeflow.formats.png import encode_png, read_text_chunks, read_workflow
from tests.comfyui.build import txt2img
from tests.comfyui.test_api_format import PROMPT, build


def write_png(path, texts):
    path.write_bytes(encode_png(Image.new("RGB", (4, 4)), texts))
    return path


def test_open_any_reads_every_kind(registry, settings, tmp_path):
    ui = tmp_path / "ui.json"
    ui.write_text(json.dumps(txt2img()))
    api = tmp_path / "api.json"
    api.write_text(json.dumps(PROMPT))
    g_ui, report = load_graph_report(ui, registry, settings)
    assert report.source == "ComfyUI workflow (schema 0.4)" and len(g_ui.nodes) == 7
    g_api, report = load_graph_report(api, registry, settings)
    assert report.source == "ComfyUI API prompt" and export_api(g_api, registry).keys() == PROMPT.keys()
    nf = workflow.save(g_ui, tmp_path / "nf.json")
    g, report = load_graph_report(nf, registry, settings)
    assert g == g_ui and isinstance(report, workflow.LoadReport)
    assert load_graph(ui, registry) == g_ui
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(workflow.WorkflowError, match="not a workflow"):
        load_graph(other, registry)


def test_pngs_nodeflow_chunk_wins_then_workflow_then_prompt(registry, settings, tmp_path):
    g, _ = import_ui(txt2img(), registry, settings)
    g.nodes[3].title = "from the nodeflow chunk"
    comfy = {"workflow": json.dumps(txt2img()), "prompt": json.dumps(PROMPT)}
    both = write_png(tmp_path / "both.png", {"nodeflow": workflow.dumps(g), **comfy})
    assert load_graph(both, registry).nodes[3].title == "from the nodeflow chunk"
    ui_only = write_png(tmp_path / "ui.png", comfy)
    g_ui, report = load_graph_report(ui_only, registry, settings)
    assert g_ui.nodes[3].title == "KSampler" and report.source.startswith("ComfyUI workflow")
    prompt_only = write_png(tmp_path / "prompt.png", {"prompt": json.dumps(PROMPT)})
    g_p, report = load_graph_report(prompt_only, registry, settings)
    assert report.source == "ComfyUI API prompt" and g_p.nodes[6].title == "Positive"
    # png.read_workflow reads NodeFlow's own chunk only: a ComfyUI picture is opened (imported) by the opener
    with pytest.raises(workflow.WorkflowError, match="no NodeFlow workflow"):
        read_workflow(ui_only)
    assert read_workflow(both)["format"] == "nodeflow.workflow"


def test_workflow_chunks_for_save_image(registry, settings):
    g, n = build(registry)
    texts = workflow_chunks(g, registry)
    assert json.loads(texts["prompt"]) == export_api(g, registry)
    back, _ = import_ui(json.loads(texts["workflow"]), registry, settings)
    assert back == g
    assert workflow.from_dict(json.loads(texts["nodeflow"]), registry)[0] == g


def test_save_image_embeds_comfyuis_chunks(registry, settings, tmp_path):
    from nodes.diffusion.nodes_image import png_texts

    class Ctx:
        def __init__(self, texts):
            self.texts = texts

        def embedded(self):
            return dict(self.texts)

        def upstream_info(self):
            return {}

    g, _ = build(registry)
    texts = png_texts(Ctx(workflow_chunks(g, registry)))
    assert {"nodeflow", "prompt", "workflow"} <= set(texts)
    path = write_png(tmp_path / "saved.png", texts)
    assert set(read_text_chunks(path)) >= {"prompt", "workflow"}
    from nodeflow.core.graph import Node

    g._add_node(Node(99, "NotAComfyNode"))
    said = []
    texts = png_texts(Ctx(workflow_chunks(g, registry, said.append)))
    assert "prompt" not in texts and "workflow" not in texts and "nodeflow" in texts
    assert "no ComfyUI counterpart: node 99" in said[0]


# -- nodeflow convert ------------------------------------------------------------------------------------------------
@pytest.fixture
def ui_file(tmp_path):
    p = tmp_path / "default.json"
    p.write_text(json.dumps(txt2img()))
    return p


def test_convert_between_all_formats(ui_file, tmp_path, capsys):
    nf, api, ui2, nf2 = (tmp_path / f for f in ("nf.json", "api.json", "ui.json", "nf2.json"))
    assert main(["convert", str(ui_file), "-o", str(nf)]) == 0
    err = capsys.readouterr().err
    assert "read as ComfyUI workflow" in err and "model.safetensors (checkpoints; node 4, ckpt_name)" in err
    assert json.loads(nf.read_text())["format"] == "nodeflow.workflow"
    assert main(["convert", str(nf), "-o", str(ui2)]) == 0  # NodeFlow in: ComfyUI's UI format by default
    assert json.loads(ui2.read_text())["version"] == 0.4
    capsys.readouterr()
    assert main(["convert", str(ui2), "-o", str(api), "--to", "comfy-api", "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert json.loads(api.read_text())["3"]["inputs"]["model"] == ["4", 0]
    assert main(["convert", str(api), "-o", str(nf2)]) == 0
    png = write_png(tmp_path / "in.png", {"workflow": ui_file.read_text()})
    assert main(["convert", str(png), "-o", str(tmp_path / "from_png.json"), "--to", "comfy-api"]) == 0
    assert json.loads((tmp_path / "from_png.json").read_text()) == json.loads(api.read_text())


def test_convert_usage_errors_write_nothing(ui_file, tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(["convert", str(tmp_path / "missing.json"), "-o", str(out)]) == 2
    assert main(["convert", str(ui_file), "-o", str(tmp_path / "out.png")]) == 2
    assert main(["convert", str(ui_file), "-o", str(ui_file)]) == 2
    assert "overwrite the input" in capsys.readouterr().err
    wf = txt2img()
    wf["nodes"][4]["widgets_values"][2] = "many"  # steps: not a number
    ui_file.write_text(json.dumps(wf))
    assert main(["convert", str(ui_file), "-o", str(out), "--strict"]) == 2
    assert "steps: 'many' is not an integer" in capsys.readouterr().err
    assert not out.exists()
    assert main(["convert", str(ui_file), "-o", str(out)]) == 0  # without --strict: a warning
    assert "warning:" in capsys.readouterr().err and out.exists()


def test_convert_to_comfy_refuses_nodes_without_counterpart(tmp_path, capsys, registry):
    from nodeflow.core.graph import Node

    g, _ = build(registry)
    g._add_node(Node(99, "NotAComfyNode", "Mine"))
    src = workflow.save(g, tmp_path / "nf.json")
    out = tmp_path / "out.json"
    assert main(["convert", str(src), "-o", str(out), "--to", "comfy-api"]) == 2
    assert "node 99 'Mine' (NotAComfyNode, not installed)" in capsys.readouterr().err and not out.exists()
