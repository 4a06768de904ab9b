"""``edi``: the Event-based Double Integral deblurring model (no learning).

Follows Pan et al., "Bringing a blurry frame alive at high frame-rate with an event camera"
(CVPR 2019), as the DiffEvent slides restate it (their Eq. 2)::

    y = (1/T) ∫_{f-T/2}^{f+T/2} x(f) · exp(c · E(f, t)) dt,

where ``y`` is the blurry frame in *linear* light, ``x(f)`` the latent sharp frame at the
reference time ``f`` (the middle of the exposure), ``c`` the contrast threshold of the event
camera and ``E(f, t)`` the signed event count of a pixel between ``f`` and ``t`` (negative of
the count between ``t`` and ``f`` when ``t < f``).  Hence the latent frame is::

    x(f) = y / D,    D = (1/T) ∫ exp(c · E(f, t)) dt.

Events fire on the log of linear luminance while the blurry frame averages linear light, so the
receiver converts the decoded sRGB frame to linear light, divides every colour channel by the
same per-pixel factor ``D`` and converts back to sRGB.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from semcom.colour import linear_to_srgb, srgb_to_linear  # noqa: F401  (re-exported)
from semcom.errors import SemcomError
from semcom.receivers.base import Receiver
from semcom.registry import RECEIVERS
from semcom.sources.base import Batch
from semcom.sources.events import LUMA_WEIGHTS
from semcom.sources.representations import scer_levels

__all__ = [
    "EDI",
    "srgb_to_linear",
    "linear_to_srgb",
    "RawEventIntegral",
    "edi_denominator_from_samples",
    "edge_agreement",
    "raw_event_edges",
    "DEFAULT_CONTRAST_GRID",
]

#: contrast thresholds tried by ``contrast="estimate"`` (log-intensity units)
DEFAULT_CONTRAST_GRID: tuple[float, ...] = (0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.225, 0.25, 0.3, 0.35,
                                              0.4, 0.5)

#: the exponent ``c * E`` is clipped to this magnitude before ``exp`` (avoids inf in float64)
_MAX_EXPONENT = 60.0


# --------------------------------------------------------------------------- light domain


# --------------------------------------------------------------------------- raw events


class RawEventIntegral:
    """Exact ``D = (1/T) ∫_0^T exp(c+ N+(f, t) - c- N-(f, t)) dt`` of one event stream.

    ``N+(f, t)`` and ``N-(f, t)`` count the positive and negative events between ``f`` and
    ``t`` (negated when ``t < f``); with ``c+ = c- = c`` the exponent is ``c · E(f, t)``.  An
    event stamped exactly at ``f`` counts as after ``f``, as in SCER (``f <= t``).  Between two
    events of a pixel the exponent is constant, so the integral is a finite sum over the
    segments of each pixel's time line: the events are sorted by pixel once, and each call
    costs two ``bincount``-sized passes (no Python loop over events).

    Args:
        events: structured array with fields ``t`` (µs from the start of the exposure), ``x``,
            ``y`` and ``p`` (-1 or +1), sorted by ``t``.  Events outside the frame or outside
            ``[0, exposure_us)`` are ignored.
        height, width: frame size the event coordinates refer to.
        exposure_us: exposure length ``T`` in microseconds.
        reference_us: reference time ``f``; default the middle of the exposure.

    Shape:
        ``__call__(c_pos, c_neg=None)`` returns a float64 numpy array ``(height, width)``.
    """

    def __init__(self, events: np.ndarray, *, height: int, width: int, exposure_us: float,
                 reference_us: float | None = None) -> None:
        if not exposure_us > 0:
            raise SemcomError(f"exposure_us must be positive, got {exposure_us}")
        self.height, self.width = int(height), int(width)
        self.exposure = float(exposure_us)
        self.reference = self.exposure / 2.0 if reference_us is None else float(reference_us)
        n_pix = self.height * self.width

        t = np.asarray(events["t"], dtype=np.float64)
        x = np.asarray(events["x"], dtype=np.int64)
        y = np.asarray(events["y"], dtype=np.int64)
        p = np.asarray(events["p"], dtype=np.int64)
        keep = (x >= 0) & (x < self.width) & (y >= 0) & (y < self.height) & (t >= 0) & (t < self.exposure)
        t, x, y, p = t[keep], x[keep], y[keep], p[keep]
        pix = y * self.width + x

        # a stable sort by pixel keeps each pixel's events in time order (the input is sorted by t)
        order = np.argsort(pix, kind="stable")
        pix, t, p = pix[order], t[order], p[order]
        n = pix.size
        first = np.ones(n, dtype=bool)
        last = np.ones(n, dtype=bool)
        if n > 1:
            first[1:] = pix[1:] != pix[:-1]
            last[:-1] = first[1:]
        group = np.cumsum(first) - 1
        before_ref = t < self.reference

        def levels(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """Per event: count of ``w`` up to and including it minus the count before ``f``."""
            csum = np.cumsum(w)
            upto = csum - (csum - w)[first][group]
            at_ref = np.bincount(pix, weights=w * before_ref, minlength=n_pix).astype(np.float64)
            return upto - at_ref[pix], at_ref

        pos, neg = (p > 0).astype(np.float64), (p < 0).astype(np.float64)
        self._pos, self._pos_ref = levels(pos)
        self._neg, self._neg_ref = levels(neg)

        # the segment after each event lasts until the pixel's next event (or the end)
        t_next = np.empty_like(t)
        if n:
            t_next[:-1] = t[1:]
            t_next[last] = self.exposure
        self._pix = pix
        self._duration = t_next - t
        # the first, event-free segment of each pixel; its exponent is minus the level at f
        head = np.full(n_pix, self.exposure)
        head[pix[first]] = t[first]
        self._head = head
        mask = np.zeros(n_pix, dtype=bool)
        mask[pix] = True
        self.has_events = mask.reshape(self.height, self.width)

    def __call__(self, c_pos: float, c_neg: float | None = None) -> np.ndarray:
        cp = float(c_pos)
        cn = cp if c_neg is None else float(c_neg)
        expo = np.clip(cp * self._pos - cn * self._neg, -_MAX_EXPONENT, _MAX_EXPONENT)
        total = np.bincount(self._pix, weights=self._duration * np.exp(expo),
                            minlength=self.height * self.width).astype(np.float64)
        head = np.clip(-(cp * self._pos_ref - cn * self._neg_ref), -_MAX_EXPONENT, _MAX_EXPONENT)
        total += self._head * np.exp(head)
        return (total / self.exposure).reshape(self.height, self.width)


# --------------------------------------------------------------------------- sampled integrals


def edi_denominator_from_samples(levels: torch.Tensor, times: torch.Tensor, *, contrast: float | torch.Tensor,
                                 exposure: float = 1.0, rule: str = "trapezoid") -> torch.Tensor:
    """``D = (1/T) ∫_0^T exp(c · E(f, t)) dt`` from ``E(f, ·)`` sampled at a few times.

    Args:
        levels: ``E(f, t_k)`` at each sample time, ``(..., K, H, W)``; include the reference
            time itself (level 0) among the samples.
        times: the ``K`` sample times, increasing, in the same unit as ``exposure``.
        contrast: ``c``; a float or a tensor broadcastable to ``levels[..., 0, :, :]``.
        exposure: ``T``; the integral spans ``[0, T]`` and the levels are held constant
            beyond the first and last samples.
        rule: ``"trapezoid"`` (linear interpolation of ``exp(c E)`` between samples) or
            ``"step"`` (each sample holds over the interval to the midpoints of its neighbours).

    Shape:
        returns ``(..., H, W)``.
    """
    if rule not in ("trapezoid", "step"):
        raise ValueError(f"rule must be 'trapezoid' or 'step', got {rule!r}")
    times = torch.as_tensor(times, dtype=levels.dtype, device=levels.device)
    if times.ndim != 1 or times.numel() != levels.shape[-3]:
        raise ValueError(f"need one time per level sample: {times.numel()} times for {levels.shape[-3]} samples")
    if times.numel() > 1 and bool((times[1:] <= times[:-1]).any()):
        raise ValueError("sample times must be strictly increasing")
    c = torch.as_tensor(contrast, dtype=levels.dtype, device=levels.device)
    if c.ndim >= 2:
        c = c.unsqueeze(-3)
    vals = torch.exp((c * levels).clamp(-_MAX_EXPONENT, _MAX_EXPONENT))
    lo, hi = 0.0, float(exposure)
    # constant extension to the ends of the exposure
    total = vals[..., 0, :, :] * max(float(times[0]) - lo, 0.0) + vals[..., -1, :, :] * max(hi - float(times[-1]), 0.0)
    if times.numel() > 1:
        dt = (times[1:] - times[:-1]).view(*([1] * (levels.ndim - 3)), -1, 1, 1)
        if rule == "trapezoid":
            total = total + (0.5 * (vals[..., 1:, :, :] + vals[..., :-1, :, :]) * dt).sum(-3)
        else:
            weight = torch.zeros_like(times)
            half = 0.5 * (times[1:] - times[:-1])
            weight[1:] += half
            weight[:-1] += half
            total = total + (vals * weight.view(*([1] * (levels.ndim - 3)), -1, 1, 1)).sum(-3)
    return total / float(exposure)


# --------------------------------------------------------------------------- contrast estimation


def edge_agreement(latent_lum: torch.Tensor, event_edges: torch.Tensor, *, log_floor: float = 1e-2) -> float:
    """Normalized cross-correlation of ``|∇ log(latent + floor)|`` with an event-edge map.

    Around the reference time the event camera fires where log-intensity edges move, with
    counts proportional to the log gradient along the motion; the latent frame at the right
    contrast has its log edges exactly there.  Too small a contrast leaves the blur ramps,
    too large one turns them into inverted ghosts, both away from the event edges (the edge
    term of Pan et al., CVPR 2019, Sec. 4.3).

    Shape:
        ``latent_lum``, ``event_edges``: ``(H, W)`` (linear luminance; counts); returns a float.
    """
    g = torch.log(latent_lum.clamp_min(0.0) + log_floor)
    gx = F.pad(g[:, 1:] - g[:, :-1], (0, 1))
    gy = F.pad(g[1:] - g[:-1], (0, 0, 0, 1))
    a = (gx.square() + gy.square()).sqrt()
    b = event_edges.to(a.dtype)
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


def raw_event_edges(events: np.ndarray, *, height: int, width: int, exposure_us: float,
                    window: float = 1 / 8) -> np.ndarray:
    """``|Σ p over [f - wT, f)| + |Σ p over [f, f + wT)|`` per pixel, ``f = T/2``, ``w = window``.

    Shape:
        returns ``(height, width)`` float64.
    """
    t = np.asarray(events["t"], dtype=np.float64)
    f, half = exposure_us / 2.0, window * exposure_us
    x = np.asarray(events["x"], dtype=np.int64)
    y = np.asarray(events["y"], dtype=np.int64)
    sel = (t >= f - half) & (t < f + half) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
    pix = y[sel] * width + x[sel]
    p = np.asarray(events["p"], dtype=np.float64)[sel]
    after = t[sel] >= f
    n = height * width
    left = np.bincount(pix, weights=p * ~after, minlength=n)
    right = np.bincount(pix, weights=p * after, minlength=n)
    return (np.abs(left) + np.abs(right)).reshape(height, width)


# --------------------------------------------------------------------------- the receiver


def _check_scer(infos: list[dict[str, Any]], channels: int) -> None:
    """EDI on a representation reads SCER only, with an even number of channels (one clear error otherwise)."""
    for info in infos:
        kind = info.get("representation", "scer")
        if kind != "scer":
            raise SemcomError(f"edi: source='representation' reads SCER, but the source sends {kind!r}")
    if channels < 2 or channels % 2:
        raise SemcomError(f"edi: an SCER representation has an even number of channels, got {channels}")


@RECEIVERS.register("edi", help="EDI: model-based deblurring with events (Pan et al. 2019)")
class EDI(Receiver):
    """Event-based Double Integral deblurring (Pan et al., CVPR 2019).

    Latent frame at the middle of the exposure ``x(f) = y / ((1/T) ∫ exp(c E(f, t)) dt)``,
    applied in linear light with one factor per pixel for the three colour channels.

    Args:
        source: ``"raw"`` integrates the raw event stream of each sample (``batch.raw_events``)
            exactly, event by event; ``"representation"`` integrates the SCER tensor the link
            delivers (``events``, or ``batch.events`` when the codec sent none) over its
            ``N + 1`` time boundaries (layout of :func:`semcom.sources.representations.scer`).
        contrast: ``"source"`` reads ``info["contrast_threshold"]`` (and, for raw events,
            ``info["contrast_neg"]`` when present) of each sample; a float uses that contrast;
            ``"estimate"`` picks, per sample, the value of ``contrast_grid`` whose latent frame has
            log edges that agree best with the events around the middle of the exposure (see
            :func:`edge_agreement`; window ``±T/8`` for raw events, the two SCER channels next to
            the middle for a representation).
        contrast_grid: candidate contrasts for ``contrast="estimate"``.
        integration: ``"trapezoid"`` or ``"step"``: the quadrature over the representation's
            boundaries (``source="representation"`` only).
        log_eps: the event camera responds to ``log(L + log_eps)``; the model is applied to
            ``y + log_eps`` and the offset removed afterwards (1e-3, the simulator's default).
        linear_input: the decoded frame is already linear light and the output stays linear
            (skips the sRGB curves; for tests and linear pipelines).

    Shape:
        ``image``: ``(B, 3, H, W)``; ``events``: SCER ``(B, N, H, W)``; output ``(B, 3, H, W)``
        in [0, 1].

    Example:
        >>> edi = EDI(source="raw", contrast="source")            # doctest: +SKIP
        >>> sharp = edi(batch.blurry, batch=batch)                 # doctest: +SKIP
    """

    def __init__(self, *, source: str = "raw", contrast: str | float = "source",
                 contrast_grid: Sequence[float] = DEFAULT_CONTRAST_GRID, integration: str = "trapezoid",
                 log_eps: float = 1e-3, linear_input: bool = False) -> None:
        super().__init__()
        if source not in ("raw", "representation"):
            raise ValueError(f"source must be 'raw' or 'representation', got {source!r}")
        if isinstance(contrast, str):
            if contrast not in ("source", "estimate"):
                raise ValueError(f"contrast must be 'source', 'estimate' or a positive number, got {contrast!r}")
        elif isinstance(contrast, bool) or not isinstance(contrast, (int, float)):
            raise ValueError(f"contrast must be 'source', 'estimate' or a positive number, got {contrast!r}")
        elif not (math.isfinite(contrast) and contrast > 0):
            raise ValueError(f"a numeric contrast must be positive and finite, got {contrast!r}")
        grid = tuple(float(v) for v in contrast_grid)
        if not grid or any(not (math.isfinite(v) and v > 0) for v in grid):
            raise ValueError(f"contrast_grid must hold positive finite numbers, got {contrast_grid!r}")
        if integration not in ("trapezoid", "step"):
            raise ValueError(f"integration must be 'trapezoid' or 'step', got {integration!r}")
        if not (math.isfinite(log_eps) and log_eps >= 0):
            raise ValueError(f"log_eps must be a non-negative number, got {log_eps!r}")
        self.source = source
        self.contrast = contrast if isinstance(contrast, str) else float(contrast)
        self.contrast_grid = grid
        self.integration = integration
        self.log_eps = float(log_eps)
        self.linear_input = bool(linear_input)
        #: contrasts used for the last batch (one per sample), for inspection
        self.last_contrast: list[float] = []

    def extra_repr(self) -> str:
        return (f"source={self.source!r}, contrast={self.contrast!r}, integration={self.integration!r}, "
                f"log_eps={self.log_eps}, linear_input={self.linear_input}")

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _info(batch: Batch | None, i: int) -> dict[str, Any]:
        if batch is None or i >= len(batch.info):
            return {}
        return dict(batch.info[i] or {})

    @staticmethod
    def _source_contrast(info: dict[str, Any]) -> tuple[float, float]:
        if "contrast_threshold" not in info:
            raise SemcomError("edi: contrast='source' needs info['contrast_threshold'] in the batch; "
                              "pass a number or contrast='estimate'")
        c = float(info["contrast_threshold"])
        return c, float(info.get("contrast_neg", c))

    @staticmethod
    def _exposure(info: dict[str, Any], events: np.ndarray) -> float:
        if "exposure_us" in info:
            return float(info["exposure_us"])
        if len(events):
            return float(events["t"].max()) + 1.0
        return 1.0

    def _latent(self, lin: torch.Tensor, denom: torch.Tensor) -> torch.Tensor:
        return ((lin + self.log_eps) / denom - self.log_eps).clamp(0.0, 1.0)

    def _choose(self, lin: torch.Tensor, make, info: dict[str, Any], edges) -> tuple[torch.Tensor, float]:
        """The denominator for the configured contrast; ``make(c_pos, c_neg)`` builds one and
        ``edges()`` the event-edge map used by ``contrast="estimate"``."""
        if self.contrast == "source":
            cp, cn = self._source_contrast(info)
            return make(cp, cn), cp
        if self.contrast != "estimate":
            return make(self.contrast, self.contrast), float(self.contrast)
        edge_map = edges()
        weights = torch.tensor(LUMA_WEIGHTS, dtype=lin.dtype, device=lin.device).view(3, 1, 1)
        best, best_score = None, -math.inf
        for c in self.contrast_grid:
            denom = make(c, c)
            lum = (self._latent(lin, denom) * weights).sum(0)
            score = edge_agreement(lum, edge_map)
            if score > best_score:
                best, best_score = (denom, c), score
        return best

    def _from_raw(self, lin: torch.Tensor, events: np.ndarray,
                  info: dict[str, Any]) -> tuple[torch.Tensor, float, torch.Tensor]:
        _, h, w = lin.shape
        integral = RawEventIntegral(events, height=h, width=w, exposure_us=self._exposure(info, events))
        make = lambda cp, cn: torch.from_numpy(integral(cp, cn)).to(lin.device, torch.float64)  # noqa: E731
        edges = lambda: torch.from_numpy(raw_event_edges(events, height=h, width=w,  # noqa: E731
                                                         exposure_us=integral.exposure)).to(lin.device)
        denom, c = self._choose(lin, make, info, edges)
        return denom, c, torch.from_numpy(integral.has_events).to(lin.device)

    def _from_representation(self, lin: torch.Tensor, rep: torch.Tensor,
                             info: dict[str, Any]) -> tuple[torch.Tensor, float, torch.Tensor]:
        n = rep.shape[0]
        _check_scer([info], n)
        rep = rep.to(torch.float64)
        levels = scer_levels(rep)                                  # E(f, t_k) at the N + 1 boundaries
        times = torch.linspace(0.0, 1.0, n + 1, dtype=torch.float64)
        make = lambda cp, cn: edi_denominator_from_samples(levels, times, contrast=cp,  # noqa: E731
                                                           exposure=1.0, rule=self.integration)
        mid = n // 2
        edges = lambda: rep[mid - 1].abs() + rep[mid].abs()  # noqa: E731
        denom, c = self._choose(lin, make, info, edges)
        return denom, c, rep.abs().sum(0) > 0

    # -- forward ---------------------------------------------------------------------------

    def _check_inputs(self, image: torch.Tensor, events: torch.Tensor | None, batch: Batch | None,
                      name: str) -> torch.Tensor | None:
        """The event representation to integrate (``None`` for raw events), after checking that it exists."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"{name} expects an image (B, 3, H, W), got {tuple(image.shape)}")
        bsz, _, h, w = image.shape
        if self.source == "raw":
            if batch is None or len(batch.raw_events) != bsz or any(e is None for e in batch.raw_events):
                raise SemcomError(f"{name}: source='raw' needs the raw events of every sample in the batch "
                                  "(a source with an event camera); use source='representation' for "
                                  "events decoded from the channel")
            return None
        if events is None and batch is not None:
            events = batch.events
        if events is None:
            raise SemcomError(f"{name}: source='representation' needs an event representation "
                              "(the codec sent none and the batch has none)")
        if events.ndim != 4 or events.shape[0] != bsz or tuple(events.shape[-2:]) != (h, w):
            raise ValueError(f"{name}: events {tuple(events.shape)} do not match the image {tuple(image.shape)}")
        return events

    def denominator(self, image: torch.Tensor, *, events: torch.Tensor | None = None, batch: Batch | None = None,
                    name: str = "edi") -> tuple[torch.Tensor, torch.Tensor]:
        """EDI's ``D = (1/T) ∫ exp(c E(f, t)) dt`` of every sample and the mask of pixels that saw an event.

        ``image`` is the decoded frame in sRGB (or linear light with ``linear_input``); it is read only by
        ``contrast="estimate"``.  Returns ``(D, mask)``, both ``(B, 1, H, W)`` (float64, bool); the
        contrasts used are left in :attr:`last_contrast`.  ``name`` is the back-end named in messages.
        """
        events = self._check_inputs(image, events, batch, name)
        with torch.no_grad():
            lin_all = (image if self.linear_input else srgb_to_linear(image)).to(torch.float64)
            if self.source == "representation" and self.contrast != "estimate":
                return self._batched_representation(lin_all, events.detach(), batch)
            denoms, masks, used = [], [], []
            for i in range(image.shape[0]):
                info = self._info(batch, i)
                if self.source == "raw":
                    denom, c, mask = self._from_raw(lin_all[i], batch.raw_events[i], info)
                else:
                    denom, c, mask = self._from_representation(lin_all[i], events[i].detach(), info)
                denoms.append(denom)
                masks.append(mask)
                used.append(c)
        self.last_contrast = used
        return torch.stack(denoms).unsqueeze(1), torch.stack(masks).unsqueeze(1)

    def _batched_representation(self, lin_all: torch.Tensor, events: torch.Tensor,
                                batch: Batch | None) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`denominator` for SCER and a known contrast, the whole batch at once: every element goes
        through the same operations as one sample at a time (same numbers, one pass instead of B)."""
        bsz = lin_all.shape[0]
        infos = [self._info(batch, i) for i in range(bsz)]
        n = events.shape[1]
        _check_scer(infos, n)
        used = [self._source_contrast(info)[0] if self.contrast == "source" else float(self.contrast)
                for info in infos]
        rep = events.to(torch.float64)
        levels = scer_levels(rep)                                   # (B, N + 1, H, W)
        times = torch.linspace(0.0, 1.0, n + 1, dtype=torch.float64)
        contrast = torch.tensor(used, dtype=torch.float64, device=rep.device).view(bsz, 1, 1)
        denom = edi_denominator_from_samples(levels, times, contrast=contrast, exposure=1.0, rule=self.integration)
        self.last_contrast = used
        return denom.unsqueeze(1), (rep.abs().sum(1) > 0).unsqueeze(1)

    def forward(self, image: torch.Tensor, *, events: torch.Tensor | None = None,
                batch: Batch | None = None) -> torch.Tensor:
        denom, mask = self.denominator(image, events=events, batch=batch)
        with torch.no_grad():
            lin = (image if self.linear_input else srgb_to_linear(image)).to(torch.float64)
            latent = self._latent(lin, denom)
            out = latent if self.linear_input else linear_to_srgb(latent)
            # pixels that saw no event keep the decoded value bit for bit
            return torch.where(mask, out.to(image.dtype), image.clamp(0.0, 1.0))
