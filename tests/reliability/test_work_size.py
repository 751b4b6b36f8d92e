"""Work size (issue 10, items 5 and 11): sizes known from the values are checked against the memory available
before anything is allocated, refused with the field, the estimate and the memory; prompts are capped and
weights must be finite; an out-of-memory while a node runs names the node and what to lower, and the process
goes on."""
from __future__ import annotations

import pytest
import torch

from nodeflow.core.builders import GraphBuilder
from nodeflow.core.context import NodeError
from nodeflow.core.environment import Environment
from nodeflow.core.executor import Executor
from nodeflow.core.nodedef import INT, Input, Output, node
from nodes.diffusion import nodes_latent
from nodes.diffusion.models import memory
from nodes.diffusion.text_encode import MAX_PROMPT_CHARS, prompt_problem
from tests.diffusion.tiny_models import make_context, make_settings


def test_an_empty_latent_too_big_for_any_machine_is_refused_before_allocating(tmp_path):
    ctx = make_context(make_settings(tmp_path))
    with pytest.raises(NodeError) as e:
        nodes_latent.empty_latent_image.fn(ctx, 16384, 16384, 4096)  # 275 GB of zeros
    assert e.value.field == "batch_size"
    assert "a latent of 4096x16384x16384 needs about 256.0 GiB" in str(e.value) and "is available" in str(e.value)
    (latent,) = nodes_latent.empty_latent_image.fn(ctx, 16384, 16384, 1)  # 64 MiB: fits
    assert latent["samples"].shape == (1, 4, 2048, 2048)


@pytest.fixture
def little_memory(monkeypatch):
    monkeypatch.setattr(memory, "free_working_bytes", lambda device: 4 * 1024 ** 2)  # 4 MiB free


def test_upscales_and_decodes_are_estimated_first(tmp_path, little_memory):
    ctx = make_context(make_settings(tmp_path))
    latent = {"samples": torch.zeros(1, 4, 64, 64)}  # 64 KiB
    with pytest.raises(NodeError) as e:
        nodes_latent.latent_upscale_by.fn(ctx, latent, "nearest-exact", 8.0)
    assert e.value.field == "scale_by" and "needs about 8 MiB of memory and 4 MiB is available" in str(e.value)
    with pytest.raises(NodeError) as e:
        nodes_latent.latent_upscale.fn(ctx, latent, "bilinear", 4096, 4096, "disabled")
    assert e.value.field == "width" and "upscaling 1 latent(s) to 4096x4096" in str(e.value)

    class FakeVae:  # decode is never reached: the estimate comes first
        downscale_ratio = 8

        def decode(self, *a, **kw):
            raise AssertionError("decoded although the pictures cannot fit")

    with pytest.raises(NodeError) as e:
        nodes_latent.vae_decode.fn(ctx, {"samples": torch.zeros(1, 4, 128, 128)}, FakeVae())
    assert e.value.field == "samples" and "decoding 1 image(s) of 1024x1024 needs about 12 MiB" in str(e.value)
    assert (nodes_latent.latent_upscale_by.fn(ctx, latent, "nearest-exact", 2.0)[0]["samples"].shape
            == (1, 4, 128, 128))  # 256 KiB still fits


@pytest.mark.parametrize("text, why", [
    ("x" * (MAX_PROMPT_CHARS + 1), "characters long (limit 50,000)"),
    ("a (b:inf) c", "the weight of 'b' is inf"), ("(b:nan)", "is nan"), ("(b:-inf)", "is -inf"),
    ("(" * 3000 + "x" + ")" * 3000, "nested 3000 deep (limit 50)"),
])
def test_prompts_that_cannot_be_encoded_sensibly(text, why):
    assert why in prompt_problem(text)


def test_ordinary_prompts_pass():
    for text in ["a (red:1.3) circle", "((very)) \\(literal\\)", "(x:-0.5)", "x" * 5000, "(" * 40 + "x"]:
        assert prompt_problem(text) is None, text


def test_validation_names_the_prompt_field(settings, tmp_path, capsys):
    import json

    from nodeflow.cli.main import main

    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps({"format": "nodeflow.workflow", "version": 1, "nodes": [
        {"id": 4, "type": "CheckpointLoaderSimple", "values": {"ckpt_name": "nodeflow_shapes.safetensors"}},
        {"id": 6, "type": "CLIPTextEncode", "values": {"text": "a (circle:inf)"}}],
        "links": [{"id": 1, "from": [4, "CLIP"], "to": [6, "clip"]}]}))
    assert main(["validate", str(wf)]) == 2
    assert "node 6 'CLIPTextEncode', text: the weight of 'circle' is inf, not a finite number" in \
        capsys.readouterr().out


