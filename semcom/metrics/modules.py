"""Image quality metrics as registered ``nn.Module``s (registry ``METRICS``).

Each metric declares ``name``, ``higher_is_better`` and ``unit`` (plots and result files
use them) and maps ``forward(pred, target)`` with images ``(B, 3, H, W)`` float in [0, 1] to
one value per image, a float64 tensor ``[B]``.

Example:
    >>> import torch
    >>> from semcom.registry import METRICS
    >>> metric = METRICS.build("ssim")
    >>> x = torch.rand(2, 3, 32, 32)
    >>> metric(x, x).tolist(), metric.higher_is_better
    ([1.0, 1.0], True)
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from semcom.errors import SemcomError
from semcom.metrics import functional as MF
from semcom.metrics.vgg import (
    VGG16_ENV,
    VGG16_FILENAME,
    VGG16_POOL_INDICES,
    L2Pool2d,
    VGG16Features,
    find_vgg16_weights,
    load_vgg16_features,
    torch_hub_checkpoints_dir,
)
from semcom.registry import METRICS

__all__ = ["Metric", "MetricUnavailable", "PSNR", "SSIM", "MSSSIM", "DISTS", "dists_alpha_beta_path"]


class MetricUnavailable(SemcomError):
    """A metric cannot be built on this machine (for example its pretrained weights are missing).

    The message is one line that says how to enable the metric; sweeps may skip the metric
    and report that line.
    """


class Metric(nn.Module):
    """Base class of registered metrics.

    Class attributes:
        name: registry name (kebab-case).
        higher_is_better: ``True`` when a larger value means a better reconstruction.
        unit: unit of the value for axis labels (``"dB"`` or ``""``).
    """

    name: str = ""
    higher_is_better: bool = True
    unit: str = ""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


def _positive(value: float, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{owner}: {name} must be a positive number, got {value!r}")
    return float(value)


@METRICS.register("psnr", help="peak signal-to-noise ratio in dB (higher is better)")
class PSNR(Metric):
    """Peak signal-to-noise ratio in dB; identical images give ``+inf``.

    See :func:`semcom.metrics.functional.psnr`.

    Args:
        data_range: peak-to-peak range of the pixel values (1 for images in [0, 1]).

    Shape:
        pred, target: ``(B, C, H, W)`` float -> ``[B]`` float64.
    """

    higher_is_better = True
    unit = "dB"

    def __init__(self, *, data_range: float = 1.0) -> None:
        super().__init__()
        self.data_range = _positive(data_range, "data_range", "PSNR")

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return MF.psnr(pred, target, data_range=self.data_range)

    def extra_repr(self) -> str:
        return f"data_range={self.data_range}"


@METRICS.register("ssim", help="structural similarity, Gaussian window 11 / sigma 1.5 (higher is better)")
class SSIM(Metric):
    """Mean structural similarity (Wang et al., TIP 2004), Gaussian window, per channel.

    See :func:`semcom.metrics.functional.ssim`; matches scikit-image's
    ``structural_similarity(gaussian_weights=True, use_sample_covariance=False)``.

    Args:
        data_range: peak-to-peak range of the pixel values.
        win_size: side of the Gaussian window (odd).
        sigma: standard deviation of the Gaussian window, in pixels.

    Shape:
        pred, target: ``(B, C, H, W)`` float, ``H, W >= win_size`` -> ``[B]`` float64.
    """

    higher_is_better = True
    unit = ""

    def __init__(self, *, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5) -> None:
        super().__init__()
        self.data_range = _positive(data_range, "data_range", "SSIM")
        self.sigma = _positive(sigma, "sigma", "SSIM")
        if isinstance(win_size, bool) or not isinstance(win_size, int) or win_size < 3 or win_size % 2 == 0:
            raise ValueError(f"SSIM: win_size must be an odd int >= 3, got {win_size!r}")
        self.win_size = win_size

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return MF.ssim(pred, target, data_range=self.data_range, win_size=self.win_size, sigma=self.sigma)

    def extra_repr(self) -> str:
        return f"data_range={self.data_range}, win_size={self.win_size}, sigma={self.sigma}"


@METRICS.register("ms-ssim", help="multi-scale SSIM, 5 scales (higher is better)")
class MSSSIM(Metric):
    """Multi-scale SSIM (Wang, Simoncelli & Bovik 2003), five scales by default.

    See :func:`semcom.metrics.functional.ms_ssim`.  With the defaults the images must be at
    least 176 pixels on each side.

    Args:
        data_range: peak-to-peak range of the pixel values.
        win_size: side of the Gaussian window (odd).
        sigma: standard deviation of the Gaussian window, in pixels.
        weights: exponent of each scale, finest first.

    Shape:
        pred, target: ``(B, C, H, W)`` float -> ``[B]`` float64.
    """

    higher_is_better = True
    unit = ""

    def __init__(self, *, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5,
                 weights: Sequence[float] = MF.MS_SSIM_WEIGHTS) -> None:
        super().__init__()
        self.data_range = _positive(data_range, "data_range", "MSSSIM")
        self.sigma = _positive(sigma, "sigma", "MSSSIM")
        if isinstance(win_size, bool) or not isinstance(win_size, int) or win_size < 3 or win_size % 2 == 0:
            raise ValueError(f"MSSSIM: win_size must be an odd int >= 3, got {win_size!r}")
        self.win_size = win_size
        weights = tuple(weights)
        if not weights or any(isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 for w in weights):
            raise ValueError(f"MSSSIM: weights must be a non-empty sequence of non-negative numbers, got {weights!r}")
        self.weights = tuple(float(w) for w in weights)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return MF.ms_ssim(pred, target, data_range=self.data_range, win_size=self.win_size,
                          sigma=self.sigma, weights=self.weights)

    def extra_repr(self) -> str:
        return f"data_range={self.data_range}, win_size={self.win_size}, sigma={self.sigma}, levels={len(self.weights)}"


def dists_alpha_beta_path() -> Path | None:
    """Path of the authors' learned DISTS weights ``weights.pt`` in the installed ``DISTS_pytorch``.

    Found with ``importlib`` without importing the package (its module imports torchvision).
    Returns ``None`` when the package or the file is absent.
    """
    spec = importlib.util.find_spec("DISTS_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "weights.pt"
        if candidate.is_file():
            return candidate
    return None


def _load_alpha_beta(path: str | os.PathLike[str] | None, total: int) -> tuple[torch.Tensor, torch.Tensor]:
    if path is None:
        found = dists_alpha_beta_path()
        if found is None:
            raise MetricUnavailable("DISTS unavailable: its learned alpha/beta weights were not found; "
                                    "pip install DISTS-pytorch (ships weights.pt) or pass dists_weights=PATH")
        path = found
    path = Path(path).expanduser()
    if not path.is_file():
        raise MetricUnavailable(f"DISTS unavailable: alpha/beta weights file {path} not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        alpha, beta = state["alpha"], state["beta"]
    except Exception as exc:  # noqa: BLE001
        raise SemcomError(f"cannot read DISTS alpha/beta weights {path}: {type(exc).__name__}: {exc}") from None
    if alpha.numel() != total or beta.numel() != total:
        raise SemcomError(f"DISTS weights {path} hold {alpha.numel()}/{beta.numel()} values, expected {total}")
    return alpha.detach().to(torch.float32).flatten().clone(), beta.detach().to(torch.float32).flatten().clone()


@METRICS.register("dists", help="deep image structure and texture similarity, VGG16 (lower is better)")
class DISTS(Metric):
    """DISTS perceptual distance (Ding et al., TPAMI 2020); lower is better, 0 for identical images.

    The input (stage 0) and five stages of an ImageNet VGG16 (outputs of relu1_2, relu2_2,
    relu3_3, relu4_3, relu5_3), with every max pooling replaced by :class:`L2Pool2d` and the
    input normalized with the ImageNet mean and standard deviation, are compared channel
    by channel with the authors' learned weights (``weights.pt`` shipped in the
    ``DISTS_pytorch`` package).  See :func:`semcom.metrics.functional.dists`.

    VGG16 weights are looked up (never downloaded) in this order: ``weights=PATH``, the
    environment variable ``SEMCOM_VGG16_WEIGHTS``, then torchvision's cache
    ``$TORCH_HOME/hub/checkpoints/vgg16-397923af.pth``.

    On CUDA, cuDNN's default TF32 convolutions shift the value by about 1e-5 from the CPU
    one; set ``torch.backends.cudnn.allow_tf32 = False`` where that matters (measured on an
    H100: 1.2e-5 with TF32, 1.2e-8 without).

    Args:
        weights: path of a torchvision-style VGG16 state dict (``classifier.*`` ignored).
        backbone: ``"vgg16"`` (ImageNet weights, required for meaningful numbers) or
            ``"random"`` — a VGG16 with seeded random weights, FOR TESTS ONLY: its values are
            not DISTS and must never be reported.
        seed: seed of the random backbone (only with ``backbone="random"``).
        dists_weights: path of the alpha/beta file (default: the one in ``DISTS_pytorch``).

    Raises:
        MetricUnavailable: the VGG16 or alpha/beta weights cannot be found (one-line message).

    Shape:
        pred, target: ``(B, 3, H, W)`` float in [0, 1] -> ``[B]`` float64.
    """

    higher_is_better = False
    unit = ""

    #: Channels of the six compared stages: the RGB input and the five VGG16 stages.
    STAGE_CHANNELS: tuple[int, ...] = (3, 64, 128, 256, 512, 512)
    # Last layer (a ReLU) of each VGG16 stage inside ``features``.
    _STAGE_ENDS: tuple[int, ...] = (3, 8, 15, 22, 29)

    def __init__(self, *, weights: str | os.PathLike[str] | None = None, backbone: str = "vgg16",
                 seed: int = 0, dists_weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        if backbone not in ("vgg16", "random"):
            raise ValueError(f"DISTS: backbone must be 'vgg16' or 'random' (tests only), got {backbone!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"DISTS: seed must be an int, got {seed!r}")
        if backbone == "random":
            if weights is not None:
                raise ValueError("DISTS: weights= only applies to backbone='vgg16'")
            vgg = VGG16Features(seed=seed)
        else:
            path, _tried = find_vgg16_weights(weights)
            if path is None:
                if weights is not None:
                    raise MetricUnavailable(f"DISTS unavailable: VGG16 weights file {Path(weights).expanduser()} "
                                            "not found")
                env = os.environ.get(VGG16_ENV)
                bad_env = f" ({VGG16_ENV}={env} is not a file)" if env else ""
                raise MetricUnavailable(
                    f"DISTS unavailable: no VGG16 ImageNet weights found{bad_env}; put torchvision's "
                    f"{VGG16_FILENAME} in {torch_hub_checkpoints_dir()}/ or set {VGG16_ENV}=/path/to/file.pth"
                )
            vgg = load_vgg16_features(path)
        self.backbone_kind = backbone
        alpha, beta = _load_alpha_beta(dists_weights, sum(self.STAGE_CHANNELS))
        self.vgg = vgg
        self.pools = nn.ModuleDict({str(i): L2Pool2d(channels=c)
                                    for i, c in zip(VGG16_POOL_INDICES[:4], self.STAGE_CHANNELS[1:5])})
        self.register_buffer("alpha", alpha)
        self.register_buffer("beta", beta)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The six compared representations: ``x`` itself and the five VGG16 stage outputs.

        Shape:
            ``(B, 3, H, W)`` -> list of ``(B, C_k, H_k, W_k)`` with ``C_k`` in :attr:`STAGE_CHANNELS`.
        """
        h = (x.to(self.mean.dtype) - self.mean) / self.std
        out = [x]
        for idx in range(self._STAGE_ENDS[-1] + 1):
            key = str(idx)
            h = self.pools[key](h) if key in self.pools else self.vgg.features[idx](h)
            if idx in self._STAGE_ENDS:
                out.append(h)
        return out

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return MF.dists(pred, target, model=self)

    def extra_repr(self) -> str:
        return f"backbone={self.backbone_kind!r}"
