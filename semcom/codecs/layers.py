"""Building blocks shared by the learned codecs (DeepJSCC, DeepJSCC-Deblur, EV-JSCC).

* :class:`GDN` — generalized divisive normalization (Ballé, Laparra & Simoncelli, ICLR 2017)
  and its inverse, the normalization used by ADJSCC-style JSCC encoders and decoders.
* :class:`AFModule` — the attention-feature module of ADJSCC (Xu, Ai, Chen, Gündüz, IEEE TCSVT
  2022): channel-wise gates computed from globally pooled features and the SNR, so one network
  serves a range of SNRs.
* :class:`DownBlock` / :class:`UpBlock` — strided (transposed) convolution + (inverse) GDN + PReLU.
* :func:`reals_to_symbols` / :func:`symbols_to_reals` — map a real latent to complex channel
  symbols and back, with truncation to a channel-use budget.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["GDN", "AFModule", "DownBlock", "UpBlock", "reals_to_symbols", "symbols_to_reals"]


class GDN(nn.Module):
    """Generalized divisive normalization ``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)``.

    The inverse (``inverse=True``) multiplies by the same square root instead (IGDN), as in
    the decoders of learned image codecs.  ``beta`` and ``gamma`` are kept non-negative by
    storing their square roots; ``beta`` has a floor so the division is always defined.

    Args:
        channels: number of feature channels ``C``.
        inverse: IGDN instead of GDN.
        beta_min: floor of ``beta``.
        gamma_init: initial diagonal of ``gamma``.

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(self, channels: int, *, inverse: bool = False, beta_min: float = 1e-6,
                 gamma_init: float = 0.1) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"GDN needs at least one channel, got {channels}")
        self.inverse = bool(inverse)
        self.beta_min = float(beta_min)
        self.beta_root = nn.Parameter(torch.ones(channels))
        self.gamma_root = nn.Parameter(torch.eye(channels) * gamma_init ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        # always in float32, also under bf16 autocast: the squares and the division lose too much otherwise
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            beta = self.beta_root.float().square() + self.beta_min
            gamma = self.gamma_root.float().square().reshape(c, c, 1, 1)
            norm = torch.sqrt(F.conv2d(x.square(), gamma, beta))
            return x * norm if self.inverse else x / norm


class AFModule(nn.Module):
    """ADJSCC attention feature module: gate each channel by a function of (pooled features, SNR).

    ``s = sigmoid(W2 relu(W1 [mean_hw(x), snr / snr_scale]))``, ``y = x * s``.

    Args:
        channels: feature channels ``C``.
        hidden: width of the hidden layer (default ``max(C // 2, 8)``).
        snr_scale: the SNR in dB is divided by this before entering the network.

    Shape:
        x: ``(B, C, H, W)``; snr_db: ``(B,)`` -> ``(B, C, H, W)``.
    """

    def __init__(self, channels: int, *, hidden: int | None = None, snr_scale: float = 20.0) -> None:
        super().__init__()
        hidden = hidden or max(channels // 2, 8)
        self.snr_scale = float(snr_scale)
        self.fc1 = nn.Linear(channels + 1, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3))
        snr = (snr_db.to(x.dtype).reshape(-1, 1) / self.snr_scale).expand(x.shape[0], 1)
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(torch.cat([pooled, snr], dim=1)))))
        return x * gate[:, :, None, None]


class DownBlock(nn.Module):
    """Convolution (stride 1 or 2) -> GDN (optional) -> PReLU.

    Args:
        cin, cout: channels in and out.
        kernel: odd kernel size.
        stride: 1 or 2 (halves H and W; inputs must have even size).
        gdn: apply GDN after the convolution.
        act: apply PReLU at the end.

    Shape:
        ``(B, cin, H, W)`` -> ``(B, cout, H / stride, W / stride)``.
    """

    def __init__(self, cin: int, cout: int, *, kernel: int = 3, stride: int = 1, gdn: bool = True,
                 act: bool = True) -> None:
        super().__init__()
        if kernel % 2 != 1 or stride not in (1, 2):
            raise ValueError(f"kernel must be odd and stride 1 or 2, got kernel={kernel}, stride={stride}")
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)
        self.norm = GDN(cout) if gdn else nn.Identity()
        self.act = nn.PReLU(cout) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class UpBlock(nn.Module):
    """Transposed convolution (stride 1 or 2) -> inverse GDN (optional) -> PReLU.

    Args:
        cin, cout: channels in and out.
        kernel: odd kernel size.
        stride: 1 or 2 (doubles H and W exactly).
        gdn: apply IGDN after the convolution.
        act: apply PReLU at the end.

    Shape:
        ``(B, cin, H, W)`` -> ``(B, cout, H * stride, W * stride)``.
    """

    def __init__(self, cin: int, cout: int, *, kernel: int = 3, stride: int = 1, gdn: bool = True,
                 act: bool = True) -> None:
        super().__init__()
        if kernel % 2 != 1 or stride not in (1, 2):
            raise ValueError(f"kernel must be odd and stride 1 or 2, got kernel={kernel}, stride={stride}")
        self.conv = nn.ConvTranspose2d(cin, cout, kernel, stride=stride, padding=kernel // 2,
                                       output_padding=stride - 1)
        self.norm = GDN(cout, inverse=True) if gdn else nn.Identity()
        self.act = nn.PReLU(cout) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


def reals_to_symbols(z: torch.Tensor, n: int) -> torch.Tensor:
    """Pair the channels of a real latent into complex symbols and keep the first ``n``.

    Channel ``c`` (real part) is paired with channel ``c + C/2`` (imaginary part); the complex
    planes are then read channel by channel, row by row, and only the first ``n`` symbols are
    kept (what does not fit in the channel-use budget is not sent).

    Shape:
        z: ``(B, C, h, w)`` float with ``C`` even -> ``(B, n)`` complex64, ``n <= C/2 * h * w``.
    """
    b, c, h, w = z.shape
    if c % 2:
        raise ValueError(f"the latent needs an even number of channels, got {c}")
    half = c // 2
    if not 0 < n <= half * h * w:
        raise ValueError(f"cannot send {n} symbols from a latent holding {half * h * w}")
    z = z.float()
    sym = torch.complex(z[:, :half], z[:, half:]).reshape(b, half * h * w)
    return sym[:, :n]


def symbols_to_reals(sym: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Inverse of :func:`reals_to_symbols`: zeros stand in for the symbols that were not sent.

    Shape:
        sym: ``(B, n)`` complex; shape: ``(C, h, w)`` -> ``(B, C, h, w)`` float32.
    """
    c, h, w = shape
    b, n = sym.shape
    half = c // 2
    full = half * h * w
    if n < full:
        sym = torch.cat([sym, sym.new_zeros(b, full - n)], dim=1)
    planes = sym.reshape(b, half, h, w)
    return torch.cat([planes.real, planes.imag], dim=1).float()
