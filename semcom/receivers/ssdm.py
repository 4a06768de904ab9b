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
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from pathlib import Path

from semcom.colour import linear_to_srgb, srgb_to_linear
from semcom.errors import SemcomError
from semcom.receivers.base import Receiver
from semcom.registry import RECEIVERS
from semcom.sources.base import Batch

__all__ = ["BlindSpotNet", "SpikeSR", "LDN", "Cascade", "SSDM", "reblur_loss", "spike_frames", "window_bounds_at",
           "window_frames", "undo_bilinear"]


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


@RECEIVERS.register("s-sdm", help="S-SDM: the lightweight deblurring network distilled self-supervised from "
                                  "SDM + BSN + SR (SpikeReveal); needs the spike stream or "
                                  "decoded spike-rate windows")
class SSDM(Receiver):
    """S-SDM at the receiver: the LDN on the decoded frame and the spikes (the middle ``width`` ticks and
    the whole exposure).

    Args:
        width: the short window in spike ticks (what the LDN was trained with).
        net_width, blocks: the LDN's.
        source: ``"raw"`` (default) reads the source's spike stream (``batch.spikes``: exact spikes, the
            back-end alone); ``"representation"`` the spike-rate windows the codec decoded
            (``Reception.events`` of ``sp-jscc`` with ``output = "streams"`` or of ``bpg-ldpc-events``
            with ``side = "spikes"``), through :func:`window_frames`. The tick count comes from the
            batch (``info["spike_ticks"]``, a camera setting). A sample whose windows hold no spikes (a
            lost stream) is returned as decoded.
        weights: ``None`` (untrained), ``"shipped"`` (the checkpoint shipped for link ``s-sdm``) or the path
            of a checkpoint holding its weights (``python -m semcom.train.ssdm``).
    """

    shipped_link = "s-sdm"
    train_command = "python -m semcom.train.ssdm --out DIR"

    def __init__(self, *, width: int = 80, net_width: int = 32, blocks: int = 3, source: str = "raw",
                 weights: str | Path | None = None) -> None:
        super().__init__()
        if isinstance(width, bool) or int(width) != width or width < 1:
            raise ValueError(f"width must be a positive number of spike ticks, got {width!r}")
        if source not in ("raw", "representation"):
            raise ValueError(f"source must be 'raw' or 'representation', got {source!r}")
        self.width = int(width)
        self.source = source
        self.net = LDN(width=net_width, blocks=blocks)
        if weights is not None:
            self.load_weights(weights, name="s-sdm", architecture=f"LDN (width {net_width}, blocks {blocks})")

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
        short, long, has = self._frames(image, events, batch)
        out = self.net(image, short, long)
        out = torch.where(has.view(-1, 1, 1, 1), out, image)
        return out if self.training else out.clamp(0.0, 1.0)
