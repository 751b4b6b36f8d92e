"""``--sweep NODE.FIELD=A..B`` / ``NODE.FIELD=v1,v2,...`` / ``NODE.FIELD=["v1", "v2"]`` (JSON, for values with
commas) and ``--set NODE.FIELD=V``: the runs of a batch.

Several sweeps make a grid (the first varies slowest). Values are checked against the input's type and range here,
on the caller's machine, so a typo fails before any worker starts.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from nodeflow.core import socket_types as st
from nodeflow.core.value_refs import ValueRefError, widget_target

#: A batch larger than this is almost certainly a typo in a range (``0..1000000``).
MAX_RUNS = 100_000


class SweepError(ValueError):
    pass


@dataclass(frozen=True)
class Axis:
    """One swept (or set) value: which node and field, and the values it takes."""
    node_id: int
    field: str
    values: tuple
    #: How the user named it (for labels): "KSampler.seed"
    name: str


def _target(graph, registry, text: str, flag: str):
    if "=" not in text:
        raise SweepError(f"{flag} {text!r}: expected NODE.FIELD=VALUES")
    left, right = text.split("=", 1)
    ref, _, field = left.rpartition(".")
    if not ref or not field:
        raise SweepError(f"{flag} {text!r}: expected NODE.FIELD=VALUES (NODE: id, title or type)")
    try:
        node, inp = widget_target(graph, registry, ref, field)
    except ValueRefError as e:
        raise SweepError(f"{flag} {text!r}: {e}") from None
    return node, inp, right, left


def _scalar(text: str, inp, where: str) -> Any:
    if inp.type in (st.STRING, st.COMBO):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        raise SweepError(f"{where}: {text!r} is not a valid {inp.type} value") from None
    if inp.type == st.INT:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise SweepError(f"{where}: {text!r} is not an integer")
    elif inp.type == st.FLOAT:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise SweepError(f"{where}: {text!r} is not a number")
        value = float(value)
    elif inp.type == st.BOOLEAN and not isinstance(value, bool):
        raise SweepError(f"{where}: {text!r} is not true or false")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if inp.min is not None and value < inp.min or inp.max is not None and value > inp.max:
            raise SweepError(f"{where}: {value} is outside {inp.min}..{inp.max}")
    return value


def _range(text: str, inp, where: str) -> list:
    """``A..B`` (inclusive) or ``A..B:STEP``; integers, or numbers with a step."""
    span, _, step_text = text.partition(":")
    a_text, _, b_text = span.partition("..")
    a, b = _scalar(a_text.strip(), inp, where), _scalar(b_text.strip(), inp, where)
    if inp.type == st.INT:
        step = int(_scalar(step_text, inp, where)) if step_text else 1
        if step <= 0:
            raise SweepError(f"{where}: the step must be positive")
        if b < a:
            raise SweepError(f"{where}: {a}..{b} is empty (the end comes before the start)")
        if (b - a) // step + 1 > MAX_RUNS:
            raise SweepError(f"{where}: {a}..{b} has more than {MAX_RUNS} values")
        return list(range(a, b + 1, step))
    if inp.type == st.FLOAT:
        if not step_text:
            raise SweepError(f"{where}: a range of numbers needs a step (A..B:STEP)")
        step = float(json.loads(step_text))
        if step <= 0 or b < a or (b - a) / step + 1 > MAX_RUNS:
            raise SweepError(f"{where}: {a}..{b}:{step} is not a usable range")
        n = int(round((b - a) / step)) + 1
        return [round(a + k * step, 10) for k in range(n) if a + k * step <= b + 1e-9]
    raise SweepError(f"{where}: ranges (A..B) are for numbers; list {inp.type} values as v1,v2,...")


def parse_axis(graph, registry, text: str, flag: str = "--sweep") -> Axis:
    node, inp, right, name = _target(graph, registry, text, flag)
    where = f"{flag} {text!r}"
    if flag == "--set":
        values = [_scalar(right, inp, where)]
    elif right.lstrip().startswith("["):  # a JSON list: values that contain commas (prompts)
        try:
            items = json.loads(right)
        except ValueError:
            raise SweepError(f"{where}: not a valid JSON list") from None
        if not isinstance(items, list):
            raise SweepError(f"{where}: expected a JSON list")
        values = [_scalar(v if isinstance(v, str) else json.dumps(v), inp, where) for v in items]
    elif ".." in right and inp.type in (st.INT, st.FLOAT):
        values = _range(right, inp, where)
    else:
        values = [_scalar(v.strip() if inp.type not in (st.STRING,) else v, inp, where) for v in right.split(",")]
    if not values:
        raise SweepError(f"{where}: no values")
    seen = []
    for v in values:
        if v in seen:
            raise SweepError(f"{where}: {v!r} is listed twice (it would be the same run)")
        seen.append(v)
    return Axis(node.id, inp.name, tuple(values), name)


@dataclass(frozen=True)
class RunSpec:
    """One run of the batch: its position and the values it changes ((node id, field, value), ...)."""
    index: int
    overrides: tuple
    label: str


def grid(sets: list[Axis], sweeps: list[Axis]) -> list[RunSpec]:
    """Every combination of the swept values (the first sweep slowest), each with the fixed values."""
    total = 1
    for axis in sweeps:
        total *= len(axis.values)
    if total > MAX_RUNS:
        raise SweepError(f"the sweeps make {total} runs, more than {MAX_RUNS}")
    fixed = tuple((a.node_id, a.field, a.values[0]) for a in sets)
    runs = []
    for k, combo in enumerate(itertools.product(*(a.values for a in sweeps))):
        changed = tuple((a.node_id, a.field, v) for a, v in zip(sweeps, combo))
        label = " ".join(f"{a.name}={v}" for a, v in zip(sweeps, combo)) or "run"
        runs.append(RunSpec(k, fixed + changed, label))
    return runs
