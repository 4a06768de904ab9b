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

Sensor noise after SpikingSIM (Zhao et al., 2022) and SCSim (2024), each off by default: per-pixel
threshold mismatch ``θ_i = θ (1 + theta_sigma · N)`` and photo-gain mismatch ``g_i = gain (1 + gain_sigma
· N)`` (drawn per sample, or once for the sensor with ``mismatch="sensor"``), a per-pixel spread of the
dark current (``dark_sigma``), photon shot noise (the light's charge of a tick is
``Poisson(photons · g_i · L) / photons``, ``photons`` the photo-electrons of one threshold's worth of
white light) and thermal/readout noise (Gaussian charge ``N(0, read_noise²)`` per tick; the potential is
not clipped below, so the noise is zero-mean).
"""

from __future__ import annotations

import math

import numpy as np

from semcom.sources.events import _child, luminance, sensor_rng

__all__ = ["SpikeCamera", "SPIKE_NOISE_DEFAULTS"]

#: the spike camera's noise settings that leave the default camera as it was
SPIKE_NOISE_DEFAULTS = {"theta_sigma": 0.0, "gain_sigma": 0.0, "dark_sigma": 0.0, "read_noise": 0.0,
                        "photons": None, "mismatch": "sample", "sensor_seed": 0}


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
        theta_sigma, gain_sigma: relative standard deviations of the per-pixel threshold and photo gain.
        dark_sigma: relative standard deviation of the per-pixel dark current (clipped at 0).
        read_noise: standard deviation of the Gaussian thermal/readout charge per tick (units of ``θ``'s charge).
        photons: photo-electrons per unit of charge (``None``: no photon shot noise).
        mismatch, sensor_seed: ``"sample"``: the mismatch is drawn per sample; ``"sensor"``: a fixed pattern
            of the sensor (seeded by ``sensor_seed`` and the spike frame's size).

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
                 random_init: bool = True, dark_current: float = 0.0, max_per_tick: int = 1,
                 theta_sigma: float = 0.0, gain_sigma: float = 0.0, dark_sigma: float = 0.0, read_noise: float = 0.0,
                 photons: float | None = None, mismatch: str = "sample", sensor_seed: int = 0) -> None:
        for name, v in (("rate_hz", rate_hz), ("theta", theta), ("gain", gain)):
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be positive, got {v!r}")
        if int(scale) != scale or scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale!r}")
        if not (math.isfinite(dark_current) and dark_current >= 0):
            raise ValueError(f"dark_current must be a non-negative charge per tick, got {dark_current!r}")
        if int(max_per_tick) != max_per_tick or not 1 <= max_per_tick <= 255:
            raise ValueError(f"max_per_tick must be an integer in [1, 255], got {max_per_tick!r}")
        for name, v in (("theta_sigma", theta_sigma), ("gain_sigma", gain_sigma), ("dark_sigma", dark_sigma),
                        ("read_noise", read_noise)):
            if isinstance(v, bool) or not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {v!r}")
        if photons is not None and (isinstance(photons, bool) or not (math.isfinite(photons) and photons > 0)):
            raise ValueError(f"photons must be a positive number of electrons or None, got {photons!r}")
        if mismatch not in ("sample", "sensor"):
            raise ValueError(f"mismatch must be 'sample' or 'sensor', got {mismatch!r}")
        if isinstance(sensor_seed, bool) or int(sensor_seed) != sensor_seed or sensor_seed < 0:
            raise ValueError(f"sensor_seed must be a non-negative integer, got {sensor_seed!r}")
        self.theta_sigma, self.gain_sigma, self.dark_sigma = float(theta_sigma), float(gain_sigma), float(dark_sigma)
        self.read_noise = float(read_noise)
        self.photons = None if photons is None else float(photons)
        self.mismatch, self.sensor_seed = mismatch, int(sensor_seed)
        self.rate_hz, self.theta, self.gain = float(rate_hz), float(theta), float(gain)
        self.scale, self.random_init = int(scale), bool(random_init)
        self.dark_current, self.max_per_tick = float(dark_current), int(max_per_tick)

    def noise_settings(self) -> dict:
        return {k: getattr(self, k) for k in SPIKE_NOISE_DEFAULTS}

    def describe(self) -> dict:
        out = {"rate_hz": self.rate_hz, "theta": self.theta, "gain": self.gain, "scale": self.scale,
               "random_init": self.random_init, "dark_current": self.dark_current,
               "max_per_tick": self.max_per_tick}
        # only the noise settings that differ from the default: the default camera's description stays as it was
        out.update({k: v for k, v in self.noise_settings().items() if v != SPIKE_NOISE_DEFAULTS[k]})
        return out

    @property
    def pixel_noise(self) -> bool:
        """Whether any of the SpikingSIM / SCSim noise sources is on."""
        return bool(self.theta_sigma or self.gain_sigma or self.dark_sigma or self.read_noise or self.photons)

    def pixel_pattern(self, height: int, width: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """Per-pixel ``(θ_i, g_i, dark_i)`` float32 ``(h, w)``: from ``rng`` or the sensor's fixed pattern."""
        def draw(what: str, sigma: float, nominal: float, low: float) -> np.ndarray:
            if sigma <= 0:
                return np.full((height, width), nominal, np.float32)
            src = sensor_rng(self.sensor_seed, height, width, what) if self.mismatch == "sensor" else rng
            return np.maximum(nominal * (1.0 + sigma * src.standard_normal((height, width))), low).astype(np.float32)

        return (draw("spike_theta", self.theta_sigma, self.theta, 0.05 * self.theta),
                draw("spike_gain", self.gain_sigma, self.gain, 0.0),
                draw("spike_dark", self.dark_sigma, self.dark_current, 0.0))

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
        if self.pixel_noise:
            return self._noisy(lum, lo, hi, frac, v, out, rng)
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

    def _noisy(self, lum: np.ndarray, lo: np.ndarray, hi: np.ndarray, frac: np.ndarray, v: np.ndarray,
               out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The tick loop with the sensor's mismatch, photon shot noise, dark-current spread and read noise."""
        extra = _child(rng)
        _, h, w = lum.shape
        theta, gain, dark = self.pixel_pattern(h, w, extra)
        v = v * (theta / np.float32(self.theta))  # the random start lies inside each pixel's own threshold
        cap = np.float32(self.max_per_tick)
        for i in range(out.shape[0]):
            a = frac[i]
            light = lum[lo[i]] if a == 0 else (1 - a) * lum[lo[i]] + a * lum[hi[i]]
            charge = gain * light
            if self.photons is not None:
                charge = (extra.poisson(np.maximum(charge, 0) * self.photons) / self.photons).astype(np.float32)
            v += charge
            if self.dark_current > 0:
                v += (dark * extra.exponential(1.0, size=(h, w))).astype(np.float32)
            if self.read_noise > 0:
                v += (self.read_noise * extra.standard_normal((h, w))).astype(np.float32)
            n = np.clip(np.floor(v / theta), 0, cap)
            v -= n * theta
            np.minimum(v, theta, out=v)
            out[i] = n
        return out
