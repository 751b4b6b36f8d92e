"""The shipped shapes model, judged through the product's own path: workflows/default.json (Load Checkpoint, CLIP
Text Encode, KSampler, VAE Decode, Save Image) run by the executor to PNG files, read back and scored by the
non-learned judge. Prompt/seed pairs are fixed, so a regression in the model file, the loader or the sampler shows
as a drop in the scores."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nodes.demo.evaluate import pairs  # noqa: E402
from nodes.demo.export import SHIPPED  # noqa: E402
from nodes.demo.judge import score  # noqa: E402
from tests.demo.workflow_kit import ExampleWorkflow  # noqa: E402

PAIRS = 120


class DefaultWorkflow(ExampleWorkflow):
    """workflows/default.json with its prompt, seed and CFG changed between runs, as a user would."""

    def __init__(self, tmp):
        super().__init__("default.json", tmp)

    def generate(self, prompt: str, seed: int, cfg: float = 5.0) -> np.ndarray:
        self.set("Positive", "text", prompt)
        self.set("KSampler", "seed", seed)
        self.set("KSampler", "cfg", cfg)
        [picture] = self.run().values()
        return picture


@pytest.fixture(scope="module")
def default_workflow(tmp_path_factory):
    assert SHIPPED.is_file(), f"the built-in model is missing: {SHIPPED}"
    wf = DefaultWorkflow(tmp_path_factory.mktemp("builtin"))
    yield wf


@pytest.fixture(scope="module")
def cfg5(default_workflow):
    """(prompts, pictures) at the workflow's CFG 5."""
    prompts, seeds = pairs(PAIRS)
    return prompts, [default_workflow.generate(p, s) for p, s in zip(prompts, seeds)]


def test_the_shipped_file_is_small_fp16_and_loads_as_an_sd1_checkpoint():
    from safetensors import safe_open

    assert SHIPPED.stat().st_size <= 30 * 2 ** 20
    with safe_open(str(SHIPPED), "pt") as f:
        meta = f.metadata()
        keys = list(f.keys())
        dtypes = {f.get_slice(k).get_dtype() for k in keys}
    assert dtypes == {"F16"}
    assert any(k.startswith("model.diffusion_model.") for k in keys)
    assert any(k.startswith("first_stage_model.") for k in keys)
    assert any(k.startswith("cond_stage_model.transformer.") for k in keys)
    training = json.loads(meta["nodeflow.training"])
    assert training["recipe"]["steps"] > 0


def test_pictures_match_their_prompts(cfg5):
    s = score(cfg5[1], cfg5[0])
    assert s["n"] == PAIRS
    brief = {k: s[k] for k in ("colour", "background", "shape", "all")}
    assert s["colour"] >= 0.90, brief
    assert s["background"] >= 0.85, brief
    assert s["shape"] >= 0.80, brief


def test_guidance_matters_cfg_1_follows_the_prompt_less(default_workflow, cfg5):
    # This model fits its small world well enough that its conditional prediction alone (CFG 1) is right most of
    # the time: guidance removes the remaining misses (measured: 95-96 % at CFG 1, 100 % at CFG 5) rather than
    # making the difference between chance and the prompt, as it does for Stable Diffusion.
    prompts, seeds = pairs(PAIRS)
    low = score([default_workflow.generate(p, s, cfg=1.0) for p, s in zip(prompts, seeds)], prompts)
    high = score(cfg5[1], cfg5[0])
    assert low["all"] <= high["all"] - 0.02, (low["all"], high["all"])


def test_seeds_give_different_pictures_and_a_seed_gives_the_same_one(default_workflow):
    prompt = "a yellow triangle on a purple background"
    a, b = default_workflow.generate(prompt, 1), default_workflow.generate(prompt, 2)
    again = default_workflow.generate(prompt, 1)
    assert np.array_equal(a, again)
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 2.0  # the shape moves or changes size
    assert score([a, b], [prompt, prompt])["all"] == 1.0
