"""Node types, declared once.

A node type is a plain function plus a declaration of its typed inputs and outputs. Validation, the executor, the
CLI's ``nodes`` listing, the editor's widgets and the workflow format all read this one declaration.

    @node("EmptyLatentImage", display="Empty Latent Image", category="latent",
          inputs=[Input("width", INT, default=512, min=16, max=16384, step=8), ...],
          outputs=[Output("LATENT", "LATENT")])
    def empty_latent(ctx, width, height, batch_size):
        ...
        return (latent,)

Node functions import heavy libraries (torch) inside their body, so declaring a pack stays cheap.
"""
from __future__ import annotations

import inspect
import keyword
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Literal, Sequence

from nodeflow.core import socket_types as st
from nodeflow.core.socket_types import BOOLEAN, COMBO, FLOAT, INT, STRING

InputKind = Literal["widget", "socket", "either"]

#: Seed-like inputs carry this control; the UI (and the CLI between several runs) applies it after each run.
SEED_CONTROLS = ("fixed", "increment", "decrement", "randomize")


class DeclarationError(ValueError):
    """A node type declares something impossible; raised at import, reported with pack and type name."""


@dataclass(frozen=True)
class Input:
    """One input of a node type: a value edited in a widget, a socket fed by a link, or either."""

    name: str
    type: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    #: Static tuple of allowed values, or a callable ``(settings) -> list[str]`` evaluated when needed.
    choices: Sequence[str] | Callable[[Any], Sequence[str]] | None = None
    #: The value names a file in a configured folder kind ("checkpoints", "loras", "vae", "input").
    files: str | None = None
    multiline: bool = False
    optional: bool = False
    tooltip: str = ""
    #: "widget": a value only; "socket": a link only; "either": a value that can be turned into a socket.
    kind: InputKind | None = None
    #: Seed-like INT: the UI shows fixed/increment/decrement/randomize and applies it after each run.
    control_after_generate: bool = False
    label: str | None = None

    def __post_init__(self):
        if self.kind is None:
            object.__setattr__(self, "kind", "either" if st.is_value_type(self.type) else "socket")
        if self.choices is not None and not callable(self.choices):
            object.__setattr__(self, "choices", tuple(self.choices))

    @property
    def display(self) -> str:
        return self.label or self.name.replace("_", " ")

    @property
    def is_widget(self) -> bool:
        """True when the input has a value widget by default (kind widget or either)."""
        return self.kind in ("widget", "either")

    def choice_list(self, settings) -> list[str] | None:
        """The allowed values: a file list from ``settings``' folders (None without settings), the static choices,
        or what a dynamic ``choices(settings)`` answers."""
        if self.files is not None:
            return None if settings is None else settings.folders.list_files(self.files)
        if callable(self.choices):
            return list(self.choices(settings))
        return list(self.choices) if self.choices is not None else None

    def describe(self) -> dict:
        """JSON-able description (CLI ``nodes --json``; dynamic choices are listed as their source)."""
        d: dict[str, Any] = {"name": self.name, "type": self.type, "kind": self.kind}
        for key in ("default", "min", "max", "step", "files", "tooltip"):
            value = getattr(self, key)
            if value not in (None, ""):
                d[key] = value
        if self.choices is not None and not callable(self.choices):
            d["choices"] = list(self.choices)
        for flag in ("multiline", "optional", "control_after_generate"):
            if getattr(self, flag):
                d[flag] = True
        return d


@dataclass(frozen=True)
class Output:
    name: str
    type: str
    tooltip: str = ""

    def describe(self) -> dict:
        d = {"name": self.name, "type": self.type}
        if self.tooltip:
            d["tooltip"] = self.tooltip
        return d


@dataclass(frozen=True)
class Comfy:
    """How a node type is ComfyUI's node of the same class, declared with it (``@node(..., comfy=Comfy(...))``, or
    ``comfy=True`` when everything follows the declaration). The ComfyUI formats read only this, so any pack, built
    in or third party, opens and writes ComfyUI files with no change to them.

    By default the ComfyUI class has the type's name and its inputs are the declared ones, required before optional
    in declaration order (``widgets_values`` lists the widget inputs in that order, each seed's control after it).
    """

    #: ComfyUI's class name, when it differs from the type name.
    class_type: str | None = None
    #: Our inputs ComfyUI's class lacks: never written to ComfyUI, never read from it.
    nodeflow_only: tuple[str, ...] = ()
    #: Defaults ComfyUI assumes that differ from ours, used when an old file leaves a trailing value out.
    defaults: tuple[tuple[str, Any], ...] = ()
    #: Widgets ComfyUI saves in widgets_values that are no input (never sent to its server):
    #: (input they follow, widget name, value they hold), e.g. Load Image's upload button.
    ui_widgets: tuple[tuple[str, str, Any], ...] = ()
    #: Inputs ComfyUI follows with a control widget although ours has no control after generate.
    controls: tuple[str, ...] = ()
    #: Other ComfyUI classes read as this type (the original class is kept and written back).
    aliases: tuple[str, ...] = ()
    #: The value type of ComfyUI's UI-only PrimitiveNode this type stands in for when one feeds several inputs.
    primitive_for: str | None = None
    #: No ComfyUI class at all: written as a PrimitiveNode in ComfyUI's UI format and inlined into the inputs it
    #: feeds in an API prompt (Seed).
    inlined: bool = False

    def default(self, name: str, ours: Any) -> Any:
        return dict(self.defaults).get(name, ours)


