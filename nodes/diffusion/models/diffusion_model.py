"""The MODEL object the samplers call (contract in ``nodes/diffusion/sampling/__init__.py``).

- ``model_sampling``: the sampling package's ``ModelSampling`` (SD's scaled-linear betas, epsilon or v prediction)
- ``latent_format``: the sampling package's ``LatentFormat`` (scale factor, channels, preview factors)
- ``device``, ``dtype``, ``family`` ("sd1", "sd2", "sdxl", "sdxl_refiner"), ``in_channels`` (9: an inpainting
  UNet, whose mask / masked-image channels come from sampling/inpaint_inputs.py)
- ``apply_model(x_scaled, timesteps, context, extras_list)``: the raw UNet output (eps or v) for an input already
  multiplied by c_in; SDXL's added conditioning is built from each batch row's extras dict (below)
- ``with model.patched():`` holds the UNet on the device with this MODEL's LoRA patches applied; apply_model enters
  it too (a no-op inside an outer ``patched()``), so a sampler should wrap its whole loop in it once.
- ``compile`` (``settings.compile``): the UNet runs through ``torch.compile``, made once per shared UNet. On the CPU
  with inductor's freezing, which pre-packs the convolution weights for oneDNN once instead of reordering them on
  every call (measured on an SD1.5-sized UNet at 64 px, 1 thread: steps 1.9x faster in fp32, 2.6x in bf16, after a
  first run that compiles for about 2 minutes; see benchmarks/bench_speed.py --compile). The pre-packed copies cost
  about the UNet's size in memory. Frozen weights are constants of the compiled graph, so a LoRA-patched MODEL runs
  eagerly instead.

SDXL extras per row (ComfyUI's names): ``pooled_output`` [1, P] (zeros if absent), ``width``/``height`` (original
size; default: the latent's size in pixels), ``crop_w``/``crop_h`` (0), ``target_width``/``target_height``
(default: width/height); the refiner uses ``aesthetic_score`` (default 6, or 2.5 when ``prompt_type`` is
"negative") instead of the target size.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager

from nodeflow.core.context import NodeError
from nodes.diffusion.models.families import SDXL_REFINER
from nodes.diffusion.models.memory import MovablePart, device_memory, out_of_memory_as_error
from nodes.diffusion.models.patching import SharedModule, WeightPatch
from nodes.diffusion.models.unet_hooks import output_block_patches


class DiffusionModel:
    def __init__(self, *, shared: SharedModule, part: MovablePart, family: str, model_sampling, latent_format,
                 device: str, dtype, latent_downscale: int = 8, patches: tuple[WeightPatch, ...] = (),
                 name: str = "", compile: bool = False):
        self.shared = shared
        self.part = part
        self.family = family
        self.model_sampling = model_sampling
        self.latent_format = latent_format
        self.device = device
        self.dtype = dtype
        self.latent_downscale = latent_downscale
        self.patches = tuple(patches)
        self.name = name
        self.compile = compile
        #: sampling-time patches, ComfyUI's model_options names (sampler_cfg_function, denoise_mask_function,
        #: output_block_patch, ...); replaced, never changed in place, by the patch nodes (clones share it)
        self.model_options: dict = {}

    @property
    def unet(self):
        return self.shared.module

    @property
    def in_channels(self) -> int:
        return int(self.unet.config.in_channels)

    @property
    def prediction_type(self) -> str:
        return self.model_sampling.prediction_type

    def __repr__(self) -> str:
        return (f"DiffusionModel({self.name!r}, {self.family}, {self.prediction_type}, "
                f"{len(self.patches)} patches)")

    # -- clones --------------------------------------------------------------------------------------------------------
    def clone(self, **changes) -> "DiffusionModel":
        other = copy.copy(self)
        for key, value in changes.items():
            setattr(other, key, value)
        return other

    def with_patches(self, patches) -> "DiffusionModel":
        return self.clone(patches=self.patches + tuple(patches))

    def with_prediction_type(self, prediction_type: str) -> "DiffusionModel":
        from nodes.diffusion.sampling.model_sampling import ModelSampling

        ms = self.model_sampling
        if ms.prediction_type == prediction_type:
            return self
        return self.clone(model_sampling=ModelSampling(ms.beta_schedule, ms.linear_start, ms.linear_end,
                                                       ms.num_timesteps, prediction_type))

    # -- use -----------------------------------------------------------------------------------------------------------
    @contextmanager
    def patched(self):
        with device_memory().use(self.part, self.device), self.shared.applied(self.patches):
            yield self

    def apply_model(self, x, timesteps, context, extras_list=None, control=None):
        """The UNet's raw output; ``control``: ControlNet residuals (down list, mid) added to its skips and middle,
        and optionally T2I-Adapter features (a third item) added inside its down blocks."""
        import torch

        batch = x.shape[0]
        if x.shape[1] + 5 == self.in_channels:  # an inpainting UNet: mask and masked-image channels follow
            from nodes.diffusion.sampling.inpaint_inputs import concat_channels

            x = torch.cat([x, concat_channels(x, extras_list, self.latent_format, 5)], dim=1)
        if x.shape[1] != self.in_channels:
            raise NodeError(f"the UNet takes {self.in_channels}-channel latents, got {x.shape[1]} channels")
        with out_of_memory_as_error(f"running the UNet on a batch of {batch} at "
                                    f"{x.shape[3] * self.latent_downscale}x{x.shape[2] * self.latent_downscale}"), \
                self.patched(), torch.no_grad():
            sample = x.to(device=self.device, dtype=self.dtype)
            t = torch.as_tensor(timesteps, dtype=torch.float32, device=self.device).reshape(-1)
            if t.numel() == 1 and batch > 1:
                t = t.expand(batch)
            context = context.to(device=self.device, dtype=self.dtype)
            if context.shape[0] != batch:
                if context.shape[0] != 1:
                    raise ValueError(f"context batch {context.shape[0]} does not match latent batch {batch}")
                context = context.expand(batch, -1, -1)
            added = None
            if self.unet.config.addition_embed_type == "text_time":
                added = self._sdxl_added_conditioning(extras_list, batch, x.shape[2], x.shape[3])
            extra = {}
            if control is not None:
                down, mid = control[0], control[1]
                intrablock = control[2] if len(control) > 2 else None
                if down is not None:
                    extra = {"down_block_additional_residuals": [r.to(device=self.device, dtype=self.dtype)
                                                                 for r in down],
                             "mid_block_additional_residual": mid.to(device=self.device, dtype=self.dtype)}
                if intrablock is not None:  # T2I-Adapter features (a fresh list: the UNet pops from it)
                    extra["down_intrablock_additional_residuals"] = [r.to(device=self.device, dtype=self.dtype)
                                                                     for r in intrablock]
            block_patches = self.model_options.get("output_block_patch", ())
            # hooks (and residual inputs the compiled graph was not traced with) need the eager module
            forward = self.unet if block_patches or extra else self._forward()
            with output_block_patches(self.unet, block_patches):
                out = forward(sample, t, encoder_hidden_states=context, added_cond_kwargs=added,
                              return_dict=False, **extra)[0]
        return out.to(device=x.device, dtype=x.dtype)

    def _forward(self):
        """The UNet, or its compiled form (made on first use, shared by the clones)."""
        kind = str(self.device).split(":")[0]
        if not self.compile or self.patches or kind not in ("cpu", "cuda"):
            return self.unet
        compiled = self.shared.memo.get("compiled")
        if compiled is None:
            import torch

            if kind == "cpu":
                import torch._inductor.config as inductor_config

                # process-wide: torch.compile(options={"freezing": True}) did not freeze (measured 2.5 s a forward
                # against 0.36 s). Not on GPUs: frozen constants would pin the weights there when offloaded.
                inductor_config.freezing = True
            compiled = torch.compile(self.unet)
            self.shared.memo["compiled"] = compiled
        return compiled

    def added_conditioning(self, extras_list, batch: int, height: int, width: int) -> dict:
        """SDXL's added conditioning for a batch (ControlNets take the UNet's)."""
        return self._sdxl_added_conditioning(extras_list, batch, height, width)

    def _sdxl_added_conditioning(self, extras_list, batch: int, height: int, width: int) -> dict:
        """SDXL's pooled text and size conditioning (Podell et al. 2023, sec. 2.2), one row per batch item."""
        import torch

        config = self.unet.config
        refiner = self.family == SDXL_REFINER
        n_values = 5 if refiner else 6
        pooled_dim = int(config.projection_class_embeddings_input_dim) - n_values * int(config.addition_time_embed_dim)
        extras_list = list(extras_list or [{}])
        if len(extras_list) == 1 and batch > 1:
            extras_list = extras_list * batch
        if len(extras_list) != batch:
            raise ValueError(f"{len(extras_list)} conditioning extras for a batch of {batch}")
        pixel_h, pixel_w = height * self.latent_downscale, width * self.latent_downscale
        embeds, time_ids = [], []
        for extras in extras_list:
            extras = extras or {}
            pooled = extras.get("pooled_output")
            if pooled is None:
                pooled = torch.zeros(pooled_dim)
            pooled = torch.as_tensor(pooled).reshape(-1)
            if pooled.numel() != pooled_dim:
                raise ValueError(f"pooled text of width {pooled.numel()} for a UNet expecting {pooled_dim} "
                                 "(conditioning from another model's CLIP?)")
            w, h = extras.get("width", pixel_w), extras.get("height", pixel_h)
            values = [h, w, extras.get("crop_h", 0), extras.get("crop_w", 0)]
            if refiner:
                default_score = 2.5 if extras.get("prompt_type") == "negative" else 6.0
                values.append(extras.get("aesthetic_score", default_score))
            else:
                values += [extras.get("target_height", h), extras.get("target_width", w)]
            embeds.append(pooled)
            time_ids.append([float(v) for v in values])
        return {"text_embeds": torch.stack(embeds).to(device=self.device, dtype=self.dtype),
                "time_ids": torch.tensor(time_ids, device=self.device, dtype=self.dtype)}


def prepare_compile(model: DiffusionModel, data_dir, log) -> DiffusionModel:
    """``model`` set to run compiled (``settings.compile``), inductor's cache in ``<data_dir>/inductor`` so later
    processes reuse the compiled kernels; says, once per UNet, that the first sampling compiles."""
    import os

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(str(data_dir), "inductor"))
    if "compiled" not in model.shared.memo and not model.shared.memo.get("compile_announced"):
        model.shared.memo["compile_announced"] = True
        log("compile is on: the first sampling compiles the UNet with torch.compile (minutes on a CPU; again for "
            "each new image size); the kernels are cached in " + os.environ["TORCHINDUCTOR_CACHE_DIR"])
    return model.clone(compile=True)

