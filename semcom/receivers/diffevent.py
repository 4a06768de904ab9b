"""``diffevent``: DiffEvent (Wang et al., ICASSP 2024; slides Eq. 3-16, Algorithm 1) at this project's scale.

**EBRD** (slides Eq. 4): a blurry frame is ``y = D(x, E, r) = f(E)·x + r``: the sharp frame ``x`` times
the event factor ``f(E)`` (EDI's double integral ``E`` of Eq. 3, corrected by an enhancement module),
plus a residual ``r`` for what the events missed.  All in linear light, with the event camera's log offset
``ε`` as in EDI: ``y + ε = f·(x + ε) + r``.  Two enhancement modules (compared in ``benchmarks/diffevent.py``):
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

**Sampling** (:func:`alternating_sample`): ``x_T, r_T`` drawn from ``N(0, I)``; at each of ``steps``
time steps (a respacing of the 1000-step schedule) ``x̂0`` is predicted from ``x_t`` by its denoiser
(line 3), ``x_{t−1}`` drawn from ``N(μ_t − σ_t² ∇L_x, σ_t² I)`` (line 6), ``x̂0*`` predicted from ``x_{t−1}``
(line 7; it is also the next step's line 3, computed once), then ``r`` likewise (lines 4, 8, 9).  Writing
``μ_t = c₁ x̂0 + c₂ x_t``, line 6 is the posterior mean at ``x̂0 − (σ_t²/c₁)∇L_x``; that step on ``x̂0`` is
capped per pixel at ``1 / (2 s f²)``, the step that solves the data term exactly (the pseudo-inverse):
early, where ``σ_t²/c₁`` is large (up to ~100 with 20 steps), an uncapped constant ``s`` would overshoot
by that factor.  Uncapped steps are line 6 as written (tested).  ``None`` for a denoiser switches its
prior off: the state is its own estimate and a step is a plain descent of the guidance loss
(``prior_step``), which converges to the EBRD least-squares solution (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
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


def respaced_schedule(steps: int, train_steps: int = TRAIN_STEPS, beta: tuple[float, float] = (1e-4, 0.02)
                      ) -> tuple[list[int], torch.Tensor]:
    """``steps`` time steps (descending) of the linear-beta training schedule and their ``ᾱ``."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    ts = torch.linspace(train_steps - 1, 0, steps).round().long().tolist()
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


