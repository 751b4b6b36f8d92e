"""Textual inversion embeddings (``embedding:name`` in a prompt) from the ``embeddings`` model folders.

As ComfyUI reads them (comfy/sd1_clip.py load_embed): the name is looked up as given, then with ``.safetensors``,
``.pt`` and ``.bin``, only inside the configured folders. The vectors are, in this order: A1111's
``string_to_param`` (its first tensor), the key named after the text encoder (SDXL files hold ``clip_l`` [n, 768]
and ``clip_g`` [n, 1280]), or every tensor as wide as the encoder, stacked. ``.pt`` / ``.bin`` files are read with
``torch.load(weights_only=True)`` (tensors and plain containers only, never pickled code).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

SUFFIXES = ("", ".safetensors", ".pt", ".bin")


class EmbeddingError(ValueError):
    pass


def read_embedding_file(path: Path) -> dict:
    """Name -> tensor of an embedding file (A1111's nested ``string_to_param`` is kept as a dict)."""
    import torch

    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a pickle with code, or not a torch file at all
        raise EmbeddingError(f"{path.name} could not be read as tensors ({type(e).__name__}); safe loading refuses "
                             "pickled code: convert it to .safetensors") from e
    if torch.is_tensor(data):
        return {"emb_params": data}
    if not isinstance(data, dict):
        raise EmbeddingError(f"{path.name} holds a {type(data).__name__}, not embedding tensors")
    return data


def embedding_vectors(data: dict, encoder_name: str, width: int):
    """The [n, width] vectors of an embedding for one text encoder, or None when it has none that wide."""
    import torch

    if isinstance(data.get("string_to_param"), dict) and data["string_to_param"]:
        tensor = next(iter(data["string_to_param"].values()))
    elif torch.is_tensor(data.get(encoder_name)):
        tensor = data[encoder_name]
    else:
        parts = [t.reshape(-1, t.shape[-1]) for t in data.values() if torch.is_tensor(t) and t.ndim >= 1
                 and t.shape[-1] == width]
        tensor = torch.cat(parts) if parts else None
    if tensor is None or tensor.shape[-1] != width:
        return None
    return tensor.reshape(-1, width).float()


class EmbeddingLibrary:
    """Finds and reads embeddings for prompts; remembers files by path and modification time."""

    def __init__(self, folders):
        self.folders = folders
        self._cache: dict = {}
        self._lock = threading.Lock()

    def find(self, name: str) -> Path | None:
        for suffix in SUFFIXES:
            path = self.folders.resolve("embeddings", name + suffix)
            if path is not None and path.is_file():
                return path
        return None

    def vectors(self, name: str, encoder_name: str, width: int):
        """[n, width] vectors of ``name`` for that encoder; None when there is no such file or no such vectors."""
        path = self.find(name)
        if path is None:
            return None
        key = (str(path), path.stat().st_mtime_ns)
        with self._lock:
            data = self._cache.get(key)
            if data is None:
                data = self._cache[key] = read_embedding_file(path)
        return embedding_vectors(data, encoder_name, width)


class EmbeddingToken:
    """One vector of an embedding standing in a token list where a token id would (compared by identity)."""

    __slots__ = ("vector", "name")

    def __init__(self, vector, name: str):
        self.vector, self.name = vector, name

    def __repr__(self) -> str:
        return f"EmbeddingToken({self.name!r})"


def embedding_tokens(library: "EmbeddingLibrary | None", encoder_name: str, width: int, missing: list):
    """The tokenizer's ``embed(name)`` callback for one encoder (None for a name it cannot find; a file it cannot
    read is reported to ``missing.unreadable(name, why)`` when the list has that method)."""
    def embed(name: str):
        try:
            vectors = library.vectors(name, encoder_name, width) if library is not None else None
        except (EmbeddingError, OSError, RuntimeError) as e:  # a damaged or unsafe file: skipped, said why
            report = getattr(missing, "unreadable", None)
            if report is not None:
                report(name, str(e))
            return None
        return None if vectors is None else [EmbeddingToken(v, name) for v in vectors]

    return embed


@contextmanager
def extra_token_vectors(token_embedding, vectors: list):
    """Within the block, ids ``vocab_size + i`` look up ``vectors[i]`` in ``token_embedding`` (an nn.Embedding).

    Hooks instead of a grown embedding matrix, so the shared module (and its LoRA-patched weight) stays as it is
    and nothing vocabulary-sized is copied: the pre-hook sends extra ids to id 0, the hook puts the vectors in.
    """
    if not vectors:
        yield
        return
    import torch

    vocab = token_embedding.num_embeddings
    table = torch.stack([v.reshape(-1) for v in vectors])
    state: dict = {}

    def before(module, args):
        ids = args[0]
        extra = ids >= vocab
        state["extra"], state["index"] = extra, (ids - vocab).clamp(min=0)
        return (torch.where(extra, torch.zeros_like(ids), ids),) + tuple(args[1:])

    def after(module, args, output):
        extra = state["extra"]
        values = table.to(device=output.device, dtype=output.dtype)[state["index"]]
        return torch.where(extra[..., None], values, output)

    handles = [token_embedding.register_forward_pre_hook(before), token_embedding.register_forward_hook(after)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
