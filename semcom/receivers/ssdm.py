"""Parts of S-SDM (self-supervised spike-guided deblurring, SpikeReveal Sec. 3.3 and supplement A.2):
the blind-spot denoiser of the spike frames (:class:`BlindSpotNet`), the EDSR-style upsampler of spike
frames (:class:`SpikeSR`), the teacher cascade (:class:`Cascade`: SDM on the denoised and upsampled
spike frames), the lightweight deblurring network (:class:`LDN`) and the reblur loss that lets it learn
without sharp frames (:func:`reblur_loss`); the back-end ``s-sdm`` runs the LDN.  Their self-supervised
training is :mod:`semcom.train.ssdm`.

**Spike frames.** The spike camera fires at ``gain · L / θ`` per tick, so a window's firing rate is the
linear luminance up to the unknown factor ``gain / θ``.  Every spike frame here is divided by the mean
firing rate of the whole exposure over the picture (:func:`spike_frames`), which removes that factor: a
camera with another threshold gives frames of the same scale (with more or less noise).

**Blind spot.** The network must estimate each pixel from its neighbours only, so that trained to
reproduce its noisy input (SpikeReveal Eq. 9) it cannot copy the pixel and learns its expected value
(the noise being independent from pixel to pixel).  As in the supplement (after Laine et al. 2019): the
input is rotated four times; one branch of *shifted* convolutions (each sees its own row and the rows
above it, never below) runs on each rotation, its output is shifted down by one row (so a pixel sees
only rows strictly above it) and rotated back; a 1x1 merge of the four half-planes gives a receptive
field of everything but the centre pixel.

**As published** (``variant="paper"``, link ``s-sdm-paper``; docs/fidelity-ssdm.md): the LDN
(:class:`PaperLDN`) reads the blurry frame and the raw binary spike stream around ``t`` (21 of the
authors' 97 exposure ticks, :func:`paper_ticks`), fused by concatenation; its teacher's short window is 9
of 97 ticks, and its BSN is the blind-spot U-Net of Laine et al. (:class:`BlindSpotUNet`).  The default
``s-sdm`` (two normalized rate maps fused by a product, :class:`LDN`) is our variant.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from semcom.colour import linear_to_srgb, srgb_to_linear
from semcom.errors import SemcomError
from semcom.receivers.base import Receiver
from semcom.registry import RECEIVERS
from semcom.sources.base import Batch

__all__ = ["BlindSpotNet", "BlindSpotUNet", "SpikeSR", "LDN", "PaperLDN", "Cascade", "SSDM", "reblur_loss",
           "spike_frames", "spike_stream", "window_bounds_at", "window_frames", "undo_bilinear", "paper_ticks",
           "PAPER_LDN_FRACTION", "PAPER_SHORT_FRACTION"]

#: the paper's LDN reads 21 binary spike frames of the 97-tick exposure (the authors' ``spike_deblur_len``)
PAPER_LDN_FRACTION = 21 / 97
#: the paper's BSN and teacher read a short window of 9 of those 97 ticks (``spike_bsn_len``)
PAPER_SHORT_FRACTION = 9 / 97


def paper_ticks(ticks: int = 400) -> tuple[int, int]:
    """The published window lengths scaled to an exposure of ``ticks`` spike ticks: ``(ldn, short)``, the
    raw stream the LDN reads and the short window of the BSN and the teacher (87 and 37 of 400)."""
    if int(ticks) != ticks or ticks < 1:
        raise ValueError(f"ticks must be a positive whole number, got {ticks!r}")
    return max(1, round(PAPER_LDN_FRACTION * ticks)), max(1, round(PAPER_SHORT_FRACTION * ticks))


class _UpConv(nn.Conv2d):
    """A ``k x k`` convolution whose output at row ``i`` sees input rows ``i - k + 1 .. i`` only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size[0]
        return super().forward(F.pad(x, (k // 2, k // 2, k - 1, 0)))


class BlindSpotNet(nn.Module):
    """Blind-spot denoiser: four rotated half-plane branches (shared weights) merged by 1x1 convolutions.

    Args:
        channels: input and output channels (1 for a spike accumulation frame).
        width: feature channels of a branch.
        depth: shifted 3x3 convolutions per branch (the receptive field reaches ``depth + 1`` rows out).
    """

    def __init__(self, *, channels: int = 1, width: int = 32, depth: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = channels
        for _ in range(depth):
            layers += [_UpConv(cin, width, 3), nn.LeakyReLU(0.1, inplace=True)]
            cin = width
        self.branch = nn.Sequential(*layers)
        self.merge = nn.Sequential(nn.Conv2d(4 * width, width, 1), nn.LeakyReLU(0.1, inplace=True),
                                   nn.Conv2d(width, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-1] != x.shape[-2]:
            raise ValueError(f"BlindSpotNet takes square frames (B, C, H, H) (four rotations), got {tuple(x.shape)}")
        views = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
        feats = self.branch(views)
        feats = F.pad(feats, (0, 0, 1, 0))[:, :, :-1]  # one row down: strictly the rows above
        parts = feats.chunk(4)
        back = [torch.rot90(p, -k, dims=(2, 3)) for k, p in enumerate(parts)]
        return self.merge(torch.cat(back, 1))


def _rows_down(x: torch.Tensor, rows: int = 1) -> torch.Tensor:
    """Move the picture ``rows`` rows down (zeros enter at the top, the bottom rows fall off)."""
    return F.pad(x, (0, 0, rows, 0))[:, :, :x.shape[2]]


class _BlindLevel(nn.Sequential):
    """Shifted 3x3 convolutions (:class:`_UpConv`), each followed by a leaky ReLU."""

    def __init__(self, cin: int, cout: int, n: int) -> None:
        layers: list[nn.Module] = []
        for i in range(n):
            layers += [_UpConv(cin if i == 0 else cout, cout, 3), nn.LeakyReLU(0.1, inplace=True)]
        super().__init__(*layers)


class BlindSpotUNet(nn.Module):
    """The blind-spot U-Net of the paper (SpikeReveal A.2.1, after Laine et al. 2019): every convolution of
    a U-Net made upward-looking, so that one pass over a rotated picture sees only the rows above each pixel.

    The same U-Net runs on the four rotations of the input. Inside it a feature at row ``i`` depends on
    input rows ``<= i`` only: the 3x3 convolutions read their own row and the two above (:class:`_UpConv`);
    before each 2x2 max pooling the features move one row down, so a pooled row ``r`` covers input rows
    ``2r - 1`` and ``2r`` (nothing below the rows that the nearest-neighbour upsampling later gives it to);
    the skips join features of the same row. At the end every feature moves one more row down (the blind
    spot: strictly the rows above), the four outputs are rotated back, joined and merged by 1x1
    convolutions (``4 * dec -> 4 * dec -> dec -> channels``), so the receptive field is the whole
    neighbourhood except the centre pixel.

    Args:
        channels: input and output channels (1 for a spike frame).
        width: encoder channels (the paper's 48).
        dec_width: decoder channels (96).
        levels: max-pooling levels (2).
        convs: shifted convolutions per encoder level (3).

    Shape:
        ``(B, C, H, H)`` -> ``(B, C, H, H)``, square (rotations) with ``H`` divisible by ``2 ** levels``.
    """

    def __init__(self, *, channels: int = 1, width: int = 48, dec_width: int = 96, levels: int = 2,
                 convs: int = 3) -> None:
        super().__init__()
        for name, v in (("channels", channels), ("width", width), ("dec_width", dec_width), ("convs", convs)):
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(levels, bool) or int(levels) != levels or levels < 0:
            raise ValueError(f"levels must be a non-negative integer, got {levels!r}")
        self.levels = int(levels)
        self.enc = nn.ModuleList([_BlindLevel(channels if i == 0 else width, width, convs)
                                  for i in range(self.levels)])
        self.bottom = _BlindLevel(channels if self.levels == 0 else width, width, convs)
        self.dec = nn.ModuleList([_BlindLevel((width if i == self.levels - 1 else dec_width) + width, dec_width, 2)
                                  for i in reversed(range(self.levels))])
        top = dec_width if self.levels else width
        self.merge = nn.Sequential(nn.Conv2d(4 * top, 4 * top, 1), nn.LeakyReLU(0.1, inplace=True),
                                   nn.Conv2d(4 * top, top, 1), nn.LeakyReLU(0.1, inplace=True),
                                   nn.Conv2d(top, channels, 1))

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """One upward-looking pass: the output at row ``i`` depends on input rows ``<= i - 1``."""
        skips = []
        for level in self.enc:
            x = level(x)
            skips.append(x)
            x = F.max_pool2d(_rows_down(x), 2)
        x = self.bottom(x)
        for level, skip in zip(self.dec, reversed(skips)):
            x = level(torch.cat([F.interpolate(x, scale_factor=2, mode="nearest"), skip], 1))
        return _rows_down(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = 2 ** self.levels
        if x.ndim != 4 or x.shape[-1] != x.shape[-2] or x.shape[-1] % m:
            raise ValueError(f"BlindSpotUNet takes square frames (B, C, H, H) (four rotations) with H divisible "
                             f"by {m}, got {tuple(x.shape)}")
        views = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
        parts = self.branch(views).chunk(4)
        back = [torch.rot90(p, -k, dims=(2, 3)) for k, p in enumerate(parts)]
        return self.merge(torch.cat(back, 1))


def reblur_loss(latent: torch.Tensor, blurry: torch.Tensor) -> torch.Tensor:
    """SpikeReveal's blur reconstruction loss: the mean squared difference between the blurry frame and
    the re-synthesized one, the average over the exposure of the latent frames ``latent (B, K, 3, H, W)``
    (linear light, as the RGB camera integrates them) through the sRGB curve; ``blurry (B, 3, H, W)`` in
    sRGB [0, 1].  Zero for the true latent frames up to the camera's 8-bit quantization."""
    if latent.ndim != 5 or latent.shape[2] != 3 or latent.shape[-2:] != blurry.shape[-2:]:
        raise ValueError(f"reblur_loss takes latent frames (B, K, 3, H, W) matching the blurry frame, got "
                         f"{tuple(latent.shape)} and {tuple(blurry.shape)}")
    return (linear_to_srgb(latent.mean(1).clamp(0.0, 1.0)) - blurry).square().mean()


# --------------------------------------------------------------------------- spike frames

def window_bounds_at(ticks: int, centre: float, width: int) -> tuple[int, int]:
    """The ``width``-tick window centred (as near as whole ticks allow) on tick ``centre``, inside the stream."""
    width = max(1, min(int(width), int(ticks)))
    start = int(round(centre - width / 2))
    start = min(max(start, 0), ticks - width)
    return start, start + width


def spike_frames(spikes: torch.Tensor, *, centre: float, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The short-window and whole-exposure spike frames ``(B, 1, h, w)`` of ``spikes (B, T, h, w)``: firing
    rates over the ``width`` ticks around ``centre`` and over all ``T`` ticks, both divided by the picture's
    mean rate over the exposure (so that they do not depend on the camera's gain and threshold)."""
    if spikes.ndim != 4:
        raise ValueError(f"spikes must be (B, T, h, w), got {tuple(spikes.shape)}")
    s = spikes.float()
    a, b = window_bounds_at(s.shape[1], centre, width)
    long = s.mean(1, keepdim=True)
    scale = long.mean((1, 2, 3), keepdim=True).clamp_min(1e-6)
    return s[:, a:b].mean(1, keepdim=True) / scale, long / scale


def spike_stream(spikes: torch.Tensor, *, centre: float, width: int) -> torch.Tensor:
    """The raw binary spike frames of the ``width`` ticks around ``centre`` (as near as whole ticks allow,
    inside the stream): ``spikes (B, T, h, w)`` -> ``(B, width, h, w)`` float, one channel a tick, 0 or 1 as
    the camera gives them (no normalization: what the published LDN reads)."""
    if spikes.ndim != 4:
        raise ValueError(f"spikes must be (B, T, h, w), got {tuple(spikes.shape)}")
    if int(width) > spikes.shape[1]:
        raise ValueError(f"a {int(width)}-tick stream cannot come from {spikes.shape[1]} ticks")
    a, b = window_bounds_at(spikes.shape[1], centre, width)
    return spikes[:, a:b].float()


def undo_bilinear(x: torch.Tensor, factor: int, *, tol: float = 1e-5) -> torch.Tensor:
    """The picture that bilinear upsampling by the integer ``factor`` (``align_corners=False``, as
    :func:`semcom.codecs.spjscc.spike_windows` does) turned into ``x``: ``(B, C, f h, f w) -> (B, C, h, w)``.

    An odd factor puts an output pixel on every source pixel: those are read. For an even factor the two
    pixels either side of a source pixel's centre (a 2x2 block) average to the source blurred by the
    kernel ``[a, 1 - 2a, a]``, ``a = 1 / (4 factor)``, along each axis (edges replicated, as the
    upsampling clamps), which the fixed-point iteration ``z <- z + (c - blur(z))`` undoes: the 2-D blur's
    eigenvalues lie in ``[(1 - 1/factor)^2, 1]``, so the error shrinks at least by ``rho = 1 - (1 - 1/factor)^2``
    an iteration (0.75 at factor 2, 0.44 at 4), and it runs until ``rho^n <= tol``. (Averaging whole blocks
    instead blurs the spike frames.)
    """
    k = int(factor)
    if x.shape[-2] % k or x.shape[-1] % k:
        raise ValueError(f"factor {k} does not divide the picture {tuple(x.shape[-2:])}")
    if k % 2:
        return x[..., k // 2::k, k // 2::k]
    h0, h1 = k // 2 - 1, k // 2
    c = 0.25 * (x[..., h0::k, h0::k] + x[..., h1::k, h0::k] + x[..., h0::k, h1::k] + x[..., h1::k, h1::k])
    a = 0.25 / k

    def blur(z: torch.Tensor) -> torch.Tensor:
        zp = F.pad(z, (1, 1, 0, 0), mode="replicate")
        z = a * zp[..., :-2] + (1 - 2 * a) * zp[..., 1:-1] + a * zp[..., 2:]
        zp = F.pad(z, (0, 0, 1, 1), mode="replicate")
        return a * zp[..., :-2, :] + (1 - 2 * a) * zp[..., 1:-1, :] + a * zp[..., 2:, :]

    rho = 1.0 - (1.0 - 1.0 / k) ** 2
    z = c
    for _ in range(max(1, math.ceil(math.log(tol) / math.log(rho)))):
        z = z + (c - blur(z))
    return z


def window_frames(rates: torch.Tensor, *, ticks: int, centre: float, width: int,
                  factor: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`spike_frames` from a spike-rate representation instead of the stream: ``rates (B, C, H, W)``
    holds the firing rate (spikes per tick) of ``C`` consecutive windows of the ``ticks`` ticks, cut as
    :func:`semcom.codecs.spjscc.spike_windows` cuts them (what SP-JSCC and the digital spike link deliver).

    The whole-exposure rate is the windows' mean weighted by their lengths (exact); the short window's is
    the mean of the windows it overlaps, weighted by the overlap (exact when it starts and ends on window
    boundaries, otherwise the rate is taken as constant inside a window: with 400 ticks in 6 or 3 windows
    the middle 80 ticks are read as the 133 ticks of the windows around them, in 5 exactly). Both are
    brought back to the spike camera's resolution, ``1 / factor`` of the frame's (the LDN reads them there),
    by undoing the bilinear upsampling (:func:`undo_bilinear`), and divided by the picture's mean rate.
    Returns ``(B, 1, H / factor, W / factor)`` twice.
    """
    if rates.ndim != 4:
        raise ValueError(f"spike-rate windows must be (B, C, H, W), got {tuple(rates.shape)}")
    c = rates.shape[1]
    if ticks < c:
        raise ValueError(f"{c} spike windows cannot come from {ticks} ticks")
    parts = torch.tensor_split(torch.arange(int(ticks)), c)
    a, b = window_bounds_at(int(ticks), centre, width)
    lengths = torch.tensor([float(len(q)) for q in parts])
    overlap = torch.tensor([float(max(0, min(b, int(q[-1]) + 1) - max(a, int(q[0])))) for q in parts])
    x = rates.float().clamp_min(0.0)   # a decoder can return slightly negative rates
    if factor > 1:
        x = undo_bilinear(x, factor)
    w_long = (lengths / lengths.sum()).to(x)
    w_short = (overlap / overlap.sum()).to(x)
    long = (x * w_long.view(1, c, 1, 1)).sum(1, keepdim=True)
    short = (x * w_short.view(1, c, 1, 1)).sum(1, keepdim=True)
    scale = long.mean((1, 2, 3), keepdim=True).clamp_min(1e-6)
    return short / scale, long / scale


# --------------------------------------------------------------------------- networks

class _Res(nn.Module):
    def __init__(self, width: int, scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(width, width, 3, padding=1))
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.body(x)


class SpikeSR(nn.Module):
    """EDSR-style upsampler of spike frames (residual blocks without normalization, two x2 pixel shuffles):
    a spike frame ``(B, 1, h, w)`` to ``(B, 1, 4h, 4w)``, a learned residual on its bilinear upsampling.
    Trained (SpikeReveal Eq. 10) to map the whole-exposure spike frame to the blurry frame's luminance,
    which carries the same texture at four times the resolution; then applied to short-window frames."""

    def __init__(self, *, width: int = 32, blocks: int = 4, scale: int = 4) -> None:
        super().__init__()
        if scale not in (2, 4):
            raise ValueError(f"scale must be 2 or 4, got {scale!r}")
        self.scale = int(scale)
        self.head = nn.Conv2d(1, width, 3, padding=1)
        self.body = nn.Sequential(*[_Res(width, 0.1) for _ in range(blocks)], nn.Conv2d(width, width, 3, padding=1))
        ups: list[nn.Module] = []
        for _ in range({2: 1, 4: 2}[self.scale]):
            ups += [nn.Conv2d(width, 4 * width, 3, padding=1), nn.PixelShuffle(2)]
        self.up = nn.Sequential(*ups, nn.Conv2d(width, 1, 3, padding=1))
        nn.init.zeros_(self.up[-1].weight)
        nn.init.zeros_(self.up[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x)
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return base + self.up(f + self.body(f))


class Cascade(nn.Module):
    """The teacher: SDM (SpikeReveal Eq. 8) with the short-window spike frame denoised by the BSN and both
    spike frames brought to the RGB resolution by the SR network (each optional: bilinear without SR),
    ``x = y · SR(BSN(S_δ)) / SR(S_T)`` in linear light, the ratio clipped to ``[0, max_gain]``.

    Args:
        bsn, sr: trained networks or ``None``.
        width: the short window in spike ticks.
    """

    def __init__(self, *, bsn: nn.Module | None = None, sr: nn.Module | None = None, width: int = 80,
                 max_gain: float = 20.0, min_rate: float = 0.02) -> None:
        super().__init__()
        self.bsn, self.sr = bsn, sr
        self.width, self.max_gain, self.min_rate = int(width), float(max_gain), float(min_rate)

    def _up(self, frame: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if self.sr is not None:
            frame = self.sr(frame)
        if tuple(frame.shape[-2:]) != size:
            frame = F.interpolate(frame, size=size, mode="bilinear", align_corners=False)
        return frame

    def forward(self, blurry: torch.Tensor, spikes: torch.Tensor, *, centre: float | None = None) -> torch.Tensor:
        ticks = spikes.shape[1]
        short, long = spike_frames(spikes, centre=ticks / 2 if centre is None else centre, width=self.width)
        if self.bsn is not None:
            short = self.bsn(short).clamp_min(0.0)
        size = tuple(blurry.shape[-2:])
        s_hr, l_hr = self._up(short, size), self._up(long, size)
        valid = l_hr > self.min_rate
        ratio = torch.where(valid, (s_hr / l_hr.clamp_min(self.min_rate)).clamp(0.0, self.max_gain),
                            torch.ones_like(l_hr))
        return linear_to_srgb((srgb_to_linear(blurry) * ratio).clamp(0.0, 1.0))

    def at_moments(self, blurry: torch.Tensor, spikes: torch.Tensor, centres: list[float]) -> torch.Tensor:
        """:meth:`forward` at each of ``centres`` (ticks), the ``K`` short frames through the BSN and the SR
        network in one pass and the whole-exposure frame upsampled once: ``(B, K, 3, H, W)``."""
        k, b = len(centres), blurry.shape[0]
        frames = [spike_frames(spikes, centre=c, width=self.width) for c in centres]
        short = torch.cat([f[0] for f in frames])            # (K B, 1, h, w), moment-major
        if self.bsn is not None:
            short = self.bsn(short).clamp_min(0.0)
        size = tuple(blurry.shape[-2:])
        s_hr = self._up(short, size).view(k, b, 1, *size)
        l_hr = self._up(frames[0][1], size)[None]
        valid = l_hr > self.min_rate
        ratio = torch.where(valid, (s_hr / l_hr.clamp_min(self.min_rate)).clamp(0.0, self.max_gain),
                            torch.ones_like(s_hr))
        out = linear_to_srgb((srgb_to_linear(blurry)[None] * ratio).clamp(0.0, 1.0))
        return out.transpose(0, 1)


class LDN(nn.Module):
    """Lightweight deblurring network (SpikeReveal supplement A.2.2): the blurry frame brought to the spike
    camera's resolution by two stride-2 convolutions, the two spike frames (short window, whole exposure)
    encoded there, the two fused by an elementwise product, refined by residual blocks with channel and
    spatial attention (a small CBAM), and turned into a per-pixel gain in linear light and an offset at the
    RGB resolution (pixel shuffle x4): ``x = sRGB(y_lin · gain) + offset``, starting as the identity.

    Shape:
        blurry ``(B, 3, H, W)`` sRGB, short and long ``(B, 1, H/4, W/4)`` (:func:`spike_frames`) ->
        ``(B, 3, H, W)``.
    """

    def __init__(self, *, width: int = 32, blocks: int = 3) -> None:
        super().__init__()
        w = int(width)
        self.img = nn.Sequential(nn.Conv2d(3, w // 2, 3, stride=2, padding=1), nn.LeakyReLU(0.1, inplace=True),
                                 nn.Conv2d(w // 2, w, 3, stride=2, padding=1), nn.LeakyReLU(0.1, inplace=True))
        self.spk = nn.Sequential(nn.Conv2d(2, w, 3, padding=1), nn.LeakyReLU(0.1, inplace=True),
                                 nn.Conv2d(w, w, 3, padding=1))
        self.body = nn.Sequential(*[_Res(w) for _ in range(blocks)])
        self.channel_att = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(w, max(4, w // 4), 1),
                                         nn.ReLU(inplace=True), nn.Conv2d(max(4, w // 4), w, 1), nn.Sigmoid())
        self.spatial_att = nn.Sequential(nn.Conv2d(2, 1, 7, padding=3), nn.Sigmoid())
        self.out = nn.Conv2d(w, 2 * 16, 3, padding=1)  # log-gain and offset for each of the 4x4 RGB pixels
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, blurry: torch.Tensor, short: torch.Tensor, long: torch.Tensor) -> torch.Tensor:
        h, w = blurry.shape[-2:]
        if h % 4 or w % 4 or tuple(short.shape[-2:]) != (h // 4, w // 4):
            raise ValueError(f"LDN takes frames of sides divisible by 4 and spike frames at 1/4 of them, got "
                             f"{tuple(blurry.shape)} and {tuple(short.shape)}")
        f = self.img(blurry) * self.spk(torch.cat([short, long], 1))
        f = self.body(f)
        f = f * self.channel_att(f)
        f = f * self.spatial_att(torch.cat([f.mean(1, keepdim=True), f.amax(1, keepdim=True)], 1))
        log_gain, offset = F.pixel_shuffle(self.out(f), 4).split(1, dim=1)
        gain = torch.exp(2.0 * torch.tanh(log_gain / 2.0))
        return linear_to_srgb((srgb_to_linear(blurry) * gain).clamp(0.0, 1.0)) + offset


class _CBAM(nn.Module):
    """Convolutional block attention (Woo et al. 2018): channel attention from the average- and max-pooled
    features through one shared two-layer MLP, then spatial attention from the channel mean and maximum
    through a 7x7 convolution."""

    def __init__(self, width: int, ratio: int = 16) -> None:
        super().__init__()
        hidden = max(1, width // ratio)
        self.mlp = nn.Sequential(nn.Conv2d(width, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, width, 1))
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * torch.sigmoid(self.mlp(F.adaptive_avg_pool2d(x, 1)) + self.mlp(F.adaptive_max_pool2d(x, 1)))
        return x * torch.sigmoid(self.spatial(torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)))


class PaperLDN(nn.Module):
    """The lightweight deblurring network as published (SpikeReveal Sec. 3.3.2, Eq. 11, supplement A.2.2 and
    Fig. 8(b); sizes from the authors' release): the blurry frame is brought to the spike camera's resolution
    by two stride-2 5x5 convolutions (3 -> 16 -> 32 channels); the raw short spike stream around ``t`` (one
    binary frame a tick) is encoded there to 32 channels; the two are **concatenated**, refined by CBAM
    and two residual blocks at 64 channels, brought back to the frame's resolution by two stride-2 5x5
    transposed convolutions (64 -> 32 -> 16) and turned into RGB by a 1x1 convolution on those features
    joined to the blurry frame. The last convolution starts as the identity on the blurry frame (its
    feature weights zero): a starting point for short training, not a change of the function class.

    Args:
        ticks: binary spike frames the network reads (:func:`paper_ticks`: 87 of 400).
        width: channels of each modality's features (the fused features have twice as many).
        blocks: residual blocks after the attention.

    Shape:
        blurry ``(B, 3, H, W)`` sRGB in [0, 1], stream ``(B, ticks, H/4, W/4)`` (:func:`spike_stream`) ->
        ``(B, 3, H, W)`` sRGB (not clamped while training).
    """

    def __init__(self, *, ticks: int = 87, width: int = 32, blocks: int = 2) -> None:
        super().__init__()
        for name, v in (("ticks", ticks), ("width", width), ("blocks", blocks)):
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        w = int(width)
        self.ticks = int(ticks)
        act = lambda: nn.LeakyReLU(0.1, inplace=True)  # noqa: E731
        self.img = nn.Sequential(nn.Conv2d(3, w // 2, 5, stride=2, padding=2), act(),
                                 nn.Conv2d(w // 2, w, 5, stride=2, padding=2), act())
        self.spk = nn.Sequential(nn.Conv2d(self.ticks, w, 3, padding=1), act(), nn.Conv2d(w, w, 3, padding=1), act())
        self.att = _CBAM(2 * w)
        self.body = nn.Sequential(*[_Res(2 * w) for _ in range(blocks)])
        self.up = nn.Sequential(nn.ConvTranspose2d(2 * w, w, 5, stride=2, padding=2, output_padding=1), act(),
                                nn.ConvTranspose2d(w, w // 2, 5, stride=2, padding=2, output_padding=1), act())
        self.out = nn.Conv2d(w // 2 + 3, 3, 1)
        with torch.no_grad():
            self.out.weight.zero_()
            self.out.bias.zero_()
            self.out.weight[:, w // 2:, 0, 0] = torch.eye(3)

    def forward(self, blurry: torch.Tensor, stream: torch.Tensor) -> torch.Tensor:
        h, w = blurry.shape[-2:]
        if h % 4 or w % 4 or stream.ndim != 4 or tuple(stream.shape[-2:]) != (h // 4, w // 4) \
                or stream.shape[1] != self.ticks:
            raise ValueError(f"PaperLDN takes frames of sides divisible by 4 and {self.ticks} spike frames at 1/4 "
                             f"of them, got {tuple(blurry.shape)} and {tuple(stream.shape)}")
        f = torch.cat([self.img(blurry), self.spk(stream)], 1)
        f = self.body(self.att(f))
        return self.out(torch.cat([self.up(f), blurry], 1))


@RECEIVERS.register("s-sdm", help="S-SDM: the lightweight deblurring network distilled self-supervised from "
                                  "SDM + BSN + SR (SpikeReveal); needs the spike stream or "
                                  "decoded spike-rate windows; variant='paper': the published LDN on the raw "
                                  "spike stream")
class SSDM(Receiver):
    """S-SDM at the receiver: the LDN on the decoded frame and the spikes (the middle ``width`` ticks and
    the whole exposure).

    Args:
        variant: ``"ours"`` (default, link ``s-sdm``): :class:`LDN` on two normalized rate maps (the middle
            ``width`` ticks and the whole exposure); ``"paper"`` (link ``s-sdm-paper``): :class:`PaperLDN`
            on the raw binary spike stream of the middle ``width`` ticks, as published (``source="raw"``
            only: decoded rate windows are not binary spikes).
        width: the LDN's window in spike ticks (what it was trained with); default 80 for ``"ours"``, 87 for
            ``"paper"`` (21 of the authors' 97 ticks, scaled to 400: :func:`paper_ticks`).
        net_width, blocks: the LDN's (defaults 32 and 3 for ``"ours"``, 32 and 2 for ``"paper"``).
        source: ``"raw"`` (default) reads the source's spike stream (``batch.spikes``: exact spikes, the
            back-end alone); ``"representation"`` the spike-rate windows the codec decoded
            (``Reception.events`` of ``sp-jscc`` with ``output = "streams"`` or of ``bpg-ldpc-events``
            with ``side = "spikes"``), through :func:`window_frames`. The tick count comes from the
            batch (``info["spike_ticks"]``, a camera setting). A sample whose windows hold no spikes (a
            lost stream) is returned as decoded.

    Built untrained; the zoo loads its weights (:func:`semcom.zoo.build.build_receiver` with ``weights``
    ``"shipped"``, the checkpoint shipped for the variant's link, ``s-sdm`` or ``s-sdm-paper``, or a
    checkpoint of ``python -m semcom.train.ssdm``; a link file's ``[receiver] weights = "shipped"``).
    """

    shipped_link = "s-sdm"
    train_command = "python -m semcom.train.ssdm --out DIR"

    def __init__(self, *, variant: str = "ours", width: int | None = None, net_width: int = 32,
                 blocks: int | None = None, source: str = "raw") -> None:
        super().__init__()
        if variant not in ("ours", "paper"):
            raise ValueError(f"variant must be 'ours' or 'paper', got {variant!r}")
        if width is None:
            width = 80 if variant == "ours" else paper_ticks(400)[0]
        if isinstance(width, bool) or int(width) != width or width < 1:
            raise ValueError(f"width must be a positive number of spike ticks, got {width!r}")
        if source not in ("raw", "representation"):
            raise ValueError(f"source must be 'raw' or 'representation', got {source!r}")
        if variant == "paper" and source != "raw":
            raise ValueError("variant 'paper' reads the raw binary spike stream (source='raw'); decoded spike-rate "
                             "windows are not spikes")
        self.variant = variant
        self.width = int(width)
        self.source = source
        if variant == "ours":
            blocks = 3 if blocks is None else blocks
            self.net: nn.Module = LDN(width=net_width, blocks=blocks)
            arch = f"LDN (width {net_width}, blocks {blocks})"
        else:
            blocks = 2 if blocks is None else blocks
            self.shipped_link = "s-sdm-paper"
            self.train_command = "python -m semcom.train.ssdm --recipe paper --out DIR"
            self.net = PaperLDN(ticks=self.width, width=net_width, blocks=blocks)
            arch = f"published LDN ({self.width} spike ticks, width {net_width}, blocks {blocks})"
        self.architecture = arch

    def _frames(self, image: torch.Tensor, events: torch.Tensor | None,
                batch: Batch | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Short and long spike frames, and which samples have spikes ``(B,)``."""
        h, w = image.shape[-2:]
        if h % 4 or w % 4:
            raise SemcomError(f"s-sdm needs frame sides divisible by 4 (its network reads the spikes at 1/4 of "
                              f"the frame), got {h}x{w}")
        if self.source == "raw":
            if batch is None or batch.spikes is None:
                raise SemcomError("s-sdm needs the spike stream of the batch (a source with a spike camera)")
            spikes = batch.spikes.to(image.device)
            short, long = spike_frames(spikes, centre=spikes.shape[1] / 2, width=self.width)
            return short, long, torch.ones(image.shape[0], dtype=torch.bool, device=image.device)
        if events is None or events.ndim != 4 or events.shape[0] != image.shape[0] \
                or events.shape[-2:] != image.shape[-2:]:
            got = None if events is None else tuple(events.shape)
            raise SemcomError(f"s-sdm with source='representation' needs the decoded spike-rate windows "
                              f"(B, C, H, W) beside frames {tuple(image.shape)}, got {got}")
        infos = batch.info if batch is not None else ()
        if batch is not None and batch.spikes is not None:
            ticks = int(batch.spikes.shape[1])
        elif infos and "spike_ticks" in infos[0]:
            ticks = int(infos[0]["spike_ticks"])
        else:
            raise SemcomError("s-sdm: the batch does not state its spike camera's ticks per exposure")
        scale = int(infos[0].get("spike_scale", 4)) if infos else 4
        if scale != 4:
            raise SemcomError(f"s-sdm reads spikes at 1/4 of the frame; this spike camera has spike_scale {scale}")
        has = events.flatten(1).abs().amax(1) > 0
        short, long = window_frames(events.to(image.device), ticks=ticks, centre=ticks / 2, width=self.width)
        return short, long, has.to(image.device)

    def forward(self, image: torch.Tensor, *, events: torch.Tensor | None = None,
                batch: Batch | None = None) -> torch.Tensor:
        if self.variant == "paper":
            h, w = image.shape[-2:]
            if h % 4 or w % 4:
                raise SemcomError(f"s-sdm needs frame sides divisible by 4 (its network reads the spikes at 1/4 "
                                  f"of the frame), got {h}x{w}")
            if batch is None or batch.spikes is None:
                raise SemcomError("s-sdm (paper) needs the spike stream of the batch (a source with a spike camera)")
            spikes = batch.spikes.to(image.device)
            if spikes.shape[1] < self.width:
                raise SemcomError(f"s-sdm (paper) reads {self.width} spike ticks; this camera gives "
                                  f"{spikes.shape[1]} an exposure")
            out = self.net(image, spike_stream(spikes, centre=spikes.shape[1] / 2, width=self.width))
            return out if self.training else out.clamp(0.0, 1.0)
        short, long, has = self._frames(image, events, batch)
        out = self.net(image, short, long)
        out = torch.where(has.view(-1, 1, 1, 1), out, image)
        return out if self.training else out.clamp(0.0, 1.0)
