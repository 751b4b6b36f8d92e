"""Load Checkpoint: every family's single-file layout and diffusers folders load exactly; errors name the file."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from nodeflow.core.context import NodeError
from nodeflow.core.model_cache import ModelCache
from nodes.diffusion import nodes_loaders as nl
from tests.diffusion.tiny_models import (FAMILIES, make_context, make_settings, tiny_configs, tiny_model,
                                         write_tiny_checkpoint, write_tiny_diffusers, write_tiny_lora)

load_node = nl.load_checkpoint.fn


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Settings with a models folder shared by the tests of this module (files are written on first use)."""
    root = tmp_path_factory.mktemp("ckpt")
    return make_settings(root)


def checkpoint(env, name: str, family: str, **kw):
    path = env.model_roots[0] / "checkpoints" / name
    if not path.exists():
        if name.endswith((".safetensors", ".ckpt")):
            write_tiny_checkpoint(path, family, **kw)
        else:
            write_tiny_diffusers(path, family, **kw)
    return name


def loaded_of(ctx):
    (entry,) = [v for k, v in ctx.models.items() if k[0] == "checkpoint"]
    return entry


def assert_same_weights(module, source, what):
    a, b = module.state_dict(), source.state_dict()
    assert set(a) == set(b), f"{what}: key sets differ: {sorted(set(a) ^ set(b))[:5]}"
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{what}: weights differ: {different[:5]}"


def assert_config_matches(inferred: dict, source: dict, what: str):
    def norm(v):
        return list(v) if isinstance(v, tuple) else v

    diffs = {k: (norm(inferred.get(k)), v) for k, v in source.items()
             if k != "sample_size" and norm(inferred.get(k)) != norm(v)}
    assert not diffs, f"{what}: inferred config differs from the source's: {diffs}"


def assert_loads_like_source(ctx, name, family, *, check_configs=True):
    model, clip, vae = load_node(ctx, name)
    source = tiny_model(family)
    assert model.family == family and clip.family == family
    assert_same_weights(model.unet, source.unet, "UNet")
    assert_same_weights(vae.module, source.vae, "VAE")
    assert len(clip.encoders) == len(source.text_encoders)
    for enc, src in zip(clip.encoders, source.text_encoders):
        assert_same_weights(enc.module, src, enc.spec.name)
        assert type(enc.module) is type(src)
    if check_configs:
        loaded, configs = loaded_of(ctx), tiny_configs(family)
        assert_config_matches(loaded.configs["unet"], configs["unet"], "UNet")
        assert_config_matches(loaded.configs["vae"], configs["vae"], "VAE")
        for cfg, (kind, src) in zip(loaded.configs["text_encoders"], configs["text_encoders"]):
            src = {k: v for k, v in src.items() if k != "projection_dim" or kind == "clip_g"}
            assert_config_matches(cfg, src, kind)
    return model, clip, vae


@pytest.mark.parametrize("family", FAMILIES)
def test_single_file_loads_the_exact_model(env, family):
    ctx = make_context(env)
    name = checkpoint(env, f"{family}.safetensors", family)
    model, clip, vae = assert_loads_like_source(ctx, name, family)
    assert model.dtype == torch.float32 and model.device == "cpu"
    expected_scale = 0.13025 if family.startswith("sdxl") else 0.18215
    assert model.latent_format.scale_factor == pytest.approx(expected_scale)
    assert model.model_sampling.prediction_type == "epsilon"
    assert vae.downscale_ratio == 8


@pytest.mark.parametrize("family", FAMILIES)
def test_diffusers_folder_loads_the_exact_model(env, family):
    ctx = make_context(env)
    name = checkpoint(env, f"{family}-diffusers", family)
    assert_loads_like_source(ctx, name, family, check_configs=False)
    loaded = loaded_of(ctx)
    assert_config_matches(loaded.configs["unet"], tiny_configs(family)["unet"], "UNet")


def test_legacy_ckpt_loads_with_weights_only(env):
    ctx = make_context(env)
    assert_loads_like_source(ctx, checkpoint(env, "legacy.ckpt", "sd1"), "sd1")


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickle_with_code_is_refused(env):
    path = env.model_roots[0] / "checkpoints" / "evil.ckpt"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "payload": _Payload()}, str(path))
    with pytest.raises(NodeError) as err:
        load_node(make_context(env), "evil.ckpt")
    assert err.value.field == "ckpt_name"
    assert str(err.value).startswith("evil.ckpt: ") and "Python objects" in str(err.value)


@pytest.mark.parametrize("damage", ["truncated", "truncated_ckpt", "garbage", "empty", "unrecognised", "lora",
                                    "vae_only"])
