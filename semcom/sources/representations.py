"""Fixed-size tensors built from event and spike streams (what the codecs transmit).

Events (structured arrays of :data:`~semcom.sources.base.EVENT_DTYPE`):

* :func:`scer` — the Symmetric Cumulative Event Representation of EV-JSCC Eq. 10 (from EFNet,
  Sun et al., ECCV 2022).  The exposure ``[0, T)`` is cut into ``N`` equal intervals (``N + 1``
  boundaries ``t_i = i T / N``, ``N`` even, middle ``f = t_{N/2} = T/2``).  Each channel is the
  signed event integral *from the middle of the exposure to one boundary*; the zero-length
  integral to ``f`` itself is dropped, so the tensor has **N channels** (6 by default)::

      channel i <  N/2:  SCER_i = Σ_{t_i <= t < f}     (-p)   (negative minus positive events)
      channel i >= N/2:  SCER_i = Σ_{f <= t < t_{i+1}} (+p)   (positive minus negative events)

  so that ``C · SCER_i ≈ log L(boundary) - log L(f)`` for a contrast threshold ``C``: the
  channels are the log-intensity changes from the sharp frame to each boundary, in units of
  ``C``.  :func:`scer_levels` returns them with the zero at ``f`` put back, ``(N + 1, H, W)``.
* :func:`voxel_grid` — ``B`` time bins, each event spread bilinearly over its two nearest bins.
* :func:`event_count` — two channels: positive and negative event counts per pixel.

Spikes (uint8 ``(..., T, h, w)``, SpikeReveal):

* :func:`tfp` — texture from playback: the spike rate over a window of ticks (spikes/tick).
* :func:`long_exposure` — the spike count over the whole exposure (proportional to the blurry
  frame's luminance, SpikeReveal Eq. 5).
* :func:`short_window` — the count over ``window`` ticks centred on the middle of the exposure
  (proportional to the sharp frame's luminance, SpikeReveal Eq. 6).
"""

from __future__ import annotations

import numpy as np
import torch

from semcom.errors import SemcomError

__all__ = ["scer", "scer_levels", "voxel_grid", "event_count", "tfp", "long_exposure", "short_window",
           "window_bounds", "event_representation", "REPRESENTATIONS"]

#: names accepted by :func:`event_representation`
REPRESENTATIONS = ("scer", "voxel", "count")


def _check(events: np.ndarray, height: int, width: int, exposure_us: float) -> None:
    if events.dtype.names is None or not {"t", "x", "y", "p"} <= set(events.dtype.names):
        raise ValueError("events must be a structured array with fields t, x, y, p")
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be positive, got {height}x{width}")
    if not exposure_us > 0:
        raise ValueError(f"exposure_us must be positive, got {exposure_us!r}")


def _inside(events: np.ndarray, height: int, width: int, exposure_us: float) -> np.ndarray:
    """The events inside the frame and the exposure (the input itself when all are)."""
    if len(events) == 0:
        return events
    t, x, y = events["t"], events["x"], events["y"]
    if (t.min() >= 0 and t.max() < exposure_us and x.min() >= 0 and x.max() < width and y.min() >= 0
            and y.max() < height):
        return events
    return events[(t >= 0) & (t < exposure_us) & (x >= 0) & (x < width) & (y >= 0) & (y < height)]


def scer(events: np.ndarray, *, height: int, width: int, exposure_us: int, num_bins: int = 6) -> np.ndarray:
    """Symmetric cumulative event representation (EV-JSCC Eq. 10), ``N = num_bins`` channels.

    Args:
        events: structured array of ``EVENT_DTYPE``; events outside the frame or outside
            ``[0, exposure_us)`` are ignored.
        height, width: frame size.
        exposure_us: exposure ``T`` (integer microseconds; the boundaries ``i T / N`` are
            compared exactly with the integer timestamps).
        num_bins: ``N``, the number of intervals (even).

    Shape:
        returns ``(N, H, W)`` float32 (see the module docstring for the sign convention).

    Example:
        >>> from semcom.sources.base import EVENT_DTYPE
        >>> ev = np.array([(100, 0, 0, 1), (900, 0, 0, 1)], dtype=EVENT_DTYPE)
        >>> scer(ev, height=1, width=1, exposure_us=1000, num_bins=2)[:, 0, 0].tolist()
        [-1.0, 1.0]
    """
    _check(events, height, width, exposure_us)
    if int(num_bins) != num_bins or num_bins < 2 or num_bins % 2:
        raise SemcomError(f"SCER needs an even number of intervals (channels), got {num_bins!r}")
    if int(exposure_us) != exposure_us:
        raise ValueError(f"exposure_us must be an integer number of microseconds, got {exposure_us!r}")
    n, mid = int(num_bins), int(num_bins) // 2
    ev = _inside(events, height, width, exposure_us)
    # interval of each event: t_i <= t < t_{i+1}  <=>  i = floor(t N / T), exact in integers
    b = (ev["t"].astype(np.int64) * n) // int(exposure_us)
    flat = (b * height + ev["y"].astype(np.int64)) * width + ev["x"].astype(np.int64)
    per_bin = np.bincount(flat, weights=ev["p"].astype(np.float64), minlength=n * height * width)
    per_bin = per_bin.reshape(n, height, width)
    out = np.empty((n, height, width), np.float64)
    # earlier half: from f back to t_i, the reversed cumulative sum, negated
    out[:mid] = -np.cumsum(per_bin[:mid][::-1], axis=0)[::-1]
    out[mid:] = np.cumsum(per_bin[mid:], axis=0)
    return out.astype(np.float32)


