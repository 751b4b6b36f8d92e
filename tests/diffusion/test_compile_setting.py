"""settings.compile: the loaded MODEL runs its UNet through torch.compile (mocked here: compiling takes minutes),
once per shared UNet, never for a LoRA-patched clone (frozen weights would ignore the patch), and says so first."""
from __future__ import annotations

import json

import torch

from nodeflow.config import Settings
from nodeflow.core import events as ev
from nodes.diffusion.models.patching import LowRankDelta, WeightPatch
from nodes.diffusion.nodes_loaders import load_checkpoint
from tests.diffusion.tiny_models import make_context, make_settings, write_tiny_checkpoint


def test_compile_is_opt_in_and_read_from_the_settings_file(tmp_path):
    assert Settings.load(tmp_path / "absent.json", env={"NODEFLOW_HOME": str(tmp_path)}).compile is False
    (tmp_path / "s.json").write_text(json.dumps({"compile": True}))
    loaded = Settings.load(tmp_path / "s.json", env={"NODEFLOW_HOME": str(tmp_path)})
    assert loaded.compile is True and loaded.to_json()["compile"] is True


def test_the_compiled_unet_is_used_once_made_and_not_for_patched_clones(tmp_path, monkeypatch):
    made = []

    import torch._inductor.config as inductor_config

    monkeypatch.setattr(inductor_config, "freezing", False)

    def fake_compile(module, options=None):
        def forward(*args, **kwargs):
            forward.calls += 1
            return module(*args, **kwargs)
        forward.calls = 0
        made.append((options, forward))
        return forward

    monkeypatch.setattr(torch, "compile", fake_compile)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "")
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR")
    settings = make_settings(tmp_path, compile=True)
    write_tiny_checkpoint(tmp_path / "models/checkpoints/tiny.safetensors", "sd1")
    events: list = []
    model, clip, _vae = load_checkpoint.fn(make_context(settings, events=events), "tiny.safetensors")
    logs = [e.message for e in events if isinstance(e, ev.NodeLog)]
    assert len(logs) == 1 and "compiles" in logs[0] and str(tmp_path / "inductor") in logs[0]
    x, t, context = torch.randn(1, 4, 8, 8), torch.tensor([10.0]), clip.encode("a")[0][0]
    out = model.apply_model(x, t, context, [{}])
    model.apply_model(x, t, context, [{}])
    [(options, forward)] = made
    assert inductor_config.freezing is True and forward.calls == 2
    assert torch.equal(out, model.clone(compile=False).apply_model(x, t, context, [{}]))
    delta = LowRankDelta(torch.ones(32, 1), torch.ones(1, 36), 0.01)
    patched = model.with_patches([WeightPatch("conv_in.weight", delta, 1.0)])
    assert not torch.equal(patched.apply_model(x, t, context, [{}]), out)
    assert forward.calls == 2 and len(made) == 1  # the patched clone ran eagerly
