"""How often each node type is added, to rank the node search (a wire dropped from CLIP should offer CLIP Text
Encode before CLIP Set Last Layer). Counts start from a prior of what ComfyUI workflows use most, so a new user's
search is sensible at once, and grow with the user's own adds. Qt-free; the window persists ``counts``."""
from __future__ import annotations

import math

#: Rough relative use of core nodes in ComfyUI workflows (the templates and shared workflows): a starting point.
PRIOR = {
    "KSampler": 40, "CLIPTextEncode": 40, "CheckpointLoaderSimple": 30, "VAEDecode": 30, "SaveImage": 25,
    "EmptyLatentImage": 25, "PreviewImage": 20, "LoadImage": 18, "VAEEncode": 14, "LoraLoader": 14,
    "KSamplerAdvanced": 8, "LatentUpscale": 6, "LatentUpscaleBy": 6, "VAELoader": 8, "CLIPSetLastLayer": 4,
    "Reroute": 10, "Note": 6, "VAEDecodeTiled": 3, "VAEEncodeTiled": 2, "LoraLoaderModelOnly": 3,
    # the newer vocabulary (SD3/Flux, custom sampling, ControlNet, upscale, inpaint); ComfyUI's deprecated
    # "Apply ControlNet (OLD)" gets none, so its advanced successor comes first
    "ControlNetLoader": 8, "ControlNetApplyAdvanced": 8, "UNETLoader": 6, "DualCLIPLoader": 5, "CLIPLoader": 4,
    "FluxGuidance": 5, "EmptySD3LatentImage": 5, "ModelSamplingSD3": 4, "ImageScale": 6, "UpscaleModelLoader": 5,
    "ImageUpscaleWithModel": 5, "VAEEncodeForInpaint": 5, "InpaintModelConditioning": 4, "SetLatentNoiseMask": 4,
    "KSamplerSelect": 4, "BasicScheduler": 4, "RandomNoise": 4, "BasicGuider": 4, "CFGGuider": 3,
    "SamplerCustomAdvanced": 4, "ConditioningCombine": 4, "ConditioningSetArea": 3,
}
#: How much one of the user's own adds counts against the prior.
OWN_WEIGHT = 5


class NodeUsage:
    def __init__(self, counts: dict[str, int] | None = None):
        self.counts: dict[str, int] = dict(counts or {})

    def used(self, type_name: str) -> None:
        self.counts[type_name] = self.counts.get(type_name, 0) + 1

    def weight(self, type_name: str) -> float:
        """0 for a node never used and without prior; grows slowly (log) so it orders, not overrides, matches."""
        return math.log1p(PRIOR.get(type_name, 0) + OWN_WEIGHT * self.counts.get(type_name, 0))