def scer_levels(rep: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """SCER ``(..., N, H, W)`` -> levels at the ``N + 1`` boundaries ``(..., N + 1, H, W)``.

    Level ``i`` is ``Σ p`` from ``f`` to ``t_i`` (zero at ``i = N/2``), so ``exp(C · level)``
    is the luminance at ``t_i`` relative to the middle of the exposure.
    """
    n = rep.shape[-3]
    if n % 2:
        raise SemcomError(f"SCER has an even number of channels, got {n}")
    mid = n // 2
    if isinstance(rep, torch.Tensor):
        zero = torch.zeros_like(rep[..., :1, :, :])
        return torch.cat([rep[..., :mid, :, :], zero, rep[..., mid:, :, :]], dim=-3)
    zero = np.zeros_like(rep[..., :1, :, :])
    return np.concatenate([rep[..., :mid, :, :], zero, rep[..., mid:, :, :]], axis=-3)


def voxel_grid(events: np.ndarray, *, height: int, width: int, exposure_us: float, num_bins: int = 5) -> np.ndarray:
    """Voxel grid with bilinear interpolation in time (Zhu et al., CVPR 2019).

    The event time maps to ``τ = t / T · (B - 1)`` and the polarity is split between bins
    ``floor(τ)`` and ``floor(τ) + 1`` with weights ``1 - frac`` and ``frac``.

    Shape:
        returns ``(B, H, W)`` float32 (``B = num_bins``, at least 1).
    """
    _check(events, height, width, exposure_us)
    if int(num_bins) != num_bins or num_bins < 1:
        raise ValueError(f"num_bins must be a positive integer, got {num_bins!r}")
    nb = int(num_bins)
    ev = _inside(events, height, width, exposure_us)
    tau = ev["t"].astype(np.float64) / float(exposure_us) * (nb - 1)
    lo = np.floor(tau).astype(np.int64)
    frac = tau - lo
    pix = ev["y"].astype(np.int64) * width + ev["x"].astype(np.int64)
    p = ev["p"].astype(np.float64)
    size = nb * height * width
    grid = np.bincount(lo * height * width + pix, weights=p * (1 - frac), minlength=size)
    up = lo + 1 < nb
    grid += np.bincount((lo[up] + 1) * height * width + pix[up], weights=p[up] * frac[up], minlength=size)
    return grid.reshape(nb, height, width).astype(np.float32)


def event_count(events: np.ndarray, *, height: int, width: int, exposure_us: float) -> np.ndarray:
    """Per-pixel counts of positive (channel 0) and negative (channel 1) events, ``(2, H, W)``."""
    _check(events, height, width, exposure_us)
    ev = _inside(events, height, width, exposure_us)
    pix = ev["y"].astype(np.int64) * width + ev["x"].astype(np.int64)
    pos = np.bincount(pix[ev["p"] > 0], minlength=height * width)
    neg = np.bincount(pix[ev["p"] < 0], minlength=height * width)
    return np.stack([pos, neg]).reshape(2, height, width).astype(np.float32)


def event_representation(kind: str, events: np.ndarray, *, height: int, width: int, exposure_us: int,
                         num_bins: int = 6) -> np.ndarray:
    """Dispatch on ``kind`` in :data:`REPRESENTATIONS` (``count`` ignores ``num_bins``)."""
    if kind == "scer":
        return scer(events, height=height, width=width, exposure_us=exposure_us, num_bins=num_bins)
    if kind == "voxel":
        return voxel_grid(events, height=height, width=width, exposure_us=exposure_us, num_bins=num_bins)
    if kind == "count":
        return event_count(events, height=height, width=width, exposure_us=exposure_us)
    raise SemcomError(f"unknown event representation {kind!r} (known: {', '.join(REPRESENTATIONS)})")


# --------------------------------------------------------------------------- spikes


def window_bounds(num_ticks: int, window: int, center: int | None = None) -> tuple[int, int]:
    """``[start, stop)`` of ``window`` ticks centred on ``center`` (default: the middle), clipped."""
    if int(window) != window or window < 1:
        raise ValueError(f"window must be a positive number of ticks, got {window!r}")
    window = min(int(window), int(num_ticks))
    if center is None:
        start = (int(num_ticks) - window) // 2
    else:
        start = int(center) - window // 2
    start = min(max(start, 0), int(num_ticks) - window)
    return start, start + window


def _spikes(spikes: np.ndarray | torch.Tensor) -> torch.Tensor:
    s = torch.as_tensor(spikes)
    if s.ndim < 3:
        raise ValueError(f"spikes must be (..., T, h, w), got shape {tuple(s.shape)}")
    return s


def tfp(spikes: np.ndarray | torch.Tensor, *, window: int = 32, center: int | None = None,
        scale: float = 1.0) -> torch.Tensor:
    """Texture from playback: the spike rate (spikes per tick) over a window of ticks, × ``scale``.

    With ``scale = θ / gain`` of the camera this estimates the linear luminance.

    Shape:
        ``spikes``: ``(..., T, h, w)``; returns ``(..., h, w)`` float32.
    """
    s = _spikes(spikes)
    start, stop = window_bounds(s.shape[-3], window, center)
    return s[..., start:stop, :, :].to(torch.float32).sum(-3) * (float(scale) / (stop - start))


def long_exposure(spikes: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Spike count over the whole exposure. Shape: ``(..., T, h, w)`` -> ``(..., h, w)`` float32."""
    return _spikes(spikes).to(torch.float32).sum(-3)


def short_window(spikes: np.ndarray | torch.Tensor, *, window: int = 8) -> torch.Tensor:
    """Spike count over ``window`` ticks centred on the middle. ``(..., T, h, w)`` -> ``(..., h, w)``."""
    s = _spikes(spikes)
    start, stop = window_bounds(s.shape[-3], window)
    return s[..., start:stop, :, :].to(torch.float32).sum(-3)
