"""The CLIP object: a checkpoint's text encoder(s) with tokenizers, clip skip and LoRA patches; prompt -> CONDITIONING.

How each family reads its encoders (the hidden state used, and whether the final LayerNorm follows):

- SD1: CLIP-L, last layer, final norm.
- SD2: OpenCLIP ViT-H, penultimate layer, final norm (as SD2's FrozenOpenCLIPEmbedder). A diffusers SD2 folder
  ships the encoder with its last block already removed, so there the last layer is read.
- SDXL: CLIP-L and bigG, both penultimate without the final norm, concatenated (768 + 1280 = 2048 wide); the pooled
  output is bigG's final-layer EOS embedding through its text projection. The refiner has bigG alone.

``with_last_layer(n)`` (CLIP Set Last Layer) reads ``hidden_states[n]`` of every encoder instead, keeping each
family's final-norm rule; like ComfyUI, an index beyond the encoder's depth falls back to its normal last output.
transformers 5 dropped ``CLIPTextModel.text_model`` and diffusers' own ``clip_skip`` breaks on it, so the hidden
states are read here directly.
"""
from __future__ import annotations

import copy
from contextlib import ExitStack
from dataclasses import dataclass

from nodes.diffusion import text_encode
from nodes.diffusion.models.families import TextEncoderSpec
from nodes.diffusion.models.memory import MovablePart, device_memory, out_of_memory_as_error
from nodes.diffusion.models.patching import SharedModule, WeightPatch


@dataclass(frozen=True)
class TextEncoder:
    shared: SharedModule  # the transformers CLIPTextModel[WithProjection]
    spec: TextEncoderSpec
    default_layer: int

    @property
    def module(self):
        return self.shared.module

    @property
    def core(self):
        """The part with ``final_layer_norm`` (transformers 5: the model itself, or ``.text_model`` with projection)."""
        return getattr(self.module, "text_model", self.module)

    @property
    def num_layers(self) -> int:
        return int(self.module.config.num_hidden_layers)

    @property
    def max_length(self) -> int:
        return int(self.module.config.max_position_embeddings)

    def tokenizer(self):
        from nodes.diffusion.clip_tokenizer import clip_tokenizer

        return clip_tokenizer(self.spec.pad_token, self.max_length)


