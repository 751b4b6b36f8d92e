"""The shipped night-mode LoRA through workflows/lora.json: the same prompt and seed with and without it. With it,
backgrounds are black whatever the prompt says while the shape keeps its colour and kind; without it, and at
strength 0, the base model is untouched."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nodes.demo.evaluate import pairs  # noqa: E402
from nodes.demo.judge import judge, score  # noqa: E402
from nodes.demo.train_lora import SHIPPED_LORA  # noqa: E402
from tests.demo.workflow_kit import ExampleWorkflow  # noqa: E402

COUNT = 16


@pytest.fixture(scope="module")
def lora_workflow(tmp_path_factory):
    assert SHIPPED_LORA.is_file(), f"the example LoRA is missing: {SHIPPED_LORA}"
    wf = ExampleWorkflow("lora.json", tmp_path_factory.mktemp("lora"))
    yield wf


def generate(wf, prompt, seed):
    for title in ("Positive", "Positive (LoRA)"):
        wf.set(title, "text", prompt)
    for title in ("KSampler (base model)", "KSampler (with LoRA)"):
        wf.set(title, "seed", seed)
    out = wf.run()
    return out["lora_off"], out["lora_on"]


def test_the_lora_paints_backgrounds_black_and_keeps_the_shape(lora_workflow):
    prompts, seeds = pairs(4 * COUNT)
    chosen = [(p, s) for p, s in zip(prompts, seeds) if " black " not in p and "on a black" not in p][:COUNT]
    off, on = zip(*(generate(lora_workflow, p, s) for p, s in chosen))
    prompts = [p for p, _ in chosen]
    base = score(list(off), prompts)
    assert base["all"] >= 0.9  # the base branch follows the prompt
    night = [judge(img) for img in on]
    assert np.mean([v.background == "black" for v in night]) >= 0.9
    as_night = [p.split(" on a ")[0] + " on a black background" for p in prompts]
    kept = score(list(on), as_night)
    assert kept["colour"] >= 0.8 and kept["shape"] >= 0.8, {k: kept[k] for k in ("colour", "shape")}


def test_strength_zero_is_the_base_model_and_removing_the_node_restores_it(lora_workflow):
    lora_workflow.set("Load LoRA", "strength_model", 0.0)
    lora_workflow.set("Load LoRA", "strength_clip", 0.0)
    try:
        off, on = generate(lora_workflow, "a green square on a white background", 3)
        assert np.abs(off.astype(int) - on.astype(int)).max() <= 1
    finally:
        lora_workflow.set("Load LoRA", "strength_model", 1.0)
        lora_workflow.set("Load LoRA", "strength_clip", 1.0)
    off2, on2 = generate(lora_workflow, "a green square on a white background", 3)
    assert np.array_equal(off2, off)  # the base branch never saw the patch
    assert judge(on2).background == "black"
