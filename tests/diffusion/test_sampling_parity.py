"""Independent check of the sampling math: our samplers against diffusers' schedulers, same denoiser, same sigmas.

Fairness: diffusers' k-space schedulers feed the model fractional timesteps while ComfyUI (and we) feed the nearest
integer one, so these tests do not use a timestep-conditioned network but an analytic denoiser that is a smooth
function of (x, sigma) ("sigma-continuous"), and read the exact sigma each diffusers call is made at. Both sides
start from the same point and run on diffusers' own sigma table. Where noise is involved, both draw it from
identically seeded generators in the same order (or share diffusers' Brownian tree).

DDIM / DDPM use integer timesteps on both sides, so there a real (tiny, random) UNet2DConditionModel is used.

Tolerance: max |ours - diffusers| <= 1e-5 * max |diffusers| (float32 arithmetic in different orders; measured
1e-7..4e-6), 3e-4 for dpmpp_sde (diffusers queries its Brownian tree at sigmas that went through exp(-log(.)),
measured 6e-5).
Not compared (no diffusers equivalent with the same algorithm): heunpp2, dpmpp_2s_ancestral, the cfg_pp samplers,
lcm (diffusers' LCM scheduler adds its own boundary-condition scalings), dpmpp_3m_sde with noise (diffusers' third-
order SDE step has a different D2 coefficient; the ODE part is compared at eta = 0).
"""
from __future__ import annotations


import pytest
import torch

torch.set_num_threads(1)
# diffusers' schedulers trip numpy 2 deprecation warnings thousands of times; they are not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

diffusers = pytest.importorskip("diffusers")

from nodes.diffusion.sampling import samplers_ancestral as anc  # noqa: E402
from nodes.diffusion.sampling import samplers_ode as ode  # noqa: E402
from nodes.diffusion.sampling import samplers_sde as sde  # noqa: E402
from nodes.diffusion.sampling.sampler_unipc import FINAL_SIGMA, sample_uni_pc, sample_uni_pc_bh2  # noqa: E402

SD_BETAS = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000)
SHAPE = (2, 4, 6, 6)
RTOL = 1e-5


def _mean() -> torch.Tensor:
    g = torch.Generator().manual_seed(123)
    return torch.randn(SHAPE[1:], generator=g) * 0.5


MU = _mean()


def denoise(x: torch.Tensor, sigma) -> torch.Tensor:
    """Exact denoiser of Gaussian data N(MU, 0.5^2) plus a small nonlinearity, smooth in sigma."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype)
    s2 = 0.25
    return MU + s2 / (s2 + sigma ** 2) * (x - MU) + 0.05 * torch.tanh(x) * sigma / (1 + sigma)


def our_denoiser(x, sigma_rows):
    return denoise(x, sigma_rows[0])


def eps_model(x_in: torch.Tensor, sigma) -> torch.Tensor:
    """What an epsilon-prediction network would answer for the scaled input ``x / sqrt(sigma^2 + 1)``."""
    sigma = torch.as_tensor(sigma, dtype=x_in.dtype)
    x = x_in * (sigma ** 2 + 1) ** 0.5
    return (x - denoise(x, sigma)) / sigma


def start_noise(seed=0) -> torch.Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed))


def close(ours: torch.Tensor, theirs: torch.Tensor, rtol: float = RTOL) -> None:
    err = (ours - theirs).abs().max().item()
    scale = theirs.abs().max().item()
    assert torch.isfinite(ours).all()
    assert err <= rtol * scale, f"max abs diff {err:.3e} vs scale {scale:.3e}"


def base_table(scheduler) -> torch.Tensor:
    """The step sigmas of a (possibly interleaved, two-stage) diffusers scheduler."""
    return torch.unique_consecutive(scheduler.sigmas.float())


def _sigma_now(s) -> torch.Tensor:
    """The sigma diffusers' scheduler is about to evaluate the model at (after scale_model_input)."""
    name = type(s).__name__
    if name == "KDPM2DiscreteScheduler" and not s.state_in_first_order:
        return s.sigmas_interpol[s.step_index]
    if name == "KDPM2AncestralDiscreteScheduler" and not s.state_in_first_order:
        return s.sigmas_interpol[s.step_index - 1]
    if name == "DPMSolverSDEScheduler" and not s.state_in_first_order:
        return s.mid_point_sigma
    return s.sigmas[s.step_index]


