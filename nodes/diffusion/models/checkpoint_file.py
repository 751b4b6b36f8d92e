"""Reading weights from disk: ``.safetensors``, legacy pickled ``.ckpt`` (weights only), diffusers folders.

Every failure becomes a ``CheckpointError`` whose message says what was wrong in words a user can act on; the
loader node prefixes the file name and attaches it to the ``ckpt_name`` field.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
HINTS_KEY = "nodeflow.hints"


class CheckpointError(ValueError):
    """The file is not something we can load; the message explains why (without the file name)."""


def is_diffusers_folder(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / "model_index.json").is_file()


def file_identity(path: Path) -> tuple[str, int, int]:
    """(resolved path, size, mtime_ns) for cache keys; for a folder, totals over its weight files."""
    path = Path(path).resolve()
    if path.is_dir():
        size, mtime = 0, 0
        for dirpath, _dirs, files in os.walk(path):
            for name in files:
                st = os.stat(os.path.join(dirpath, name))
                size += st.st_size
                mtime = max(mtime, st.st_mtime_ns)
        return str(path), size, mtime
    st = path.stat()
    return str(path), st.st_size, st.st_mtime_ns


def read_state_dict(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """All tensors of a single-file checkpoint (on the CPU) and its metadata (safetensors header; {} for pickles)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("no such file")
    if path.stat().st_size == 0:
        raise CheckpointError("the file is empty")
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        return _read_safetensors(path)
    if suffix in PICKLE_SUFFIXES:
        return _read_pickle(path), {}
    raise CheckpointError(f"unsupported file type {suffix or '(none)'}: use .safetensors or .ckpt")


def _read_safetensors(path: Path):
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except SafetensorError as e:
        raise CheckpointError(f"not a valid .safetensors file, probably truncated or corrupt ({e})") from e
    except (OSError, ValueError) as e:
        raise CheckpointError(f"could not read it as .safetensors ({e})") from e
    if not tensors:
        raise CheckpointError("the file holds no weights")
    return tensors, metadata


def _read_pickle(path: Path) -> dict:
    import pickle
    import zipfile

    import torch

    try:
        # weights_only: a pickle can run arbitrary code; only tensors and plain containers are accepted.
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            "this pickled checkpoint holds Python objects besides weights, which are not loaded for safety; "
            f"convert it to .safetensors ({str(e).splitlines()[0][:200]})") from e
    except (EOFError, zipfile.BadZipFile, RuntimeError, OSError, ValueError) as e:
        raise CheckpointError(f"could not read it as a .ckpt file, probably truncated or corrupt ({e})") from e
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # Lightning checkpoints wrap the weights
    elif isinstance(obj, dict) and isinstance(obj.get("adapter"), dict):
        obj = obj["adapter"]  # some T2I-Adapter .pth files do too (ComfyUI unwraps them the same way)
    if not isinstance(obj, dict):
        raise CheckpointError("the file holds no state dict")
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError("the file holds no weights")
    return tensors


def read_hints(metadata: dict[str, str]) -> dict:
    """The ``nodeflow.hints`` a file written by ``save_single_file`` carries (values checked; {} if none)."""
    raw = metadata.get(HINTS_KEY)
    if not raw:
        return {}
    try:
        hints = json.loads(raw)
    except ValueError:
        return {}
    return hints if isinstance(hints, dict) else {}


def read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"missing {Path(path).parent.name}/{Path(path).name}") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"unreadable {Path(path).name} ({e})") from e
    if not isinstance(data, dict):
        raise CheckpointError(f"{Path(path).name} is not a JSON object")
    return data
