"""ComfyUI sampler names -> sampling functions, with what the KSampler needs to know about each."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from nodes.diffusion.sampling import samplers_ancestral as anc
from nodes.diffusion.sampling import samplers_cfg_pp as cfgpp
from nodes.diffusion.sampling import samplers_ode as ode
from nodes.diffusion.sampling import samplers_sde as sde
from nodes.diffusion.sampling.errors import SamplingInputError
from nodes.diffusion.sampling.names import SAMPLER_NAMES
from nodes.diffusion.sampling.sampler_unipc import sample_uni_pc, sample_uni_pc_bh2


@dataclass(frozen=True)
class SamplerSpec:
    name: str
    #: ``fn(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None) -> x``
    fn: Callable
    #: CFG++ samplers read the unconditional prediction, so it is computed even at cfg 1.
    needs_uncond: bool = False
    #: ComfyUI schedules one more step and drops the second-to-last sigma for these (their second evaluation on
    #: the last, tiny interval would be wasted).
    discard_penultimate_sigma: bool = False


_SPECS = [
    SamplerSpec("euler", ode.sample_euler),
    SamplerSpec("euler_cfg_pp", cfgpp.sample_euler_cfg_pp, needs_uncond=True),
    SamplerSpec("euler_ancestral", anc.sample_euler_ancestral),
    SamplerSpec("euler_ancestral_cfg_pp", cfgpp.sample_euler_ancestral_cfg_pp, needs_uncond=True),
    SamplerSpec("heun", ode.sample_heun),
    SamplerSpec("heunpp2", ode.sample_heunpp2),
    SamplerSpec("dpm_2", ode.sample_dpm_2, discard_penultimate_sigma=True),
    SamplerSpec("dpm_2_ancestral", anc.sample_dpm_2_ancestral, discard_penultimate_sigma=True),
    SamplerSpec("lms", ode.sample_lms),
    SamplerSpec("dpmpp_2s_ancestral", anc.sample_dpmpp_2s_ancestral),
    SamplerSpec("dpmpp_sde", sde.sample_dpmpp_sde),
    SamplerSpec("dpmpp_sde_gpu", sde.sample_dpmpp_sde),
    SamplerSpec("dpmpp_2m", ode.sample_dpmpp_2m),
    SamplerSpec("dpmpp_2m_sde", sde.sample_dpmpp_2m_sde),
    SamplerSpec("dpmpp_2m_sde_gpu", sde.sample_dpmpp_2m_sde),
    SamplerSpec("dpmpp_2m_sde_heun", sde.sample_dpmpp_2m_sde_heun),
    SamplerSpec("dpmpp_2m_sde_heun_gpu", sde.sample_dpmpp_2m_sde_heun),
    SamplerSpec("dpmpp_3m_sde", sde.sample_dpmpp_3m_sde),
    SamplerSpec("dpmpp_3m_sde_gpu", sde.sample_dpmpp_3m_sde),
    SamplerSpec("ddpm", anc.sample_ddpm),
    SamplerSpec("lcm", anc.sample_lcm),
    # Deterministic DDIM is Euler in sigma space; ComfyUI runs Euler on whichever scheduler is chosen.
    SamplerSpec("ddim", ode.sample_euler),
    SamplerSpec("uni_pc", sample_uni_pc, discard_penultimate_sigma=True),
    SamplerSpec("uni_pc_bh2", sample_uni_pc_bh2, discard_penultimate_sigma=True),
]
SAMPLERS: dict[str, SamplerSpec] = {spec.name: spec for spec in _SPECS}
assert tuple(SAMPLERS) == SAMPLER_NAMES


def get_sampler(name: str) -> SamplerSpec:
    try:
        return SAMPLERS[name]
    except KeyError:
        raise SamplingInputError(f"unknown sampler {name!r}; known: {', '.join(SAMPLER_NAMES)}",
                                 "sampler_name") from None
