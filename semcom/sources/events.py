"""Event camera: contrast-threshold events from the latent frames (the ESIM model).

Follows ESIM (Rebecq, Gehrig and Scaramuzza, CoRL 2018), which EV-JSCC uses to simulate the
events of GoPro (their Eq. 1): a pixel fires an event of polarity ``p = ±1`` each time the log
of its luminance moves by a contrast threshold ``C`` away from the level of its last event (its
*reference level*), and the reference moves by ``p C``.  Between two latent frames the log
luminance is interpolated linearly, so a change spanning several thresholds fires several
events, stamped at the times the ramp crosses each level.

Non-idealities: per-pixel threshold mismatch (Gaussian, one draw per pixel and polarity), a
refractory period (a crossing less than ``refractory_us`` after the pixel's previous event is
lost, the reference still moves), background activity (random events at a rate per pixel and
second), and a reference level that starts at a random point of the threshold band (a camera
that was running before the exposure) or exactly at the first frame.

Output: a structured array of :data:`semcom.sources.base.EVENT_DTYPE` (``t`` in µs from the
start of the exposure, ``x``, ``y``, ``p``) sorted by ``t``; its raw size under an AER
(address-event representation) encoding is ``bytes_per_event`` bytes per event.

The simulation is vectorized over pixels: the only Python loops run over latent frames and over
the multiples of the threshold crossed between two frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from semcom.sources.base import EVENT_DTYPE

__all__ = ["EventCamera", "CrossingEvents", "log_crossings", "luminance", "aer_bytes", "to_structured",
           "LUMA_WEIGHTS"]

#: Rec. 709 / sRGB luminance weights of linear R, G, B
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)


def luminance(frames: np.ndarray) -> np.ndarray:
    """Linear luminance ``(..., H, W)`` float32 of linear RGB frames ``(..., 3, H, W)``."""
    frames = np.asarray(frames, dtype=np.float32)
    r, g, b = (np.float32(w) for w in LUMA_WEIGHTS)
    return r * frames[..., 0, :, :] + g * frames[..., 1, :, :] + b * frames[..., 2, :, :]


def aer_bytes(num_events: int, bytes_per_event: int = 8) -> int:
    """Raw payload of ``num_events`` events under an AER encoding of ``bytes_per_event`` bytes."""
    return int(num_events) * int(bytes_per_event)


@dataclass(frozen=True, eq=False)
class CrossingEvents:
    """Events as parallel arrays with float timestamps (before rounding to microseconds).

    Args:
        t: ``(E,)`` float64 times in the unit of the frame times, sorted.
        index: ``(E,)`` int64 flat pixel index ``y * W + x``.
        p: ``(E,)`` int8 polarity, ``-1`` or ``+1``.
    """

    t: np.ndarray
    index: np.ndarray
    p: np.ndarray

    def __len__(self) -> int:
        return int(self.t.shape[0])


def log_crossings(log_frames, times: np.ndarray, *, c_pos: np.ndarray | float, c_neg: np.ndarray | float,
                  reference: np.ndarray | None = None, refractory: float = 0.0,
                  resolution: float | None = None) -> CrossingEvents:
    """The contrast-threshold crossings of a piecewise-linear log-luminance signal.

    Args:
        log_frames: ``K`` log-luminance frames, an array ``(K, H, W)`` / ``(K, P)`` or an
            iterable yielding ``(H, W)`` / ``(P,)`` float arrays (consumed once, in order).
        times: ``(K,)`` increasing frame times.
        c_pos, c_neg: positive and negative thresholds, scalars or per-pixel arrays.
        reference: initial reference level per pixel (default: the first frame).
        refractory: crossings less than this after the pixel's previous event are dropped.
        resolution: if given, events are ordered by their time rounded to this step (a
            linear-time radix sort; ties keep the generation order) instead of exactly.

    Returns:
        :class:`CrossingEvents` sorted by time (ties keep the generation order).

    Example:
        >>> ev = log_crossings(np.array([[0.0], [1.1]]), np.array([0.0, 1.1]), c_pos=0.2, c_neg=0.2)
        >>> np.round(ev.t, 6).tolist()
        [0.2, 0.4, 0.6, 0.8, 1.0]
    """
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size < 1:
        raise ValueError("times must be a non-empty 1-D array")
    if np.any(np.diff(times) <= 0):
        raise ValueError("frame times must increase strictly")
    it = iter(log_frames)
    first = np.asarray(next(it), dtype=np.float32).ravel()
    npix = first.size
    cp = np.broadcast_to(np.asarray(c_pos, dtype=np.float32).ravel() if np.ndim(c_pos) else
                         np.float32(c_pos), (npix,))
    cn = np.broadcast_to(np.asarray(c_neg, dtype=np.float32).ravel() if np.ndim(c_neg) else
                         np.float32(c_neg), (npix,))
    if np.any(cp <= 0) or np.any(cn <= 0):
        raise ValueError("contrast thresholds must be positive")
    ref = first.copy() if reference is None else np.asarray(reference, dtype=np.float32).ravel().copy()
    if ref.size != npix:
        raise ValueError(f"reference has {ref.size} values for {npix} pixels")
    neg_cn = -cn
    last_t = np.full(npix, -np.inf) if refractory > 0 else None
    chunks_t, chunks_i, chunks_p = [], [], []
    prev = first
    k = 0
    for cur in it:
        k += 1
        if k >= times.size:
            raise ValueError(f"more frames than times ({times.size})")
        cur = np.asarray(cur, dtype=np.float32).ravel()
        diff = cur - ref
        active = np.flatnonzero((diff >= cp) | (diff <= neg_cn))
        if active.size:
            d = diff[active]
            up = d > 0
            step = np.where(up, cp[active], -cn[active])              # signed threshold
            count = np.floor(d / step).astype(np.int64)               # >= 1 crossings
            r0 = ref[active].astype(np.float64)
            l0 = prev[active].astype(np.float64)
            slope = cur[active].astype(np.float64) - l0
            t0, dt = times[k - 1], times[k] - times[k - 1]
            pol = np.where(up, 1, -1).astype(np.int8)
            stepd = step.astype(np.float64)
            pair_t, pair_i, pair_p = [], [], []
            for j in range(1, int(count.max()) + 1):
                sel = np.flatnonzero(count >= j) if j > 1 else np.arange(active.size)
                level = r0[sel] + j * stepd[sel]
                frac = np.clip((level - l0[sel]) / slope[sel], 0.0, 1.0)
                tj = t0 + frac * dt
                pix = active[sel]
                if last_t is not None:
                    keep = tj - last_t[pix] >= refractory
                    sel, tj, pix = sel[keep], tj[keep], pix[keep]
                    last_t[pix] = tj
                pair_t.append(tj)
                pair_i.append(pix)
                pair_p.append(pol[sel])
            # the events of this frame pair lie in [t_{k-1}, t_k]: sorting them here sorts the stream
            tk, ik, pk = (np.concatenate(c) if len(c) > 1 else c[0] for c in (pair_t, pair_i, pair_p))
            if resolution is None:
                order = np.argsort(tk, kind="stable")
            else:  # integer keys below 2**16 make numpy's stable sort a radix sort
                key = np.rint(tk / resolution) - math.floor(t0 / resolution)
                order = np.argsort(key.astype(np.uint16 if dt / resolution < 65_000 else np.int64), kind="stable")
            tk, ik, pk = tk[order], ik[order], pk[order]
            chunks_t.append(tk)
            chunks_i.append(ik)
            chunks_p.append(pk)
            ref[active] = (r0 + count * stepd).astype(np.float32)
        prev = cur
    if not chunks_t:
        return CrossingEvents(np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int8))
    return CrossingEvents(np.concatenate(chunks_t), np.concatenate(chunks_i), np.concatenate(chunks_p))


def to_structured(t_us: np.ndarray, index: np.ndarray, p: np.ndarray, *, width: int) -> np.ndarray:
    """Parallel arrays -> a structured array of :data:`EVENT_DTYPE` (``t`` already integer µs)."""
    out = np.empty(t_us.shape[0], dtype=EVENT_DTYPE)
    out["t"] = t_us
    out["y"] = index // width
    out["x"] = index % width
    out["p"] = p
    return out


class EventCamera:
    """An event camera (ESIM model) watching the latent frames.

    Follows ESIM (Rebecq et al., CoRL 2018) and EV-JSCC Eq. 1: an event ``(t, x, y, p)`` fires
    when ``log(L + ε)`` changes by the contrast threshold since the pixel's reference level.

    Args:
        contrast: nominal positive threshold ``C+`` (log units).
        contrast_neg: nominal negative threshold ``C-`` (default: ``contrast``).
        contrast_sigma: standard deviation of the per-pixel threshold mismatch.
        min_contrast: the smallest threshold a mismatched pixel can get.
        refractory_us: refractory period in microseconds (0: none).
        noise_rate_hz: background-activity events per pixel per second (0: none), uniform in
            time and pixel, random polarity.
        log_eps: ``ε`` in ``log(L + ε)``, ``L`` the linear luminance in [0, 1].
        reference: ``"random"``: the reference level starts uniformly inside the threshold
            band around the first frame's level (the camera ran before the exposure);
            ``"first"``: exactly at the first frame's level (ESIM's initialization).
        bytes_per_event: AER payload per event (EV-JSCC's count: 8 bytes for t, x, y, p).

    Shape:
        :meth:`simulate` takes linear frames ``(K, 3, H, W)`` (RGB) or ``(K, H, W)``
        (luminance) and their times ``(K,)`` in µs; returns a structured array of
        :data:`EVENT_DTYPE`, sorted by ``t``, with ``0 <= t < exposure_us``.

    Example:
        >>> cam = EventCamera(contrast_sigma=0.0, reference="first")
        >>> lum = np.exp(np.linspace(0, 1.1, 2))[:, None, None] * np.ones((2, 1, 1)) * 0.1
        >>> len(cam.simulate(lum, np.array([0.0, 1000.0]), exposure_us=1001, rng=np.random.default_rng(0)))
        5
    """

    def __init__(self, *, contrast: float = 0.2, contrast_neg: float | None = None, contrast_sigma: float = 0.03,
                 min_contrast: float = 0.01, refractory_us: float = 0.0, noise_rate_hz: float = 0.0,
                 log_eps: float = 1e-3, reference: str = "random", bytes_per_event: int = 8) -> None:
        cneg = contrast if contrast_neg is None else contrast_neg
        for name, v in (("contrast", contrast), ("contrast_neg", cneg), ("min_contrast", min_contrast)):
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive log-intensity step, got {v!r}")
        for name, v in (("contrast_sigma", contrast_sigma), ("refractory_us", refractory_us),
                        ("noise_rate_hz", noise_rate_hz), ("log_eps", log_eps)):
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {v!r}")
        if reference not in ("random", "first"):
            raise ValueError(f"reference must be 'random' or 'first', got {reference!r}")
        if int(bytes_per_event) != bytes_per_event or bytes_per_event < 1:
            raise ValueError(f"bytes_per_event must be a positive integer, got {bytes_per_event!r}")
        self.contrast, self.contrast_neg = float(contrast), float(cneg)
        self.contrast_sigma, self.min_contrast = float(contrast_sigma), float(min_contrast)
        self.refractory_us, self.noise_rate_hz = float(refractory_us), float(noise_rate_hz)
        self.log_eps, self.reference = float(log_eps), reference
        self.bytes_per_event = int(bytes_per_event)

    def describe(self) -> dict:
        return {"contrast": self.contrast, "contrast_neg": self.contrast_neg,
                "contrast_sigma": self.contrast_sigma, "min_contrast": self.min_contrast,
                "refractory_us": self.refractory_us, "noise_rate_hz": self.noise_rate_hz,
                "log_eps": self.log_eps, "reference": self.reference, "bytes_per_event": self.bytes_per_event}

    def thresholds(self, shape: tuple[int, ...], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel ``(C+, C-)`` float32 arrays with Gaussian mismatch."""
        cp = np.full(shape, self.contrast, np.float32)
        cn = np.full(shape, self.contrast_neg, np.float32)
        if self.contrast_sigma > 0:
            cp += rng.normal(0.0, self.contrast_sigma, size=shape).astype(np.float32)
            cn += rng.normal(0.0, self.contrast_sigma, size=shape).astype(np.float32)
        return np.maximum(cp, self.min_contrast), np.maximum(cn, self.min_contrast)

    def payload_bytes(self, events: np.ndarray) -> int:
        """AER payload of an event array."""
        return aer_bytes(len(events), self.bytes_per_event)

    def simulate(self, frames: np.ndarray, times_us: np.ndarray, *, exposure_us: int,
                 rng: np.random.Generator) -> np.ndarray:
        """Events of the latent frames, as a sorted structured array of :data:`EVENT_DTYPE`."""
        frames = np.asarray(frames)
        if frames.ndim == 4:
            if frames.shape[1] != 3:
                raise ValueError(f"RGB frames must be (K, 3, H, W), got {frames.shape}")
            k, _, h, w = frames.shape
            lum_of = lambda i: luminance(frames[i])  # noqa: E731
        elif frames.ndim == 3:
            k, h, w = frames.shape
            lum_of = lambda i: frames[i]  # noqa: E731
        else:
            raise ValueError(f"frames must be (K, 3, H, W) or (K, H, W), got {frames.shape}")
        times_us = np.asarray(times_us, dtype=np.float64)
        if times_us.shape != (k,):
            raise ValueError(f"need one time per frame: {times_us.shape} times for {k} frames")
        if int(exposure_us) != exposure_us or exposure_us < 1:
            raise ValueError(f"exposure_us must be a positive integer, got {exposure_us!r}")
        if times_us[0] < 0 or times_us[-1] > exposure_us:
            raise ValueError("frame times must lie inside [0, exposure_us]")
        eps = np.float32(self.log_eps)
        logs = (np.log(np.maximum(lum_of(i).astype(np.float32, copy=False), 0) + eps) for i in range(k))
        cp, cn = self.thresholds((h * w,), rng)
        first = next(logs)
        ref = first.ravel().copy()
        if self.reference == "random":
            ref = ref + (rng.uniform(size=h * w).astype(np.float32) * (cp + cn) - cp)

        def chain():
            yield first
            yield from logs

        ev = log_crossings(chain(), times_us, c_pos=cp, c_neg=cn, reference=ref, refractory=self.refractory_us,
                           resolution=1.0)
        t_us = np.clip(np.rint(ev.t), 0, exposure_us - 1).astype(np.int64)
        index, pol = ev.index, ev.p
        if self.noise_rate_hz > 0:
            n = int(rng.poisson(self.noise_rate_hz * h * w * exposure_us * 1e-6))
            nt = rng.integers(0, exposure_us, size=n)
            ni = rng.integers(0, h * w, size=n)
            npol = np.where(rng.uniform(size=n) < 0.5, -1, 1).astype(np.int8)
            t_us = np.concatenate([t_us, nt])
            index = np.concatenate([index, ni])
            pol = np.concatenate([pol, npol])
            order = np.argsort(t_us, kind="stable")
            t_us, index, pol = t_us[order], index[order], pol[order]
        return to_structured(t_us, index, pol, width=w)