def alternating_sample(y: torch.Tensor, f: torch.Tensor, *, steps: int = 50, guidance: Guidance = Guidance(),
                       denoise_x: Denoiser | None = None, denoise_r: Denoiser | None = None, with_r: bool = True,
                       prior_step: float = 0.1, cap: bool = True, project_last: bool = False,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Algorithm 1: ``(x0, r0)`` for the blurry frame ``y`` and the event factor ``f`` (same shape).

    ``with_r=False`` holds ``r`` at zero (the degradations without a residual); ``cap=False`` takes the
    guidance steps exactly as line 6 / 9 are written (see the module's notes); ``project_last`` ends with
    the capped guidance step on the last estimates (the pseudo-inverse of the data term where the cap
    binds) instead of the unguided estimate that ``σ_0 = 0`` leaves.
    """
    ts, abar = respaced_schedule(steps)
    g = guidance
    x = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
    r = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
    if not with_r:
        r = torch.zeros_like(y)
    inf = torch.tensor(math.inf, dtype=y.dtype, device=y.device)
    cap_x = 1.0 / (2.0 * g.s * f * f) if cap and g.s > 0 else inf
    cap_r = 1.0 / (2.0 * g.s_r * g.r_gain ** 2) if cap and g.s_r > 0 else math.inf
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
    return x, r


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


@RECEIVERS.register("diffevent", help="DiffEvent: EBRD + two diffusion priors sampled alternately with guidance")
class DiffEvent(Receiver):
    """DiffEvent at the receiver: the sharp frame from the decoded frame and its events (raw or SCER).

    Args:
        degradation: the model the guidance enforces (the slides' ablation): ``"fEx+r"`` (EBRD, default),
            ``"Ex+r"``, ``"fEx"``, ``"Ex"`` (no residual) or ``"x+r"`` (no events).
        enhance: ``"learned"`` (:class:`EventEnhancer`) or ``"filter"`` (:func:`filter_enhance`); the ``f``
            of the degradations written ``f(E)``.
        source, contrast: where ``E`` comes from, as EDI's (``"representation"``: the SCER the link
            delivers, else the batch's; ``"raw"``: the raw events of the batch).
        steps: sampling steps (a respacing of the 1000 training steps).
        s, s_r, lam, lam_r: the guidance weights of Eq. 13 / 16 (in the sampler's units, see the module); the
            defaults are the best of a grid on training frames (``benchmarks/diffevent.py``, tuning.csv).
        project_last: end with the capped guidance step (see :func:`alternating_sample`); ``False`` is
            Algorithm 1 as written.
        seed: seeds each batch's sampling (the same decoded batch gives the same frames).
        tile: the denoisers run on tiles of at most this many pixels a side.
        width: the denoisers' width; enhancer_width: the learned enhancement's.
        weights: ``None`` (untrained), ``"shipped"`` or a checkpoint path
            (``python -m semcom.train.diffevent --out DIR``).

    Shape:
        ``image`` ``(B, 3, H, W)`` sRGB in [0, 1]; output the same.
    """

    shipped_link = "diffevent"
    train_command = "python -m semcom.train.diffevent --out DIR"

    def __init__(self, *, degradation: str = "fEx+r", enhance: str = "learned", source: str = "representation",
                 contrast: str | float = "source", steps: int = 20, s: float = 1e4, s_r: float = 1e-3,
                 lam: float = 0.0, lam_r: float = 3.0, project_last: bool = True, seed: int = 0, tile: int = 256,
                 width: int = 32, enhancer_width: int = 32, weights: str | Path | None = None) -> None:
        super().__init__()
        if degradation not in DEGRADATIONS:
            raise ValueError(f"degradation must be one of {', '.join(DEGRADATIONS)}, got {degradation!r}")
        if enhance not in ("learned", "filter"):
            raise ValueError(f"enhance must be 'learned' or 'filter', got {enhance!r}")
        if isinstance(steps, bool) or int(steps) != steps or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        for name, v in (("s", s), ("s_r", s_r), ("lam", lam), ("lam_r", lam_r)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {v!r}")
        if isinstance(tile, bool) or int(tile) != tile or tile < 16:
            raise ValueError(f"tile must be an integer of at least 16, got {tile!r}")
        self.degradation, self.enhance = degradation, enhance
        self.steps, self.seed, self.tile = int(steps), int(seed), int(tile)
        self.project_last = bool(project_last)
        self.weights_g = (float(s), float(s_r), float(lam), float(lam_r))
        self.edi = EDI(source=source, contrast=contrast)
        self.enhancer = EventEnhancer(width=enhancer_width)
        self.prior_x = EpsUNet(3, width)
        self.prior_r = EpsUNet(3, width)
        self.register_buffer("r_gain", torch.tensor(1.0))
        if weights is not None:
            self.load_weights(weights, name="diffevent",
                              architecture=f"DiffEvent (width {width}, enhancer width {enhancer_width})")

    def extra_repr(self) -> str:
        return f"degradation={self.degradation!r}, enhance={self.enhance!r}, steps={self.steps}"

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

    def forward(self, image: torch.Tensor, *, events: torch.Tensor | None = None,
                batch: Batch | None = None) -> torch.Tensor:
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"diffevent expects an image (B, 3, H, W), got {tuple(image.shape)}")
        _, with_r = DEGRADATIONS[self.degradation]
        eps = self.edi.log_eps
        with torch.no_grad():
            f = self.event_factor(image, events=events, batch=batch).float()
            lin = srgb_to_linear(image.float())
            y = 2.0 * (lin + eps) - f * (1.0 + 2.0 * eps)
            s, s_r, lam, lam_r = self.weights_g
            g = Guidance(s=s, s_r=s_r, lam=lam, lam_r=lam_r, r_gain=float(self.r_gain))
            abar = noise_schedule().to(image.device)
            gen = torch.Generator(device=image.device).manual_seed(self.seed)
            dx = lambda z, t: predict_x0(self.prior_x, z, t, abar, clip=1.0, tile=self.tile)  # noqa: E731
            dr = lambda z, t: predict_x0(self.prior_r, z, t, abar, clip=4.0, tile=self.tile)  # noqa: E731  (R_CLIP)
            u, _ = alternating_sample(y, f.expand_as(y), steps=self.steps, guidance=g, denoise_x=dx, denoise_r=dr,
                                      with_r=with_r, project_last=self.project_last, generator=gen)
            return linear_to_srgb(((u + 1.0) / 2.0).clamp(0.0, 1.0)).to(image.dtype)
