"""The MODEL object of the diffusion transformers (SD3 / SD3.5, Flux.1), on the samplers' contract.

Same contract as ``diffusion_model.DiffusionModel`` (whose clones, device handling and compile it shares):
``model_sampling`` is a flow-matching one (``sampling/model_sampling_flow.py``), ``latent_format`` has 16 channels,
``apply_model(x, timesteps, context, extras_list)`` returns the transformer's velocity for ``x``.

- SD3: diffusers' ``SD3Transformer2DModel`` on the latent, the timestep on SD3's 0..1000 scale (sigma * 1000),
  the text context ([CLIP-L | CLIP-G] padded to T5's width, then T5's tokens) and the pooled CLIP vector
  (``pooled_output``, 768 + 1280 wide).
- Flux: diffusers' ``FluxTransformer2DModel`` on 2x2 patches of the latent (BFL's packing: rows of
  ``c * 4`` values, position ids (0, row, column)), text ids all 0, the timestep as sigma (diffusers scales it
  by 1000 like BFL), the pooled CLIP-L vector, and the distilled guidance (``extras["guidance"]``, set by
  FluxGuidance / CLIPTextEncodeFlux; 3.5 when absent, as ComfyUI) for models that embed it.
- LoRA: ``with_patches`` (DiffusionModel's) with patches on diffusers' module names (``dit_lora``).
- Latents whose size isn't a multiple of the patch are padded circularly and cropped back (as ComfyUI).
- Extra input channels (Flux Canny / Depth take the control image's latent next to the noise):
  ``extras["concat_latent_image"]`` (raw VAE latents, as InstructPixToPixConditioning makes) is brought into the
  model's latent space and appended; Flux Fill also takes ``extras["concat_mask"]`` (a pixel mask, as
  InpaintModelConditioning makes), each 8x8 block's pixels as 64 channels (BFL's Fill layout). A model that needs
  them and gets none is refused with what is missing.
"""
from __future__ import annotations

from nodeflow.core.context import NodeError
from nodes.diffusion.models.diffusion_model import DiffusionModel
from nodes.diffusion.models.memory import out_of_memory_as_error

FLUX_DEFAULT_GUIDANCE = 3.5


