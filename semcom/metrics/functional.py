"""Full-reference image quality metrics as plain functions: PSNR, SSIM, MS-SSIM, DISTS.

Every function takes a prediction and a target of the same shape ``(B, C, H, W)`` (images
are float32 in [0, 1] with ``C = 3`` by the project convention) and returns one value per
image, a float64 tensor ``[B]`` on the input device.  The arithmetic runs in float64 so that
the numbers match scikit-image, the reference the tests compare with, to well below 1e-3.

The functions are differentiable but do not switch gradients off themselves; wrap
evaluation code in ``torch.no_grad()``.

Example:
    >>> import torch
    >>> x = torch.rand(2, 3, 32, 32)
    >>> psnr(x, x)
    tensor([inf, inf], dtype=torch.float64)
    >>> ssim(x, x)
    tensor([1., 1.], dtype=torch.float64)
"""

from __future__ import annotations

import math
from typing import Protocol, Sequence

import torch
import torch.nn.functional as F

__all__ = ["psnr", "ssim", "ms_ssim", "dists", "MS_SSIM_WEIGHTS", "DistsModel"]

#: Scale weights of MS-SSIM (Wang, Simoncelli & Bovik 2003, Sec. 3.2), finest scale first.
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _check_pair(pred: torch.Tensor, target: torch.Tensor, what: str, *, channels: int | None = None) -> None:
    if not isinstance(pred, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise ValueError(f"{what}: pred and target must be tensors")
    if pred.ndim != 4:
        raise ValueError(f"{what}: expected images of shape (B, C, H, W), got {tuple(pred.shape)}")
    if pred.shape != target.shape:
        raise ValueError(f"{what}: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if not (pred.is_floating_point() and target.is_floating_point()):
        raise ValueError(f"{what}: expected floating-point images, got {pred.dtype} and {target.dtype}")
    if channels is not None and pred.shape[1] != channels:
        raise ValueError(f"{what}: expected {channels} channels, got {pred.shape[1]}")


def _check_positive(value: float, name: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what}: {name} must be a positive number, got {value!r}")
    return float(value)


def psnr(pred: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, one value per image.

    ``10 log10(data_range^2 / MSE)`` with the mean squared error taken over all channels and
    pixels of an image (as ``skimage.metrics.peak_signal_noise_ratio``).  Identical images
    have MSE 0 and give ``+inf``; callers that average PSNR over a set should decide how to
    treat it (the value is kept honest rather than clipped).

    Args:
        pred: reconstructed images.
        target: reference images.
        data_range: peak-to-peak range of the pixel values (1 for images in [0, 1]).

    Shape:
        pred, target: ``(B, C, H, W)`` float -> ``[B]`` float64.
    """
    _check_pair(pred, target, "psnr")
    peak = _check_positive(data_range, "data_range", "psnr")
    diff = pred.to(torch.float64) - target.to(torch.float64)
    mse = diff.square().flatten(1).mean(dim=1)
    return 10.0 * torch.log10(peak * peak / mse)


def _gaussian_taps(win_size: int, sigma: float, device: torch.device) -> torch.Tensor:
    offsets = torch.arange(win_size, dtype=torch.float64, device=device) - (win_size - 1) / 2.0
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return taps / taps.sum()


def _blur_valid(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter of each channel, keeping only fully covered positions."""
    ch = x.shape[1]
    k = taps.numel()
    x = F.conv2d(x, taps.view(1, 1, k, 1).expand(ch, 1, k, 1), groups=ch)
    return F.conv2d(x, taps.view(1, 1, 1, k).expand(ch, 1, 1, k), groups=ch)


def _ssim_maps(x: torch.Tensor, y: torch.Tensor, taps: torch.Tensor, c1: float, c2: float
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Luminance and contrast-structure maps of SSIM (population covariances).

    ``x, y``: ``(B, C, H, W)`` float32 or float64 -> two maps ``(B, C, H - k + 1, W - k + 1)``.
    """
    ch = x.shape[1]
    stats = _blur_valid(torch.cat([x, y, x * x, y * y, x * y], dim=1), taps)
    mu_x, mu_y, e_xx, e_yy, e_xy = stats.split(ch, dim=1)
    var_x = e_xx - mu_x * mu_x
    var_y = e_yy - mu_y * mu_y
    cov = e_xy - mu_x * mu_y
    luminance = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    contrast_structure = (2.0 * cov + c2) / (var_x + var_y + c2)
    return luminance, contrast_structure


def _check_window(win_size: int, sigma: float, k1: float, k2: float, what: str) -> None:
    if isinstance(win_size, bool) or not isinstance(win_size, int) or win_size < 3 or win_size % 2 == 0:
        raise ValueError(f"{what}: win_size must be an odd int >= 3, got {win_size!r}")
    _check_positive(sigma, "sigma", what)
    _check_positive(k1, "k1", what)
    _check_positive(k2, "k2", what)


def ssim(pred: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0, win_size: int = 11,
         sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Structural similarity index (mean SSIM), one value per image.

    Follows Wang, Bovik, Sheikh & Simoncelli, "Image Quality Assessment: From Error
    Visibility to Structural Similarity" (TIP 2004): local statistics under a normalized
    Gaussian window (``win_size`` taps, standard deviation ``sigma``), population
    (biased) variances, ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``.  The SSIM map is averaged over
    the positions where the window lies fully inside the image, per channel, and the
    channel means are averaged.  With the defaults this equals
    ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1, channel_axis=...)``.

    Args:
        pred: reconstructed images.
        target: reference images.
        data_range: peak-to-peak range ``L`` of the pixel values.
        win_size: side of the square Gaussian window (odd, at most ``min(H, W)``).
        sigma: standard deviation of the Gaussian window, in pixels.
        k1, k2: stabilizing constants.

    Shape:
        pred, target: ``(B, C, H, W)`` float -> ``[B]`` float64.
    """
    _check_pair(pred, target, "ssim")
    peak = _check_positive(data_range, "data_range", "ssim")
    _check_window(win_size, sigma, k1, k2, "ssim")
    if min(pred.shape[-2:]) < win_size:
        raise ValueError(f"ssim: images of size {tuple(pred.shape[-2:])} are smaller than win_size={win_size}")
    taps = _gaussian_taps(win_size, float(sigma), pred.device)
    # float32 inputs are filtered in float32 (grouped convolutions are ~9x faster than in
    # float64 on a CPU; the error stays below 1e-5); float64 inputs stay in float64.
    work = torch.promote_types(pred.dtype, torch.float32)
    lum, cs = _ssim_maps(pred.to(work), target.to(work), taps.to(work),
                         (k1 * peak) ** 2, (k2 * peak) ** 2)
    return (lum * cs).to(torch.float64).flatten(1).mean(dim=1)


def ms_ssim(pred: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0, win_size: int = 11,
            sigma: float = 1.5, weights: Sequence[float] = MS_SSIM_WEIGHTS, k1: float = 0.01,
            k2: float = 0.03) -> torch.Tensor:
    """Multi-scale SSIM, one value per image.

    Follows Wang, Simoncelli & Bovik, "Multiscale Structural Similarity for Image Quality
    Assessment" (Asilomar 2003): at each of ``len(weights)`` scales the mean
    contrast-structure term is taken (full SSIM at the coarsest scale), the images are then
    halved by 2x2 average pooling (an odd last row/column is dropped), and the terms are
    combined as ``prod_j term_j ** weights[j]``.  Each term is clipped at 0 before the
    power (negative correlations would otherwise give NaN).  Computed per channel, then
    averaged over channels.  With ``weights=(1.0,)`` it equals :func:`ssim`.

    Args:
        pred: reconstructed images.
        target: reference images.
        data_range: peak-to-peak range ``L`` of the pixel values.
        win_size: side of the Gaussian window (odd).
        sigma: standard deviation of the Gaussian window, in pixels.
        weights: exponent of each scale, finest first (default: the five of the paper).
        k1, k2: stabilizing constants.

    Shape:
        pred, target: ``(B, C, H, W)`` float with ``min(H, W) >= win_size * 2**(len(weights) - 1)``
        -> ``[B]`` float64.
    """
    _check_pair(pred, target, "ms_ssim")
    peak = _check_positive(data_range, "data_range", "ms_ssim")
    _check_window(win_size, sigma, k1, k2, "ms_ssim")
    weights = tuple(weights)
    if not weights or any(isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 for w in weights):
        raise ValueError(f"ms_ssim: weights must be a non-empty sequence of non-negative numbers, got {weights!r}")
    levels = len(weights)
    need = win_size * 2 ** (levels - 1)
    if min(pred.shape[-2:]) < need:
        raise ValueError(f"ms_ssim: images of size {tuple(pred.shape[-2:])} are too small for {levels} scales "
                         f"with win_size={win_size} (need at least {need} pixels per side)")
    taps = _gaussian_taps(win_size, float(sigma), pred.device)
    c1, c2 = (k1 * peak) ** 2, (k2 * peak) ** 2
    x, y = pred.to(torch.float64), target.to(torch.float64)
    score = torch.ones(pred.shape[:2], dtype=torch.float64, device=pred.device)
    for level, weight in enumerate(weights):
        lum, cs = _ssim_maps(x, y, taps, c1, c2)
        term = (lum * cs) if level == levels - 1 else cs
        score = score * term.mean(dim=(-2, -1)).clamp_min(0.0) ** float(weight)
        if level < levels - 1:
            x = F.avg_pool2d(x, kernel_size=2, stride=2)
            y = F.avg_pool2d(y, kernel_size=2, stride=2)
    return score.mean(dim=1)


class DistsModel(Protocol):
    """What :func:`dists` needs from its ``model`` (:class:`semcom.metrics.DISTS` provides it).

    ``stages(x)`` maps ``(B, 3, H, W)`` images in [0, 1] to a list of feature maps
    ``(B, C_k, H_k, W_k)`` (the input itself first); ``alpha`` and ``beta`` are 1-D tensors
    of length ``sum(C_k)`` weighting the structure and texture terms of each channel.
    """

    alpha: torch.Tensor
    beta: torch.Tensor

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]: ...


def dists(pred: torch.Tensor, target: torch.Tensor, *, model: DistsModel) -> torch.Tensor:
    """Deep Image Structure and Texture Similarity (DISTS), one value per image; lower is better.

    Follows Ding, Ma, Wang & Simoncelli, "Image Quality Assessment: Unifying Structure and
    Texture Similarity" (TPAMI 2020), Eq. (7)-(9): for every channel ``i`` of every stage
    ``j`` (the input and five VGG16 stages), the texture term compares global means
    ``(2 mx my + c1) / (mx^2 + my^2 + c1)`` and the structure term compares global
    (co)variances ``(2 cov_xy + c2) / (var_x + var_y + c2)``, ``c1 = c2 = 1e-6``; the
    distance is ``1 - sum(alpha * texture + beta * structure) / (sum(alpha) + sum(beta))``.
    DISTS(x, x) = 0.

    Args:
        pred: distorted images in [0, 1].
        target: reference images in [0, 1].
        model: the feature extractor and learned weights, normally a
            :class:`semcom.metrics.DISTS` module (see :class:`DistsModel`).

    Shape:
        pred, target: ``(B, 3, H, W)`` float -> ``[B]`` float64.
    """
    _check_pair(pred, target, "dists", channels=3)
    batch = pred.shape[0]
    feats = model.stages(torch.cat([pred, target], dim=0))
    alpha = model.alpha.to(torch.float64).flatten()
    beta = model.beta.to(torch.float64).flatten()
    widths = [int(f.shape[1]) for f in feats]
    if sum(widths) != alpha.numel() or alpha.shape != beta.shape:
        raise ValueError(f"dists: model gives {sum(widths)} feature channels but alpha/beta hold "
                         f"{alpha.numel()}/{beta.numel()} weights")
    c1 = c2 = 1e-6
    total = torch.zeros(batch, dtype=torch.float64, device=pred.device)
    for feat, a, b in zip(feats, alpha.split(widths), beta.split(widths)):
        fx, fy = feat.to(torch.float64).split(batch, dim=0)
        mx = fx.mean(dim=(2, 3))
        my = fy.mean(dim=(2, 3))
        var_x = (fx - mx[..., None, None]).square().mean(dim=(2, 3))
        var_y = (fy - my[..., None, None]).square().mean(dim=(2, 3))
        cov = (fx * fy).mean(dim=(2, 3)) - mx * my
        texture = (2.0 * mx * my + c1) / (mx * mx + my * my + c1)
        structure = (2.0 * cov + c2) / (var_x + var_y + c2)
        total = total + (texture * a).sum(dim=1) + (structure * b).sum(dim=1)
    return 1.0 - total / (alpha.sum() + beta.sum())