class ClipModel:
    def __init__(self, *, encoders: list[TextEncoder], family: str, part: MovablePart, device: str, dtype,
                 layer: int | None = None, patches: dict[int, tuple[WeightPatch, ...]] | None = None):
        self.encoders = list(encoders)
        self.family = family
        self.part = part
        self.device = device
        self.dtype = dtype
        #: CLIP Set Last Layer's index (None: each family's own reading)
        self.layer = layer
        self.patches = dict(patches or {})

    def __repr__(self) -> str:
        patched = sum(len(p) for p in self.patches.values())
        return (f"ClipModel({self.family}, {[e.spec.name for e in self.encoders]}, layer={self.layer}, "
                f"{patched} patches)")

    # -- clones --------------------------------------------------------------------------------------------------------
    def clone(self, **changes) -> "ClipModel":
        other = copy.copy(self)
        other.patches = dict(self.patches)
        for key, value in changes.items():
            setattr(other, key, value)
        return other

    def with_last_layer(self, layer: int) -> "ClipModel":
        if layer >= 0:
            raise ValueError("the last layer is counted from the end: -1 is the last, -2 the one before")
        return self.clone(layer=int(layer))

    def with_patches(self, per_encoder: dict[int, list[WeightPatch]]) -> "ClipModel":
        patches = dict(self.patches)
        for index, more in per_encoder.items():
            if more:
                patches[index] = patches.get(index, ()) + tuple(more)
        return self.clone(patches=patches)

    # -- encoding ------------------------------------------------------------------------------------------------------
    def tokenize(self, text: str, embeddings=None, missing: list | None = None) -> list[list[list[tuple[int, float]]]]:
        """Per encoder: chunks of 77 (id, weight) pairs. ``embeddings`` (an ``EmbeddingLibrary``) resolves
        ``embedding:name`` words; names it lacks (for any encoder) are appended to ``missing``."""
        from nodes.diffusion.models.embeddings import embedding_tokens

        out = []
        missing = missing if missing is not None else []
        for encoder in self.encoders:
            tok = encoder.tokenizer()
            ids = lambda s, tok=tok: tok(s, add_special_tokens=False, verbose=False)["input_ids"]  # noqa: E731
            embed = embedding_tokens(embeddings, encoder.spec.name, int(encoder.module.config.hidden_size), missing)
            out.append(text_encode.tokenize_weighted(
                text, ids, start=tok.bos_token_id, end=tok.eos_token_id, pad=tok.pad_token_id,
                max_length=encoder.max_length, embed=embed,
                on_missing=lambda name: name in missing or missing.append(name)))
        return out

    def encode(self, text: str, embeddings=None, missing: list | None = None) -> list:
        """CONDITIONING for ``text``: ``[(Tensor[1, 77 * chunks, width], {"pooled_output": Tensor[1, P]})]``."""
        cond, pooled = self.encode_tokens(self.tokenize(text, embeddings, missing))
        return [(cond, {"pooled_output": pooled})]

    def encode_tokens(self, tokens_per_encoder):
        import torch

        with ExitStack() as stack:
            stack.enter_context(out_of_memory_as_error("encoding the prompt"))
            stack.enter_context(device_memory().use(self.part, self.device))
            for index, encoder in enumerate(self.encoders):
                stack.enter_context(encoder.shared.applied(self.patches.get(index, ())))
            stack.enter_context(torch.no_grad())
            outputs = [self._encode_one(encoder, chunks) for encoder, chunks in zip(self.encoders, tokens_per_encoder)]
        lengths = {o[0].shape[1] for o in outputs}
        if len(lengths) != 1:
            raise RuntimeError(f"text encoders disagree on the prompt's length: {sorted(lengths)}")
        cond = torch.cat([o[0] for o in outputs], dim=-1)
        return cond, outputs[-1][1]  # SDXL: bigG's pooled output (the last encoder)

    def _encode_one(self, encoder: TextEncoder, chunks):
        import torch

        from nodes.diffusion.models.embeddings import extra_token_vectors

        token_embedding = encoder.module.get_input_embeddings()
        vocab, vectors = token_embedding.num_embeddings, []

        def token_id(t) -> int:
            if isinstance(t, int):
                return t
            vectors.append(t.vector)  # an embedding's vector: an id past the vocabulary, looked up by the hook
            return vocab + len(vectors) - 1

        ids = torch.tensor([[token_id(t) for t, _ in chunk] for chunk in chunks], dtype=torch.long)
        weights = torch.tensor([[w for _, w in chunk] for chunk in chunks], dtype=torch.float32)
        weighted = text_encode.has_weights(chunks)
        if weighted:
            tok = encoder.tokenizer()
            empty = text_encode.empty_chunk(start=tok.bos_token_id, end=tok.eos_token_id, pad=tok.pad_token_id,
                                            max_length=ids.shape[1])
            ids = torch.cat([ids, torch.tensor([empty], dtype=torch.long)])
        with extra_token_vectors(token_embedding, vectors):
            out = encoder.module(input_ids=ids.to(self.device), output_hidden_states=True)
        hidden = self._read_layer(encoder, out).float()
        pooled = out.text_embeds if encoder.spec.projected_pool else out.pooler_output
        pooled = pooled[:1].float().cpu()  # the first chunk's, as ComfyUI
        if weighted:
            hidden, empty_hidden = hidden[:-1], hidden[-1:]
            w = weights.to(hidden.device)[..., None]
            # ComfyUI's weighting: move a weighted token's embedding away from the empty prompt's at that position
            hidden = torch.where(w != 1.0, (hidden - empty_hidden) * w + empty_hidden, hidden)
        return hidden.reshape(1, -1, hidden.shape[-1]).cpu(), pooled

    def _read_layer(self, encoder: TextEncoder, out):
        layer = self.layer if self.layer is not None else encoder.default_layer
        if abs(layer) > encoder.num_layers:
            return out.last_hidden_state  # ComfyUI: out of range means the encoder's normal output
        hidden = out.hidden_states[layer]
        if encoder.spec.final_norm:
            hidden = encoder.core.final_layer_norm(hidden)
        return hidden
