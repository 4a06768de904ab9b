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
from typing import Callable, Iterator

import numpy as np

from semcom.sources.base import EVENT_DTYPE

__all__ = ["EventCamera", "CrossingEvents", "log_crossings", "luminance", "aer_bytes", "to_structured",
           "LUMA_WEIGHTS", "intensity01", "sensor_rng", "substeps", "lowpass_step", "EVENT_NOISE_DEFAULTS",
           "INTENSITY_OFFSET", "SHOT_NOISE_WHITE"]

#: Rec. 709 / sRGB luminance weights of linear R, G, B
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)

#: v2e's intensity offset (20 of 255 grey levels): the photoreceptor's bandwidth and the shot-noise rate
#: follow ``(L + d) / (1 + d)``, which never reaches zero in the dark
INTENSITY_OFFSET = 20.0 / 255.0
#: v2e's shot-noise rate at white as a fraction of its rate in darkness
SHOT_NOISE_WHITE = 0.25
#: the event camera's noise settings that leave the default camera as it was (off, or today's behaviour)
EVENT_NOISE_DEFAULTS = {"mismatch": "sample", "sensor_seed": 0, "cutoff_hz": 0.0, "shot_noise_hz": 0.0,
                        "leak_hz": 0.0, "leak_jitter": 0.1, "noise_spread_decades": 0.0}
#: salts of the fixed-pattern draws of each sensor (one stream per property)
_PATTERN_TAGS = {"thresholds": 0x7E5, "spread": 0x5B2, "spike_theta": 0x5A1, "spike_gain": 0x5A2, "spike_dark": 0x5A3}


def intensity01(lum):
    """The photoreceptor's relative speed at linear luminance ``lum`` (v2e's rescaled intensity):
    1 at white, ``d / (1 + d)`` (about 0.073) in the dark; works on numpy arrays and torch tensors."""
    return (lum.clip(0.0, 1.0) + INTENSITY_OFFSET) / (1.0 + INTENSITY_OFFSET)


def sensor_rng(seed: int, height: int, width: int, what: str) -> np.random.Generator:
    """The generator of one fixed-pattern property ``what`` of a ``height x width`` sensor: the same
    numbers for every sample (and for the numpy and the torch simulators)."""
    return np.random.default_rng([int(seed), int(height), int(width), _PATTERN_TAGS[what]])


