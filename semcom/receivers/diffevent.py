"""``diffevent``: DiffEvent (Wang et al., ICASSP 2024; slides Eq. 3-16, Algorithm 1) at this project's scale.

**EBRD** (slides Eq. 4): a blurry frame is ``y = D(x, E, r) = f(E)·x + r``: the sharp frame ``x`` times
the event factor ``f(E)`` (EDI's double integral ``E`` of Eq. 3, corrected by an enhancement module),
plus a residual ``r`` for what the events missed.  All in linear light, with the event camera's log offset
``ε`` as in EDI: ``y + ε = f·(x + ε) + r``.  Two enhancement modules (compared by ``semcom experiment diffevent``):
``"filter"`` replaces the pixels of ``log E`` that stand out from their 3x3 median (isolated, non-continuous
pixels) by that median; ``"learned"`` (:class:`EventEnhancer`) multiplies ``E`` by ``exp(Δ)``, ``Δ`` from a
small CNN on ``log E`` and the blurry luminance, trained so that ``y / f`` is the sharp frame.

**Priors**: two small epsilon-prediction U-Nets (:class:`EpsUNet`) with the linear-beta DDPM schedule of
1000 steps, one for ``x`` (linear RGB mapped to [-1, 1]: ``u = 2x - 1``) and one for ``r`` (scaled to unit
range: ``ρ = 2r / k``, ``k`` the ``r_gain`` stored with the weights, 90 % of the training residuals in [-1, 1]).  In these units the EBRD reads
``Y = f·u + k·ρ`` with ``Y = 2(y + ε) - f·(1 + 2ε)``, which is what the sampler is given.

**Guidance** (Eq. 13 and 16, Algorithm 1 lines 5 and 8): the ``x`` step descends
``L_x = s·||Y − f x̂0 − k r̂0||² + λ·TV(x̂0)`` and the ``r`` step ``L_r = s'·||Y − f x̂0* − k r̂0||² + λ'·||r̂0||₁``,
with the gradients written out (:func:`guidance_gradients`; TV smoothed as ``Σ sqrt(d² + ε²)`` so that
it has one; ``||r||₁``'s subgradient ``sign(r)``), checked against autograd in the tests.

**Sampling** (:func:`alternating_sample`), Algorithm 1 line by line.  With ``μ_t(x_t, x̂0) = c₁ x̂0 + c₂ x_t`` the
posterior mean of Eq. 8 (``c₁ = sqrt(ᾱ_{t−1}) β_t / (1 − ᾱ_t)``, ``c₂ = sqrt(α_t)(1 − ᾱ_{t−1}) / (1 − ᾱ_t)``) and
``σ_t² = (1 − ᾱ_{t−1}) β_t / (1 − ᾱ_t)``, on ``steps`` time steps of the 1000-step schedule
(:func:`respaced_schedule`; ``t`` from ``T`` to 1, ``ᾱ_{t−1} = 1`` after the last):

* line 1, ``x_T, r_T ~ N(0, I)``: two draws from the seeded generator (``r`` held at 0 without a residual);
* line 3, ``x̂0 = (x_t − sqrt(1 − ᾱ_t) ε_θ(x_t, t)) / sqrt(ᾱ_t)``: ``denoise_x`` (:func:`predict_x0`, clipped
  to [-1, 1]); after the first step it is the previous step's line 7, computed once;
* line 4, ``r̂0`` likewise from ``r_t``: ``denoise_r`` (clipped to ``±R_CLIP = 4``: ``|r| ≤ 2k``);
* line 5, ``L_x = s·||Y − f x̂0 − k r̂0||² + λ·TV(x̂0)``: :func:`guidance_gradients` (its gradient in ``x̂0``);
* line 6, ``x_{t−1} ~ N(μ_t − σ_t² ∇L_x, σ_t² I)``: :func:`_step`.  Since ``μ_t`` is linear in ``x̂0``, the mean
  is ``μ_t(x_t, x̂0 − ζ ∇L_x)`` with ``ζ = σ_t²/c₁``: a gradient step on the estimate.  ``σ_t²/c₁`` is
  ``(1 − ᾱ_{t−1}) / sqrt(ᾱ_{t−1})``, about 90 at the first of 20 steps and 1e-4 at the last, so a constant
  ``s`` either overshoots the data early by that factor (measured on 4 training frames: uncapped at
  ``s = 1``, 7.8 dB under the blurry input) or does nothing late.  ``cap`` bounds ``ζ`` per pixel by a share ``η`` of
  the pseudo-inverse step ``1 / (2 s f²)`` (the step that solves the data term exactly): ``η < 1`` (the
  published sampler) keeps every step soft, at most ``η`` of the way to the data-consistent
  ``(Y − k r̂0) / f``; ``η = 1`` (``cap=True``, the projected variant) replaces the estimate by it wherever
  the cap binds, which with ``s = 1e4`` is every pixel at every step;
* line 7, ``x̂0*`` from ``x_{t−1}`` at ``t − 1``: ``denoise_x`` again;
* line 8, ``L_r = s'·||Y − f x̂0* − k r̂0||² + λ'·||r̂0||₁``: :func:`guidance_gradients` (``sign`` for ``||·||₁``);
* line 9, ``r_{t−1} ~ N(μ'_t − σ_t'² ∇L_r, σ_t'² I)``: :func:`_step` with the same schedule (``ᾱ' = ᾱ``) and
  the same cap share (pseudo-inverse step ``1 / (2 s' k²)``);
* line 11, ``return x_0, r_0``: after the last step (``σ = 0``: no noise and no guidance) ``x_0`` is the
  prior's own last estimate.  ``project_last`` (the projected variant) instead ends with the capped step,
  i.e. on ``(Y − k r̂0) / f``.  ``r_bound`` clamps the returned ``r`` (the receiver: ``|r| ≤ r_max = 1``,
  image range; before issue 35 the projected variant's last ``r`` step left ``|k ρ|`` near 1e4).

``spacing="quadratic"`` (the published sampler) puts the steps denser at small ``t`` (as DDIM's quadratic
skip): the last step, which the guidance cannot reach, then starts from ``t = 12`` instead of 111 with 10 steps
(``t = 3`` instead of 53 with 20).
``None`` for a denoiser switches its prior off: the state is its own estimate and a step is a plain descent of
the guidance loss (``prior_step``), which converges to the EBRD least-squares solution (tested).
Paper element by element, with what differs and why: docs/fidelity-diffevent.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from semcom.colour import linear_to_srgb, srgb_to_linear
from semcom.receivers.base import Receiver
from semcom.receivers.edi import EDI
from semcom.registry import RECEIVERS
from semcom.sources.base import Batch
from semcom.sources.events import LUMA_WEIGHTS

__all__ = ["Guidance", "ebrd", "guidance_losses", "guidance_gradients", "alternating_sample", "respaced_schedule",
           "noise_schedule", "EpsUNet", "EventEnhancer", "filter_enhance", "predict_x0", "DiffEvent",
           "DEGRADATIONS", "TRAIN_STEPS"]

Denoiser = Callable[[torch.Tensor, int], torch.Tensor]

#: length of the training noise schedule (linear betas from 1e-4 to 0.02, as DDPM)
TRAIN_STEPS = 1000

#: the guidance of the published sampler (``SAMPLERS["published"]``): the best of a tiny grid on 4 training frames
#: (64², 10 steps; :func:`semcom.train.diffevent.tune_guidance`), provisional until the full grid has run (how
#: chosen and the numbers: docs/fidelity-diffevent.md)
PUBLISHED_S, PUBLISHED_S_R, PUBLISHED_LAM, PUBLISHED_LAM_R, PUBLISHED_CAP = 1e4, 1e-3, 100.0, 3.0, 0.9
PUBLISHED_SPACING = "quadratic"

#: the slides' ablation: degradation -> (event factor: "raw" E, "enhanced" f(E) or "none" (f = 1), with r)
DEGRADATIONS: dict[str, tuple[str, bool]] = {
    "Ex": ("raw", False), "fEx": ("enhanced", False), "x+r": ("none", True), "Ex+r": ("raw", True),
    "fEx+r": ("enhanced", True),
}


@dataclass(frozen=True)
class Guidance:
    """Weights of the guidance: ``s``, ``s_r`` on the data terms, ``lam`` on TV(x), ``lam_r`` on ||r||₁;
    ``r_gain`` is ``k`` in ``y = f x + k r`` (the residual prior's scale)."""

    s: float = 1.0
    s_r: float = 1.0
    lam: float = 0.0
    lam_r: float = 0.0
    tv_eps: float = 1e-3
    r_gain: float = 1.0


def ebrd(x: torch.Tensor, f: torch.Tensor, r: torch.Tensor, r_gain: float = 1.0) -> torch.Tensor:
    """``D(x, E, r) = f(E)·x + k·r``."""
    return f * x + r_gain * r


def _tv(x: torch.Tensor, eps: float) -> torch.Tensor:
    dx, dy = x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]
    return torch.sqrt(dx * dx + eps * eps).sum() + torch.sqrt(dy * dy + eps * eps).sum()


