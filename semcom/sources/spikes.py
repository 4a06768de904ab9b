"""Spike camera: integrate-and-fire pixels read out at a fixed high rate.

Follows SpikeReveal (Chen et al., their Eq. 1; the Vidar sensor): each pixel integrates the
incoming light, ``V(t) = ∫ gain · L(τ) dτ`` since its last spike; when ``V`` reaches the
threshold ``θ`` the pixel fires and ``θ`` is subtracted (so the charge above ``θ`` is kept
and the spike rate is exactly ``gain · L / θ`` per tick for constant light).  Spikes are read
out at ``rate_hz`` (40 kHz by default), giving a binary stream ``(T, h, w)`` with
``T = exposure · rate``.  The light at each tick is interpolated linearly between the latent
frames (held constant before the first and after the last).

The sensor is monochrome (luminance, Rec. 709 weights on linear RGB) and coarser than the RGB
camera: each spike pixel averages a ``scale × scale`` block of the latent frame (1/4 of the
resolution per side by default, as SpikeReveal assumes).  Options: a random initial potential
(uniform in ``[0, θ)``, the sensor ran before the exposure) and dark current (exponentially
distributed charge per tick, mean ``dark_current``).
"""

from __future__ import annotations

import math

import numpy as np

from semcom.sources.events import luminance

__all__ = ["SpikeCamera"]


class SpikeCamera:
    """An integrate-and-fire spike camera (SpikeReveal Eq. 1) sampled at ``rate_hz``.

    Args:
        rate_hz: readout rate (ticks per second).
        theta: firing threshold ``θ``.
        gain: charge per tick gathered from linear luminance 1 (rate ``gain · L / θ`` per tick).
        scale: the RGB frame is ``scale`` times larger per side than the spike frame.
        random_init: start each pixel at a random potential in ``[0, θ)`` (else 0).
        dark_current: mean dark charge per tick (exponentially distributed; 0: none).
        max_per_tick: most spikes one pixel reports per tick (1: a binary stream, like the
            sensor; charge beyond one more threshold is lost when a pixel saturates).

    Shape:
        :meth:`simulate` takes linear frames ``(K, 3, H, W)`` or ``(K, H, W)`` and their times
        ``(K,)`` µs; returns uint8 ``(T, H // scale, W // scale)``.

    Example:
        >>> cam = SpikeCamera(rate_hz=1e6, gain=0.5, scale=1, random_init=False)
        >>> s = cam.simulate(np.full((2, 1, 1), 0.5), np.array([0.0, 99.0]), exposure_us=100,
        ...                  rng=np.random.default_rng(0))
        >>> s.shape, int(s.sum())
        ((100, 1, 1), 25)
    """

    def __init__(self, *, rate_hz: float = 40_000.0, theta: float = 1.0, gain: float = 1.0, scale: int = 4,
                 random_init: bool = True, dark_current: float = 0.0, max_per_tick: int = 1) -> None:
        for name, v in (("rate_hz", rate_hz), ("theta", theta), ("gain", gain)):
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be positive, got {v!r}")
        if int(scale) != scale or scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale!r}")
        if not (math.isfinite(dark_current) and dark_current >= 0):
            raise ValueError(f"dark_current must be a non-negative charge per tick, got {dark_current!r}")
        if int(max_per_tick) != max_per_tick or not 1 <= max_per_tick <= 255:
            raise ValueError(f"max_per_tick must be an integer in [1, 255], got {max_per_tick!r}")
        self.rate_hz, self.theta, self.gain = float(rate_hz), float(theta), float(gain)
        self.scale, self.random_init = int(scale), bool(random_init)
        self.dark_current, self.max_per_tick = float(dark_current), int(max_per_tick)

    def describe(self) -> dict:
        return {"rate_hz": self.rate_hz, "theta": self.theta, "gain": self.gain, "scale": self.scale,
                "random_init": self.random_init, "dark_current": self.dark_current,
                "max_per_tick": self.max_per_tick}

    def num_ticks(self, exposure_us: float) -> int:
        """Readout ticks within an exposure of ``exposure_us`` microseconds."""
        return max(1, int(round(exposure_us * 1e-6 * self.rate_hz)))

    def downsample(self, lum: np.ndarray) -> np.ndarray:
        """Block-average ``(K, H, W)`` luminance to the spike resolution (edges cropped)."""
        s = self.scale
        if s == 1:
            return lum.astype(np.float32, copy=False)
        k, h, w = lum.shape
        hh, ww = h // s, w // s
        if hh < 1 or ww < 1:
            raise ValueError(f"a {h}x{w} frame is smaller than the spike pixel ({s}x{s})")
        blocks = lum[:, :hh * s, :ww * s].reshape(k, hh, s, ww, s)
        return blocks.mean(axis=(2, 4), dtype=np.float32)

    def simulate(self, frames: np.ndarray, times_us: np.ndarray, *, exposure_us: float,
                 rng: np.random.Generator) -> np.ndarray:
        """The spike stream of the latent frames (see the class docstring)."""
        frames = np.asarray(frames)
        if frames.ndim == 4:
            lum = luminance(frames)
        elif frames.ndim == 3:
            lum = frames.astype(np.float32, copy=False)
        else:
            raise ValueError(f"frames must be (K, 3, H, W) or (K, H, W), got {frames.shape}")
        times_us = np.asarray(times_us, dtype=np.float64)
        if times_us.shape != (lum.shape[0],):
            raise ValueError(f"need one time per frame: {times_us.shape} times for {lum.shape[0]} frames")
        lum = np.clip(self.downsample(lum), 0.0, None)
        _, h, w = lum.shape
        ticks = self.num_ticks(exposure_us)
        # tick centres, and where they fall between latent frames
        tc = (np.arange(ticks) + 0.5) * (1e6 / self.rate_hz)
        hi = np.clip(np.searchsorted(times_us, tc, side="right"), 1, max(len(times_us) - 1, 1))
        lo = hi - 1
        if len(times_us) > 1:
            frac = np.clip((tc - times_us[lo]) / (times_us[hi] - times_us[lo]), 0.0, 1.0).astype(np.float32)
        else:
            lo = hi = np.zeros(ticks, np.int64)
            frac = np.zeros(ticks, np.float32)
        theta = np.float32(self.theta)
        gain = np.float32(self.gain)
        v = (rng.uniform(size=(h, w)).astype(np.float32) * theta) if self.random_init else np.zeros((h, w), np.float32)
        out = np.empty((ticks, h, w), np.uint8)
        cap = np.float32(self.max_per_tick)
        for i in range(ticks):
            a = frac[i]
            light = lum[lo[i]] if a == 0 else (1 - a) * lum[lo[i]] + a * lum[hi[i]]
            v += gain * light
            if self.dark_current > 0:
                v += rng.exponential(self.dark_current, size=(h, w)).astype(np.float32)
            n = np.minimum(np.floor(v / theta), cap)
            v -= n * theta
            np.minimum(v, theta, out=v)  # saturation: at most one more threshold is kept
            out[i] = n
        return out
