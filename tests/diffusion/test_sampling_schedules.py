"""Model sigma tables and scheduler tables: re-derived here from the formulas (sampling.md), and against diffusers.

Tolerances: our formulas vs their re-derivation in float64: 1e-5 relative (float32 tables); vs diffusers
(``timestep_spacing="linspace"``): 1e-4 relative (diffusers computes betas in float32 and interpolates sigma
linearly where ComfyUI interpolates log sigma; measured 1e-5..4e-5).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

torch.set_num_threads(1)
# diffusers' schedulers trip numpy 2 deprecation warnings thousands of times; they are not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

from nodes.diffusion.sampling.model_sampling import ModelSampling  # noqa: E402
from nodes.diffusion.sampling.names import SCHEDULER_NAMES  # noqa: E402
from nodes.diffusion.sampling.schedulers import calculate_sigmas  # noqa: E402

SD_BETAS = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000)


@pytest.fixture(scope="module")
def ms():
    return ModelSampling()


def sd_table_float64() -> np.ndarray:
    betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=np.float64) ** 2
    ac = np.cumprod(1 - betas)
    return np.sqrt((1 - ac) / ac)


def assert_rel(ours, expected, rtol):
    ours, expected = np.asarray(ours, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert ours.shape == expected.shape, (ours.shape, expected.shape)
    np.testing.assert_allclose(ours, expected, rtol=rtol, atol=0)


# -- model sampling -------------------------------------------------------------------------------------------------

def test_sd_sigma_table(ms):
    assert_rel(ms.sigmas, sd_table_float64(), 1e-6)
    assert ms.sigma_min == pytest.approx(0.0291672, rel=1e-5)
    assert ms.sigma_max == pytest.approx(14.614642, rel=1e-5)


@pytest.mark.parametrize("schedule", ["scaled_linear", "linear", "squaredcos_cap_v2"])
def test_beta_schedules_match_diffusers(schedule):
    from diffusers import DDPMScheduler

    ms = ModelSampling(beta_schedule=schedule, linear_start=0.00085, linear_end=0.012)
    s = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule=schedule)
    # diffusers multiplies in float32: the cosine schedule's last values (~1e-9) differ in the 5th digit
    np.testing.assert_allclose(ms.alphas_cumprod.double(), s.alphas_cumprod.double(), rtol=1e-5, atol=1e-12)


def test_timestep_is_nearest_index_in_log_space(ms):
    assert torch.equal(ms.timestep(ms.sigmas), torch.arange(1000))
    # halfway (in log space) between two table entries rounds to the nearer one
    lo, hi = ms.sigmas[500], ms.sigmas[501]
    just_below = torch.exp(torch.log(lo) + 0.4 * (torch.log(hi) - torch.log(lo)))
    assert int(ms.timestep(just_below)) == 500
    assert ms.timestep(torch.tensor([100.0, 1e-4])).tolist() == [999, 0]  # clamps outside the table
    assert ms.timestep(torch.ones(2, 3)).shape == (2, 3) and ms.timestep(torch.ones(2, 3)).dtype == torch.int64


def test_sigma_of_timestep_interpolates_log_sigma(ms):
    assert torch.allclose(ms.sigma(torch.arange(1000)), ms.sigmas)
    mid = ms.sigma(torch.tensor(10.25))
    expected = math.exp(0.75 * math.log(ms.sigmas[10]) + 0.25 * math.log(ms.sigmas[11]))
    assert float(mid) == pytest.approx(expected, rel=1e-6)


def test_prediction_conversions(ms):
    x = torch.randn(2, 4, 3, 3)
    eps = torch.randn(2, 4, 3, 3)
    sigma = torch.tensor([2.0, 0.5])
    s = sigma.view(2, 1, 1, 1)
    assert torch.allclose(ms.calculate_input(sigma, x), x / torch.sqrt(s ** 2 + 1))
    assert torch.allclose(ms.calculate_denoised(sigma, eps, x), x - s * eps)
    v_ms = ModelSampling(prediction_type="v_prediction")
    # v = alpha * eps - sigma_vp * x0 with alpha = 1/sqrt(s^2+1), sigma_vp = s/sqrt(s^2+1), x = x0 + s * eps
    x0 = torch.randn(2, 4, 3, 3)
    xk = x0 + s * eps
    v = (eps - s * x0) / torch.sqrt(s ** 2 + 1)
    assert torch.allclose(v_ms.calculate_denoised(sigma, v, xk), x0, atol=1e-5)


def test_noise_scaling(ms):
    noise, latent = torch.randn(1, 4, 2, 2), torch.randn(1, 4, 2, 2)
    sigma = torch.tensor(3.0)
    assert torch.allclose(ms.noise_scaling(sigma, noise, latent), latent + 3 * noise)
    assert torch.allclose(ms.noise_scaling(sigma, noise, latent, max_denoise=True), latent + math.sqrt(10) * noise)
    assert ms.is_max_sigma(ms.sigma_max) and not ms.is_max_sigma(ms.sigma_max * 0.99)


def test_latent_format_round_trip():
    from nodes.diffusion.sampling.latent_format import SD15_LATENT, SDXL_LATENT, LatentFormat

    x = torch.randn(1, 4, 2, 2)
    assert torch.allclose(SD15_LATENT.process_in(x), x * 0.18215)
    assert torch.allclose(SDXL_LATENT.process_out(SDXL_LATENT.process_in(x)), x)
    shifted = LatentFormat(scale_factor=0.5, shift_factor=0.1, channels=16)
    assert torch.allclose(shifted.process_in(x), (x - 0.1) * 0.5)
    assert torch.allclose(shifted.process_out(shifted.process_in(x)), x, atol=1e-6)


# -- scheduler tables, re-derived -------------------------------------------------------------------------------

def log_interp(table: np.ndarray, t: np.ndarray) -> np.ndarray:
    lo, hi = np.floor(t).astype(int), np.ceil(t).astype(int)
    w = t - lo
    return np.exp((1 - w) * np.log(table[lo]) + w * np.log(table[hi]))


STEPS = [1, 2, 7, 20, 33]


@pytest.mark.parametrize("steps", STEPS)
def test_normal_and_sgm_uniform(ms, steps):
    table = sd_table_float64()
    assert_rel(calculate_sigmas(ms, "normal", steps)[:-1], log_interp(table, np.linspace(999, 0, steps)), 1e-5)
    sgm = np.linspace(999, 0, steps + 1)[:-1]
    assert_rel(calculate_sigmas(ms, "sgm_uniform", steps)[:-1], log_interp(table, sgm), 1e-5)


@pytest.mark.parametrize("steps", STEPS)
def test_karras_and_exponential(ms, steps):
    table = sd_table_float64()
    lo, hi, rho = table[0], table[-1], 7.0
    ramp = np.linspace(0, 1, steps)
    karras = (hi ** (1 / rho) + ramp * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho
    assert_rel(calculate_sigmas(ms, "karras", steps)[:-1], karras, 1e-5)
    assert_rel(calculate_sigmas(ms, "exponential", steps)[:-1],
               np.exp(np.linspace(np.log(hi), np.log(lo), steps)), 1e-5)


@pytest.mark.parametrize("steps", STEPS)
def test_simple_takes_every_kth_sigma_from_the_top(ms, steps):
    table = sd_table_float64()
    expected = [table[999 - int(i * 1000 / steps)] for i in range(steps)]
    assert_rel(calculate_sigmas(ms, "simple", steps)[:-1], expected, 1e-5)


@pytest.mark.parametrize("steps", [1, 5, 6, 20, 33])
def test_ddim_uniform_has_ddims_stride(ms, steps):
    table = sd_table_float64()
    stride = 1000 // steps
    timesteps = list(range(1, 1000, stride))[::-1]  # includes 1 + steps * stride when that is < 1000 (ComfyUI)
    assert_rel(calculate_sigmas(ms, "ddim_uniform", steps)[:-1], table[timesteps], 1e-5)


@pytest.mark.parametrize("steps", [1, 4, 20, 33])
def test_beta_uses_beta_quantiles_of_the_timestep_index(ms, steps):
    from scipy.stats import beta

    table = sd_table_float64()
    ts = np.rint(beta.ppf(1 - np.arange(steps) / steps, 0.6, 0.6) * 999).astype(int)
    ts = [t for i, t in enumerate(ts) if i == 0 or t != ts[i - 1]]
    assert_rel(calculate_sigmas(ms, "beta", steps)[:-1], table[ts], 1e-5)


@pytest.mark.parametrize("steps", [1, 2, 9, 20])
def test_kl_optimal_and_linear_quadratic(ms, steps):
    table = sd_table_float64()
    lo, hi = table[0], table[-1]
    if steps > 1:
        w = np.arange(steps) / (steps - 1)
        assert_rel(calculate_sigmas(ms, "kl_optimal", steps)[:-1],
                   np.tan(w * np.arctan(lo) + (1 - w) * np.arctan(hi)), 1e-5)
    lq = calculate_sigmas(ms, "linear_quadratic", steps)
    assert float(lq[0]) == pytest.approx(hi, rel=1e-5) and len(lq) == steps + 1
    if steps >= 2:  # the first half falls linearly to (1 - 0.025) * sigma_max
        half = steps // 2
        assert_rel(lq[:half], hi * (1 - 0.025 * np.arange(half) / half), 1e-5)


@pytest.mark.parametrize("name", SCHEDULER_NAMES)
@pytest.mark.parametrize("steps", [1, 3, 20])
def test_every_table_descends_to_zero(ms, name, steps):
    sigmas = calculate_sigmas(ms, name, steps)
    assert sigmas.dtype == torch.float32 and sigmas[-1] == 0
    assert torch.all(sigmas[:-1] > 0) and torch.all(sigmas[1:] < sigmas[:-1])
    if name != "beta":  # beta drops repeated timesteps; ddim_uniform may add one (ComfyUI's stride rule)
        assert len(sigmas) - 1 in (steps, steps + 1)


# -- against diffusers ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("steps", [2, 7, 20, 33])
@pytest.mark.parametrize("name, kwargs", [("normal", {}), ("karras", {"use_karras_sigmas": True}),
                                          ("exponential", {"use_exponential_sigmas": True})])
def test_tables_match_diffusers_linspace(ms, name, kwargs, steps):
    """diffusers' EulerDiscrete with timestep_spacing="linspace" (not SD's own "leading" config) gives ComfyUI's
    tables; one step is the exception (diffusers' linspace then picks timestep 0, ComfyUI sigma_max)."""
    from diffusers import EulerDiscreteScheduler

    s = EulerDiscreteScheduler(timestep_spacing="linspace", **SD_BETAS, **kwargs)
    s.set_timesteps(steps)
    ours = calculate_sigmas(ms, name, steps)
    assert float(s.sigmas[-1]) == 0 and len(s.sigmas) == len(ours)
    assert_rel(ours[:-1], s.sigmas[:-1], 1e-4)


@pytest.mark.parametrize("steps", [5, 20, 50])
def test_ddim_uniform_matches_diffusers_ddim_timesteps(ms, steps):
    from diffusers import DDIMScheduler

    s = DDIMScheduler(timestep_spacing="leading", steps_offset=1, **SD_BETAS)
    s.set_timesteps(steps)
    assert torch.equal(ms.timestep(calculate_sigmas(ms, "ddim_uniform", steps)[:-1]), s.timesteps)


def test_unknown_scheduler_is_a_clear_error(ms):
    from nodes.diffusion.sampling.errors import SamplingInputError

    with pytest.raises(SamplingInputError, match="unknown scheduler 'nope'") as e:
        calculate_sigmas(ms, "nope", 10)
    assert e.value.field == "scheduler"
