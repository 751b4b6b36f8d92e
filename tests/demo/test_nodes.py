import sys
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nodeflow.core.registry import load_registry  # noqa: E402
from nodeflow.core.context import ExecutionContext, NodeError  # noqa: E402
from nodes.demo.nodes import NODE_TYPES, add_noise, plot_schedule  # noqa: E402


def make_ctx():
    return ExecutionContext(node_id=1, node_title="demo", node_type="demo", settings=None, models=None,
                            cancel_event=threading.Event(), emit=lambda e: None, device_resolver=lambda: "cpu")


def test_declarations_and_the_pack():
    import nodes.demo as pack

    assert pack.PACK_NAME == "demo"
    assert [t.display_name for t in pack.NODE_TYPES] == ["Add Noise", "Plot Schedule"]
    for t in NODE_TYPES:
        t.check_declaration(load_registry(entry_points=False).socket_types)


def test_declaring_the_pack_does_not_import_torch():
    import subprocess

    code = "import sys, nodes.demo; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_add_noise_follows_the_forward_process():
    image = torch.full((1, 16, 16, 3), 0.75)
    out_image, out_latent = add_noise.fn(make_ctx(), timestep=0, schedule="scaled_linear", seed=1, image=image)
    assert out_latent is None and out_image.shape == image.shape
    assert torch.allclose(out_image, image, atol=0.1)  # t = 0 barely changes it

    latent = {"samples": torch.ones(1, 4, 64, 64) / 0.18215}
    _, noisy = add_noise.fn(make_ctx(), timestep=999, schedule="scaled_linear", seed=1, latent=latent)
    x = noisy["samples"] * 0.18215  # back to the model's unit-variance space
    abar = 0.0047  # SD's last step
    assert x.mean().item() == pytest.approx(abar ** 0.5, abs=0.02)
    assert x.std().item() == pytest.approx((1 - abar) ** 0.5, abs=0.02)
    again = add_noise.fn(make_ctx(), timestep=999, schedule="scaled_linear", seed=1, latent=latent)[1]
    assert torch.equal(again["samples"], noisy["samples"])


def test_add_noise_needs_an_input():
    with pytest.raises(NodeError):
        add_noise.fn(make_ctx(), timestep=10, schedule="linear", seed=0)


def test_plot_schedule_draws_an_image_with_the_visited_levels():
    ctx = make_ctx()
    (image,) = plot_schedule.fn(ctx, scheduler="karras", steps=10, schedule="cosine", width=512, height=320)
    assert image.shape == (1, 320, 512, 3) and image.dtype == torch.float32
    pixels = (image[0].numpy() * 255).astype(np.uint8)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 5  # curves in several colours, not a blank canvas
    assert len(ctx.ui["text"].split(":")[1].split(",")) == 10


def test_the_sigmoid_schedule_is_diffusers_and_plot_schedule_overlays_it():
    from diffusers import DDPMScheduler

    from nodes.demo.nodes import SCHEDULES, _model_sampling

    assert "sigmoid" in SCHEDULES
    ref = DDPMScheduler(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="sigmoid")
    ours = _model_sampling("sigmoid").alphas_cumprod
    assert torch.allclose(ours.double(), ref.alphas_cumprod.double(), rtol=1e-4)
    assert not torch.allclose(ours, _model_sampling("linear").alphas_cumprod)
    _, noisy = add_noise.fn(make_ctx(), timestep=500, schedule="sigmoid", seed=1,
                            latent={"samples": torch.zeros(1, 4, 8, 8)})
    abar = float(ours[500])
    assert abs(noisy["samples"].std().item() * 0.18215 - (1 - abar) ** 0.5) < 0.15
    pictures = {}
    for levels in ("signal and noise", "signal", "noise"):
        (image,) = plot_schedule.fn(make_ctx(), scheduler="normal", steps=5, schedule="sigmoid", width=400,
                                    height=300, levels=levels)
        pictures[levels] = (image[0].numpy() * 255).astype(np.uint8)
    purple = lambda p: ((np.abs(p.astype(int) - (148, 103, 189)).sum(-1)) < 30).sum()  # noqa: E731
    assert purple(pictures["signal"]) > 100 and purple(pictures["noise"]) > 50
    assert purple(pictures["signal and noise"]) > purple(pictures["signal"])
