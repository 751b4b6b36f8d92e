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
