"""Whole graphs on a tiny SD1 checkpoint in the real single-file layout: txt2img and img2img to PNGs whose embedded
workflow reloads to an equal graph; the cache; one load per checkpoint file; seeds recorded with results."""
import numpy as np
import pytest
from PIL import Image

from nodeflow.core.environment import Environment
from nodeflow.formats.embedding import workflow_chunks
from nodeflow.core import operations as ops
from nodeflow.core.builders import GraphBuilder
from nodeflow.core.executor import Executor
from nodeflow.core.registry import load_registry
from nodeflow.formats import png, workflow
from tests.diffusion.tiny_models import write_tiny_checkpoint


@pytest.fixture(scope="module")
def reg():
    return load_registry(entry_points=False)


@pytest.fixture
def ckpt(settings):
    return write_tiny_checkpoint(settings.model_roots[0] / "checkpoints" / "tiny.safetensors", family="sd1")


def txt2img(reg, seed=5, loaders=1):
    b = GraphBuilder(reg)
    nodes = {}
    for i in range(loaders):
        load = b.add("CheckpointLoaderSimple", ckpt_name="tiny.safetensors")
        pos = b.add("CLIPTextEncode", title="Positive", text="a red circle on a blue background")
        neg = b.add("CLIPTextEncode", title="Negative", text="blurry")
        latent = b.add("EmptyLatentImage", width=64, height=64, batch_size=1)
        sampler = b.add("KSampler", seed=seed + i, steps=3, cfg=5.0, sampler_name="euler", scheduler="normal")
        decode = b.add("VAEDecode")
        save = b.add("SaveImage", filename_prefix=f"t2i{i}")
        b.link(load, "CLIP", pos, "clip")
        b.link(load, "CLIP", neg, "clip")
        b.link(load, "MODEL", sampler, "model")
        b.link(pos, "CONDITIONING", sampler, "positive")
        b.link(neg, "CONDITIONING", sampler, "negative")
        b.link(latent, "LATENT", sampler, "latent_image")
        b.link(sampler, "LATENT", decode, "samples")
        b.link(load, "VAE", decode, "vae")
        b.link(decode, "IMAGE", save, "images")
        nodes.setdefault("load", load)
        nodes.setdefault("sampler", sampler)
        nodes.setdefault("save", save)
    return b.graph, nodes


def pixels(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def test_txt2img_png_carries_a_reloadable_workflow_and_the_seed(reg, settings, ckpt):
    graph, n = txt2img(reg)
    ex = Executor(Environment(settings, reg))
    report = ex.run(graph, embed=lambda: workflow_chunks(graph, reg))
    assert report.status == "ok", report.errors
    [out] = report.outputs
    assert out.endswith("t2i0_00001_.png")
    assert pixels(out).shape == (64, 64, 3)
    reloaded, _ = workflow.from_dict(png.read_workflow(out), reg)
    assert reloaded == graph
    params = png.read_text_chunks(out)["parameters"]
    assert params.startswith("a red circle on a blue background\nNegative prompt: blurry\n")
    assert "Steps: 3, Sampler: euler, Schedule type: normal, CFG scale: 5.0, Seed: 5" in params
    assert report.records[n["sampler"]].info["seed"] == 5
    # unchanged: nothing runs; a new seed re-runs only the sampler and what follows it
    assert ex.run(graph, embed=lambda: workflow_chunks(graph, reg)).executed == []
    graph.apply(ops.SetValue(n["sampler"], "seed", 6))
    again = ex.run(graph, embed=lambda: workflow_chunks(graph, reg))
    assert n["load"] in again.cached and n["sampler"] in again.executed and n["save"] in again.executed
    assert again.records[n["sampler"]].reason == "value 'seed' changed (5 -> 6)"
    assert not np.array_equal(pixels(again.outputs[0]), pixels(out))


def test_same_seed_same_picture_and_one_load_per_file(reg, settings, ckpt):
    graph, _ = txt2img(reg, seed=9, loaders=2)  # two Load Checkpoint nodes on the same file
    ex = Executor(Environment(settings, reg))
    report = ex.run(graph, embed=lambda: workflow_chunks(graph, reg))
    assert report.status == "ok", report.errors
    checkpoint_loads = [count for key, count in ex.models.loads.items() if key[0] == "checkpoint"]
    assert checkpoint_loads == [1]
    graph2, _ = txt2img(reg, seed=9)
    ex2 = Executor(Environment(settings, reg))
    first = ex2.run(graph2, embed=lambda: workflow_chunks(graph2, reg)).outputs[0]
    ex2.free()
    second = ex2.run(graph2, embed=lambda: workflow_chunks(graph2, reg)).outputs[0]
    assert first != second and np.array_equal(pixels(first), pixels(second))


def test_img2img_graph(reg, settings, ckpt):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (72, 64, 3), dtype=np.uint8)).save(settings.input_dir / "photo.png")
    b = GraphBuilder(reg)
    load = b.add("CheckpointLoaderSimple", ckpt_name="tiny.safetensors")
    image = b.add("LoadImage", image="photo.png")
    encode = b.add("VAEEncode")
    pos = b.add("CLIPTextEncode", text="a green square")
    neg = b.add("CLIPTextEncode", text="")
    sampler = b.add("KSampler", seed=1, steps=4, cfg=4.0, denoise=0.5)
    decode = b.add("VAEDecode")
    save = b.add("SaveImage", filename_prefix="i2i")
    for src, out, dst, inp in [(image, "IMAGE", encode, "pixels"), (load, "VAE", encode, "vae"),
                               (load, "CLIP", pos, "clip"), (load, "CLIP", neg, "clip"),
                               (load, "MODEL", sampler, "model"), (pos, "CONDITIONING", sampler, "positive"),
                               (neg, "CONDITIONING", sampler, "negative"), (encode, "LATENT", sampler, "latent_image"),
                               (sampler, "LATENT", decode, "samples"), (load, "VAE", decode, "vae"),
                               (decode, "IMAGE", save, "images")]:
        b.link(src, out, dst, inp)
    report = Executor(Environment(settings, reg)).run(b.graph, embed=lambda: workflow_chunks(b.graph, reg))
    assert report.status == "ok", report.errors
    [out] = report.outputs
    assert pixels(out).shape == (72, 64, 3)
    assert "Denoising strength: 0.5" in png.read_text_chunks(out)["parameters"]
    assert workflow.from_dict(png.read_workflow(out), reg)[0] == b.graph


def test_missing_checkpoint_is_a_validation_problem_naming_the_folders(reg, settings):
    graph, n = txt2img(reg)
    from nodeflow.core.validation import validate

    problems = [p for p in validate(graph, reg, settings) if p.kind == "missing_file"]
    assert [(p.node_id, p.field) for p in problems] == [(n["load"], "ckpt_name")]
    assert str(settings.model_roots[0] / "checkpoints") in problems[0].expected
