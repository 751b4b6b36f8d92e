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
    #: What was wrong in the settings file or the environment (each setting named; its default used instead).
    warnings: tuple[str, ...] = field(default=(), compare=False)

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
        """Settings from the file and the environment. Never fails on what they hold: a missing, unreadable or
        malformed file, or a setting of the wrong type, is a line in ``warnings`` naming the setting and where
        it came from, and that setting keeps its default (the CLI prints them, the editor shows them)."""
        env = os.environ if env is None else env
        warnings: list[str] = []
        values = _read_settings_file(settings_file, env, warnings)
        where = values.pop("\0where", "settings")
        check = _Checker(warnings, where)
        for key in sorted(k for k in _KNOWN_KEYS if k in values and values[k] is None):
            warnings.append(f"{where}: '{key}' is null; using the default")
        home = check.path("NODEFLOW_HOME", env.get("NODEFLOW_HOME"), "the environment") if env.get("NODEFLOW_HOME") \
            else None
        data_dir = check.path("data_dir", values.get("data_dir")) or home or default_data_dir()
        roots = check.paths("models", values.get("models"))
        env_models = [r for p in env.get("NODEFLOW_MODELS", "").split(os.pathsep) if p
                      if (r := check.path("NODEFLOW_MODELS", p, "the environment", "the others")) is not None]
        model_roots = tuple(env_models + roots + [data_dir / "models"])
        input_dir = (check.path("NODEFLOW_INPUT", env.get("NODEFLOW_INPUT"), "the environment")
                     or check.path("input", values.get("input")) or data_dir / "input")
        output_dir = (check.path("NODEFLOW_OUTPUT", env.get("NODEFLOW_OUTPUT"), "the environment")
                      or check.path("output", values.get("output")) or data_dir / "output")
        device = (check.choice("NODEFLOW_DEVICE", env.get("NODEFLOW_DEVICE"), DEVICES, "the environment")
                  or check.choice("device", values.get("device"), DEVICES) or "auto")
        return cls(
            data_dir=data_dir, model_roots=model_roots, input_dir=input_dir, output_dir=output_dir, device=device,
            precision=check.choice("precision", values.get("precision"), PRECISIONS) or "auto",
            cache_budget_mb=check.integer("cache_budget_mb", values.get("cache_budget_mb"), 4096),
            cpu_threads=check.integer("cpu_threads", values.get("cpu_threads"), 0),
            compile=check.boolean("compile", values.get("compile"), False),
            pack_dirs=tuple(check.paths("node_packs", values.get("node_packs"))) + (data_dir / "nodes",),
            extra={k: v for k, v in values.items() if k not in _KNOWN_KEYS},
            warnings=tuple(warnings),
        )

    def to_json(self) -> dict:
        return {"data_dir": str(self.data_dir), "models": [str(p) for p in self.model_roots],
                "input": str(self.input_dir), "output": str(self.output_dir), "device": self.device,
                "precision": self.precision, "cache_budget_mb": self.cache_budget_mb, "cpu_threads": self.cpu_threads,
                "compile": self.compile, "node_packs": [str(p) for p in self.pack_dirs]}


_KNOWN_KEYS = {"data_dir", "models", "input", "output", "device", "precision", "cache_budget_mb", "cpu_threads",
               "compile", "node_packs"}


def _read_settings_file(settings_file, env: Mapping[str, str], warnings: list[str]) -> dict:
    """The settings file's object (with its name under "\\0where"), or {} with a warning saying why not."""
    named_by = "--settings" if settings_file else ("NODEFLOW_SETTINGS" if env.get("NODEFLOW_SETTINGS") else None)
    raw = settings_file or env.get("NODEFLOW_SETTINGS")
    try:
        path = Path(raw).expanduser() if raw else default_settings_file()
    except (RuntimeError, ValueError, TypeError) as e:  # "~nosuchuser/...", NUL
        warnings.append(f"settings file {raw!r} named by {named_by}: {e}; using the defaults")
        return {}
    if str(path) == os.devnull:
        return {}
    try:
        if not path.is_file():
            if named_by:
                warnings.append(f"settings file {path} named by {named_by} "
                                f"{'is not a file' if path.exists() else 'does not exist'}; using the defaults")
            return {}
        data = path.read_bytes()
    except OSError as e:
        warnings.append(f"settings file {path}: cannot read it ({e.strerror or e}); using the defaults")
        return {}
    from nodeflow.formats.json_limits import WorkflowError, parse_json

    try:
        values = parse_json(data, "file", limit=16 * 1024 * 1024)
    except WorkflowError as e:
        warnings.append(f"settings file {path}: {e}; using the defaults")
        return {}
    if not isinstance(values, dict):
        warnings.append(f"settings file {path}: expected a JSON object; using the defaults")
        return {}
    return {**values, "\0where": f"settings file {path}"}


class _Checker:
    """Reads one setting at a time: the value if it has the right type, else None (or the default) and a
    warning naming the setting and where it came from. Hand-written: the settings are a handful of keys, and a
    schema library would not name the file and the default in its messages."""

    def __init__(self, warnings: list[str], where: str):
        self.warnings, self.where = warnings, where

    def _warn(self, key: str, problem: str, default: str, where: str | None) -> None:
        self.warnings.append(f"{where or self.where}: '{key}' {problem}; using {default}")

    def path(self, key: str, value: Any, where: str | None = None, instead: str = "the default") -> Path | None:
        if value is None:
            return None
        problem = _path_problem(value)
        if problem is None:
            try:
                return Path(value).expanduser()
            except RuntimeError as e:  # "~nosuchuser"
                problem = f"cannot be expanded ({e})"
        self._warn(key, problem, instead, where)
        return None

    def paths(self, key: str, value: Any) -> list[Path]:
        if value is None:
            return []
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            self._warn(key, f"must be a path or a list of paths, not {_kind(value)}", "no paths from it", None)
            return []
        return [p for v in items if (p := self.path(key, v, None, "the others")) is not None]

    def choice(self, key: str, value: Any, allowed: tuple[str, ...], where: str | None = None) -> str | None:
        if value is None or value in allowed:
            return value
        self._warn(key, f"must be one of {', '.join(allowed)}, not {_short(value)}", "the default", where)
        return None

    def integer(self, key: str, value: Any, default: int) -> int:
        if value is None:
            return default
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2 ** 31:
            self._warn(key, f"must be a whole number of 0 or more, not {_short(value)}", str(default), None)
            return default
        return value

    def boolean(self, key: str, value: Any, default: bool) -> bool:
        if value is None or isinstance(value, bool):
            return default if value is None else value
        self._warn(key, f"must be true or false, not {_short(value)}", str(default).lower(), None)
        return default


def _path_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return f"must be a path (text), not {_kind(value)}"
    if "\x00" in value:
        return "holds a NUL character"
    try:
        raw = os.fsencode(value)
    except UnicodeEncodeError:
        return "is not valid text for a path"
    if len(raw) > 4095:
        return f"is {len(raw)} bytes long, longer than any path a file system takes (4095)"
    if any(len(part) > MAX_NAME_PART_BYTES for part in raw.replace(b"\\", b"/").split(b"/")):
        return f"has a part longer than {MAX_NAME_PART_BYTES} bytes, which no file system takes"
    return None


def _kind(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "empty text", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(v), type(v).__name__)


def _short(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=False, default=repr) if not isinstance(v, float) else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_choice(key: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SettingsError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    return value