def guidance_losses(x0: torch.Tensor, r0: torch.Tensor, y: torch.Tensor, f: torch.Tensor, g: Guidance
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L_x, L_r)`` of Algorithm 1, lines 5 and 8, at the estimates ``x0`` and ``r0``."""
    res = y - ebrd(x0, f, r0, g.r_gain)
    data = res.square().sum()
    return g.s * data + g.lam * _tv(x0, g.tv_eps), g.s_r * data + g.lam_r * r0.abs().sum()


def guidance_gradients(x0: torch.Tensor, r0: torch.Tensor, y: torch.Tensor, f: torch.Tensor, g: Guidance
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(∇_x L_x, ∇_r L_r)``, written out."""
    res = y - ebrd(x0, f, r0, g.r_gain)
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
    grad_r = -2.0 * g.s_r * g.r_gain * res + g.lam_r * torch.sign(r0)
    return grad_x, grad_r


def noise_schedule(train_steps: int = TRAIN_STEPS, beta: tuple[float, float] = (1e-4, 0.02)) -> torch.Tensor:
    """``ᾱ_t`` of the linear-beta schedule (float64, ``train_steps`` values)."""
    betas = torch.linspace(beta[0], beta[1], train_steps, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, 0)


#: how the sampling steps are placed on the 1000-step schedule (:func:`respaced_schedule`)
SPACINGS = ("linear", "quadratic")


