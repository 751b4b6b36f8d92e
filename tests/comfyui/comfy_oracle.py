"""What ComfyUI's own frontend sends its server for a UI-format workflow (its ``graphToPrompt``), computed from the
file alone, independently of NodeFlow's importer: the widget lists below are ComfyUI's, written out by hand, and the
links are followed the way ComfyUI follows them (reroutes, primitives, bypassed nodes)."""
from __future__ import annotations

CONTROL, UPLOAD = object(), object()
CONTROLS = ("fixed", "increment", "decrement", "randomize")

#: ComfyUI's widgets per class, in widgets_values order (CONTROL: the seed's control_after_generate; UPLOAD: Load
#: Image's upload button, saved in the workflow but never sent).
WIDGETS = {
    "CheckpointLoaderSimple": ["ckpt_name"],
    "CLIPTextEncode": ["text"],
    "CLIPSetLastLayer": ["stop_at_clip_layer"],
    "EmptyLatentImage": ["width", "height", "batch_size"],
    "KSampler": ["seed", CONTROL, "steps", "cfg", "sampler_name", "scheduler", "denoise"],
    "KSamplerAdvanced": ["add_noise", "noise_seed", CONTROL, "steps", "cfg", "sampler_name", "scheduler",
                         "start_at_step", "end_at_step", "return_with_leftover_noise"],
    "VAEDecode": [], "VAEEncode": [], "PreviewImage": [],
    "SaveImage": ["filename_prefix"],
    "LoadImage": ["image", UPLOAD],
    "LoraLoader": ["lora_name", "strength_model", "strength_clip"],
    "LoraLoaderModelOnly": ["lora_name", "strength_model"],
    "LatentUpscale": ["upscale_method", "width", "height", "crop"],
    "LatentUpscaleBy": ["upscale_method", "scale_by"],
    "VAELoader": ["vae_name"],
    "PrimitiveInt": ["value", CONTROL], "PrimitiveFloat": ["value"], "PrimitiveString": ["value"],
    "PrimitiveStringMultiline": ["value"], "PrimitiveBoolean": ["value"],
    # image, mask, latent and upscale-model nodes (ComfyUI's nodes.py, comfy_extras/nodes_mask.py,
    # nodes_post_processing.py, nodes_latent.py, nodes_upscale_model.py, nodes_canny.py)
    "ImageScale": ["upscale_method", "width", "height", "crop"],
    "ImageScaleBy": ["upscale_method", "scale_by"],
    "ImageScaleToTotalPixels": ["upscale_method", "megapixels", "resolution_steps"],
    "ImageInvert": [], "ImageBatch": [], "MaskToImage": [], "InvertMask": [],
    "ImageCrop": ["width", "height", "x", "y"],
    "ImagePadForOutpaint": ["left", "top", "right", "bottom", "feathering"],
    "ImageCompositeMasked": ["x", "y", "resize_source"],
    "EmptyImage": ["width", "height", "batch_size", "color"],
    "Canny": ["low_threshold", "high_threshold"],
    "LoadImageMask": ["image", "channel", UPLOAD],
    "ImageToMask": ["channel"],
    "SolidMask": ["value", "width", "height"],
    "CropMask": ["x", "y", "width", "height"],
    "GrowMask": ["expand", "tapered_corners"],
    "FeatherMask": ["left", "top", "right", "bottom"],
    "ThresholdMask": ["value"],
    "MaskComposite": ["x", "y", "operation"],
    "SetLatentNoiseMask": [],
    "VAEEncodeForInpaint": ["grow_mask_by"],
    "InpaintModelConditioning": ["noise_mask"],
    "LatentComposite": ["x", "y", "feather"],
    "LatentCompositeMasked": ["x", "y", "resize_source"],
    "LatentBlend": ["blend_factor"],
    "LatentFromBatch": ["batch_index", "length"],
    "RepeatLatentBatch": ["amount"],
    "LatentBatch": [],
    "LatentCrop": ["width", "height", "x", "y"],
    "LatentFlip": ["flip_method"],
    "LatentRotate": ["rotation"],
    "SaveLatent": ["filename_prefix"],
    "LoadLatent": ["latent"],
    "UpscaleModelLoader": ["model_name"],
    "ImageUpscaleWithModel": [],
    "VAEDecodeTiled": ["tile_size", "overlap", "temporal_size", "temporal_overlap"],
    "VAEEncodeTiled": ["tile_size", "overlap", "temporal_size", "temporal_overlap"],
    # SD3 / Flux (issue 14)
    "UNETLoader": ["unet_name", "weight_dtype"], "CLIPLoader": ["clip_name", "type", "device"],
    "DualCLIPLoader": ["clip_name1", "clip_name2", "type", "device"],
    "TripleCLIPLoader": ["clip_name1", "clip_name2", "clip_name3"],
    "EmptySD3LatentImage": ["width", "height", "batch_size"],
    "CLIPTextEncodeFlux": ["clip_l", "t5xxl", "guidance"],
    "CLIPTextEncodeSD3": ["clip_l", "clip_g", "t5xxl", "empty_padding"], "FluxGuidance": ["guidance"],
    "ModelSamplingSD3": ["shift"], "ModelSamplingAuraFlow": ["shift"],
    "ModelSamplingFlux": ["max_shift", "base_shift", "width", "height"], "InstructPixToPixConditioning": [],
    # conditioning (ComfyUI's nodes.py, comfy_extras/nodes_clip_sdxl.py)
    "ConditioningCombine": [], "ConditioningConcat": [], "ConditioningZeroOut": [],
    "ConditioningAverage": ["conditioning_to_strength"],
    "ConditioningSetArea": ["width", "height", "x", "y", "strength"],
    "ConditioningSetAreaPercentage": ["width", "height", "x", "y", "strength"],
    "ConditioningSetAreaStrength": ["strength"], "ConditioningSetMask": ["strength", "set_cond_area"],
    "ConditioningSetTimestepRange": ["start", "end"],
    "CLIPTextEncodeSDXL": ["width", "height", "crop_w", "crop_h", "target_width", "target_height", "text_g",
                           "text_l"],
    "CLIPTextEncodeSDXLRefiner": ["ascore", "width", "height", "text"],
    # custom sampling (comfy_extras/nodes_custom_sampler.py, nodes_align_your_steps.py)
    "SamplerCustom": ["add_noise", "noise_seed", CONTROL, "cfg"], "SamplerCustomAdvanced": [],
    "KSamplerSelect": ["sampler_name"], "BasicScheduler": ["scheduler", "steps", "denoise"],
    "KarrasScheduler": ["steps", "sigma_max", "sigma_min", "rho"],
    "ExponentialScheduler": ["steps", "sigma_max", "sigma_min"],
    "PolyexponentialScheduler": ["steps", "sigma_max", "sigma_min", "rho"],
    "SDTurboScheduler": ["steps", "denoise"], "AlignYourStepsScheduler": ["model_type", "steps", "denoise"],
    "SplitSigmas": ["step"], "SplitSigmasDenoise": ["denoise"], "FlipSigmas": [],
    "RandomNoise": ["noise_seed", CONTROL], "DisableNoise": [], "CFGGuider": ["cfg"], "BasicGuider": [],
    "DualCFGGuider": ["cfg_conds", "cfg_cond2_negative", "style"],
    # ControlNet and model patches (nodes.py, comfy_extras/nodes_model_advanced.py, nodes_freelunch.py, ...)
    "ControlNetLoader": ["control_net_name"], "DiffControlNetLoader": ["control_net_name"],
    "ControlNetApply": ["strength"], "ControlNetApplyAdvanced": ["strength", "start_percent", "end_percent"],
    "ModelSamplingDiscrete": ["sampling", "zsnr"], "RescaleCFG": ["multiplier"],
    "FreeU": ["b1", "b2", "s1", "s2"], "FreeU_V2": ["b1", "b2", "s1", "s2"], "DifferentialDiffusion": ["strength"],
    "CLIPVisionLoader": ["clip_name"], "CLIPVisionEncode": ["crop"],
    "unCLIPConditioning": ["strength", "noise_augmentation"],
    "StyleModelLoader": ["style_model_name"], "StyleModelApply": ["strength", "strength_type"],
}
#: What ComfyUI fills in when an old file leaves a trailing value out.
DEFAULTS = {("SaveImage", "filename_prefix"): "ComfyUI", ("ImageScaleToTotalPixels", "resolution_steps"): 1,
            ("VAEDecodeTiled", "temporal_size"): 64, ("VAEDecodeTiled", "temporal_overlap"): 8,
            ("VAEEncodeTiled", "temporal_size"): 64, ("VAEEncodeTiled", "temporal_overlap"): 8,
            ("DifferentialDiffusion", "strength"): 1.0, ("DualCFGGuider", "style"): "regular",
            ("StyleModelApply", "strength"): 1.0, ("StyleModelApply", "strength_type"): "multiply"}
