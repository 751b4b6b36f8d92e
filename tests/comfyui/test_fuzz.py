"""Randomly damaged copies of real templates and prompts (seeded): import either works or raises WorkflowError,
and whatever imports validates, saves, and exports (or raises ExportError) without crashing."""
import copy
import json
import random

import pytest

from nodeflow.core.validation import validate
from nodeflow.formats import workflow
from nodeflow.formats.comfyui import ExportError, WorkflowError, export_api, export_ui, import_api, import_ui
from tests.comfyui.templates import all_workflows

JUNK = [None, 0, -1, 1.5, "x", "", [], {}, [1, 2], {"a": 1}, True, 2 ** 63, "PrimitiveNode", "Reroute", "KSampler",
        [0, 0, 0, 0, 0, 0], {"0": 1, "1": 2}, ["1", 0], ["999", 0], {"__value__": [1]}]


def mutate(x, rnd: random.Random) -> None:
    if isinstance(x, dict) and x:
        k, c = rnd.choice(list(x)), rnd.random()
        if c < 0.3:
            x[k] = copy.deepcopy(rnd.choice(JUNK))
        elif c < 0.4:
            del x[k]
        else:
            mutate(x[k], rnd)
    elif isinstance(x, list) and x:
        i, c = rnd.randrange(len(x)), rnd.random()
        if c < 0.3:
            x[i] = copy.deepcopy(rnd.choice(JUNK))
        elif c < 0.4:
            del x[i]
        elif c < 0.5:
            x.append(copy.deepcopy(rnd.choice(x)))
        else:
            mutate(x[i], rnd)


def exercise(graph, registry, reimport) -> None:
    validate(graph, registry)
    workflow.loads(workflow.dumps(graph), registry)
    for export in (export_api, export_ui):
        try:
            out = export(graph, registry)
        except ExportError:
            continue
        json.dumps(out, allow_nan=False)
        if export is export_ui:
            assert reimport(out) == graph


@pytest.fixture(scope="module")
def small_workflows():
    return [wf for _, wf in sorted(all_workflows().items()) if len(json.dumps(wf)) < 40_000]


def test_damaged_ui_workflows(registry, settings, small_workflows):
    rnd = random.Random(1234)
    imported = 0
    for _ in range(150):
        wf = copy.deepcopy(rnd.choice(small_workflows))
        for _ in range(rnd.randint(1, 4)):
            mutate(wf, rnd)
        try:
            graph, _ = import_ui(wf, registry, settings)
        except WorkflowError:
            continue
        imported += 1
        exercise(graph, registry, lambda ui: import_ui(ui, registry, settings)[0])
    assert imported > 60


def test_damaged_api_prompts(registry, settings, small_workflows):
    prompts = []
    for wf in small_workflows:
        try:
            prompts.append(export_api(import_ui(wf, registry, settings)[0], registry))
        except ExportError:
            pass
    rnd = random.Random(99)
    imported = 0
    for _ in range(150):
        prompt = copy.deepcopy(rnd.choice(prompts))
        for _ in range(rnd.randint(1, 3)):
            mutate(prompt, rnd)
        try:
            graph, _ = import_api(prompt, registry, settings)
        except WorkflowError:
            continue
        imported += 1
        exercise(graph, registry, lambda ui: import_ui(ui, registry, settings)[0])
    assert imported > 25


# -- structure-aware fuzzing of the whole command line (hypothesis, seeded, bounded) ---------------------------------
# Every variant of a NodeFlow workflow, a ComfyUI UI workflow or an API prompt, as .json or inside a PNG chunk,
# through `validate` or `convert`: exit 0 or 2, never a traceback, and every error line names a node or the file.
import contextlib  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from unittest import mock  # noqa: E402

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st  # noqa: E402

from tests.comfyui.build import txt2img  # noqa: E402
from tests.comfyui.test_hostile import png_with  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
HOSTILE_TEXT = ["", ".", "./", "..", "../../etc/passwd", "/abs.png", "C:/x", "a\\b", "\ud800", "x\udfff", "\x00",
                "a" * 300, "é" * 200, "(x:inf)", "{}", "NaN", "KSampler", "Reroute", "PrimitiveNode", "*"]
json_leaf = st.one_of(st.sampled_from(JUNK), st.sampled_from(HOSTILE_TEXT), st.integers(),
                      st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none(),
                      st.text(max_size=8))
json_value = st.recursive(json_leaf, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                            st.dictionaries(st.text(max_size=6), kids, max_size=4)),
                          max_leaves=12)


def _bases() -> dict[str, dict]:
    from nodeflow.core.registry import load_registry
    from nodeflow.formats import comfyui

    ui = txt2img()
    api = comfyui.export_api(comfyui.import_ui(ui, load_registry())[0], load_registry())
    return {"nodeflow": json.loads((REPO / "workflows" / "hires_fix.json").read_text()), "ui": ui, "api": api}


BASES = _bases()


@st.composite
def variants(draw):
    kind = draw(st.sampled_from(sorted(BASES)))
    doc = copy.deepcopy(BASES[kind])
    for _ in range(draw(st.integers(1, 4))):
        parent, key = None, None
        here = doc
        while isinstance(here, (dict, list)) and here and (parent is None or draw(st.booleans())):
            keys = list(here) if isinstance(here, dict) else list(range(len(here)))
            parent, key = here, draw(st.sampled_from(keys))
            here = here[key]
        if parent is None:
            continue
        op = draw(st.sampled_from(["replace", "replace", "delete", "grow", "deep"]))
        if op == "replace":
            parent[key] = draw(json_value)
        elif op == "delete":
            del parent[key]
        elif op == "grow" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif op == "deep":
            parent[key] = f"__DEEP_{draw(st.sampled_from([50, 250, 2000]))}__"  # nested lists, see _encode
    container = draw(st.sampled_from(["json", "png"]))
    return kind, doc, container, draw(st.sampled_from(["validate", "convert", "convert-api", "convert-ui"]))


def _encode(doc) -> str:
    text = json.dumps(doc)  # ensure_ascii: lone surrogates travel as "\ud800" escapes, as in real files
    for n in (50, 250, 2000):
        text = text.replace(f'"__DEEP_{n}__"', "[" * n + "]" * n)
    return text


@hsettings(max_examples=120, deadline=None, derandomize=True, database=None,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(variants())
@pytest.mark.slow
def test_fuzzed_files_through_the_command_line(variant):
    from nodeflow.cli.main import main

    kind, doc, container, command = variant
    with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, {
            "NODEFLOW_SETTINGS": os.devnull, "NODEFLOW_HOME": tmp}):
        src = Path(tmp) / f"in.{container}"
        text = _encode(doc)
        if container == "json":
            src.write_text(text)
        else:
            key = {"nodeflow": b"nodeflow", "ui": b"workflow", "api": b"prompt"}[kind]
            src.write_bytes(png_with([(key, text.encode())]))
        dst = Path(tmp) / "out.json"
        argv = ["validate", str(src)] if command == "validate" else \
            ["convert", str(src), "-o", str(dst), "-q"] + ({"convert-api": ["--to", "comfy-api"],
                                                          "convert-ui": ["--to", "comfy-ui"]}.get(command, []))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        printed = out.getvalue() + err.getvalue()
        assert code in (0, 2), printed
        assert "Traceback" not in printed
        for line in printed.splitlines():
            if line.startswith(("nodeflow:", "warning:")) or command == "validate":
                assert str(src) in line or "node " in line, line
        if code == 2 and command != "validate":
            assert not dst.exists()
        if code == 0 and command != "validate":
            json.loads(dst.read_text())  # what was written reads back