def run_k_scheduler(s, x, generator=None, stop_before_last=False):
    """diffusers' sampling loop for a sigma-space scheduler (input scaled by scale_model_input)."""
    timesteps = list(s.timesteps)
    if stop_before_last:
        timesteps = timesteps[:-1]
    for t in timesteps:
        x_in = s.scale_model_input(x, t)
        eps = eps_model(x_in, _sigma_now(s))
        kwargs = {"generator": generator} if generator is not None else {}
        x = s.step(eps, t, x, **kwargs).prev_sample
    return x


def run_vp_scheduler(s, x_vp, sigmas, generator=None):
    """diffusers' loop for a variance-preserving multistep scheduler (DPM-Solver++, UniPC): the sample is x / alpha."""
    for i, t in enumerate(s.timesteps):
        eps = eps_model(x_vp, sigmas[i])
        kwargs = {"generator": generator} if generator is not None else {}
        x_vp = s.step(eps, t, x_vp, **kwargs).prev_sample
    return x_vp


def seeded_noise_sampler(seed: int, shape=SHAPE, draws_per_call: int = 1):
    g = torch.Generator().manual_seed(seed)

    def sample(sigma, sigma_next):
        for _ in range(draws_per_call):
            noise = torch.randn(shape, generator=g)
        return noise

    return sample


# -- deterministic sigma-space samplers -------------------------------------------------------------------------

@pytest.mark.parametrize("karras", [False, True])
@pytest.mark.parametrize("ours, cls_name", [
    (ode.sample_euler, "EulerDiscreteScheduler"),
    (ode.sample_heun, "HeunDiscreteScheduler"),
    (ode.sample_dpm_2, "KDPM2DiscreteScheduler"),
])
def test_ode_samplers_match_diffusers(ours, cls_name, karras):
    s = getattr(diffusers, cls_name)(timestep_spacing="linspace", use_karras_sigmas=karras, **SD_BETAS)
    s.set_timesteps(8)
    sigmas = base_table(s)
    assert len(sigmas) == 9 and sigmas[-1] == 0
    x0 = start_noise() * sigmas[0]
    close(ours(our_denoiser, x0, sigmas), run_k_scheduler(s, x0.clone()))


def test_lms_matches_diffusers_until_the_last_step():
    """ComfyUI's LMS jumps to the prediction at sigma 0 where diffusers integrates the polynomial down to 0, so the
    trajectories are compared up to the state before the last step."""
    s = diffusers.LMSDiscreteScheduler(timestep_spacing="linspace", **SD_BETAS)
    s.set_timesteps(10)
    sigmas = base_table(s)
    x0 = start_noise() * sigmas[0]
    states = []
    ode.sample_lms(our_denoiser, x0, sigmas, callback=lambda i, d, x: states.append(x))
    close(states[-1], run_k_scheduler(s, x0.clone(), stop_before_last=True))


def test_dpmpp_2m_matches_diffusers_dpm_solver_plus_plus():
    s = diffusers.DPMSolverMultistepScheduler(timestep_spacing="linspace", use_karras_sigmas=True,
                                              algorithm_type="dpmsolver++", solver_order=2, **SD_BETAS)
    s.set_timesteps(16)  # >= 15: diffusers' "lower order second" does not kick in
    sigmas = s.sigmas.float()
    x0 = start_noise() * (1 + sigmas[0] ** 2) ** 0.5
    theirs = run_vp_scheduler(s, x0 / (1 + sigmas[0] ** 2) ** 0.5, sigmas)
    close(ode.sample_dpmpp_2m(our_denoiser, x0, sigmas), theirs)


def test_dpmpp_3m_sde_without_noise_matches_diffusers_third_order():
    s = diffusers.DPMSolverMultistepScheduler(timestep_spacing="linspace", use_karras_sigmas=True,
                                              algorithm_type="dpmsolver++", solver_order=3, **SD_BETAS)
    s.set_timesteps(16)
    sigmas = s.sigmas.float()
    x0 = start_noise() * (1 + sigmas[0] ** 2) ** 0.5
    theirs = run_vp_scheduler(s, x0 / (1 + sigmas[0] ** 2) ** 0.5, sigmas)
    close(sde.sample_dpmpp_3m_sde(our_denoiser, x0, sigmas, seed=0, eta=0.0), theirs)