@dataclass(frozen=True)
class NodeType:
    """The single declaration of a node type."""

    type_name: str
    display_name: str
    category: str
    fn: Callable[..., Any] | None
    inputs: tuple[Input, ...] = ()
    outputs: tuple[Output, ...] = ()
    description: str = ""
    version: int = 1
    output_node: bool = False
    #: A node that is not deterministic always re-runs (and so does what lies downstream of it).
    deterministic: bool = True
    #: Editor-only types (notes, reroutes) are never executed.
    ui_only: bool = False
    #: ``migrate(values, from_version) -> values`` upgrades values saved by an older version of this type.
    migrate: Callable[[dict, int], dict] | None = None
    #: ``fingerprint(values, settings) -> JSON-able``: extra cache-key data (e.g. a file's hash).
    fingerprint: Callable[[dict, Any], Any] | None = None
    #: ``check(values, settings) -> list[(field, message)]``: extra validation beyond ranges and choices.
    check: Callable[[dict, Any], list] | None = None
    #: Its ComfyUI counterpart (None: there is none).
    comfy: Comfy | None = None
    #: Filled in by the registry.
    pack: str = ""
    #: Anything else a declaration names; ``extra["new_defaults"](graph, settings) -> dict`` lets the editor fit a
    #: new node's values to the graph it is added to (Empty Latent Image: the checkpoint's native size);
    #: ``extra["run_warnings"](graph, node, settings) -> list[str]``: what the editor warns of before a run.
    extra: dict = field(default_factory=dict)

    # -- lookups -------------------------------------------------------------------------------------------------
    def input(self, name: str) -> Input | None:
        return self._inputs_by_name.get(name)

    @cached_property
    def _output_indexes(self) -> dict[str, int]:
        return {o.name: i for i, o in enumerate(self.outputs)}

    @cached_property
    def _inputs_by_name(self) -> dict[str, Input]:
        return {i.name: i for i in self.inputs}

    def output_index(self, name: str) -> int | None:
        return self._output_indexes.get(name)

    def output(self, name: str) -> Output | None:
        i = self.output_index(name)
        return None if i is None else self.outputs[i]

    @property
    def widget_inputs(self) -> tuple[Input, ...]:
        return tuple(i for i in self.inputs if i.is_widget)

    def default_values(self) -> dict[str, Any]:
        return {i.name: i.default for i in self.inputs if i.is_widget and i.default is not None}

    def describe(self) -> dict:
        return {
            "type": self.type_name, "display_name": self.display_name, "category": self.category,
            "description": self.description, "version": self.version, "pack": self.pack,
            "output_node": self.output_node, "deterministic": self.deterministic,
            "inputs": [i.describe() for i in self.inputs], "outputs": [o.describe() for o in self.outputs],
        }

    # -- declaration check ---------------------------------------------------------------------------------------
    def check_declaration(self, socket_types: "st.SocketTypes") -> None:
        """Raise DeclarationError for anything the rest of the system could not handle (``socket_types``: those of
        the registry the type is added to)."""
        problems: list[str] = []
        if not self.type_name or not self.type_name.replace("_", "").replace(".", "").isalnum():
            problems.append(f"type name {self.type_name!r} must be letters, digits, '_' or '.'")
        if not self.display_name:
            problems.append("display name is empty")
        if not self.ui_only and not callable(self.fn):
            problems.append("no function to run")
        if not isinstance(self.version, int) or self.version < 1:
            problems.append(f"version {self.version!r} must be an integer >= 1")
        names = [i.name for i in self.inputs]
        for dup in {n for n in names if names.count(n) > 1}:
            problems.append(f"input {dup!r} declared twice")
        outs = [o.name for o in self.outputs]
        for dup in {n for n in outs if outs.count(n) > 1}:
            problems.append(f"output {dup!r} declared twice")
        for inp in self.inputs:
            problems += [f"input {inp.name!r}: {p}" for p in _check_input(inp, socket_types)]
        for out in self.outputs:
            if not socket_types.is_known(out.type):
                problems.append(f"output {out.name!r}: unknown socket type {out.type!r}")
        if self.comfy is not None:
            named = [*self.comfy.nodeflow_only, *(k for k, _ in self.comfy.defaults), *self.comfy.controls,
                     *(w[0] for w in self.comfy.ui_widgets)]
            problems += [f"comfy: no input {n!r}" for n in dict.fromkeys(named) if self.input(n) is None]
        if problems:
            raise DeclarationError("; ".join(problems))