@node("Hungry", inputs=[Input("x", INT, default=1)], outputs=[Output("INT", INT)])
def hungry(ctx, x):
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 275.00 GiB")


@node("Fine", inputs=[Input("x", INT, default=1)], outputs=[Output("INT", INT)], output_node=True)
def fine(ctx, x):
    return (x,)


def test_an_out_of_memory_while_running_names_the_node_and_the_process_goes_on(settings):
    from nodeflow.core.registry import load_registry

    reg = load_registry(builtin=False, entry_points=False)
    reg.add(hungry.node_type if hasattr(hungry, "node_type") else hungry)
    reg.add(fine.node_type if hasattr(fine, "node_type") else fine)
    b = GraphBuilder(reg)
    h = b.add("Hungry")
    f = b.add("Fine")
    b.link(h, "INT", f, "x")
    ex = Executor(Environment(settings, reg))
    report = ex.run(b.graph)
    (error,) = report.errors
    assert error["node_id"] == h and error["message"].startswith("out of memory while this node ran: lower")
    assert "Tried to allocate 275.00 GiB" in error["message"]
    b2 = GraphBuilder(reg)
    b2.add("Fine")
    assert ex.run(b2.graph).status == "ok"  # the same executor, the same process, the next run


# -- item 11: damaged models say so, with the field ------------------------------------------------------------------
def _damaged_checkpoint(tmp_path, change):
    from safetensors.torch import load_file, save_file

    from tests.diffusion.tiny_models import write_tiny_checkpoint

    path = tmp_path / "models" / "checkpoints" / "damaged.safetensors"
    write_tiny_checkpoint(path, "sd1")
    weights = load_file(path)
    change(weights)
    save_file({k: v.contiguous() for k, v in weights.items()}, path)
    return path.name


@pytest.mark.parametrize("key", ["cond_stage_model.transformer.text_model.embeddings.token_embedding.weight",
                                 "first_stage_model.decoder.conv_in.weight"])
def test_a_wrongly_shaped_checkpoint_names_its_field(tmp_path, key):
    from nodes.diffusion import nodes_loaders

    settings = make_settings(tmp_path)
    name = _damaged_checkpoint(tmp_path, lambda w: w.__setitem__(key, w[key].flatten()))
    with pytest.raises(NodeError) as e:
        nodes_loaders.load_checkpoint.fn(make_context(settings), name)
    assert e.value.field == "ckpt_name" and "damaged.safetensors" in str(e.value)


@pytest.mark.slow
def test_nan_weights_are_named_instead_of_a_black_picture(tmp_path):
    from nodes.diffusion import nodes_loaders, nodes_sampling

    settings = make_settings(tmp_path)

    def poison(w):
        key = next(k for k in sorted(w) if k.startswith("model.diffusion_model.out.") and k.endswith("weight"))
        w[key] = torch.full_like(w[key], float("nan"))

    name = _damaged_checkpoint(tmp_path, poison)
    model, clip, _vae = nodes_loaders.load_checkpoint.fn(make_context(settings), name)
    (cond,) = nodes_loaders.clip_text_encode.fn(make_context(settings), "a circle", clip)
    (latent,) = nodes_latent.empty_latent_image.fn(make_context(settings), 64, 64, 1)
    with pytest.raises(NodeError) as e:
        nodes_sampling.KSampler.fn(make_context(settings), model, 1, 2, 5.0, "euler", "normal", cond, cond, latent,
                                   1.0)
    assert e.value.field == "model" and "NaN" in str(e.value)


def test_a_decompression_bomb_is_refused_with_the_field(tmp_path):
    import struct
    import zlib

    from nodes.diffusion import nodes_image

    def chunk(ctype, body):
        return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))

    settings = make_settings(tmp_path)
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))
    (settings.input_dir / "bomb.png").write_bytes(bomb)
    with pytest.raises(NodeError) as e:
        nodes_image.load_image.fn(make_context(settings), "bomb.png")
    assert e.value.field == "image" and "decompression bomb" in str(e.value)