def respaced_schedule(steps: int, train_steps: int = TRAIN_STEPS, beta: tuple[float, float] = (1e-4, 0.02),
                      spacing: str = "linear") -> tuple[list[int], torch.Tensor]:
    """``steps`` time steps (descending, distinct, from ``train_steps − 1`` to 0) of the linear-beta training
    schedule and its ``ᾱ``.  ``spacing``: ``"linear"`` (evenly spaced) or ``"quadratic"`` (``t ∝ (1 − i/(n−1))²``,
    denser at small ``t``, as DDIM's quadratic skip: the last unguided denoising starts from less noise)."""
    if steps < 1 or steps > train_steps:
        raise ValueError(f"steps must be between 1 and {train_steps}, got {steps}")
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {', '.join(SPACINGS)}, got {spacing!r}")
    if spacing == "linear" or steps == 1:
        ts = torch.linspace(train_steps - 1, 0, steps).round().long().tolist()
    else:
        ts = [round((1.0 - i / (steps - 1)) ** 2 * (train_steps - 1)) for i in range(steps)]
        for i in range(steps - 2, -1, -1):  # distinct: at least one training step apart
            ts[i] = max(ts[i], ts[i + 1] + 1)
    return ts, noise_schedule(train_steps, beta)


def _step(state: torch.Tensor, est: torch.Tensor, grad: torch.Tensor, cap: torch.Tensor | float, a_t: float,
          a_prev: float, last: bool, generator: torch.Generator | None, project_last: bool = False) -> torch.Tensor:
    """One guided draw of Algorithm 1 (line 6 or 9): the posterior around the estimate moved by the guidance.
    ``project_last``: the last step (where ``σ_t = 0`` leaves no guidance) takes the capped step instead."""
    if last and project_last:
        return est - torch.as_tensor(cap, dtype=est.dtype).clamp(max=1e6) * grad
    beta = 1.0 - a_t / a_prev
    c1 = (a_prev ** 0.5) * beta / (1.0 - a_t)
    c2 = (1.0 - beta) ** 0.5 * (1.0 - a_prev) / (1.0 - a_t)
    var = (1.0 - a_prev) / (1.0 - a_t) * beta
    zeta = torch.clamp(torch.as_tensor(var / c1, dtype=est.dtype), max=cap) if c1 > 0 else torch.zeros(())
    mean = c1 * (est - zeta * grad) + c2 * state
    if last:
        return mean
    noise = torch.randn(state.shape, generator=generator, dtype=state.dtype, device=state.device)
    return mean + var ** 0.5 * noise


