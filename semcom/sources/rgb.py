"""RGB camera: the blurry frame is the average of the latent frames in linear light.

Follows EV-JSCC Eq. 3 (and the GoPro protocol of Nah et al., CVPR 2017): over the exposure
``T`` the sensor integrates the latent sharp frames, ``y = (1/T) ∫ L(t) dt``, here the mean of
the ``K`` latent frames (midpoint rule).  The mean is taken in linear light, then optional
photon shot noise (Poisson in electrons) and read noise (Gaussian) are added, the sRGB curve
is applied and the result is quantized to ``bits`` bits.  The sharp target is the middle latent
frame through the same curve and quantization, without noise.
"""

from __future__ import annotations

import math

import numpy as np

from semcom.colour import linear_to_srgb_np

__all__ = ["RGBCamera", "quantize", "to_float"]


def quantize(img: np.ndarray, bits: int = 8) -> np.ndarray:
    """Round values in [0, 1] to ``bits``-bit codes (uint8 up to 8 bits, else uint16)."""
    levels = (1 << bits) - 1
    codes = np.rint(np.clip(img, 0.0, 1.0) * levels)
    return codes.astype(np.uint8 if bits <= 8 else np.uint16)


def to_float(codes: np.ndarray) -> np.ndarray:
    """Integer codes back to float32 in [0, 1] (the inverse of :func:`quantize`, up to rounding)."""
    levels = 255.0 if codes.dtype == np.uint8 else 65535.0
    return codes.astype(np.float32) / np.float32(levels)


class RGBCamera:
    """A frame camera with exposure ``T``: blur by averaging, optional noise, sRGB, quantization.

    Follows EV-JSCC Eq. 3: ``y = (1/T) ∫_{f - T/2}^{f + T/2} L(t) dt``.

    Args:
        full_well: electrons collected at linear white; photon shot noise is Poisson in
            electrons.  ``None``: no shot noise.
        read_noise: standard deviation of the Gaussian read noise, in linear units of white
            (``0``: none).
        bits: quantization depth of the output codes (8: uint8; 9 to 16: uint16).

    Shape:
        :meth:`expose` takes latent frames ``(K, 3, H, W)`` float32 in linear light and
        returns ``(3, H, W)`` codes; :meth:`sharp` takes one ``(3, H, W)`` frame.

    Example:
        >>> cam = RGBCamera()
        >>> frames = np.full((5, 3, 4, 4), 0.2, np.float32)
        >>> int(cam.expose(frames, np.random.default_rng(0))[0, 0, 0])
        124
    """

    def __init__(self, *, full_well: float | None = None, read_noise: float = 0.0, bits: int = 8) -> None:
        if full_well is not None and not (math.isfinite(full_well) and full_well > 0):
            raise ValueError(f"full_well must be a positive number of electrons or None, got {full_well!r}")
        if not (math.isfinite(read_noise) and read_noise >= 0):
            raise ValueError(f"read_noise must be a non-negative number, got {read_noise!r}")
        if int(bits) != bits or not 1 <= bits <= 16:
            raise ValueError(f"bits must be an integer in [1, 16], got {bits!r}")
        self.full_well = None if full_well is None else float(full_well)
        self.read_noise = float(read_noise)
        self.bits = int(bits)

    def describe(self) -> dict:
        return {"full_well": self.full_well, "read_noise": self.read_noise, "bits": self.bits}

    def integrate(self, frames: np.ndarray) -> np.ndarray:
        """The noiseless linear-light average ``(C, H, W)`` float32 of ``(K, C, H, W)`` frames."""
        frames = np.asarray(frames)
        if frames.ndim != 4:
            raise ValueError(f"latent frames must be (K, C, H, W), got shape {frames.shape}")
        return frames.mean(axis=0, dtype=np.float64).astype(np.float32)

    def expose(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The blurry frame: average, noise, sRGB curve, quantization."""
        lin = self.integrate(frames)
        if self.full_well is not None:
            lin = (rng.poisson(np.clip(lin, 0.0, None) * self.full_well) / self.full_well).astype(np.float32)
        if self.read_noise > 0:
            lin = lin + rng.normal(0.0, self.read_noise, size=lin.shape).astype(np.float32)
        return quantize(linear_to_srgb_np(lin), self.bits)

    def sharp(self, frame: np.ndarray) -> np.ndarray:
        """The target: one latent frame through the sRGB curve and quantization (no noise)."""
        return quantize(linear_to_srgb_np(frame), self.bits)
