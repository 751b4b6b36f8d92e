"""CLIP Text Encode and CLIP Set Last Layer: shapes per family, chunking, weighting, clip skip, diffusers parity."""
from __future__ import annotations

import pytest
import torch

from nodeflow.core.context import NodeError
from nodes.diffusion import nodes_loaders as nl
from nodes.diffusion import text_encode as te
from tests.diffusion.tiny_models import (FAMILIES, PROJECTION, WIDTH, make_context, make_settings, tiny_model,
                                         write_tiny_checkpoint, write_tiny_diffusers)

LONG_PROMPT = ", ".join(["a small red circle on a wide blue background"] * 12)  # well over 75 tokens


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("clip"))
    for family in FAMILIES:
        write_tiny_checkpoint(settings.model_roots[0] / "checkpoints" / f"{family}.safetensors", family)
    return settings


def load(env, family):
    return nl.load_checkpoint.fn(make_context(env), f"{family}.safetensors")


def encode(clip, text):
    (cond,) = nl.clip_text_encode.fn(make_context(None), text, clip)
    assert len(cond) == 1
    return cond[0]


@pytest.mark.parametrize("family,width,pooled", [("sd1", WIDTH, WIDTH), ("sd2", WIDTH, WIDTH),
                                                 ("sdxl", 2 * WIDTH, PROJECTION), ("sdxl_refiner", WIDTH, PROJECTION)])
def test_shapes_per_family(env, family, width, pooled):
    _, clip, _ = load(env, family)
    tensor, extras = encode(clip, "a red circle")
    assert tensor.shape == (1, 77, width) and tensor.dtype == torch.float32 and tensor.device.type == "cpu"
    assert extras["pooled_output"].shape == (1, pooled)
    long, _ = encode(clip, LONG_PROMPT)
    assert long.shape == (1, 154, width)


def test_sd1_reads_the_last_layer_like_the_text_encoder(env):
    _, clip, _ = load(env, "sd1")
    source = tiny_model("sd1").text_encoders[0]
    tok = clip.encoders[0].tokenizer()
    ids = tok("a red circle", padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        expected = source(input_ids=ids).last_hidden_state
    assert torch.equal(encode(clip, "a red circle")[0], expected)


def test_sd2_reads_the_penultimate_layer_with_the_final_norm(env):
    _, clip, _ = load(env, "sd2")
    source = tiny_model("sd2").text_encoders[0]
    ids = torch.tensor([[t for t, _ in clip.tokenize("a red circle")[0][0]]])
    assert ids[0, 4] == 49407 and ids[0, 5:].eq(0).all()  # SD2 pads with "!" (id 0) after the end token
    with torch.no_grad():
        out = source(input_ids=ids, output_hidden_states=True)
        expected = source.final_layer_norm(out.hidden_states[-2])
    assert torch.equal(encode(clip, "a red circle")[0], expected)


def test_sdxl_matches_diffusers_pipeline(tmp_path):
    """The stock SDXL pipeline's prompt embeddings, pooled output and UNet output, bit for bit."""
    from diffusers import StableDiffusionXLPipeline

    settings = make_settings(tmp_path)
    folder = write_tiny_diffusers(settings.model_roots[0] / "checkpoints" / "xl", "sdxl")
    model, clip, _ = nl.load_checkpoint.fn(make_context(settings), "xl")
    pipe = StableDiffusionXLPipeline.from_pretrained(folder, local_files_only=True)
    prompt = "a photo of a red circle on a blue background"
    embeds, _, pooled, _ = pipe.encode_prompt(prompt, device="cpu", num_images_per_prompt=1,
                                              do_classifier_free_guidance=False)
    tensor, extras = encode(clip, prompt)
    assert torch.equal(tensor, embeds) and torch.equal(extras["pooled_output"], pooled)
    x, t = torch.randn(1, 4, 8, 8), torch.tensor([321.0])
    with torch.no_grad():
        expected = pipe.unet(x, t, encoder_hidden_states=embeds, added_cond_kwargs={
            "text_embeds": pooled, "time_ids": torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]])}).sample
    assert torch.equal(model.apply_model(x, t, tensor, [extras]), expected)


def test_sd2_diffusers_folder_matches_diffusers_pipeline(tmp_path):
    """diffusers' SD2 encoder already lacks its last block, so a folder is read at its last layer."""
    from diffusers import StableDiffusionPipeline

    settings = make_settings(tmp_path)
    folder = write_tiny_diffusers(settings.model_roots[0] / "checkpoints" / "sd2", "sd2")
    _, clip, _ = nl.load_checkpoint.fn(make_context(settings), "sd2")
    pipe = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True, safety_checker=None)
    embeds, _ = pipe.encode_prompt("a red circle", "cpu", 1, False)
    assert torch.equal(encode(clip, "a red circle")[0], embeds)