def as_comfy(comfy: Comfy | bool | None) -> Comfy | None:
    return Comfy() if comfy is True else (comfy or None)


def _check_input(inp: Input, socket_types: "st.SocketTypes") -> list[str]:
    problems = []
    if not inp.name.isidentifier() or keyword.iskeyword(inp.name) or inp.name == "ctx":
        problems.append("name must be a Python identifier other than 'ctx'")
    if not socket_types.is_known(inp.type):
        problems.append(f"unknown socket type {inp.type!r}")
        return problems
    if inp.kind not in ("widget", "socket", "either"):
        problems.append(f"kind {inp.kind!r} must be widget, socket or either")
    if inp.kind in ("widget", "either") and not st.is_value_type(inp.type):
        problems.append(f"a {inp.type} input cannot be a widget")
    if inp.type == COMBO and inp.choices is None and inp.files is None:
        problems.append("a COMBO input needs choices or files")
    if inp.min is not None and inp.max is not None and inp.min > inp.max:
        problems.append(f"min {inp.min} > max {inp.max}")
    if inp.default is not None and st.is_value_type(inp.type):
        if inp.type in (INT, FLOAT) and not _in_range(inp.default, inp.min, inp.max):
            problems.append(f"default {inp.default!r} outside [{inp.min}, {inp.max}]")
        if inp.type == INT and (isinstance(inp.default, bool) or not isinstance(inp.default, int)):
            problems.append(f"default {inp.default!r} is not an integer")
        if inp.type == FLOAT and (isinstance(inp.default, bool) or not isinstance(inp.default, (int, float))):
            problems.append(f"default {inp.default!r} is not a number")
        if inp.type == BOOLEAN and not isinstance(inp.default, bool):
            problems.append(f"default {inp.default!r} is not a boolean")
        if inp.type == STRING and not isinstance(inp.default, str):
            problems.append(f"default {inp.default!r} is not a string")
        if inp.type == COMBO and isinstance(inp.choices, tuple) and inp.default not in inp.choices:
            problems.append(f"default {inp.default!r} is not among the choices")
    if inp.is_widget and inp.default is None and not inp.optional and inp.type != COMBO and not inp.files:
        problems.append("a widget input needs a default")
    if inp.control_after_generate and inp.type != INT:
        problems.append("control_after_generate only applies to INT inputs")
    return problems


def _in_range(value, lo, hi) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _docstring_text(doc: str) -> str:
    """A docstring as the plain text shown to users (inspector, search help, object_info): its source line breaks
    and indentation joined into paragraphs (they showed as ragged lines), code markup dropped."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip()).replace("``", "")


def node(type_name: str, *, display: str | None = None, category: str = "misc", inputs: Sequence[Input] = (),
         outputs: Sequence[Output] = (), description: str | None = None, version: int = 1,
         output_node: bool = False, deterministic: bool = True, migrate=None, fingerprint=None, check=None,
         comfy: Comfy | bool | None = None, **extra) -> Callable[[Callable], NodeType]:
    """Decorator turning ``fn(ctx, **inputs)`` into a NodeType. The description defaults to the docstring;
    ``comfy``: its ComfyUI counterpart (``True``: the ComfyUI class of the same name and declaration)."""
    if extra.pop("comfyui", False) and comfy is None:  # the older spelling
        comfy = True

    def wrap(fn: Callable) -> NodeType:
        doc = _docstring_text(fn.__doc__ or "")
        return NodeType(type_name=type_name, display_name=display or type_name, category=category, fn=fn,
                        inputs=tuple(inputs), outputs=tuple(outputs), description=description or doc,
                        version=version, output_node=output_node, deterministic=deterministic, migrate=migrate,
                        fingerprint=fingerprint, check=check, comfy=as_comfy(comfy), extra=dict(extra))

    return wrap


__all__ = ["Input", "Output", "NodeType", "Comfy", "node", "DeclarationError", "SEED_CONTROLS",
           "INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"]