def substeps(times: np.ndarray, max_step: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A finer time grid over the frame times: every interval cut into equal steps of at most ``max_step``.

    Returns ``(fine, lo, frac)``: the fine times, and for each the frame interval it starts from
    (``times[lo] <= fine < times[lo + 1]``, the last one ``lo = K - 2, frac = 1``) and its fraction of it.
    """
    times = np.asarray(times, dtype=np.float64)
    k = times.size
    if k < 2:
        return times.copy(), np.zeros(k, np.int64), np.zeros(k)
    if max_step is None or not max_step > 0:
        n = np.ones(k - 1, np.int64)
    else:
        n = np.maximum(1, np.ceil(np.diff(times) / max_step - 1e-9)).astype(np.int64)
    lo = np.repeat(np.arange(k - 1), n)
    frac = np.concatenate([np.arange(m) / m for m in n])
    fine = times[lo] + frac * (times[lo + 1] - times[lo])
    return (np.append(fine, times[-1]), np.append(lo, k - 2), np.append(frac, 1.0))


def lowpass_step(y, x0, x1, tau, dt):
    """One step of the first-order photoreceptor low-pass ``tau dy/dt = x - y`` whose input ``x`` runs
    linearly from ``x0`` to ``x1`` over ``dt``: the exact solution (stable for any ``dt / tau``)."""
    slope = (x1 - x0) / dt
    lag = slope * tau
    decay = (-dt / tau).exp() if hasattr(tau, "exp") else np.exp(-dt / tau)
    return x1 - lag + (y - x0 + lag) * decay


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
                  resolution: float | None = None,
                  after_pair: Callable[[int, np.ndarray, np.ndarray], None] | None = None) -> CrossingEvents:
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
        after_pair: called as ``after_pair(k, ref, cur)`` once the crossings up to frame ``k`` are
            made; it may change the reference levels ``ref`` in place (a shot-noise event resets a
            pixel to its present level ``cur``).

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
        if after_pair is not None:
            after_pair(k, ref, cur)
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
    """An event camera (ESIM model) watching the latent frames, with v2e's pixel non-idealities.

    Follows ESIM (Rebecq et al., CoRL 2018) and EV-JSCC Eq. 1: an event ``(t, x, y, p)`` fires
    when ``log(L + ε)`` changes by the contrast threshold since the pixel's reference level.
    The noise follows v2e (Hu, Liu and Delbruck, CVPRW 2021), each source off by default:

    * threshold mismatch: per-pixel Gaussian ``C± ~ N(C, σ²)`` clipped at ``min_contrast``, drawn per
      sample (``mismatch="sample"``, today's default) or once for the sensor (``"sensor"``: a fixed
      pattern seeded by ``sensor_seed`` and the frame size, the same for every sample);
    * photoreceptor low-pass (``cutoff_hz`` > 0): ``tau dy/dt = log(L + ε) - y`` with
      ``tau = 1 / (2π cutoff_hz · I)``, ``I = (L + d) / (1 + d)`` and ``d = 20/255``: the cutoff
      at white, lower in the dark; integrated exactly on steps of at most ``tau_white / 8``;
    * shot-noise events (``shot_noise_hz`` > 0): Poisson, ON + OFF together ``shot_noise_hz`` per pixel
      in darkness and ``SHOT_NOISE_WHITE`` (1/4) of it at white, each polarity scaled by
      ``C / C±`` of the pixel; such an event resets the pixel's reference to its present level;
    * leak events (``leak_hz`` > 0): the reference drifts down by ``leak_hz · C+`` per second (ON
      events at ``leak_hz``), the drift of each step jittered by ``leak_jitter`` (relative, Gaussian);
    * spread of the noise rates (``noise_spread_decades``): shot and leak rates of each pixel scaled
      by ``10^(s · N(0, 1))`` (log-normal; the median pixel keeps the nominal rate);
    * refractory period (``refractory_us``) on crossings and leak events (shot-noise events pass it,
      as in v2e), and uniform background activity (``noise_rate_hz``, independent of the pixel state).

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
        mismatch, sensor_seed: per-sample or fixed-pattern threshold mismatch and noise-rate spread.
        cutoff_hz: photoreceptor 3 dB cutoff at white in Hz (0: unlimited bandwidth).
        shot_noise_hz: shot-noise events (ON + OFF) per pixel and second in darkness (0: none).
        leak_hz: leak events per pixel and second (0: none).
        leak_jitter: relative jitter of the leak drift per simulation step.
        noise_spread_decades: log-normal spread of the noise rates across pixels, in decades.

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
                 log_eps: float = 1e-3, reference: str = "random", bytes_per_event: int = 8,
                 mismatch: str = "sample", sensor_seed: int = 0, cutoff_hz: float = 0.0,
                 shot_noise_hz: float = 0.0, leak_hz: float = 0.0, leak_jitter: float = 0.1,
                 noise_spread_decades: float = 0.0) -> None:
        cneg = contrast if contrast_neg is None else contrast_neg
        for name, v in (("contrast", contrast), ("contrast_neg", cneg), ("min_contrast", min_contrast)):
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive log-intensity step, got {v!r}")
        for name, v in (("contrast_sigma", contrast_sigma), ("refractory_us", refractory_us),
                        ("noise_rate_hz", noise_rate_hz), ("log_eps", log_eps), ("cutoff_hz", cutoff_hz),
                        ("shot_noise_hz", shot_noise_hz), ("leak_hz", leak_hz), ("leak_jitter", leak_jitter),
                        ("noise_spread_decades", noise_spread_decades)):
            if isinstance(v, bool) or not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {v!r}")
        if reference not in ("random", "first"):
            raise ValueError(f"reference must be 'random' or 'first', got {reference!r}")
        if mismatch not in ("sample", "sensor"):
            raise ValueError(f"mismatch must be 'sample' (drawn per sample) or 'sensor' (a fixed pattern), "
                             f"got {mismatch!r}")
        if isinstance(sensor_seed, bool) or int(sensor_seed) != sensor_seed or sensor_seed < 0:
            raise ValueError(f"sensor_seed must be a non-negative integer, got {sensor_seed!r}")
        if int(bytes_per_event) != bytes_per_event or bytes_per_event < 1:
            raise ValueError(f"bytes_per_event must be a positive integer, got {bytes_per_event!r}")
        self.contrast, self.contrast_neg = float(contrast), float(cneg)
        self.contrast_sigma, self.min_contrast = float(contrast_sigma), float(min_contrast)
        self.refractory_us, self.noise_rate_hz = float(refractory_us), float(noise_rate_hz)
        self.log_eps, self.reference = float(log_eps), reference
        self.bytes_per_event = int(bytes_per_event)
        self.mismatch, self.sensor_seed = mismatch, int(sensor_seed)
        self.cutoff_hz, self.shot_noise_hz, self.leak_hz = float(cutoff_hz), float(shot_noise_hz), float(leak_hz)
        self.leak_jitter, self.noise_spread_decades = float(leak_jitter), float(noise_spread_decades)

    def noise_settings(self) -> dict:
        """The v2e noise settings (see :data:`EVENT_NOISE_DEFAULTS`)."""
        return {k: getattr(self, k) for k in EVENT_NOISE_DEFAULTS}

    def describe(self) -> dict:
        out = {"contrast": self.contrast, "contrast_neg": self.contrast_neg,
               "contrast_sigma": self.contrast_sigma, "min_contrast": self.min_contrast,
               "refractory_us": self.refractory_us, "noise_rate_hz": self.noise_rate_hz,
               "log_eps": self.log_eps, "reference": self.reference, "bytes_per_event": self.bytes_per_event}
        # the noise settings appear only where they differ from the default, so the default camera's
        # description (and every cache key and sweep identity made from it) stays what it was
        out.update({k: v for k, v in self.noise_settings().items() if v != EVENT_NOISE_DEFAULTS[k]})
        return out

    @property
    def dynamic_noise(self) -> bool:
        """Whether the low-pass, shot noise or leak events are on (the simulation takes the longer path)."""
        return self.cutoff_hz > 0 or self.shot_noise_hz > 0 or self.leak_hz > 0

    @property
    def tau_white_us(self) -> float:
        """The photoreceptor's time constant at white in µs (``inf``: no low-pass)."""
        return 1e6 / (2 * math.pi * self.cutoff_hz) if self.cutoff_hz > 0 else math.inf

    def thresholds(self, shape: tuple[int, ...], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel ``(C+, C-)`` float32 arrays with Gaussian mismatch (drawn from ``rng``: per sample)."""
        cp = np.full(shape, self.contrast, np.float32)
        cn = np.full(shape, self.contrast_neg, np.float32)
        if self.contrast_sigma > 0:
            cp += rng.normal(0.0, self.contrast_sigma, size=shape).astype(np.float32)
            cn += rng.normal(0.0, self.contrast_sigma, size=shape).astype(np.float32)
        return np.maximum(cp, self.min_contrast), np.maximum(cn, self.min_contrast)

    def pixel_thresholds(self, height: int, width: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Flat per-pixel ``(C+, C-)`` of a ``height x width`` frame: from ``rng`` (``mismatch="sample"``) or
        the sensor's fixed pattern (``"sensor"``)."""
        if self.mismatch == "sensor":
            return self.thresholds((height * width,), sensor_rng(self.sensor_seed, height, width, "thresholds"))
        return self.thresholds((height * width,), rng)

    def rate_spread(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """Flat per-pixel factors of the noise rates, log-normal with ``noise_spread_decades`` (ones when 0)."""
        if self.noise_spread_decades <= 0:
            return np.ones(height * width, np.float64)
        src = sensor_rng(self.sensor_seed, height, width, "spread") if self.mismatch == "sensor" else rng
        return 10.0 ** (self.noise_spread_decades * src.standard_normal(height * width))

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
        log_of = lambda i: np.log(np.maximum(lum_of(i).astype(np.float32, copy=False), 0) + eps)  # noqa: E731
        logs = (log_of(i) for i in range(k))
        cp, cn = self.pixel_thresholds(h, w, rng)
        first = next(logs)
        ref = first.ravel().copy()
        if self.reference == "random":
            ref = ref + (rng.uniform(size=h * w).astype(np.float32) * (cp + cn) - cp)

        if self.dynamic_noise:
            ev, shot = self._noisy_crossings(log_of, first.ravel(), (h, w), times_us, cp, cn, ref, exposure_us, rng)
        else:
            def chain():
                yield first
                yield from logs

            ev = log_crossings(chain(), times_us, c_pos=cp, c_neg=cn, reference=ref, refractory=self.refractory_us,
                               resolution=1.0)
            shot = None
        t_us = np.clip(np.rint(ev.t), 0, exposure_us - 1).astype(np.int64)
        index, pol = ev.index, ev.p
        extra = [] if shot is None else [shot]
        if self.noise_rate_hz > 0:
            n = int(rng.poisson(self.noise_rate_hz * h * w * exposure_us * 1e-6))
            nt = rng.integers(0, exposure_us, size=n)
            ni = rng.integers(0, h * w, size=n)
            npol = np.where(rng.uniform(size=n) < 0.5, -1, 1).astype(np.int8)
            extra.append((nt, ni, npol))
        if extra:
            t_us = np.concatenate([t_us, *(e[0] for e in extra)])
            index = np.concatenate([index, *(e[1] for e in extra)])
            pol = np.concatenate([pol, *(e[2] for e in extra)])
            order = np.argsort(t_us, kind="stable")
            t_us, index, pol = t_us[order], index[order], pol[order]
        return to_structured(t_us, index, pol, width=w)

    # ------------------------------------------------------------------ the v2e noise path
    def _noisy_crossings(self, log_of: Callable[[int], np.ndarray], first: np.ndarray, shape: tuple[int, int],
                         times_us: np.ndarray,
                         cp: np.ndarray, cn: np.ndarray, ref: np.ndarray, exposure_us: int,
                         rng: np.random.Generator) -> tuple[CrossingEvents, tuple | None]:
        """Crossings of the low-passed, leaking signal, with shot-noise events that reset the pixel."""
        extra = _child(rng)  # every new draw comes from a child stream: the sample's own stream is untouched
        npix = first.size
        spread = self.rate_spread(*shape, extra)
        max_step = self.tau_white_us / 8 if self.cutoff_hz > 0 else None
        fine, lo, frac = substeps(times_us, max_step)
        nf = fine.size
        eps = float(self.log_eps)
        cache: dict[int, np.ndarray] = {0: first.astype(np.float64)}

        def log_at(i: int) -> np.ndarray:
            if i not in cache:
                for key in [key for key in cache if key < i - 1]:
                    del cache[key]
                cache[i] = log_of(i).ravel().astype(np.float64)
            return cache[i]

        def x_at(j: int) -> np.ndarray:
            a = frac[j]
            base = log_at(int(lo[j]))
            return base if a == 0 else (1 - a) * base + a * log_at(int(lo[j]) + 1)

        leak_rate = self.leak_hz * 1e-6 * spread * cp.astype(np.float64)  # log units per µs

        def signal() -> Iterator[np.ndarray]:
            y = first.astype(np.float64)
            x_prev = y
            offset = np.zeros(npix)
            yield first
            for j in range(1, nf):
                x = x_at(j)
                dt = fine[j] - fine[j - 1]
                if self.cutoff_hz > 0:
                    lum = np.exp(0.5 * (x_prev + x)) - eps
                    tau = self.tau_white_us / intensity01(lum)
                    y = lowpass_step(y, x_prev, x, tau, dt)
                else:
                    y = x
                if self.leak_hz > 0:
                    jitter = 1.0 - self.leak_jitter * extra.standard_normal(npix) if self.leak_jitter > 0 else 1.0
                    offset = offset + leak_rate * jitter * dt
                x_prev = x
                yield (y + offset).astype(np.float32)

        shot = None
        after_pair = None
        if self.shot_noise_hz > 0:
            shot_t, shot_i, shot_p = self._shot_events(log_of, times_us, cp, cn, spread, exposure_us, extra)
            shot = (np.clip(np.rint(shot_t), 0, exposure_us - 1).astype(np.int64), shot_i, shot_p)
            # each shot-noise event resets its pixel at the end of the step it falls in
            step = np.clip(np.searchsorted(fine, shot_t, side="left"), 1, nf - 1)
            order = np.argsort(step, kind="stable")
            step_sorted, pix_sorted = step[order], shot_i[order]
            bounds = np.searchsorted(step_sorted, np.arange(nf + 1))

            def after_pair(j: int, ref_now: np.ndarray, cur: np.ndarray) -> None:
                pix = pix_sorted[bounds[j]:bounds[j + 1]]
                if pix.size:
                    ref_now[pix] = cur[pix]

        ev = log_crossings(signal(), fine, c_pos=cp, c_neg=cn, reference=ref, refractory=self.refractory_us,
                           resolution=1.0, after_pair=after_pair)
        return ev, shot

    def _shot_events(self, log_of: Callable[[int], np.ndarray], times_us: np.ndarray, cp: np.ndarray,
                     cn: np.ndarray, spread: np.ndarray, exposure_us: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Shot-noise events over ``[0, exposure_us)``: Poisson candidates at each pixel's largest rate,
        thinned to the rate at the luminance of their time (v2e's intensity dependence)."""
        npix = cp.size
        top = max(1.0, SHOT_NOISE_WHITE)
        out_t, out_i, out_p = [], [], []
        for c_pix, nominal, sign in ((cp, self.contrast, 1), (cn, self.contrast_neg, -1)):
            peak = 0.5 * self.shot_noise_hz * top * spread * (nominal / c_pix.astype(np.float64))
            n = rng.poisson(peak * exposure_us * 1e-6)
            pix = np.repeat(np.arange(npix), n)
            t = rng.uniform(0.0, exposure_us, size=pix.size)
            lum = _luminance_at(log_of, times_us, t, pix, self.log_eps)
            factor = 1.0 + (SHOT_NOISE_WHITE - 1.0) * intensity01(lum)
            keep = rng.uniform(size=pix.size) < factor / top
            out_t.append(t[keep])
            out_i.append(pix[keep])
            out_p.append(np.full(int(keep.sum()), sign, np.int8))
        return np.concatenate(out_t), np.concatenate(out_i), np.concatenate(out_p)


def _child(rng: np.random.Generator) -> np.random.Generator:
    """An independent generator derived from ``rng`` without drawing from it (where it can be helped)."""
    try:
        return rng.spawn(1)[0]
    except (TypeError, ValueError, AttributeError):  # a bit generator made without a SeedSequence
        return np.random.default_rng(rng.integers(2**63))


def _luminance_at(log_of: Callable[[int], np.ndarray], times_us: np.ndarray, t: np.ndarray, pix: np.ndarray,
                  log_eps: float) -> np.ndarray:
    """Linear luminance of pixels ``pix`` at times ``t`` (log interpolated linearly between frames, held
    outside them)."""
    if t.size == 0:
        return np.zeros(0)
    k = times_us.size
    if k == 1:
        return np.exp(log_of(0).ravel()[pix].astype(np.float64)) - log_eps
    hi = np.clip(np.searchsorted(times_us, t, side="right"), 1, k - 1)
    lo = hi - 1
    a = np.clip((t - times_us[lo]) / (times_us[hi] - times_us[lo]), 0.0, 1.0)
    out = np.empty(t.size)
    for i in np.unique(lo):
        sel = np.flatnonzero(lo == i)
        l0 = log_of(int(i)).ravel()[pix[sel]].astype(np.float64)
        l1 = log_of(int(i) + 1).ravel()[pix[sel]].astype(np.float64)
        out[sel] = (1 - a[sel]) * l0 + a[sel] * l1
    return np.exp(out) - log_eps