class DiTModel(DiffusionModel):
    @property
    def transformer(self):
        return self.shared.module

    @property
    def patch(self) -> int:
        return 2 if self.family == "flux" else int(self.transformer.config.patch_size)

    @property
    def in_channels(self) -> int:
        """Latent channels the transformer takes (Flux's are counted before 2x2 packing)."""
        c = int(self.transformer.config.in_channels)
        return c // 4 if self.family == "flux" else c

    @property
    def latent_channels(self) -> int:
        return int(self.latent_format.channels)

    @property
    def guidance_embeds(self) -> bool:
        return bool(getattr(self.transformer.config, "guidance_embeds", False))

    def __repr__(self) -> str:
        return f"DiTModel({self.name!r}, {self.family}, {self.model_sampling!r})"

    def with_prediction_type(self, prediction_type: str):
        raise NodeError(f"a {self.family.upper()} model predicts a flow velocity; it has no epsilon / "
                        "v-prediction setting", field="prediction")

    def with_model_sampling(self, model_sampling) -> "DiTModel":
        return self.clone(model_sampling=model_sampling)

    # -- use -----------------------------------------------------------------------------------------------------------
    def apply_model(self, x, timesteps, context, extras_list=None, control=None):
        """``control``: residuals of a ControlNet chain (``models.dit_controlnet``): SD3 (blocks, None), Flux
        (double blocks, single blocks or None)."""
        import torch

        batch = x.shape[0]
        extras_list = _rows(extras_list, batch)
        if x.shape[1] != self.latent_channels:
            raise NodeError(f"the {self.family.upper()} model works on {self.latent_channels}-channel latents, "
                            f"got {x.shape[1]} channels (a latent from another model family?)")
        what = f"running the transformer on a batch of {batch} at {x.shape[3] * 8}x{x.shape[2] * 8}"
        with out_of_memory_as_error(what), self.patched(), torch.no_grad():
            h, w = x.shape[-2:]
            sample = self._with_concat(x.float(), extras_list)
            sample = _pad_to_patch(sample, self.patch).to(device=self.device, dtype=self.dtype)
            t = torch.as_tensor(timesteps, dtype=torch.float32, device=self.device).reshape(-1)
            if t.numel() == 1 and batch > 1:
                t = t.expand(batch)
            context = _batched(context, batch).to(device=self.device, dtype=self.dtype)
            pooled = self._pooled(extras_list).to(device=self.device, dtype=self.dtype)
            if self.family == "flux":
                out = self._flux(sample, t, context, pooled, extras_list, control)
            else:
                blocks = None if control is None else [b.to(device=self.device, dtype=self.dtype)
                                                       for b in control[0]]
                out = self._forward()(hidden_states=sample, encoder_hidden_states=context,
                                      pooled_projections=pooled, timestep=t, block_controlnet_hidden_states=blocks,
                                      return_dict=False)[0]
        return out[:, :, :h, :w].to(device=x.device, dtype=x.dtype)

    def flux_inputs(self, sample, t, context, pooled, extras_list) -> dict:
        """The Flux transformer's keyword inputs for a padded latent (also what Flux ControlNets take)."""
        import torch

        b, c, h, w = sample.shape
        packed = sample.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, h * w // 4, c * 4)
        rows = torch.arange(h // 2, device=self.device, dtype=torch.float32)
        cols = torch.arange(w // 2, device=self.device, dtype=torch.float32)
        img_ids = torch.zeros(h // 2, w // 2, 3, device=self.device)
        img_ids[..., 1] = rows[:, None]
        img_ids[..., 2] = cols[None, :]
        txt_ids = torch.zeros(context.shape[1], 3, device=self.device)
        guidance = None
        if self.guidance_embeds:
            guidance = torch.tensor([float(e.get("guidance", FLUX_DEFAULT_GUIDANCE)) for e in extras_list],
                                    device=self.device, dtype=torch.float32)
        return {"hidden_states": packed, "encoder_hidden_states": context, "pooled_projections": pooled,
                "timestep": t, "img_ids": img_ids.reshape(-1, 3), "txt_ids": txt_ids, "guidance": guidance}

    def _flux(self, sample, t, context, pooled, extras_list, control=None):
        b, c, h, w = sample.shape
        inputs = self.flux_inputs(sample, t, context, pooled, extras_list)
        if control is not None:  # (double-block residuals, single-block residuals) of a Flux ControlNet chain
            double, single = control[0], control[1]
            inputs["controlnet_block_samples"] = [r.to(device=self.device, dtype=self.dtype) for r in double]
            inputs["controlnet_single_block_samples"] = (
                None if single is None else [r.to(device=self.device, dtype=self.dtype) for r in single])
        out = self._forward()(**inputs, return_dict=False)[0]
        c_out = out.shape[-1] // 4
        return out.reshape(b, h // 2, w // 2, c_out, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, c_out, h, w)

    def _pooled(self, extras_list):
        import torch

        width = int(self.transformer.config.pooled_projection_dim)
        rows = []
        for extras in extras_list:
            pooled = extras.get("pooled_output")
            pooled = torch.zeros(width) if pooled is None else torch.as_tensor(pooled).reshape(-1).float()
            if pooled.numel() != width:
                raise NodeError(f"pooled text of width {pooled.numel()} for a {self.family.upper()} model expecting "
                                f"{width} (conditioning from another model's text encoders?)")
            rows.append(pooled.cpu())
        return torch.stack(rows)

    def _with_concat(self, x, extras_list):
        """x with the control image's latent appended, for models with extra input channels."""
        import torch
        import torch.nn.functional as F

        extra = self.in_channels - x.shape[1]
        if extra == 0:
            return x
        rows = []
        for i, extras in enumerate(extras_list):
            image = extras.get("concat_latent_image")
            if image is None:
                raise NodeError(f"this {self.family.upper()} model takes {extra} more input channels (a Canny, Depth "
                                "or Fill model): connect its image through InstructPixToPixConditioning or "
                                "InpaintModelConditioning")
            image = self.latent_format.process_in(torch.as_tensor(image).float())
            image = image[i % image.shape[0]:i % image.shape[0] + 1]
            if tuple(image.shape[-2:]) != tuple(x.shape[-2:]):
                image = F.interpolate(image, size=tuple(x.shape[-2:]), mode="bilinear")
            parts = [image]
            if extra == image.shape[1] + 64:  # Flux Fill: the mask's 8x8 pixel blocks as 64 channels
                parts.append(_mask_channels(extras.get("concat_mask"), i, x.shape[-2:]))
            row = torch.cat(parts, dim=1)
            if row.shape[1] != extra:
                raise NodeError(f"the model takes {extra} extra channels, the conditioning gives {row.shape[1]}")
            rows.append(row.to(x.device))
        return torch.cat([x, torch.cat(rows)], dim=1)


def _mask_channels(mask, row: int, size):
    """A pixel mask [B, H, W] (1 = repaint) as Flux Fill takes it: each 8x8 block's pixels as 64 channels."""
    import torch
    import torch.nn.functional as F

    if mask is None:
        raise NodeError("this Flux Fill model needs a mask: connect it through InpaintModelConditioning")
    h, w = int(size[0]), int(size[1])
    mask = torch.as_tensor(mask).float().reshape((-1, 1) + tuple(torch.as_tensor(mask).shape[-2:]))
    mask = mask[row % mask.shape[0]:row % mask.shape[0] + 1]
    mask = F.interpolate(mask, size=(h * 8, w * 8), mode="bilinear")
    return mask.reshape(1, h, 8, w, 8).permute(0, 2, 4, 1, 3).reshape(1, 64, h, w)


def _rows(extras_list, batch: int) -> list[dict]:
    rows = [dict(e or {}) for e in (extras_list or [{}])]
    if len(rows) == 1 and batch > 1:
        rows = rows * batch
    if len(rows) != batch:
        raise ValueError(f"{len(rows)} conditioning extras for a batch of {batch}")
    return rows


def _batched(context, batch: int):
    if context.shape[0] == batch:
        return context
    if context.shape[0] != 1:
        raise ValueError(f"context batch {context.shape[0]} does not match latent batch {batch}")
    return context.expand(batch, -1, -1)


def _pad_to_patch(x, patch: int):
    import torch.nn.functional as F

    pad_h, pad_w = (-x.shape[-2]) % patch, (-x.shape[-1]) % patch
    if not pad_h and not pad_w:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h), mode="circular")
