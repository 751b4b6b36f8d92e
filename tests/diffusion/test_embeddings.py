"""Textual inversion embeddings in prompts (``embedding:name``), against diffusers' own textual inversion loading
(TextualInversionLoaderMixin: new tokens added to the tokenizer, the token embedding grown) on the same encoders."""
from __future__ import annotations

import copy

import pytest
import torch
from safetensors.torch import save_file

from nodeflow.core import events as ev
from nodes.diffusion import nodes_conditioning as nc
from nodes.diffusion import nodes_loaders as nl
from tests.diffusion.tiny_models import WIDTH, make_context, make_settings, write_tiny_checkpoint


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("emb"))
    folder = settings.model_roots[0] / "embeddings"
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(5)
    vectors = {"sd1": torch.randn(2, WIDTH, generator=gen), "clip_l": torch.randn(1, WIDTH, generator=gen),
               "clip_g": torch.randn(3, WIDTH, generator=gen)}
    save_file({"emb_params": vectors["sd1"]}, str(folder / "style.safetensors"))
    torch.save({"string_to_param": {"*": vectors["sd1"]}, "name": "style"}, str(folder / "a1111.pt"))
    save_file({"clip_l": vectors["clip_l"], "clip_g": vectors["clip_g"]}, str(folder / "xl.safetensors"))

    class Evil:  # a pickle that would run code: safe loading refuses it
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"string_to_param": {"*": Evil()}}, str(folder / "evil.pt"))
    for family in ("sd1", "sdxl"):
        write_tiny_checkpoint(settings.model_roots[0] / "checkpoints" / f"{family}.safetensors", family)
    return settings, vectors


def load(settings, family):
    return nl.load_checkpoint.fn(make_context(settings), f"{family}.safetensors")[1]


def encode(settings, clip, text):
    events = []
    (cond,) = nl.clip_text_encode.fn(make_context(settings, events=events), text, clip)
    return cond[0][0], [e.message for e in events if isinstance(e, ev.NodeLog)]


def with_textual_inversion(encoder, tokenizer, vectors, token):
    """diffusers' reference: the encoder and tokenizer with the embedding's tokens added (copies)."""
    from diffusers.loaders import TextualInversionLoaderMixin

    class Loader(TextualInversionLoaderMixin):
        hf_device_map = None
        components: dict = {}

    encoder, tokenizer, loader = copy.deepcopy(encoder), copy.deepcopy(tokenizer), Loader()
    loader.load_textual_inversion({token: vectors}, token=token, tokenizer=tokenizer, text_encoder=encoder)
    return encoder, lambda text: tokenizer(loader.maybe_convert_prompt(text, tokenizer), padding="max_length",
                                           max_length=77, return_tensors="pt").input_ids


def test_sd1_embedding_equals_diffusers_textual_inversion(env):
    settings, vectors = env
    clip = load(settings, "sd1")
    got, logs = encode(settings, clip, "a photo of embedding:style in a forest")
    assert not logs
    enc = clip.encoders[0]
    ref_encoder, ref_ids = with_textual_inversion(enc.module, enc.tokenizer(), vectors["sd1"], "<style>")
    ids = ref_ids("a photo of <style> in a forest")  # diffusers expands <style> to <style> <style>_1 itself
    with torch.no_grad():
        expected = ref_encoder(input_ids=ids).last_hidden_state
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # the .pt (A1111's layout, read with weights_only) gives the same vectors
    got_pt, _ = encode(settings, clip, "a photo of embedding:a1111 in a forest")
    torch.testing.assert_close(got_pt, got)


def test_weighted_embedding_moves_from_the_empty_prompt(env):
    settings, _ = env
    clip = load(settings, "sd1")
    plain, _ = encode(settings, clip, "a embedding:style b")
    weighted, _ = encode(settings, clip, "a (embedding:style:1.2) b")
    empty, _ = encode(settings, clip, "")
    # ComfyUI: weighted tokens e -> (e - e_empty) * w + e_empty; the embedding's two vectors are tokens 2 and 3
    expected = plain.clone()
    expected[:, 2:4] = (plain[:, 2:4] - empty[:, 2:4]) * 1.2 + empty[:, 2:4]
    torch.testing.assert_close(weighted, expected, rtol=1e-5, atol=1e-5)


def test_unknown_and_unsafe_embeddings_are_warnings_naming_them(env):
    settings, _ = env
    clip = load(settings, "sd1")
    reference, _ = encode(settings, clip, "a cat, b")
    got, logs = encode(settings, clip, "a embedding:nothere cat, b")
    assert logs == ["warning, embedding:nothere does not exist, ignoring"]
    torch.testing.assert_close(got, reference)  # the word is left out, as ComfyUI does
    _, logs = encode(settings, clip, "a embedding:evil b")
    assert len(logs) == 1 and logs[0].startswith("warning, embedding:evil could not be read")
    _, logs = encode(settings, clip, "embedding:../checkpoints/sd1 x")
    assert logs == ["warning, embedding:../checkpoints/sd1 does not exist, ignoring"]  # no way out of the folder
    # a trailing comma is not part of the name
    with_comma, logs = encode(settings, clip, "a embedding:style, b")
    without, _ = encode(settings, clip, "a embedding:style , b")
    assert not logs and torch.allclose(with_comma, without, atol=1e-5)


def test_sdxl_embedding_pairs_go_to_their_encoders(env):
    settings, vectors = env
    clip = load(settings, "sdxl")
    got, logs = encode(settings, clip, "a embedding:xl b")
    assert not logs
    parts = []
    for encoder, key in zip(clip.encoders, ("clip_l", "clip_g")):
        ref_encoder, ref_ids = with_textual_inversion(encoder.module, encoder.tokenizer(), vectors[key], "<xl>")
        ids = ref_ids("a <xl> b")
        with torch.no_grad():
            parts.append(ref_encoder(input_ids=ids, output_hidden_states=True).hidden_states[-2])
    torch.testing.assert_close(got, torch.cat(parts, dim=-1), rtol=1e-5, atol=1e-5)
    # CLIPTextEncodeSDXL reads embeddings in both prompts too
    ctx = make_context(settings)
    (sdxl,) = nc.clip_text_encode_sdxl.fn(ctx, clip, 1024, 1024, 0, 0, 1024, 1024, "a embedding:xl b",
                                          "a embedding:xl b")
    torch.testing.assert_close(sdxl[0][0], got, rtol=1e-5, atol=1e-5)
