"""The CLIP object of SD3 / SD3.5 and Flux: CLIP-L, CLIP-G and T5-XXL, prompt -> CONDITIONING (ComfyUI's rules).

- SD3 (``family="sd3"``): CLIP-L and CLIP-G read at their penultimate layer without the final norm (as SDXL),
  side by side (768 + 1280), padded with zeros to T5's width; T5's last hidden state follows on the token axis.
  ``pooled_output`` is [CLIP-L | CLIP-G] projected pooled vectors. Any of the three may be absent: its part is
  left out (pooled zeros in its place); with none, the context is zeros [1, 77, 4096].
- Flux (``family="flux"``): T5's hidden states are the context, CLIP-L's unprojected pooled output (final layer)
  is ``pooled_output``.
- T5 tokens: the prompt, ``</s>``, ``<pad>`` up to 77 (SD3) or 256 (Flux) tokens, never cut; ComfyUI's weighting
  ``(e - e_empty) * w + e_empty`` as for CLIP. CLIP tokens: 77-token chunks as ``text_encode`` (CLIP-L pads with
  the end token, CLIP-G with "!").

``encode_parts({"clip_l": ..., "clip_g": ..., "t5xxl": ...})`` gives each encoder its own text (CLIPTextEncodeSD3,
CLIPTextEncodeFlux); ``encode(text)`` gives all of them the same text (CLIP Text Encode).
"""
from __future__ import annotations

import copy
from contextlib import ExitStack
from dataclasses import dataclass

from nodes.diffusion import text_encode
from nodes.diffusion.models.clip_model import ClipModel, TextEncoder
from nodes.diffusion.models.families import BANG_TOKEN, EOT_TOKEN, TextEncoderSpec
from nodes.diffusion.models.memory import MovablePart, device_memory, out_of_memory_as_error
from nodes.diffusion.models.patching import SharedModule

#: How SD3 / Flux read each CLIP (the prefix is where an all-in-one checkpoint keeps it).
CLIP_L_SD3 = TextEncoderSpec("clip_l", "hf", "text_encoders.clip_l.transformer.", "text_encoder", EOT_TOKEN,
                             -2, False, True, "quick_gelu")
CLIP_G_SD3 = TextEncoderSpec("clip_g", "hf", "text_encoders.clip_g.transformer.", "text_encoder_2", BANG_TOKEN,
                             -2, False, True, "gelu")
CLIP_L_FLUX = TextEncoderSpec("clip_l", "hf", "text_encoders.clip_l.transformer.", "text_encoder", EOT_TOKEN,
                              -1, True, False, "quick_gelu")
T5_PREFIX = "text_encoders.t5xxl.transformer."
T5_MIN_LENGTH = {"sd3": 77, "flux": 256}
#: ComfyUI's widths for an absent encoder's zeros (the released models')
POOLED_WIDTH = {"clip_l": 768, "clip_g": 1280}
CONTEXT_WIDTH = 4096


def clip_specs(family: str) -> dict[str, TextEncoderSpec]:
    return {"clip_l": CLIP_L_SD3, "clip_g": CLIP_G_SD3} if family == "sd3" else {"clip_l": CLIP_L_FLUX}


@dataclass
class T5Encoder:
    shared: SharedModule  # transformers' T5EncoderModel
    tokenizer_path: str

    @property
    def module(self):
        return self.shared.module

    @property
    def width(self) -> int:
        return int(self.module.config.d_model)

    def tokenizer(self):
        from nodes.diffusion.t5_tokenizer import t5_tokenizer

        return t5_tokenizer(self.tokenizer_path)