VIRTUAL = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}


def links_of(wf: dict) -> dict[int, tuple]:
    out = {}
    for l in wf.get("links") or []:
        if isinstance(l, dict):
            l = [l["id"], l["origin_id"], l["origin_slot"], l["target_id"], l["target_slot"], l.get("type")]
        out[l[0]] = tuple(l)
    return out


def widget_values(node: dict) -> dict:
    """Widget values by name, as ComfyUI's frontend assigns them (by position)."""
    names = WIDGETS[node["type"]]
    listed = [i["widget"]["name"] for i in node.get("inputs") or [] if i.get("widget")]
    plain = [n for n in names if isinstance(n, str)]
    # recent files list every widget as an input: they must agree with ComfyUI's order written above
    assert not listed or len(listed) < len(plain) or listed == plain, (node["type"], listed, plain)
    wv = node.get("widgets_values") or []
    values, i = {}, 0
    for name in names:
        if name is CONTROL:
            if i < len(wv) and (wv[i] in CONTROLS or wv[i] is True or wv[i] is False):
                i += 1
            continue
        if name is UPLOAD:
            i += 1
            continue
        if i < len(wv):
            values[name] = wv[i]
        elif (node["type"], name) in DEFAULTS:
            values[name] = DEFAULTS[(node["type"], name)]
        i += 1
    return values