@pytest.mark.parametrize("ours, variant", [(sample_uni_pc, "bh1"), (sample_uni_pc_bh2, "bh2")])
def test_uni_pc_matches_diffusers(ours, variant):
    """diffusers' UniPC (order 3, data prediction) on our table; ComfyUI's convention of stopping at sigma 0.001 is
    given to diffusers as the last sigma, and its VP result is divided by alpha there."""
    s = diffusers.UniPCMultistepScheduler(timestep_spacing="linspace", use_karras_sigmas=True, solver_order=3,
                                          solver_type=variant, **SD_BETAS)
    s.set_timesteps(10)
    sigmas = s.sigmas.float().clone()
    assert sigmas[-1] == 0
    theirs_sigmas = sigmas.clone()
    theirs_sigmas[-1] = FINAL_SIGMA
    s.sigmas = theirs_sigmas
    x0 = start_noise() * (1 + sigmas[0] ** 2) ** 0.5
    theirs = run_vp_scheduler(s, x0 / (1 + sigmas[0] ** 2) ** 0.5, theirs_sigmas)
    theirs = theirs * (1 + FINAL_SIGMA ** 2) ** 0.5
    close(ours(our_denoiser, x0, sigmas), theirs)


# -- samplers with noise ------------------------------------------------------------------------------------------

def test_euler_ancestral_matches_diffusers():
    s = diffusers.EulerAncestralDiscreteScheduler(timestep_spacing="linspace", **SD_BETAS)
    s.set_timesteps(8)
    sigmas = base_table(s)
    x0 = start_noise() * sigmas[0]
    theirs = run_k_scheduler(s, x0.clone(), generator=torch.Generator().manual_seed(7))
    close(anc.sample_euler_ancestral(our_denoiser, x0, sigmas, noise_sampler=seeded_noise_sampler(7)), theirs)


def test_dpm_2_ancestral_matches_diffusers():
    s = diffusers.KDPM2AncestralDiscreteScheduler(timestep_spacing="linspace", **SD_BETAS)
    s.set_timesteps(8)
    sigmas = base_table(s)
    x0 = start_noise() * sigmas[0]
    theirs = run_k_scheduler(s, x0.clone(), generator=torch.Generator().manual_seed(7))
    close(anc.sample_dpm_2_ancestral(our_denoiser, x0, sigmas, noise_sampler=seeded_noise_sampler(7)), theirs)


def test_dpmpp_2m_sde_matches_diffusers():
    s = diffusers.DPMSolverMultistepScheduler(timestep_spacing="linspace", use_karras_sigmas=True,
                                              algorithm_type="sde-dpmsolver++", solver_order=2, **SD_BETAS)
    s.set_timesteps(16)
    sigmas = s.sigmas.float()
    x0 = start_noise() * (1 + sigmas[0] ** 2) ** 0.5
    theirs = run_vp_scheduler(s, x0 / (1 + sigmas[0] ** 2) ** 0.5, sigmas, generator=torch.Generator().manual_seed(7))
    ours = sde.sample_dpmpp_2m_sde(our_denoiser, x0, sigmas, noise_sampler=seeded_noise_sampler(7))
    close(ours, theirs)


def test_dpmpp_sde_matches_diffusers_and_its_brownian_tree():
    """diffusers' DPMSolverSDE seeds a Brownian tree from ``noise_sampler_seed`` as ComfyUI does: our own tree with
    the same seed must give the same result."""
    s = diffusers.DPMSolverSDEScheduler(timestep_spacing="linspace", use_karras_sigmas=True,
                                        noise_sampler_seed=11, **SD_BETAS)
    s.set_timesteps(6)
    sigmas = base_table(s)
    x0 = start_noise() * sigmas[0]
    theirs = run_k_scheduler(s, x0.clone())
    close(sde.sample_dpmpp_sde(our_denoiser, x0, sigmas, seed=11), theirs, rtol=3e-4)


# -- integer-timestep samplers with a real (tiny) UNet ------------------------------------------------------------