def _cap_fraction(cap: bool | float) -> float:
    """``cap`` of :func:`alternating_sample` as the share of the pseudo-inverse step (``inf``: no cap)."""
    if isinstance(cap, bool):
        return 1.0 if cap else math.inf
    if not (isinstance(cap, (int, float)) and cap > 0):
        raise ValueError(f"cap must be True, False or a positive share of the pseudo-inverse step, got {cap!r}")
    return float(cap)


def alternating_sample(y: torch.Tensor, f: torch.Tensor, *, steps: int = 50, guidance: Guidance = Guidance(),
                       denoise_x: Denoiser | None = None, denoise_r: Denoiser | None = None, with_r: bool = True,
                       prior_step: float = 0.1, cap: bool | float = True, project_last: bool = False,
                       r_bound: float | None = None, spacing: str = "linear",
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Algorithm 1: ``(x0, r0)`` for the blurry frame ``y`` and the event factor ``f`` (same shape).

    ``with_r=False`` holds ``r`` at zero (the degradations without a residual).  ``cap`` bounds the step
    that a guided draw takes on an estimate (see the module's notes), per pixel, as a share of the step
    that solves the data term exactly (the pseudo-inverse step ``1 / (2 s f²)``): ``True`` (= 1: where it
    binds the estimate is replaced by the data-consistent one, a projection), a number ``η`` (a soft
    step: at most the share ``η`` of the way to the data-consistent estimate) or ``False`` (no cap:
    lines 6 / 9 exactly as written).  ``project_last`` ends with the capped guidance step on the last
    estimates (the pseudo-inverse of the data term where the cap binds) instead of the unguided estimate
    that ``σ_0 = 0`` leaves.  ``r_bound`` clamps the returned ``r`` to ``[-r_bound, r_bound]`` (the
    residual's plausible range in the sampler's units; ``None``: unclamped).  ``spacing``: where the
    ``steps`` time steps lie (:func:`respaced_schedule`).
    """
    ts, abar = respaced_schedule(steps, spacing=spacing)
    g = guidance
    frac = _cap_fraction(cap)
    x = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
    r = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
    if not with_r:
        r = torch.zeros_like(y)
    inf = torch.tensor(math.inf, dtype=y.dtype, device=y.device)
    cap_x = frac / (2.0 * g.s * f * f) if math.isfinite(frac) and g.s > 0 else inf
    cap_r = frac / (2.0 * g.s_r * g.r_gain ** 2) if math.isfinite(frac) and g.s_r > 0 else math.inf
    x0_next = None
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        a_t, a_prev = float(abar[t]), float(abar[t_prev]) if t_prev >= 0 else 1.0
        last = t_prev < 0
        x0 = x0_next if x0_next is not None else (denoise_x(x, t) if denoise_x is not None else x)    # line 3
        r0 = (denoise_r(r, t) if denoise_r is not None else r) if with_r else r                      # line 4
        gx, _ = guidance_gradients(x0, r0, y, f, g)                                                  # line 5
        x = (_step(x, x0, gx, cap_x, a_t, a_prev, last, generator, project_last) if denoise_x is not None
             else x0 - prior_step * gx)                                                             # line 6
        x0_next = None
        if denoise_x is not None and not last:
            x0_next = denoise_x(x, t_prev)                                                           # line 7
        if with_r:
            x0s = x0_next if x0_next is not None else x
            _, gr = guidance_gradients(x0s, r0, y, f, g)                                             # line 8
            r = (_step(r, r0, gr, cap_r, a_t, a_prev, last, generator, project_last) if denoise_r is not None
                 else r0 - prior_step * gr)                                                         # line 9
    if r_bound is not None:
        r = r.clamp(-r_bound, r_bound)
    return x, r                                                                                      # line 11


# --------------------------------------------------------------------------- networks


def _groups(ch: int) -> int:
    return 8 if ch % 8 == 0 else 1


class _ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, temb: int) -> None:
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(_groups(cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(temb, cout)
        self.n2, self.c2 = nn.GroupNorm(_groups(cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x))) + self.t(temb)[:, :, None, None]
        return self.skip(x) + self.c2(F.silu(self.n2(h)))


class EpsUNet(nn.Module):
    """A small epsilon-prediction U-Net: three scales (``width``, ``2·width``, ``2·width`` channels), one
    residual block a scale each way, the time step as a sinusoidal embedding added in every block.

    Shape:
        ``forward(x_t, t)``: ``x_t`` ``(B, channels, H, W)`` with ``H, W`` multiples of 4; ``t`` an int or
        ``(B,)``; returns the predicted noise, same shape as ``x_t``.
    """

    def __init__(self, channels: int = 3, width: int = 32) -> None:
        super().__init__()
        w, te = int(width), 4 * int(width)
        self.width = w
        self.temb = nn.Sequential(nn.Linear(w, te), nn.SiLU(), nn.Linear(te, te))
        self.inp = nn.Conv2d(channels, w, 3, padding=1)
        self.e1, self.e2, self.e3 = _ResBlock(w, w, te), _ResBlock(w, 2 * w, te), _ResBlock(2 * w, 2 * w, te)
        self.down1, self.down2 = nn.Conv2d(w, w, 3, stride=2, padding=1), nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1)
        self.mid = _ResBlock(2 * w, 2 * w, te)
        self.d3, self.d2, self.d1 = _ResBlock(4 * w, 2 * w, te), _ResBlock(4 * w, w, te), _ResBlock(2 * w, w, te)
        self.out = nn.Sequential(nn.GroupNorm(_groups(w), w), nn.SiLU(), nn.Conv2d(w, channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def _embed(self, t: torch.Tensor | int, n: int, device: torch.device) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float32, device=device).reshape(-1).expand(n)
        half = self.width // 2
        freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=device, dtype=torch.float32) / half)
        ang = t[:, None] * freq[None]
        return self.temb(torch.cat([ang.sin(), ang.cos()], 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        te = self._embed(t, x.shape[0], x.device)
        h1 = self.e1(self.inp(x), te)
        h2 = self.e2(self.down1(h1), te)
        h3 = self.e3(self.down2(h2), te)
        m = self.mid(h3, te)
        d = self.d3(torch.cat([m, h3], 1), te)
        d = self.d2(torch.cat([F.interpolate(d, scale_factor=2.0, mode="nearest"), h2], 1), te)
        d = self.d1(torch.cat([F.interpolate(d, scale_factor=2.0, mode="nearest"), h1], 1), te)
        return self.out(d)


def predict_x0(net: nn.Module, state: torch.Tensor, t: int, abar: torch.Tensor, *, clip: float | None = None,
               tile: int = 256, overlap: int = 32) -> torch.Tensor:
    """Algorithm 1 line 3: ``x̂0 = (x_t − sqrt(1 − ᾱ_t) ε_θ(x_t, t)) / sqrt(ᾱ_t)``, the network run on
    overlapping tiles of at most ``tile`` pixels a side (averaged where they overlap), padded to multiples of 4."""
    a = float(abar[t])
    eps = _tiled(lambda z: net(z, t), state, tile=tile, overlap=overlap)
    x0 = (state - (1.0 - a) ** 0.5 * eps) / a ** 0.5
    return x0.clamp(-clip, clip) if clip is not None else x0


def _tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, tile: int, overlap: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % 4, (-w) % 4
    if h + ph <= tile and w + pw <= tile:
        out = fn(F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x)
        return out[..., :h, :w]
    out, cnt = torch.zeros_like(x), torch.zeros_like(x[:, :1])
    stride = max(tile - overlap, 4)
    ys = sorted({min(i, max(h - tile, 0)) for i in range(0, max(h - overlap, 1), stride)})
    xs = sorted({min(j, max(w - tile, 0)) for j in range(0, max(w - overlap, 1), stride)})
    for i in ys:
        for j in xs:
            part = x[..., i:i + tile, j:j + tile]
            out[..., i:i + tile, j:j + tile] += _tiled(fn, part, tile=tile + 4, overlap=overlap)
            cnt[..., i:i + tile, j:j + tile] += 1
    return out / cnt


class EventEnhancer(nn.Module):
    """The learned enhancement ``f(E) = E·exp(Δ)``: ``Δ`` from a small CNN on ``log E`` and the log of the
    blurry luminance (linear light), its last layer zero at the start (so ``f = E`` before training).

    Shape:
        ``forward(E, lum)``: both ``(B, 1, H, W)`` (``E > 0``, ``lum`` linear); returns ``f`` ``(B, 1, H, W)``.
    """

    def __init__(self, width: int = 32, blocks: int = 3, max_log: float = 2.0) -> None:
        super().__init__()
        self.inp = nn.Conv2d(2, width, 3, padding=1)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                                                  nn.Conv2d(width, width, 3, padding=1)) for _ in range(blocks))
        self.out = nn.Conv2d(width, 1, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.max_log = float(max_log)

    def forward(self, denom: torch.Tensor, lum: torch.Tensor) -> torch.Tensor:
        logd = denom.clamp_min(1e-6).log()
        h = F.relu(self.inp(torch.cat([logd, (lum.clamp_min(0.0) + 1e-3).log()], 1)))
        for b in self.blocks:
            h = F.relu(h + b(h))
        delta = self.out(h).clamp(-self.max_log, self.max_log)
        return denom * delta.exp()


def filter_enhance(denom: torch.Tensor, tau: float = 0.1) -> torch.Tensor:
    """The filtered enhancement: pixels whose ``log E`` differs from its 3x3 median by more than ``tau``
    (isolated, non-continuous pixels) take the median.  ``denom`` ``(B, 1, H, W)``, positive."""
    logd = denom.clamp_min(1e-6).log()
    patches = F.unfold(F.pad(logd, (1, 1, 1, 1), mode="replicate"), 3)
    med = patches.median(dim=1).values.view_as(logd)
    return torch.where((logd - med).abs() > tau, med, logd).exp()


# --------------------------------------------------------------------------- the receiver


@dataclass(frozen=True)
class SamplerConfig:
    """One configuration of the sampler (the receiver's ``sampler`` option; its other options override it).

    ``s, s_r, lam, lam_r``: the guidance weights of Eq. 13 / 16 (``s``, ``s'``, ``λ``, ``λ'``) in the sampler's
    units; ``cap``: the bound on a guided step (:func:`alternating_sample`: ``True`` projects where it binds,
    a share ``η < 1`` keeps every step soft, ``False`` none); ``project_last``: end on the capped step;
    ``spacing``: where the sampling steps lie on the training schedule (:func:`respaced_schedule`).
    """

    s: float
    s_r: float
    lam: float
    lam_r: float
    cap: bool | float
    project_last: bool
    spacing: str = "linear"


#: ``"published"``: Algorithm 1 as the slides write it (soft guided steps, TV on, the sampler's own x0 returned);
#: ``"projected"``: the variant shipped before issue 35 (every x step a projection onto the data, the last one
#: returned, no TV), kept for comparison.  The published weights: see :func:`semcom.train.diffevent.tune_guidance`.
SAMPLERS: dict[str, SamplerConfig] = {
    "published": SamplerConfig(s=PUBLISHED_S, s_r=PUBLISHED_S_R, lam=PUBLISHED_LAM, lam_r=PUBLISHED_LAM_R,
                               cap=PUBLISHED_CAP, project_last=False, spacing=PUBLISHED_SPACING),
    "projected": SamplerConfig(s=1e4, s_r=1e-3, lam=0.0, lam_r=3.0, cap=True, project_last=True),
}


@dataclass(frozen=True)
class DiffEventSample:
    """What :meth:`DiffEvent.sample` returns: ``image`` ``(B, 3, H, W)`` sRGB in [0, 1] (the sharp frame) and
    ``residual`` ``(B, 3, H, W)``, the EBRD residual ``r`` in linear light (``y + ε = f·(x + ε) + r``), float32,
    within ``[-r_max, r_max]``."""

    image: torch.Tensor
    residual: torch.Tensor


@RECEIVERS.register("diffevent", help="DiffEvent: EBRD + two diffusion priors sampled alternately with guidance")
class DiffEvent(Receiver):
    """DiffEvent at the receiver: the sharp frame from the decoded frame and its events (raw or SCER).

    Args:
        sampler: ``"published"`` (default: Algorithm 1 as written, see the module) or ``"projected"`` (the
            variant of link ``diffevent-projected``); sets the defaults of the six options below.
        degradation: the model the guidance enforces (the slides' ablation): ``"fEx+r"`` (EBRD, default),
            ``"Ex+r"``, ``"fEx"``, ``"Ex"`` (no residual) or ``"x+r"`` (no events).
        enhance: ``"learned"`` (:class:`EventEnhancer`) or ``"filter"`` (:func:`filter_enhance`); the ``f``
            of the degradations written ``f(E)``.
        source, contrast: where ``E`` comes from, as EDI's (``"representation"``: the SCER the link
            delivers, else the batch's; ``"raw"``: the raw events of the batch).
        steps: sampling steps (a respacing of the 1000 training steps).
        s, s_r, lam, lam_r: the guidance weights of Eq. 13 / 16 (in the sampler's units, see the module);
            ``None``: the sampler's (:data:`SAMPLERS`).
        cap: the bound on a guided step (:func:`alternating_sample`); ``None``: the sampler's.
        project_last: end with the capped guidance step (see :func:`alternating_sample`); ``False`` is
            Algorithm 1 as written; ``None``: the sampler's.
        spacing: ``"linear"`` or ``"quadratic"`` placement of the steps (:func:`respaced_schedule`); ``None``:
            the sampler's.
        r_max: the returned residual is clamped to ``[-r_max, r_max]`` (linear light, image range 1).
        seed: seeds each batch's sampling (the same decoded batch gives the same frames).
        tile: the denoisers run on tiles of at most this many pixels a side.
        width: the denoisers' width; enhancer_width: the learned enhancement's.

    Built untrained; the zoo loads its weights (:func:`semcom.zoo.build.build_receiver` with ``weights``
    ``"shipped"`` or a checkpoint of ``python -m semcom.train.diffevent --out DIR``; a link file's
    ``[receiver] weights = "shipped"``).

    Shape:
        ``image`` ``(B, 3, H, W)`` sRGB in [0, 1]; output the same.

    Example:
        >>> rx = build_receiver("diffevent", weights="shipped")       # doctest: +SKIP
        >>> out = rx.sample(batch.blurry, batch=batch)                # doctest: +SKIP
        >>> out.image.shape, float(out.residual.abs().max()) <= 1.0   # doctest: +SKIP
    """

    shipped_link = "diffevent"
    train_command = "python -m semcom.train.diffevent --out DIR"

    def __init__(self, *, sampler: str = "published", degradation: str = "fEx+r", enhance: str = "learned",
                 source: str = "representation", contrast: str | float = "source", steps: int = 20,
                 s: float | None = None, s_r: float | None = None, lam: float | None = None,
                 lam_r: float | None = None, cap: bool | float | None = None, project_last: bool | None = None,
                 spacing: str | None = None, r_max: float = 1.0, seed: int = 0, tile: int = 256, width: int = 32,
                 enhancer_width: int = 32) -> None:
        super().__init__()
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
        if degradation not in DEGRADATIONS:
            raise ValueError(f"degradation must be one of {', '.join(DEGRADATIONS)}, got {degradation!r}")
        if enhance not in ("learned", "filter"):
            raise ValueError(f"enhance must be 'learned' or 'filter', got {enhance!r}")
        if isinstance(steps, bool) or int(steps) != steps or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        preset = SAMPLERS[sampler]
        s, s_r, lam, lam_r = (preset.s if s is None else s, preset.s_r if s_r is None else s_r,
                              preset.lam if lam is None else lam, preset.lam_r if lam_r is None else lam_r)
        for name, v in (("s", s), ("s_r", s_r), ("lam", lam), ("lam_r", lam_r)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {v!r}")
        cap = preset.cap if cap is None else cap
        _cap_fraction(cap)
        spacing = preset.spacing if spacing is None else spacing
        if spacing not in SPACINGS:
            raise ValueError(f"spacing must be one of {', '.join(SPACINGS)}, got {spacing!r}")
        if isinstance(r_max, bool) or not isinstance(r_max, (int, float)) or not (math.isfinite(r_max) and r_max > 0):
            raise ValueError(f"r_max must be a positive number, got {r_max!r}")
        if isinstance(tile, bool) or int(tile) != tile or tile < 16:
            raise ValueError(f"tile must be an integer of at least 16, got {tile!r}")
        self.sampler, self.degradation, self.enhance = sampler, degradation, enhance
        self.steps, self.seed, self.tile = int(steps), int(seed), int(tile)
        self.project_last = bool(preset.project_last if project_last is None else project_last)
        self.cap, self.spacing = cap, spacing
        self.r_max = float(r_max)
        self.weights_g = (float(s), float(s_r), float(lam), float(lam_r))
        self.edi = EDI(source=source, contrast=contrast)
        self.enhancer = EventEnhancer(width=enhancer_width)
        self.prior_x = EpsUNet(3, width)
        self.prior_r = EpsUNet(3, width)
        self.register_buffer("r_gain", torch.tensor(1.0))
        self.architecture = f"DiffEvent (width {width}, enhancer width {enhancer_width})"

    def extra_repr(self) -> str:
        return (f"sampler={self.sampler!r}, degradation={self.degradation!r}, enhance={self.enhance!r}, "
                f"steps={self.steps}")

    def event_factor(self, image: torch.Tensor, *, events: torch.Tensor | None = None,
                     batch: Batch | None = None) -> torch.Tensor:
        """The ``f`` of the configured degradation, ``(B, 1, H, W)`` float32 (ones for ``"x+r"``)."""
        kind, _ = DEGRADATIONS[self.degradation]
        if kind == "none":
            return torch.ones_like(image[:, :1])
        denom, _ = self.edi.denominator(image, events=events, batch=batch, name="diffevent")
        denom = denom.to(image.dtype)
        if kind == "raw":
            return denom
        if self.enhance == "filter":
            return filter_enhance(denom)
        lum = (srgb_to_linear(image) * torch.tensor(LUMA_WEIGHTS, dtype=image.dtype,
                                                     device=image.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
        return self.enhancer(denom, lum)

    def sample(self, image: torch.Tensor, *, events: torch.Tensor | None = None,
               batch: Batch | None = None) -> DiffEventSample:
        """Algorithm 1 on one decoded batch: the sharp frame and the residual (:class:`DiffEventSample`)."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"diffevent expects an image (B, 3, H, W), got {tuple(image.shape)}")
        _, with_r = DEGRADATIONS[self.degradation]
        eps = self.edi.log_eps
        with torch.no_grad():
            f = self.event_factor(image, events=events, batch=batch).float()
            lin = srgb_to_linear(image.float())
            y = 2.0 * (lin + eps) - f * (1.0 + 2.0 * eps)
            s, s_r, lam, lam_r = self.weights_g
            k = float(self.r_gain)
            g = Guidance(s=s, s_r=s_r, lam=lam, lam_r=lam_r, r_gain=k)
            abar = noise_schedule().to(image.device)
            gen = torch.Generator(device=image.device).manual_seed(self.seed)
            dx = lambda z, t: predict_x0(self.prior_x, z, t, abar, clip=1.0, tile=self.tile)  # noqa: E731
            dr = lambda z, t: predict_x0(self.prior_r, z, t, abar, clip=4.0, tile=self.tile)  # noqa: E731  (R_CLIP)
            # in the sampler's units k·ρ = 2r: |r| <= r_max is |ρ| <= 2 r_max / k
            u, rho = alternating_sample(y, f.expand_as(y), steps=self.steps, guidance=g, denoise_x=dx, denoise_r=dr,
                                        with_r=with_r, cap=self.cap, project_last=self.project_last,
                                        r_bound=2.0 * self.r_max / k, spacing=self.spacing, generator=gen)
            out = linear_to_srgb(((u + 1.0) / 2.0).clamp(0.0, 1.0)).to(image.dtype)
            return DiffEventSample(image=out, residual=0.5 * k * rho)

    def forward(self, image: torch.Tensor, *, events: torch.Tensor | None = None,
                batch: Batch | None = None) -> torch.Tensor:
        return self.sample(image, events=events, batch=batch).image