def follow(wf_nodes: dict, links: dict, link_id: int):
    """("link", node id, slot) | ("value", v) | None, following reroutes, primitives and bypassed nodes."""
    link = links.get(link_id)
    for _ in range(1000):
        if link is None:
            return None
        src = wf_nodes[link[1]]
        if src["type"] == "Reroute":
            nxt = (src.get("inputs") or [{}])[0].get("link")
            link = links.get(nxt) if nxt is not None else None
            continue
        if src["type"] == "PrimitiveNode":
            wv = src.get("widgets_values") or []
            return ("value", wv[0]) if wv else None
        if src.get("mode") == 4:
            slot = link[2]
            ins, outs = src.get("inputs") or [], src.get("outputs") or []
            out_type = outs[slot].get("type")
            if slot < len(ins) and ins[slot].get("type") == out_type:
                pick = ins[slot]
            else:
                pick = next((i for i in ins if i.get("type") == out_type), None)
            link = links.get(pick.get("link")) if pick and pick.get("link") is not None else None
            continue
        return "link", src["id"], link[2]
    raise AssertionError("link loop")


def expected_prompt(wf: dict) -> dict:
    nodes = {n["id"]: n for n in wf["nodes"]}
    links = links_of(wf)
    prompt = {}
    for n in wf["nodes"]:
        if n.get("mode") in (2, 4) or n["type"] in VIRTUAL:
            continue
        inputs = widget_values(n)
        for entry in n.get("inputs") or []:
            if entry.get("link") is None:
                continue
            r = follow(nodes, links, entry["link"])
            if r is None:
                continue
            if r[0] == "value":
                inputs[entry["widget"]["name"] if entry.get("widget") else entry["name"]] = r[1]
            else:
                inputs[entry["name"]] = [str(r[1]), r[2]]
        item = {"class_type": n["type"], "inputs": inputs}
        if isinstance(n.get("title"), str):
            item["_meta"] = {"title": n["title"]}
        prompt[str(n["id"])] = item
    return prompt


def comparable(prompt: dict, titles_from: dict | None = None) -> dict:
    """A prompt reduced to what the oracle knows: class, inputs, and titles where the file set one."""
    out = {}
    for key, item in prompt.items():
        d = {"class_type": item["class_type"], "inputs": item["inputs"]}
        if titles_from is not None and "_meta" in titles_from.get(key, {}):
            d["_meta"] = {"title": item.get("_meta", {}).get("title")}
        out[key] = d
    return out
