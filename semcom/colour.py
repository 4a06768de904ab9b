"""The sRGB transfer curves (IEC 61966-2-1) on torch tensors, shared by sources, codecs and receivers."""

from __future__ import annotations

import torch

__all__ = ["srgb_to_linear", "linear_to_srgb"]


def srgb_to_linear(img: torch.Tensor) -> torch.Tensor:
    """The sRGB decoding curve (IEC 61966-2-1): values in [0, 1] -> linear light in [0, 1]."""
    img = img.clamp(0.0, 1.0)
    return torch.where(img <= 0.04045, img / 12.92, ((img + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(img: torch.Tensor) -> torch.Tensor:
    """The sRGB encoding curve; inputs are clamped to [0, 1] first."""
    img = img.clamp(0.0, 1.0)
    return torch.where(img <= 0.0031308, img * 12.92, 1.055 * img.clamp_min(0.0031308) ** (1.0 / 2.4) - 0.055)
