"""UniPC (Zhao et al. 2023): multistep predictor (UniP) + corrector (UniC), data prediction, up to third order.

Written from the paper because the k-diffusion / UniPC packages cannot be installed here (torchvision), and written
in sigma space: with data prediction and lambda = -log(sigma), the variance-preserving update divided by alpha_t is
exactly the update of ``x / alpha``, so no VP conversion is needed. It follows what ComfyUI runs for "uni_pc"
(B(h) = h, "bh1") and "uni_pc_bh2" (B(h) = e^h - 1): order min(3, steps - 1), lower order for the first and last
steps, no corrector after the last step, and a final sigma of 0 replaced by 0.001 (lambda must stay finite).
One difference: ComfyUI returns the noisy input for a single step; here one step is a first-order update.
"""
from __future__ import annotations

import math

import torch

from nodes.diffusion.sampling.step_math import batch_sigma, evaluate_step, notify

FINAL_SIGMA = 0.001


def _coefficients(rks: list[float], h: float, order: int, variant: str):
    """B(h), h*phi_1(h) and the predictor / corrector weights for the given history ratios ``rks``."""
    hh = -h  # data prediction integrates e^{-h}
    h_phi_1 = math.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1
    b_h = hh if variant == "bh1" else math.expm1(hh)
    rks_t = torch.tensor(rks + [1.0], dtype=torch.float64)
    R, b, factorial = [], [], 1
    for i in range(1, order + 1):
        R.append(rks_t ** (i - 1))
        b.append(h_phi_k * factorial / b_h)
        factorial *= i + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    R = torch.stack(R)
    b = torch.tensor(b, dtype=torch.float64)
    if not rks:
        rhos_p = []
    elif order == 2:
        rhos_p = [0.5]
    else:
        rhos_p = torch.linalg.solve(R[:-1, :-1], b[:-1]).tolist()
    rhos_c = [0.5] if order == 1 else torch.linalg.solve(R, b).tolist()
    return b_h, h_phi_1, rhos_p, rhos_c


def _uni_pc(denoiser, x, sigmas, *, callback, variant):
    sig = [float(s) for s in sigmas]
    if sig[-1] == 0:
        sig[-1] = FINAL_SIGMA
    steps = len(sig) - 1
    if steps < 1:
        return x
    order = max(1, min(3, steps - 1))
    lambdas = [-math.log(s) for s in sig]

    denoised = evaluate_step(denoiser, x, sigmas.new_tensor(sig[0]), 0, callback)
    history = [(0, denoised)]  # (index into sig, data prediction there), newest last
    for step in range(1, steps + 1):
        step_order = min(order, step, steps + 1 - step)
        i0, m0 = history[-1]
        h = lambdas[step] - lambdas[i0]
        rks, d1s = [], []
        for k in range(1, step_order):
            ik, mk = history[-(k + 1)]
            rk = (lambdas[ik] - lambdas[i0]) / h
            rks.append(rk)
            d1s.append((mk - m0) / rk)
        b_h, h_phi_1, rhos_p, rhos_c = _coefficients(rks, h, step_order, variant)

        x_base = (sig[step] / sig[i0]) * x - h_phi_1 * m0
        x_new = x_base - b_h * sum(r * d for r, d in zip(rhos_p, d1s)) if d1s else x_base
        if step < steps:  # corrector: re-evaluate at the new point and redo the step with it
            m_t = denoiser(x_new, batch_sigma(sigmas.new_tensor(sig[step]), x))
            corr = sum(r * d for r, d in zip(rhos_c[:-1], d1s)) if d1s else 0
            x_new = x_base - b_h * (corr + rhos_c[-1] * (m_t - m0))
            history = (history + [(step, m_t)])[-order:]
            notify(callback, step, m_t, x_new)
        x = x_new
    return x


def sample_uni_pc(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None):
    return _uni_pc(denoiser, x, sigmas, callback=callback, variant="bh1")


def sample_uni_pc_bh2(denoiser, x, sigmas, *, seed=None, callback=None, noise_sampler=None):
    return _uni_pc(denoiser, x, sigmas, callback=callback, variant="bh2")
