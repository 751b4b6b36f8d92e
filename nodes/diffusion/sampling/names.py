"""Sampler and scheduler names as ComfyUI spells them, in ComfyUI's order (its first entries are the defaults).

Torch-free: node declarations import this module.
"""

#: ComfyUI's KSAMPLER_NAMES + ["ddim", "uni_pc", "uni_pc_bh2"], limited to the ones implemented here.
#: The "_gpu" variants are accepted so shared workflows load; they run the same CPU Brownian tree (see samplers_sde).
SAMPLER_NAMES = (
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2", "dpm_2",
    "dpm_2_ancestral", "lms", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_sde",
    "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm",
    "lcm", "ddim", "uni_pc", "uni_pc_bh2",
)

SCHEDULER_NAMES = ("normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta",
                   "linear_quadratic", "kl_optimal")

DEFAULT_SAMPLER = SAMPLER_NAMES[0]
DEFAULT_SCHEDULER = SCHEDULER_NAMES[0]
