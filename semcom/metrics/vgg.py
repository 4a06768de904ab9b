"""VGG16 convolutional trunk (torchvision layout) and its weight lookup, for DISTS.

torchvision cannot be imported beside the CPU build of torch used here, so this module
rebuilds the ``features`` part of torchvision's ``vgg16`` (configuration "D" of Simonyan &
Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", 2015) with
the same parameter names (``features.0.weight``, ``features.0.bias``, ``features.2.weight``,
...), so that torchvision's ImageNet state-dict file ``vgg16-397923af.pth`` loads into it
unchanged (its ``classifier.*`` entries are ignored).

Weight lookup order (:func:`find_vgg16_weights`): an explicit path, then the environment
variable ``SEMCOM_VGG16_WEIGHTS``, then torchvision's cache
``$TORCH_HOME/hub/checkpoints/vgg16-397923af.pth`` (``TORCH_HOME`` defaults to
``~/.cache/torch``).  Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from semcom.errors import SemcomError

__all__ = [
    "VGG16_FILENAME",
    "VGG16_CONV_INDICES",
    "VGG16_POOL_INDICES",
    "VGG16Features",
    "L2Pool2d",
    "find_vgg16_weights",
    "torch_hub_checkpoints_dir",
    "load_vgg16_features",
]

#: File name torchvision uses for its ImageNet VGG16 weights.
VGG16_FILENAME = "vgg16-397923af.pth"
#: Environment variable that points at a VGG16 state-dict file.
VGG16_ENV = "SEMCOM_VGG16_WEIGHTS"

# Output channels of the 13 convolutions of VGG16; "M" is a 2x2 max pooling.
_CONFIG_D: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)


def _layer_indices() -> tuple[tuple[int, ...], tuple[int, ...]]:
    convs, pools, idx = [], [], 0
    for item in _CONFIG_D:
        if item == "M":
            pools.append(idx)
            idx += 1
        else:
            convs.append(idx)
            idx += 2  # conv followed by ReLU
    return tuple(convs), tuple(pools)


# Positions of the convolutions in ``features`` (0, 2, 5, 7, 10, ..., 28) and of the max
# poolings (4, 9, 16, 23, 30).
VGG16_CONV_INDICES, VGG16_POOL_INDICES = _layer_indices()


class VGG16Features(nn.Module):
    """The convolutional part of VGG16, laid out exactly like torchvision's ``vgg16().features``.

    Follows Simonyan & Zisserman (2015), configuration D: thirteen 3x3 convolutions with
    padding 1, each followed by a ReLU, and five 2x2 max poolings; 31 layers in all, held in
    ``self.features`` (an ``nn.Sequential``), so state-dict keys read ``features.<i>.weight``.

    The weights start uninitialized-but-deterministic (see :meth:`randomize`); load real
    ones with :func:`load_vgg16_features` or ``load_state_dict``.

    Args:
        seed: seed of the random initialization (a ``torch.Generator`` on the CPU); a seeded
            random trunk is only meant for tests, never for reported numbers.

    Shape:
        input ``(B, 3, H, W)`` float32 (ImageNet-normalized) -> ``(B, 512, H/32, W/32)``.
    """

    def __init__(self, *, seed: int = 0) -> None:
        super().__init__()
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        layers: list[nn.Module] = []
        in_ch = 3
        for item in _CONFIG_D:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers.append(nn.Conv2d(in_ch, int(item), kernel_size=3, padding=1))
                layers.append(nn.ReLU(inplace=True))
                in_ch = int(item)
        self.features = nn.Sequential(*layers)
        self.randomize(seed)

    @torch.no_grad()
    def randomize(self, seed: int) -> None:
        """Draw He-normal (fan-in) weights and small normal biases from a seeded generator.

        Keeps activations of a ReLU network at a stable scale through all 13 layers, which
        makes a random trunk a meaningful test stand-in for the ImageNet one.
        """
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        for idx in VGG16_CONV_INDICES:
            conv = self.features[idx]
            fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
            w = torch.randn(conv.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5
            b = torch.randn(conv.bias.shape, generator=gen) * 0.01
            conv.weight.copy_(w.to(conv.weight))
            conv.bias.copy_(b.to(conv.bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class L2Pool2d(nn.Module):
    """Blur-then-subsample pooling in the L2 sense, used by DISTS instead of max pooling.

    Follows Ding et al., "Image Quality Assessment: Unifying Structure and Texture
    Similarity" (TPAMI 2020), Sec. 3.1 / their reference code: square the input, filter
    each channel with a normalized 3x3 Hann kernel (the inner taps ``[0.5, 1, 0.5]`` of a
    length-5 Hann window, outer product, divided by its sum), keep every second sample
    (padding 1), then take the square root (with ``1e-12`` added inside it).

    Args:
        channels: number of input channels (the filter is applied to each separately).

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, ceil(H/2), ceil(W/2))``.
    """

    def __init__(self, *, channels: int) -> None:
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive int, got {channels!r}")
        taps = torch.hann_window(5, periodic=False, dtype=torch.float64)[1:-1]
        kernel = torch.outer(taps, taps)
        kernel = (kernel / kernel.sum()).to(torch.float32)
        self.channels = channels
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        energy = F.conv2d(x * x, self.kernel.to(x.dtype), stride=2, padding=1, groups=self.channels)
        return torch.sqrt(energy + 1e-12)


def torch_hub_checkpoints_dir() -> Path:
    """torchvision's weight cache: ``$TORCH_HOME/hub/checkpoints`` (``TORCH_HOME`` defaults to
    ``$XDG_CACHE_HOME/torch``, then ``~/.cache/torch``)."""
    home = os.environ.get("TORCH_HOME")
    if home:
        return Path(home).expanduser() / "hub" / "checkpoints"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "torch" / "hub" / "checkpoints"


def find_vgg16_weights(weights: str | os.PathLike[str] | None = None) -> tuple[Path | None, list[str]]:
    """Locate a VGG16 state-dict file without downloading anything.

    Args:
        weights: an explicit path; when given, it is the only candidate.

    Returns:
        ``(path, tried)``: the first existing candidate (or ``None``) and the list of places
        looked at, in order, for error messages.
    """
    if weights is not None:
        candidates = [("weights=", Path(weights).expanduser())]
    else:
        candidates = []
        env = os.environ.get(VGG16_ENV)
        if env:
            candidates.append((f"${VGG16_ENV}", Path(env).expanduser()))
        candidates.append(("torch hub cache", torch_hub_checkpoints_dir() / VGG16_FILENAME))
    tried = []
    for label, path in candidates:
        tried.append(f"{label} {path}")
        if path.is_file():
            return path, tried
    return None, tried


def load_vgg16_features(path: str | os.PathLike[str]) -> VGG16Features:
    """Build a :class:`VGG16Features` and load a torchvision-style VGG16 state dict into it.

    Only the ``features.*`` entries are used (``classifier.*`` is ignored); every conv
    weight and bias must be present with torchvision's shapes.

    Raises:
        SemcomError: the file cannot be read or lacks / mis-shapes a ``features`` entry.
    """
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (any unreadable file is a user error)
        raise SemcomError(f"cannot read VGG16 weights {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict):
        raise SemcomError(f"VGG16 weights {path} hold a {type(state).__name__}, expected a state dict")
    model = VGG16Features()
    wanted = model.state_dict()
    picked = {k: v for k, v in state.items() if isinstance(k, str) and k.startswith("features.")}
    missing = sorted(set(wanted) - set(picked))
    unexpected = sorted(set(picked) - set(wanted))
    if missing or unexpected:
        raise SemcomError(
            f"VGG16 weights {path} do not match torchvision's vgg16 layout "
            f"(missing: {', '.join(missing) or 'none'}; unexpected: {', '.join(unexpected) or 'none'})"
        )
    for key, ref in wanted.items():
        if tuple(picked[key].shape) != tuple(ref.shape):
            raise SemcomError(
                f"VGG16 weights {path}: {key} has shape {tuple(picked[key].shape)}, expected {tuple(ref.shape)}"
            )
    model.load_state_dict({k: v.to(torch.float32) for k, v in picked.items()}, strict=True)
    return model