class DiTClip:
    def __init__(self, *, family: str, clips: dict[str, TextEncoder], t5: T5Encoder | None, device: str, dtype,
                 name: str = "", layer: int | None = None, patches: dict[str, tuple] | None = None):
        self.family = family
        self.clips = dict(clips)
        self.t5 = t5
        self.device = device
        self.dtype = dtype
        self.name = name
        self.layer = layer
        #: LoRA patches per encoder name (clip_l / clip_g / t5xxl), applied for each encoding and reverted after
        self.patches = dict(patches or {})
        modules = [e.module for e in self.clips.values()]
        self.part = MovablePart(f"{name} CLIP", modules) if modules else None
        self.t5_part = MovablePart(f"{name} T5", [t5.module]) if t5 is not None else None

    def __repr__(self) -> str:
        names = list(self.clips) + (["t5xxl"] if self.t5 is not None else [])
        return f"DiTClip({self.family}, {names})"

    @property
    def encoders(self) -> list:
        return list(self.clips.values())

    def clone(self, **changes) -> "DiTClip":
        other = copy.copy(self)
        for key, value in changes.items():
            setattr(other, key, value)
        return other

    def with_patches(self, per_encoder: dict) -> "DiTClip":
        patches = dict(self.patches)
        for name, more in per_encoder.items():
            if more:
                patches[name] = patches.get(name, ()) + tuple(more)
        return self.clone(patches=patches)

    def with_last_layer(self, layer: int) -> "DiTClip":
        if layer >= 0:
            raise ValueError("the last layer is counted from the end: -1 is the last, -2 the one before")
        return self.clone(layer=int(layer))

    # -- encoding ------------------------------------------------------------------------------------------------------
    def encode(self, text: str, embeddings=None, missing: list | None = None) -> list:
        """CLIP Text Encode's call (the same as ClipModel.encode); ``embeddings`` serve the CLIP encoders."""
        return self.encode_parts({"clip_l": text, "clip_g": text, "t5xxl": text}, embeddings=embeddings,
                                 missing=missing)

    def encode_parts(self, texts: dict, *, skip_empty: bool = False, embeddings=None,
                     missing: list | None = None) -> list:
        """CONDITIONING ``[(context [1, tokens, width], {"pooled_output": [1, P]})]``; ``skip_empty`` leaves out
        an encoder whose text is empty (CLIPTextEncodeSD3's empty_padding "none"); ``embeddings`` (textual
        inversion, ``embedding:name``) serve the CLIP encoders, T5 reads the words as they are."""
        import torch

        def wanted(name):
            return not (skip_empty and not texts.get(name))

        clip_out = {name: self._encode_clip(name, texts.get(name, ""), embeddings, missing)
                    for name in self.clips if wanted(name)}
        t5_out = self._encode_t5(texts.get("t5xxl", "")) if self.t5 is not None and wanted("t5xxl") else None
        if self.family == "flux":
            if "clip_l" not in self.clips or self.t5 is None:
                raise ValueError("Flux needs both CLIP-L and T5-XXL (load them with DualCLIPLoader, type flux)")
            pooled = clip_out["clip_l"][1] if "clip_l" in clip_out else torch.zeros(1, POOLED_WIDTH["clip_l"])
            context = t5_out if t5_out is not None else torch.zeros(1, T5_MIN_LENGTH["flux"], self.t5.width)
            return [(context, {"pooled_output": pooled})]
        return [self._sd3_combine(clip_out, t5_out)]

    def _sd3_combine(self, clip_out: dict, t5_out):
        import torch
        import torch.nn.functional as F

        width = self.t5.width if self.t5 is not None else CONTEXT_WIDTH
        pooled = torch.cat([clip_out[n][1] if n in clip_out else torch.zeros(1, self._pooled_width(n))
                            for n in ("clip_l", "clip_g")], dim=-1)
        parts = []
        if clip_out:
            hidden = [clip_out[n][0] for n in ("clip_l", "clip_g") if n in clip_out]
            if "clip_l" not in clip_out:  # ComfyUI: CLIP-G alone sits after CLIP-L's (zero) columns
                hidden[0] = F.pad(hidden[0], (self._hidden_width("clip_l"), 0))
            tokens = min(h.shape[1] for h in hidden)
            lg = torch.cat([h[:, :tokens] for h in hidden], dim=-1)
            if lg.shape[-1] > width:
                raise ValueError(f"CLIP-L + CLIP-G are {lg.shape[-1]} wide, wider than T5's {width}")
            parts.append(F.pad(lg, (0, width - lg.shape[-1])))
        if t5_out is not None:
            parts.append(t5_out)
        context = torch.cat(parts, dim=1) if parts else torch.zeros(1, 77, width)
        return context, {"pooled_output": pooled}

    def _pooled_width(self, name: str) -> int:
        encoder = self.clips.get(name)
        if encoder is None:
            return POOLED_WIDTH[name]
        config = encoder.module.config
        return int(config.projection_dim if encoder.spec.projected_pool else config.hidden_size)

    def _hidden_width(self, name: str) -> int:
        encoder = self.clips.get(name)
        return int(encoder.module.config.hidden_size) if encoder is not None else POOLED_WIDTH[name]

    def _encode_clip(self, name: str, text: str, embeddings=None, missing: list | None = None):
        encoder = self.clips[name]
        single = ClipModel(encoders=[encoder], family=self.family, part=self.part, device=self.device,
                           dtype=self.dtype, layer=self.layer, patches={0: self.patches.get(name, ())})
        return single.encode_tokens(single.tokenize(text, embeddings, missing))

    def t5_tokens(self, text: str) -> list[tuple[int, float]]:
        tok = self.t5.tokenizer()
        pairs = [(t, w) for segment, w in text_encode.parse_weights(text) if segment for t in tok(segment)]
        pairs.append((tok.eos_token_id, 1.0))
        length = max(T5_MIN_LENGTH.get(self.family, 77), len(pairs))
        return pairs + [(tok.pad_token_id, 1.0)] * (length - len(pairs))

    def _encode_t5(self, text: str):
        import torch

        tok = self.t5.tokenizer()
        pairs = self.t5_tokens(text)
        ids = torch.tensor([[t for t, _ in pairs]], dtype=torch.long)
        weights = torch.tensor([[w for _, w in pairs]], dtype=torch.float32)
        weighted = bool((weights != 1.0).any())
        if weighted:
            empty = [tok.eos_token_id] + [tok.pad_token_id] * (ids.shape[1] - 1)
            ids = torch.cat([ids, torch.tensor([empty], dtype=torch.long)])
        with ExitStack() as stack:
            stack.enter_context(out_of_memory_as_error("encoding the prompt with T5"))
            stack.enter_context(device_memory().use(self.t5_part, self.device))
            stack.enter_context(self.t5.shared.applied(self.patches.get("t5xxl", ())))
            stack.enter_context(torch.no_grad())
            hidden = self.t5.module(input_ids=ids.to(self.device)).last_hidden_state.float().cpu()
        if weighted:
            hidden, empty_hidden = hidden[:1], hidden[1:]
            w = weights[..., None]
            hidden = torch.where(w != 1.0, (hidden - empty_hidden) * w + empty_hidden, hidden)
        return hidden