def test_weighting_changes_only_the_weighted_tokens(env):
    _, clip, _ = load(env, "sd1")
    plain, _ = encode(clip, "a red circle")
    weighted, _ = encode(clip, "a (red:1.5) circle")
    neutral, _ = encode(clip, "a (red:1.0) circle")
    assert torch.equal(neutral, plain)
    changed = (weighted - plain).abs().amax(dim=-1)[0]
    assert changed[2] > 0  # [start, a, red, circle, end, ...]
    assert torch.equal(weighted[0, :2], plain[0, :2]) and torch.equal(weighted[0, 3:], plain[0, 3:])
    emphasis, _ = encode(clip, "a (red) circle")
    assert not torch.equal(emphasis, plain) and not torch.equal(emphasis, weighted)


def test_weighting_follows_comfyui_interpolation(env):
    _, clip, _ = load(env, "sd1")
    plain, _ = encode(clip, "a red circle")
    empty, _ = encode(clip, "")
    weighted, _ = encode(clip, "a (red:2.0) circle")
    expected = (plain[0, 2] - empty[0, 2]) * 2.0 + empty[0, 2]
    torch.testing.assert_close(weighted[0, 2], expected)


def test_clip_skip(env):
    _, clip, _ = load(env, "sd1")
    base, _ = encode(clip, "a red circle")
    (last,) = nl.clip_set_last_layer.fn(make_context(None), clip, -1)
    (skip2,) = nl.clip_set_last_layer.fn(make_context(None), clip, -2)
    assert torch.equal(encode(last, "a red circle")[0], base)
    skipped, _ = encode(skip2, "a red circle")
    assert not torch.equal(skipped, base)
    source = tiny_model("sd1").text_encoders[0]
    ids = torch.tensor([[t for t, _ in clip.tokenize("a red circle")[0][0]]])
    with torch.no_grad():
        expected = source.final_layer_norm(source(input_ids=ids, output_hidden_states=True).hidden_states[-2])
    assert torch.equal(skipped, expected)
    assert clip.layer is None  # the node returned a clone
    (deep,) = nl.clip_set_last_layer.fn(make_context(None), clip, -24)
    assert torch.equal(encode(deep, "a red circle")[0], base)  # beyond the depth: the normal output (ComfyUI)


def test_sdxl_clip_skip_changes_both_encoders(env):
    _, clip, _ = load(env, "sdxl")
    base, pooled = encode(clip, "a red circle")
    (skip3,) = nl.clip_set_last_layer.fn(make_context(None), clip, -3)
    other, other_pooled = encode(skip3, "a red circle")
    assert not torch.equal(other[..., :WIDTH], base[..., :WIDTH])
    assert not torch.equal(other[..., WIDTH:], base[..., WIDTH:])
    assert torch.equal(other_pooled["pooled_output"], pooled["pooled_output"])  # pooled: always the final layer


def test_missing_clip_is_a_node_error():
    with pytest.raises(NodeError) as err:
        nl.clip_text_encode.fn(make_context(None), "a", None)
    assert err.value.field == "clip"


# -- prompt syntax and chunking (pure Python) -------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("a red circle", [("a red circle", 1.0)]),
    ("a (red) circle", [("a ", 1.0), ("red", 1.1), (" circle", 1.0)]),
    ("((red))", [("red", pytest.approx(1.21))]),
    ("(red:1.5) circle", [("red", 1.5), (" circle", 1.0)]),
    ("(a (b:0.5) c:1.2)", [("a ", 1.2), ("b", 0.5), (" c", 1.2)]),
    ("\\(literal\\) (x:2)", [("(literal) ", 1.0), ("x", 2.0)]),
    ("(ratio a:b)", [("ratio a:b", pytest.approx(1.1))]),
    ("(size 16:9)", [("size 16", 9.0)]),  # ComfyUI reads the last colon as a weight
    ("unbalanced (paren", [("unbalanced ", 1.0), ("(paren", 1.0)]),
])
def test_parse_weights(text, expected):
    assert te.parse_weights(text) == expected


def _fake_tokenize(text):
    return [100 + len(word) for word in text.split()]


def test_chunks_are_77_tokens_with_start_end_and_padding():
    chunks = te.tokenize_weighted("", _fake_tokenize, start=1, end=2, pad=0)
    assert chunks == [[(1, 1.0), (2, 1.0)] + [(0, 1.0)] * 75]
    text = " ".join(["w"] * 100)
    chunks = te.tokenize_weighted(text, _fake_tokenize, start=1, end=2, pad=0)
    assert [len(c) for c in chunks] == [77, 77]
    assert chunks[0][0] == (1, 1.0) and chunks[0][76] == (2, 1.0)  # a long segment is split at 75
    assert sum(t == 101 for c in chunks for t, _ in c) == 100


def test_short_segments_move_whole_to_the_next_chunk():
    first = " ".join(["w"] * 73)
    chunks = te.tokenize_weighted(f"{first}(x y z:1.2)", _fake_tokenize, start=1, end=2, pad=0)
    assert len(chunks) == 2
    assert [t for t, _ in chunks[0][74:]] == [2, 0, 0]  # closed early, padded
    assert chunks[1][1:4] == [(101, 1.2)] * 3
