"""Latent and image nodes without models: empty latents, upscaling, Load/Preview/Save Image and PNG metadata."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from nodeflow.core.environment import Environment
from nodeflow.formats.embedding import workflow_chunks
from nodeflow.core.builders import GraphBuilder
from nodeflow.core.executor import Executor
from nodeflow.core.registry import load_registry
from nodeflow.core.validation import validate
from nodeflow.formats import png, workflow
from nodes.diffusion import nodes_image, nodes_latent

torch.set_num_threads(1)


@pytest.fixture
def reg():
    return load_registry(entry_points=False)


class Ctx:
    """The few context features these nodes use, for direct calls."""

    def __init__(self, settings=None):
        self.settings, self.ui, self.files, self.info = settings, {}, [], {}

    @property
    def folders(self):
        return self.settings.folders

    def resolve(self, kind, name, field=None):
        return self.folders.resolve(kind, name)

    def progress(self, *a):
        pass

    def show(self, images=None, **more):
        self.ui.setdefault("images", []).extend(images or [])


def test_empty_latent_is_zeros_at_one_eighth():
    (latent,) = nodes_latent.empty_latent_image.fn(Ctx(), width=64, height=96, batch_size=3)
    assert latent["samples"].shape == (3, 4, 12, 8) and latent["samples"].abs().sum() == 0


@pytest.mark.parametrize("method", nodes_latent.UPSCALE_METHODS)
def test_upscale_latent_to_size_and_by_factor(method):
    g = torch.Generator().manual_seed(0)
    lat = {"samples": torch.randn(2, 4, 8, 8, generator=g), "batch_index": [0, 1]}
    (up,) = nodes_latent.latent_upscale.fn(Ctx(), lat, method, 128, 96, "disabled")
    assert up["samples"].shape == (2, 4, 12, 16) and up["batch_index"] == [0, 1]
    (by,) = nodes_latent.latent_upscale_by.fn(Ctx(), lat, method, 1.5)
    assert by["samples"].shape == (2, 4, 12, 12)
    (same,) = nodes_latent.latent_upscale.fn(Ctx(), lat, method, 64, 64, "disabled")
    if method != "area":
        torch.testing.assert_close(same["samples"], lat["samples"], atol=1e-5, rtol=1e-5)
    (keep_aspect,) = nodes_latent.latent_upscale.fn(Ctx(), lat, method, 0, 128, "disabled")
    assert keep_aspect["samples"].shape == (2, 4, 16, 16)


def test_center_crop_keeps_the_middle():
    lat = {"samples": torch.arange(16.0).view(1, 1, 2, 8).repeat(1, 4, 1, 1)}
    (out,) = nodes_latent.latent_upscale.fn(Ctx(), lat, "nearest-exact", 16, 16, "center")
    assert out["samples"].shape == (1, 4, 2, 2)
    assert out["samples"][0, 0, 0].tolist() == [3.0, 4.0]


def test_load_image_alpha_becomes_mask(settings):
    rgba = np.zeros((10, 12, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:, :6, 3] = 255  # left half opaque, right half transparent
    Image.fromarray(rgba, "RGBA").save(settings.input_dir / "half.png")
    Image.new("RGB", (5, 4), (0, 0, 255)).save(settings.input_dir / "blue.jpg")
    image, mask = nodes_image.load_image.fn(Ctx(settings), "half.png")
    assert image.shape == (1, 10, 12, 3) and float(image[0, 0, 0, 0]) == 1.0
    assert mask.shape == (1, 10, 12) and float(mask[0, 0, 0]) == 0.0 and float(mask[0, 0, 11]) == 1.0
    image, mask = nodes_image.load_image.fn(Ctx(settings), "blue.jpg")
    assert image.shape == (1, 4, 5, 3) and mask.abs().sum() == 0


def test_load_image_bad_file_names_the_field(settings):
    (settings.input_dir / "fake.png").write_bytes(b"not a png")
    from nodeflow.core.context import NodeError
    with pytest.raises(NodeError) as e:
        nodes_image.load_image.fn(Ctx(settings), "fake.png")
    assert e.value.field == "image" and "fake.png: not a readable image" in str(e.value)


def image_graph(reg, prefix="NodeFlow"):
    b = GraphBuilder(reg)
    load = b.add("LoadImage", image="pic.png")
    save = b.add("SaveImage", filename_prefix=prefix)
    prev = b.add("PreviewImage")
    b.link(load, "IMAGE", save, "images")
    b.link(load, "IMAGE", prev, "images")
    return b.graph, save, prev


def test_save_image_numbers_files_and_embeds_a_reloadable_workflow(reg, settings):
    Image.new("RGB", (16, 8), (10, 200, 30)).save(settings.input_dir / "pic.png")
    graph, save, prev = image_graph(reg, "batch/shot")
    ex = Executor(Environment(settings, reg))
    r1 = ex.run(graph, embed=lambda: workflow_chunks(graph, reg))
    assert r1.status == "ok", r1.errors
    first = settings.output_dir / "batch" / "shot_00001_.png"
    assert r1.outputs == [str(first)]
    assert r1.records[prev].ui["images"][0].size == (16, 8)  # the preview shows, and writes nothing
    assert sorted(p.name for p in settings.output_dir.rglob("*.png")) == ["shot_00001_.png"]
    ex.free()
    r2 = ex.run(graph, embed=lambda: workflow_chunks(graph, reg))
    assert r2.outputs == [str(settings.output_dir / "batch" / "shot_00002_.png")]
    with Image.open(first) as im:
        assert im.size == (16, 8) and im.getpixel((0, 0)) == (10, 200, 30)
    reloaded, _ = workflow.from_dict(png.read_workflow(first), reg)
    assert reloaded == graph


@pytest.mark.parametrize("prefix", ["../escape", "/tmp/abs", "a/../../b", ""])
def test_prefix_cannot_escape_the_output_folder(reg, settings, prefix):
    Image.new("RGB", (8, 8)).save(settings.input_dir / "pic.png")
    graph, save, _ = image_graph(reg, prefix)
    problems = [p for p in validate(graph, reg, settings) if p.node_id == save]
    assert [p.field for p in problems] == ["filename_prefix"]
    with pytest.raises(Exception) as e:
        nodes_image._target(settings.output_dir, prefix)
    assert getattr(e.value, "field", None) == "filename_prefix"


def test_parameters_text():
    text = nodes_image.parameters_text({
        4: {"seed": 42, "steps": 20, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
            "positive_prompt": "a red circle", "negative_prompt": "blurry"},
        1: {"checkpoint": "model.safetensors"}})
    assert text == ("a red circle\nNegative prompt: blurry\nSteps: 20, Sampler: euler, Schedule type: normal, "
                    "CFG scale: 7.0, Seed: 42, Model: model.safetensors")


def test_png_reader_handles_hostile_files(tmp_path):
    good = tmp_path / "good.png"
    png.save_png(Image.new("RGB", (4, 4)), good, {"nodeflow": json.dumps({"a": 1}), "note": "ünï"})
    assert png.read_text_chunks(good)["note"] == "ünï"
    data = good.read_bytes()
    truncated = tmp_path / "trunc.png"
    truncated.write_bytes(data[:40])
    with pytest.raises(workflow.WorkflowError, match="truncated PNG"):
        png.read_workflow(truncated)
    # a tEXt chunk that is not UTF-8 and a broken zTXt: read as latin-1 / skipped, never a crash
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    weird = data[:33] + chunk(b"tEXt", b"parameters\x00caf\xe9") + chunk(b"zTXt", b"prompt\x00\x00garbage") + data[33:]
    (tmp_path / "weird.png").write_bytes(weird)
    texts = png.read_text_chunks(tmp_path / "weird.png")
    assert texts["parameters"] == "café" and "prompt" not in texts
    (tmp_path / "none.png").write_bytes(b"GIF89a")
    with pytest.raises(workflow.WorkflowError, match="not a PNG"):
        png.read_workflow(tmp_path / "none.png")
