"""Settings and folders: where models, inputs and outputs live, which device and precision to use.

Sources, later ones winning: built-in defaults (a per-user data folder from platformdirs), a JSON settings file,
environment variables, then command-line flags (or the editor's QSettings, which it passes in the same way).
Model roots use ComfyUI's layout (``<root>/checkpoints``, ``<root>/loras``, ``<root>/vae``), so an existing ComfyUI
``models`` folder can be added as it is. The project's built-in model is always listed, whatever the roots hold.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from nodeflow.paths import ASSETS_DIR

MODEL_KINDS = ("checkpoints", "loras", "vae", "embeddings", "upscale_models", "controlnet", "diffusion_models",
               "text_encoders", "clip_vision", "style_models")
FILE_KINDS = MODEL_KINDS + ("input", "output")
#: Older folder names ComfyUI still searches (after the current name, in every model root).
KIND_ALIASES = {"diffusion_models": ("unet",), "text_encoders": ("clip",), "controlnet": ("t2i_adapter",)}
_WEIGHTS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
MODEL_SUFFIXES = {
    "checkpoints": _WEIGHTS,
    "loras": (".safetensors",),
    "vae": _WEIGHTS,
    "embeddings": (".safetensors", ".pt", ".bin"),
    "upscale_models": _WEIGHTS,
    "controlnet": _WEIGHTS,
    "diffusion_models": _WEIGHTS,
    "text_encoders": _WEIGHTS,
    "clip_vision": _WEIGHTS,
    "style_models": _WEIGHTS,
    "input": (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"),
    "output": (".png",),
}
BUILTIN_MODELS_DIR = ASSETS_DIR / "models"
BUILTIN_INPUT_DIR = ASSETS_DIR / "input"
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


class SettingsError(ValueError):
    pass


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("NodeFlow", appauthor=False))


def default_settings_file() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("NodeFlow", appauthor=False)) / "settings.json"


@dataclass(frozen=True)
class Folders:
    """Resolves file names stored in workflows to files inside the configured folders, and nowhere else."""

    model_roots: tuple[Path, ...]
    input_dir: Path
    output_dir: Path
    include_builtin: bool = True

    def roots(self, kind: str) -> list[Path]:
        if kind == "input":  # the project's sample pictures come after the user's, so examples run anywhere
            return [self.input_dir] + ([BUILTIN_INPUT_DIR] if self.include_builtin else [])
        if kind == "output":
            return [self.output_dir]
        if kind not in MODEL_KINDS:
            raise SettingsError(f"unknown folder kind {kind!r}")
        names = (kind, *KIND_ALIASES.get(kind, ()))
        roots = [root / name for root in self.model_roots for name in names]
        if self.include_builtin:
            roots.append(BUILTIN_MODELS_DIR / kind)
        return roots

    def list_files(self, kind: str) -> list[str]:
        """Names (relative, '/'-separated) of the files of this kind; diffusers folders count as checkpoints.
        Symbolic links the user placed in the folders are followed (as ComfyUI does; models often live on another
        disk); a link loop is walked once, a dangling link is not listed. What is listed, ``resolve`` finds."""
        names: list[str] = []
        suffixes = MODEL_SUFFIXES[kind]
        for root in self.roots(kind):
            if not root.is_dir():
                continue
            seen_dirs: set[tuple[int, int]] = set()
            for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
                here = Path(dirpath)
                try:
                    st = here.stat()
                except OSError:
                    dirnames[:] = []
                    continue
                if (st.st_dev, st.st_ino) in seen_dirs:  # reached again through a link: a loop
                    dirnames[:] = []
                    continue
                seen_dirs.add((st.st_dev, st.st_ino))
                rel_dir = here.relative_to(root)
                if kind == "checkpoints" and "model_index.json" in filenames and here != root:
                    names.append(rel_dir.as_posix())
                    dirnames[:] = []  # a diffusers folder is one checkpoint
                    continue
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for fn in filenames:
                    if fn.lower().endswith(suffixes) and not fn.startswith("."):
                        name = (rel_dir / fn).as_posix()
                        if is_safe_name(name) and (here / fn).exists():  # a dangling link names nothing
                            names.append(name)
        seen: set[str] = set()
        return [n for n in names if not (n in seen or seen.add(n))]

    def resolve(self, kind: str, name: str) -> Path | None:
        """The existing file (or diffusers folder) called ``name`` in this kind's folders; None if there is none.

        Names come from workflow files, which may be hostile: absolute paths, drive letters and '..' are refused
        outright (``name_problem``), so a name can only lead outside its folder through a symbolic link that
        someone with write access to the folder placed there: the user's choice, followed as ComfyUI does.
        """
        if not is_safe_name(name):
            return None
        for root in self.roots(kind):
            candidate = root / PurePosixPath(name)
            try:
                if candidate.exists():
                    return candidate.resolve()
            except OSError:  # a name too long for this file system, a folder we may not read, a link loop
                continue
        return None

    def searched(self, kind: str) -> list[str]:
        return [str(p) for p in self.roots(kind)]


#: The longest file or folder name that ext4, APFS, NTFS (255 UTF-16 units) and FAT all take, in UTF-8 bytes.
MAX_NAME_PART_BYTES = 255


def name_problem(name: Any) -> str | None:
    """Why ``name`` (from a workflow, may be hostile) cannot name a file inside a folder, or None when it can: a
    relative, '/'-separated name with no '..', no drive, no NUL, whose every part a file system accepts."""
    if not isinstance(name, str) or not name:
        return "an empty name"
    if "\x00" in name:
        return "the name holds a NUL character"
    if "\\" in name:
        return "the name holds a backslash (folders are separated by '/')"
    if len(name) > 1024:
        return f"the name is {len(name)} characters long (limit 1024)"
    p = PurePosixPath(name)
    if not p.parts:  # "." and "./" name the folder itself, not a file in it
        return "the name is the folder itself, not a file in it"
    if p.is_absolute() or ":" in p.parts[0]:
        return "an absolute path (names are relative to the configured folders)"
    if ".." in p.parts:
        return "the name holds '..' (names stay inside the configured folders)"
    for part in p.parts:
        size = len(part.encode("utf-8", "surrogatepass"))
        if size > MAX_NAME_PART_BYTES:
            return (f"the part {part[:24]!r}... is {size} bytes long; file systems take at most "
                    f"{MAX_NAME_PART_BYTES}")
    return None


def is_safe_name(name: Any) -> bool:
    """A relative, '/'-separated name that cannot point outside its folder and that a file system can hold."""
    return name_problem(name) is None


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    model_roots: tuple[Path, ...]
    input_dir: Path
    output_dir: Path
    device: str = "auto"
    precision: str = "auto"
    cache_budget_mb: int = 4096
    #: torch CPU threads; 0 = automatic (the physical cores, fewer where other processes keep cores busy; see
    #: core.device.default_cpu_threads)
    cpu_threads: int = 0
    #: compile the diffusion model with torch.compile (opt-in: the first run compiles for minutes; the compiled
    #: kernels are cached under ``<data_dir>/inductor`` for later processes)
    compile: bool = False
    pack_dirs: tuple[Path, ...] = ()
    include_builtin_models: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def folders(self) -> Folders:
        return Folders(self.model_roots, self.input_dir, self.output_dir, self.include_builtin_models)

    @property
    def cache_budget_bytes(self) -> int:
        return int(self.cache_budget_mb) * 1024 * 1024

    def with_overrides(self, *, models: list[str] | None = None, output: str | None = None,
                       input: str | None = None, device: str | None = None, precision: str | None = None,
                       cache_budget_mb: int | None = None, cpu_threads: int | None = None) -> "Settings":
        """Command-line flags: ``models`` adds roots in front (searched first)."""
        s = self
        if models:
            s = replace(s, model_roots=tuple(Path(m).expanduser() for m in models) + s.model_roots)
        if output:
            s = replace(s, output_dir=Path(output).expanduser())
        if input:
            s = replace(s, input_dir=Path(input).expanduser())
        if device:
            s = replace(s, device=_check_choice("device", device, DEVICES))
        if precision:
            s = replace(s, precision=_check_choice("precision", precision, PRECISIONS))
        if cache_budget_mb is not None:
            s = replace(s, cache_budget_mb=int(cache_budget_mb))
        if cpu_threads is not None:
            s = replace(s, cpu_threads=max(0, int(cpu_threads)))
        return s

    @classmethod
    def load(cls, settings_file: str | os.PathLike | None = None,
             env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        data_dir = Path(env.get("NODEFLOW_HOME") or default_data_dir()).expanduser()
        values: dict[str, Any] = {}
        path = Path(settings_file or env.get("NODEFLOW_SETTINGS") or default_settings_file()).expanduser()
        if path.is_file():
            try:
                values = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise SettingsError(f"settings file {path}: {e}") from e
            if not isinstance(values, dict):
                raise SettingsError(f"settings file {path}: expected a JSON object")
        data_dir = Path(values.get("data_dir", data_dir)).expanduser()
        roots = [Path(p).expanduser() for p in _as_list(values.get("models"), "models")]
        env_models = [Path(p).expanduser() for p in env.get("NODEFLOW_MODELS", "").split(os.pathsep) if p]
        model_roots = tuple(env_models + roots + [data_dir / "models"])
        s = cls(
            data_dir=data_dir,
            model_roots=model_roots,
            input_dir=Path(env.get("NODEFLOW_INPUT") or values.get("input") or data_dir / "input").expanduser(),
            output_dir=Path(env.get("NODEFLOW_OUTPUT") or values.get("output") or data_dir / "output").expanduser(),
            device=_check_choice("device", env.get("NODEFLOW_DEVICE") or values.get("device", "auto"), DEVICES),
            precision=_check_choice("precision", values.get("precision", "auto"), PRECISIONS),
            cache_budget_mb=int(values.get("cache_budget_mb", 4096)),
            cpu_threads=int(values.get("cpu_threads", 0)),
            compile=bool(values.get("compile", False)),
            pack_dirs=tuple(Path(p).expanduser() for p in _as_list(values.get("node_packs"), "node_packs"))
            + (data_dir / "nodes",),
            extra={k: v for k, v in values.items() if k not in _KNOWN_KEYS},
        )
        return s

    def to_json(self) -> dict:
        return {"data_dir": str(self.data_dir), "models": [str(p) for p in self.model_roots],
                "input": str(self.input_dir), "output": str(self.output_dir), "device": self.device,
                "precision": self.precision, "cache_budget_mb": self.cache_budget_mb, "cpu_threads": self.cpu_threads,
                "compile": self.compile, "node_packs": [str(p) for p in self.pack_dirs]}


_KNOWN_KEYS = {"data_dir", "models", "input", "output", "device", "precision", "cache_budget_mb", "cpu_threads",
               "compile", "node_packs"}


def _as_list(value, key) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise SettingsError(f"settings: {key!r} must be a path or a list of paths")


def _check_choice(key: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SettingsError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    return value