def tiny_unet():
    torch.manual_seed(0)
    return diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32).eval()


def test_ddpm_matches_diffusers_with_a_unet():
    from nodes.diffusion.sampling.model_sampling import ModelSampling
    from nodes.diffusion.sampling.schedulers import calculate_sigmas

    unet, ms = tiny_unet(), ModelSampling()
    context = torch.randn(SHAPE[0], 5, 32, generator=torch.Generator().manual_seed(3))
    s = diffusers.DDPMScheduler(timestep_spacing="leading", steps_offset=1, clip_sample=False, **SD_BETAS)
    s.set_timesteps(5)  # 1000 % 5 == 0: ddim_uniform then has exactly 5 steps (as in ComfyUI, see schedule tests)
    sigmas = calculate_sigmas(ms, "ddim_uniform", 5)
    assert torch.equal(ms.timestep(sigmas[:-1]), s.timesteps)

    def denoiser(x, sigma_rows):
        with torch.no_grad():
            eps = unet(ms.calculate_input(sigma_rows, x), ms.timestep(sigma_rows).float(), context).sample
        return ms.calculate_denoised(sigma_rows, eps, x)

    x0 = start_noise() * sigmas[0]
    ours = anc.sample_ddpm(denoiser, x0, sigmas, noise_sampler=seeded_noise_sampler(5))
    x, g = x0 / (1 + sigmas[0] ** 2) ** 0.5, torch.Generator().manual_seed(5)
    with torch.no_grad():
        for t in s.timesteps:
            x = s.step(unet(x, t, context).sample, t, x, generator=g).prev_sample
    close(ours, x)


class UNetModel:
    """The MODEL contract around a diffusers UNet (what the MODEL author's object does, minus loading)."""

    def __init__(self, unet):
        from nodes.diffusion.sampling.latent_format import SD15_LATENT
        from nodes.diffusion.sampling.model_sampling import ModelSampling

        self.unet, self.model_sampling, self.latent_format = unet, ModelSampling(), SD15_LATENT
        self.device, self.dtype, self.calls = torch.device("cpu"), torch.float32, 0

    def apply_model(self, x, timesteps, context, extras_list):
        self.calls += 1
        return self.unet(x, timesteps, context).sample

    def patched(self):
        import contextlib

        return contextlib.nullcontext()


def test_ksampler_ddim_with_cfg_matches_a_diffusers_ddim_loop():
    """The whole KSampler chain (noise seeding, start point, c_in, integer timesteps, batched CFG, latent scaling)
    against diffusers' DDIM loop as its pipeline runs it (eta 0, uncond/cond batch, guidance on eps)."""
    from nodes.diffusion.sampling.ksampler import sample_latent

    model = UNetModel(tiny_unet())
    g = torch.Generator().manual_seed(9)
    cond, uncond = torch.randn(1, 77, 32, generator=g), torch.randn(1, 77, 32, generator=g)
    latent = {"samples": torch.zeros(2, 4, 8, 8)}
    ours = sample_latent(model, latent, seed=42, steps=5, cfg=7.5, sampler_name="ddim", scheduler="ddim_uniform",
                         positive=[(cond, {})], negative=[(uncond, {})])["samples"]
    assert model.calls == 5  # one batched call per step

    s = diffusers.DDIMScheduler(timestep_spacing="leading", steps_offset=1, clip_sample=False, set_alpha_to_one=True,
                                **SD_BETAS)
    s.set_timesteps(5)
    ms = model.model_sampling
    sigma0 = ms.sigmas[s.timesteps[0]]
    noise = torch.randn((2, 4, 8, 8), generator=torch.Generator().manual_seed(42))
    # ComfyUI starts at noise * sigma0 here: ddim_uniform's first sigma is not the model's sigma_max
    x = noise * sigma0 / (1 + sigma0 ** 2) ** 0.5
    context = torch.cat([uncond.repeat(2, 1, 1), cond.repeat(2, 1, 1)])
    with torch.no_grad():
        for t in s.timesteps:
            eps_u, eps_c = model.unet(torch.cat([x, x]), t, context).sample.chunk(2)
            x = s.step(eps_u + 7.5 * (eps_c - eps_u), t, x).prev_sample
    close(ours, x / 0.18215)