def test_broken_or_wrong_files_raise_a_clear_error(env, damage, tmp_path):
    from safetensors.torch import save_file

    folder = env.model_roots[0] / "checkpoints"
    name = f"broken-{damage}" + (".ckpt" if damage.endswith("ckpt") else ".safetensors")
    path = folder / name
    if damage.startswith("truncated"):
        good_name = "legacy.ckpt" if damage.endswith("ckpt") else "sd1.safetensors"
        good = (folder / checkpoint(env, good_name, "sd1")).read_bytes()
        path.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x07" * 4096)
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "unrecognised":
        save_file({"foo.weight": torch.zeros(2, 2)}, str(path))
    elif damage == "lora":
        write_tiny_lora(path, "sd1")
    elif damage == "vae_only":
        save_file({k: v.contiguous() for k, v in tiny_model("sd1").vae.state_dict().items()}, str(path))
    with pytest.raises(NodeError) as err:
        load_node(make_context(env), name)
    message = str(err.value)
    assert err.value.field == "ckpt_name"
    assert message.startswith(f"{name}: ")
    expected = {"truncated": "truncated", "truncated_ckpt": "truncated", "garbage": "corrupt", "empty": "empty", "unrecognised": "unrecognised",
                "lora": "LoRA", "vae_only": "Load VAE"}[damage]
    assert expected in message


def test_missing_file_names_the_folders(env):
    with pytest.raises(NodeError) as err:
        load_node(make_context(env), "nope.safetensors")
    assert err.value.field == "ckpt_name" and "not found" in str(err.value)


def test_a_checkpoint_is_loaded_once_and_shared(env):
    models, events = ModelCache(), []
    name = checkpoint(env, "sd1.safetensors", "sd1")
    first = load_node(make_context(env, models, node_id=1, events=events), name)
    progress = [e for e in events if type(e).__name__ == "NodeProgress"]
    assert progress and progress[-1].value == progress[-1].total
    second = load_node(make_context(env, models, node_id=2), name)
    assert all(a is b for a, b in zip(first, second))
    assert list(models.loads.values()) == [1]
    (key,) = models.loads
    path = env.folders.resolve("checkpoints", name)
    assert key[1] == str(path) and key[2] == path.stat().st_size and "torch.float32" in key


def test_prediction_type_from_metadata_and_override(env):
    ctx = make_context(env)
    name = checkpoint(env, "sd2-v.safetensors", "sd2", prediction_type="v_prediction")
    model, _, _ = load_node(ctx, name)
    assert model.model_sampling.prediction_type == "v_prediction"
    eps, _, _ = load_node(ctx, name, prediction="epsilon")
    assert eps.model_sampling.prediction_type == "epsilon" and eps.unet is model.unet
    assert model.model_sampling.prediction_type == "v_prediction"  # the cached object is untouched


def test_sd2_v_prediction_heuristic():
    from nodes.diffusion.models.loading import V_PREDICTION_PROBE, detect_prediction_type

    gen = torch.Generator().manual_seed(0)
    wide = {V_PREDICTION_PROBE: torch.randn(1280, generator=gen) * 0.2}
    narrow = {V_PREDICTION_PROBE: torch.randn(1280, generator=gen) * 0.01}
    assert detect_prediction_type(wide, {}, {}, "sd2", 4) == "v_prediction"
    assert detect_prediction_type(narrow, {}, {}, "sd2", 4) == "epsilon"
    assert detect_prediction_type(wide, {}, {}, "sd2", 9) == "epsilon"  # SD2 inpainting is epsilon
    assert detect_prediction_type(wide, {}, {}, "sd1", 4) == "epsilon"
    assert detect_prediction_type({"v_pred": torch.zeros(0)}, {}, {}, "sdxl", 4) == "v_prediction"
    assert detect_prediction_type({}, {"modelspec.prediction_type": "v"}, {}, "sd2", 4) == "v_prediction"


def test_bf16_precision_on_cpu(tmp_path):
    settings = make_settings(tmp_path, precision="bf16")
    write_tiny_checkpoint(tmp_path / "models/checkpoints/tiny.safetensors", "sd1")
    model, clip, vae = load_node(make_context(settings), "tiny.safetensors")
    assert model.dtype == torch.bfloat16 and next(model.unet.parameters()).dtype == torch.bfloat16
    assert next(clip.encoders[0].module.parameters()).dtype == torch.bfloat16
    out = model.apply_model(torch.randn(1, 4, 8, 8), torch.tensor([10.0]), clip.encode("a")[0][0], [{}])
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_node_pack_declares_without_torch():
    code = "import nodes.diffusion, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(nl.__file__).rsplit("/nodes/", 1)[0])
