"""ComfyUI's published workflow templates, vendored in tests/data/comfyui (see its README), read once per session."""
from __future__ import annotations

import functools
import json
import tarfile
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data" / "comfyui"
CLASSIC = DATA / "comfyui-workflow-templates-0.1.48.tar.xz"
NEWER = DATA / "comfyui-workflow-templates-json-0.1.123.tar.xz"

#: The node types NodeFlow has; a template made only of these must import, validate and convert exactly.
SUPPORTED = {"CheckpointLoaderSimple", "CLIPTextEncode", "CLIPSetLastLayer", "EmptyLatentImage", "KSampler",
             "KSamplerAdvanced", "VAEDecode", "VAEEncode", "SaveImage", "PreviewImage", "LoadImage", "LoraLoader",
             "LoraLoaderModelOnly", "LatentUpscale", "LatentUpscaleBy", "VAELoader", "Note", "MarkdownNote",
             "Reroute", "PrimitiveNode", "PrimitiveInt", "PrimitiveFloat", "PrimitiveString",
             "PrimitiveStringMultiline", "PrimitiveBoolean"}


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
    if not archive.is_file():
        pytest.skip(f"{archive.name} is not vendored in tests/data/comfyui")
    return {k: v for k, v in _read(archive).items() if isinstance(v, dict) and isinstance(v.get("nodes"), list)}


SETS = {"0.1.48": CLASSIC, "0.1.123": NEWER}


def all_workflows() -> dict[str, dict]:
    """Both sets, "set/file" -> workflow; a set whose archive was removed is left out (see the data README)."""
    out = {}
    for tag, archive in SETS.items():
        if archive.is_file():
            out.update({f"{tag}/{k}": v for k, v in workflows(archive).items()})
    if not out:
        pytest.skip("no ComfyUI template archive is vendored in tests/data/comfyui")
    return out


def need(name: str) -> None:
    """Skip when the set holding ``name`` ("set/file") is not vendored."""
    archive = SETS[name.split("/", 1)[0]]
    if not archive.is_file():
        pytest.skip(f"{archive.name} is not vendored in tests/data/comfyui (see its README)")


def node_types(wf: dict) -> set[str]:
    return {n["type"] for n in wf["nodes"]}


def supported_only(wfs: dict[str, dict]) -> dict[str, dict]:
    return {k: v for k, v in wfs.items() if node_types(v) <= SUPPORTED}


def load(name: str) -> dict:
    """One template by "set/file" name, e.g. "0.1.48/default.json" (skips if its set is not vendored)."""
    need(name)
    return all_workflows()[name]
