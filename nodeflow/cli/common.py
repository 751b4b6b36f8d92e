"""What several commands share: settings flags, loading workflows, applying --set overrides."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from nodeflow.cli.errors import CliError
from nodeflow.core import operations as ops
from nodeflow.core import socket_types as st
from nodeflow.core.graph import Graph
from nodeflow.core.value_refs import ValueRefError, widget_target


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", action="append", metavar="DIR",
                   help="add a model root (ComfyUI layout: DIR/checkpoints, DIR/loras, DIR/vae); repeatable")
    p.add_argument("--input", metavar="DIR", help="folder Load Image reads from")
    p.add_argument("--settings", metavar="FILE", help="settings JSON file (default: the per-user one)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="where nodes run (default auto)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), help="model weights precision")


def settings_from_args(args):
    from nodeflow.config import Settings, SettingsError

    try:
        return Settings.load(getattr(args, "settings", None)).with_overrides(
            models=getattr(args, "models", None), output=getattr(args, "out", None),
            input=getattr(args, "input", None), device=getattr(args, "device", None),
            precision=getattr(args, "precision", None))
    except SettingsError as e:
        raise CliError(str(e)) from None


def environment_from_args(args, quiet: bool = False):
    """The command's Environment: settings from the file, the environment and the flags; every node pack (a
    broken one is reported, the others load)."""
    from nodeflow.core.environment import Environment

    settings = settings_from_args(args)
    if not quiet:
        for warning in settings.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    env = Environment.create(settings)
    if not quiet:
        for err in env.registry.errors:
            print(f"warning: {err}", file=sys.stderr)
    return env


def load_any(path: str, env) -> Graph:
    """A NodeFlow workflow (.json), a ComfyUI workflow or prompt, or an image carrying one."""
    from nodeflow.formats.workflow import WorkflowError
    from nodeflow.formats import open_any

    if not Path(path).exists():
        raise CliError(f"{path}: no such file")
    try:
        return open_any.load_graph(path, env.registry, env.settings)
    except (WorkflowError, ValueError) as e:
        raise CliError(str(e)) from None


@dataclass
class Override:
    ref: str
    field: str
    text: str


def parse_override(text: str) -> Override:
    if "=" not in text:
        raise CliError(f"--set {text!r}: expected NODE.FIELD=VALUE")
    left, value = text.split("=", 1)
    if "." not in left:
        raise CliError(f"--set {text!r}: expected NODE.FIELD=VALUE (NODE: id, title or type)")
    ref, field = left.rsplit(".", 1)
    if not ref or not field:
        raise CliError(f"--set {text!r}: expected NODE.FIELD=VALUE")
    return Override(ref, field, value)


def coerce(value_text: str, type_name: str):
    """Turn command-line text into a value of the input's type (JSON literals accepted)."""
    if type_name in (st.STRING, st.COMBO):
        return value_text
    try:
        value = json.loads(value_text)
    except ValueError:
        raise CliError(f"{value_text!r} is not a valid {type_name} value") from None
    if type_name == st.INT and isinstance(value, float) and value.is_integer():
        value = int(value)
    return value


def apply_overrides(graph: Graph, registry, overrides: list[str]) -> None:
    for text in overrides or ():
        o = parse_override(text)
        try:
            node, inp = widget_target(graph, registry, o.ref, o.field)
        except ValueRefError as e:
            raise CliError(f"--set {text!r}: {e}") from None
        value = coerce(o.text, inp.type)
        from nodeflow.formats.json_limits import WorkflowError, check_limits

        try:  # the same limits as a file's values (a command line may hold undecodable bytes: lone surrogates)
            check_limits([value], f"--set {o.ref}.{o.field}")
        except WorkflowError as e:
            raise CliError(str(e).replace("[0]", "", 1)) from None
        graph.apply(ops.SetValue(node.id, o.field, value))
