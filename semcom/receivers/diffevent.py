"""DiffEvent's sampling side (issue 19, started): the EBRD degradation model, its pseudo-inverse guidance
and the alternating sampling of Algorithm 1 (DiffEvent slides, Eq. 4 and 11-16).

**EBRD** (slides Eq. 4): a blurry frame is ``y = D(x, E, r) = f(E)·x + r``: the sharp frame ``x`` times
the event double integral ``f(E)`` (EDI's denominator, optionally enhanced), plus a residual ``r`` for
what the events missed.  All in linear light.

**Guidance** (Eq. 13 and 16, Algorithm 1 lines 5 and 8): the ``x`` step descends
``L_x = s·||y − f x̂0 − r̂0||² + λ·TV(x̂0)`` and the ``r`` step ``L_r = s'·||y − f x̂0* − r̂0||² + λ'·||r̂0||₁``,
with the gradients written out (:func:`guidance_gradients`; TV smoothed as ``Σ sqrt(d² + ε²)`` so that
it has one; ``||r||₁``'s subgradient ``sign(r)``), checked against autograd in the tests.

**Sampling** (:func:`alternating_sample`): ``x_T, r_T`` drawn from ``N(0, I)``; at each of ``steps``
time steps (a DDIM-style respacing of the 1000-step training schedule) the ``x`` estimate ``x̂0`` is
predicted from ``x_t`` by its denoiser, guided, and ``x_{t−1}`` drawn from the posterior around it; then
``r`` likewise against the new ``x̂0*``.  ``denoise_x`` / ``denoise_r`` are the diffusion priors (callables
``(state, t) -> x̂0``); ``None`` switches a prior off: the state is its own estimate and a step is a plain
descent of the guidance loss (``prior_step``), which converges to the EBRD least-squares solution.
The two trained denoisers are still to come.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

__all__ = ["Guidance", "ebrd", "guidance_losses", "guidance_gradients", "alternating_sample", "respaced_schedule"]

Denoiser = Callable[[torch.Tensor, int], torch.Tensor]


@dataclass(frozen=True)
class Guidance:
    """Weights of the guidance: ``s``, ``s_r`` on the data terms, ``lam`` on TV(x), ``lam_r`` on ||r||₁."""

    s: float = 1.0
    s_r: float = 1.0
    lam: float = 0.0
    lam_r: float = 0.0
    tv_eps: float = 1e-3


def ebrd(x: torch.Tensor, f: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """``D(x, E, r) = f(E)·x + r``."""
    return f * x + r


def _tv(x: torch.Tensor, eps: float) -> torch.Tensor:
    dx, dy = x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]
    return torch.sqrt(dx * dx + eps * eps).sum() + torch.sqrt(dy * dy + eps * eps).sum()


def guidance_losses(x0: torch.Tensor, r0: torch.Tensor, y: torch.Tensor, f: torch.Tensor, g: Guidance
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L_x, L_r)`` of Algorithm 1, lines 5 and 8, at the estimates ``x0`` and ``r0``."""
    res = y - ebrd(x0, f, r0)
    data = res.square().sum()
    return g.s * data + g.lam * _tv(x0, g.tv_eps), g.s_r * data + g.lam_r * r0.abs().sum()


def guidance_gradients(x0: torch.Tensor, r0: torch.Tensor, y: torch.Tensor, f: torch.Tensor, g: Guidance
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(∇_x L_x, ∇_r L_r)``, written out."""
    res = y - ebrd(x0, f, r0)
    grad_x = -2.0 * g.s * f * res
    if g.lam:
        dx, dy = x0[..., :, 1:] - x0[..., :, :-1], x0[..., 1:, :] - x0[..., :-1, :]
        wx, wy = dx / torch.sqrt(dx * dx + g.tv_eps ** 2), dy / torch.sqrt(dy * dy + g.tv_eps ** 2)
        tv = torch.zeros_like(x0)
        tv[..., :, 1:] += wx
        tv[..., :, :-1] -= wx
        tv[..., 1:, :] += wy
        tv[..., :-1, :] -= wy
        grad_x = grad_x + g.lam * tv
    grad_r = -2.0 * g.s_r * res + g.lam_r * torch.sign(r0)
    return grad_x, grad_r


def respaced_schedule(steps: int, train_steps: int = 1000, beta: tuple[float, float] = (1e-4, 0.02)
                      ) -> tuple[list[int], torch.Tensor]:
    """``steps`` time steps (descending) of the linear-beta training schedule and their ``ᾱ``."""
    betas = torch.linspace(beta[0], beta[1], train_steps, dtype=torch.float64)
    abar = torch.cumprod(1.0 - betas, 0)
    ts = torch.linspace(train_steps - 1, 0, steps).round().long().tolist()
    return ts, abar


def alternating_sample(y: torch.Tensor, f: torch.Tensor, *, steps: int = 50, guidance: Guidance = Guidance(),
                       denoise_x: Denoiser | None = None, denoise_r: Denoiser | None = None,
                       prior_step: float = 0.1, generator: torch.Generator | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Algorithm 1: ``(x0, r0)`` for the blurry frame ``y`` and the event factor ``f`` (same shape)."""
    ts, abar = respaced_schedule(steps)
    x = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
    r = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        a_t = float(abar[t])
        a_prev = float(abar[t_prev]) if t_prev >= 0 else 1.0
        beta = 1.0 - a_t / a_prev
        var = (1.0 - a_prev) / (1.0 - a_t) * beta

        def step(state: torch.Tensor, est: torch.Tensor, grad: torch.Tensor, prior: bool) -> torch.Tensor:
            if not prior:  # guidance only: a descent step on the estimate
                return est - prior_step * grad
            mean = ((a_prev ** 0.5) * beta / (1 - a_t)) * est + ((1 - beta) ** 0.5 * (1 - a_prev) / (1 - a_t)) * state
            noise = torch.randn(state.shape, generator=generator, dtype=state.dtype, device=state.device)
            return mean - var * grad + (var ** 0.5 if t_prev >= 0 else 0.0) * noise

        x0 = denoise_x(x, t) if denoise_x is not None else x                       # line 3
        r0 = denoise_r(r, t) if denoise_r is not None else r                       # line 4
        gx, _ = guidance_gradients(x0, r0, y, f, guidance)                          # line 5
        x = step(x, x0, gx, denoise_x is not None)                                  # line 6
        x0s = denoise_x(x, max(t_prev, 0)) if denoise_x is not None else x         # line 7
        _, gr = guidance_gradients(x0s, r0, y, f, guidance)                         # line 8
        r = step(r, r0, gr, denoise_r is not None)                                  # line 9
    return x, r
