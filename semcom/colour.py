"""The sRGB transfer curves (IEC 61966-2-1) on torch tensors and numpy arrays, shared by sources, codecs and
receivers."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["srgb_to_linear", "linear_to_srgb", "srgb_to_linear_np", "linear_to_srgb_np"]


def srgb_to_linear(img: torch.Tensor) -> torch.Tensor:
    """The sRGB decoding curve (IEC 61966-2-1): values in [0, 1] -> linear light in [0, 1]."""
    img = img.clamp(0.0, 1.0)
    return torch.where(img <= 0.04045, img / 12.92, ((img + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(img: torch.Tensor) -> torch.Tensor:
    """The sRGB encoding curve; inputs are clamped to [0, 1] first."""
    img = img.clamp(0.0, 1.0)
    return torch.where(img <= 0.0031308, img * 12.92, 1.055 * img.clamp_min(0.0031308) ** (1.0 / 2.4) - 0.055)


def srgb_to_linear_np(img: np.ndarray) -> np.ndarray:
    """The sRGB decoding curve (IEC 61966-2-1) on float values in [0, 1], float32 out."""
    x = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb_np(img: np.ndarray) -> np.ndarray:
    """The sRGB encoding curve on linear values (clamped to [0, 1] first), float32 out."""
    x = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92,
                    1.055 * np.maximum(x, 0.0031308) ** (1.0 / 2.4) - 0.055).astype(np.float32)
