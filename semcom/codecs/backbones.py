"""Interchangeable JSCC backbones: the encoder and decoder networks of the learned codecs.

A backbone is a pair of networks around the channel: the encoder maps an RGB frame (and the
SNR) to a real latent at ``1/downsample`` resolution, the decoder maps the (noisy) latent back to
a frame in [0, 1].  The codec around them pads frames, pairs latent values into complex symbols,
normalizes the power and counts channel uses; a backbone only fixes the network.

* ``conv`` — the DeepJSCC design (Bourtsoulatze, Burth Kurka & Gündüz, IEEE TCCN 2019) with GDN
  and the AF modules of ADJSCC (Xu et al., IEEE TCSVT 2022): :class:`JSCCEncoder` /
  :class:`JSCCDecoder`.
* ``resconv`` — residual convolutions with simplified attention modules, after the analysis and
  synthesis transforms of Cheng, Sun, Takeuchi & Katto, "Learned image compression with
  discretized Gaussian mixture likelihoods and attention modules" (CVPR 2020), with AF modules
  for the SNR: :class:`ResConvEncoder` / :class:`ResConvDecoder`.
* ``swin`` — Swin transformer stages (Liu et al., ICCV 2021: windowed self-attention with
  relative position bias, shifted windows, patch merging) as used for JSCC by WITT (Yang et al.,
  ICASSP 2023) and SwinJSCC (Yang et al., IEEE TCCN 2024), with WITT's channel-wise SNR
  modulation: :class:`SwinEncoder` / :class:`SwinDecoder`.

Every encoder is called as ``encoder(x, snr_db)`` with ``x`` ``(B, 3, H, W)`` (H, W multiples of
``downsample``) and ``snr_db`` ``(B,)``, and returns ``(B, latent_channels, H/ds, W/ds)``; every
decoder as ``decoder(z, snr_db)`` and returns ``(B, 3, H, W)`` in [0, 1] (sigmoid).  Without
``adaptive`` the networks ignore the SNR.

Codecs that send more than an RGB frame (EV-JSCC's event and shared encoders, its event decoder)
build the same networks with ``in_channels`` input channels (default 3) and ``out_channels``
output channels (default 3), and with ``output="linear"`` a decoder returns its last layer as it
is (no sigmoid), for a codec that applies its own output activation or scaling.  The defaults
build exactly the networks above (same parameter names, shapes and initialization).

Example:
    >>> enc, dec = build_backbone("swin", latent_channels=32, width=16, depth=None,
    ...                           downsample=16, adaptive=True)
    >>> z = enc(torch.rand(1, 3, 64, 96), torch.zeros(1))
    >>> tuple(z.shape), tuple(dec(z, torch.zeros(1)).shape)
    ((1, 32, 4, 6), (1, 3, 64, 96))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from semcom.codecs.layers import GDN, AFModule, DownBlock, UpBlock

__all__ = ["BACKBONES", "Backbone", "build_backbone", "build_encoder", "build_decoder", "backbone_defaults",
           "DOWNSAMPLES", "OUTPUTS",
           "JSCCEncoder", "JSCCDecoder", "ResConvEncoder", "ResConvDecoder", "SwinEncoder", "SwinDecoder",
           "SwinBlock", "WindowAttention", "SNRModulation", "shifted_window_mask"]

#: the latent grids a backbone can produce (total downsampling factor of the encoder)
DOWNSAMPLES = (8, 16)


def _stages(downsample: int) -> int:
    """Number of stride-2 steps for a downsampling factor (3 for 8, 4 for 16)."""
    if isinstance(downsample, bool) or not isinstance(downsample, int) or downsample not in DOWNSAMPLES:
        raise ValueError(f"downsample must be one of {', '.join(map(str, DOWNSAMPLES))}, got {downsample!r}")
    return int(math.log2(downsample))


#: what a decoder does with its last layer: squash it into [0, 1] or hand it over as it is
OUTPUTS = ("sigmoid", "linear")


def _output_mode(output: str) -> str:
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
    return output


def _finish(x: torch.Tensor, output: str) -> torch.Tensor:
    """A decoder's last layer ``(B, C, H, W)`` in its output mode, in the default memory format."""
    return (torch.sigmoid(x) if output == "sigmoid" else x).contiguous()


# ================================================================================== conv

class JSCCEncoder(nn.Module):
    """DeepJSCC encoder: image -> real latent with ``2k`` channels at ``1/downsample`` resolution.

    Strided convolutions with GDN and PReLU (Bourtsoulatze et al. 2019, GDN as in later DeepJSCC
    work), AF modules of ADJSCC after the low-resolution layers when ``adaptive``.  With the
    defaults (``depth=1``, ``downsample=16``) it is the original design: four stride-2 layers and
    one stride-1 layer.

    Args:
        latent_channels: ``2k`` output channels.
        width: feature channels of the inner layers (the first layer has ``width // 2``).
        adaptive: insert AF modules fed with the SNR.
        depth: stride-1 layers at the latent resolution.
        downsample: 16 (four stride-2 layers) or 8 (three).
        in_channels: channels of the input (3: an RGB frame).

    Shape:
        x: ``(B, in_channels, H, W)`` with H, W multiples of ``downsample``; snr_db ``(B,)``
        -> ``(B, 2k, H/ds, W/ds)``.
    """

    def __init__(self, *, latent_channels: int, width: int, adaptive: bool, depth: int = 1,
                 downsample: int = 16, in_channels: int = 3) -> None:
        super().__init__()
        n = _stages(downsample)
        half = width // 2
        layers = [DownBlock(in_channels, half, kernel=5, stride=2), DownBlock(half, width, kernel=3, stride=2)]
        layers += [DownBlock(width, width, kernel=3, stride=2) for _ in range(n - 2)]
        layers += [DownBlock(width, width, kernel=3, stride=1) for _ in range(depth)]
        self.layers = nn.ModuleList(layers)
        #: the AF modules follow the last two stride-2 layers and every stride-1 layer
        self.first_af = n - 2
        self.af = nn.ModuleList([AFModule(width) for _ in range(len(layers) - self.first_af)]) if adaptive else None
        self.out = nn.Conv2d(width, latent_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)  # faster convolutions on CPU
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if self.af is not None and i >= self.first_af:
                x = self.af[i - self.first_af](x, snr_db)
        return self.out(x)


class JSCCDecoder(nn.Module):
    """DeepJSCC decoder: real latent -> image in [0, 1] (sigmoid), mirror of :class:`JSCCEncoder`.

    Args:
        latent_channels, width, adaptive, depth, downsample: as :class:`JSCCEncoder`.
        out_channels: channels of the output (3: an RGB frame).
        output: ``"sigmoid"`` (values in [0, 1]) or ``"linear"`` (the last layer as it is).

    Shape:
        z: ``(B, 2k, h, w)``; snr_db ``(B,)`` -> ``(B, out_channels, ds h, ds w)``.
    """

    def __init__(self, *, latent_channels: int, width: int, adaptive: bool, depth: int = 1,
                 downsample: int = 16, out_channels: int = 3, output: str = "sigmoid") -> None:
        super().__init__()
        n = _stages(downsample)
        self.output = _output_mode(output)
        half = width // 2
        layers = [UpBlock(latent_channels, width, kernel=3, stride=1)]
        layers += [UpBlock(width, width, kernel=3, stride=1) for _ in range(depth)]
        layers += [UpBlock(width, width, kernel=3, stride=2) for _ in range(n - 2)]
        layers += [UpBlock(width, half, kernel=3, stride=2)]
        self.layers = nn.ModuleList(layers)
        #: the AF modules follow the stride-1 layers and the first stride-2 layer
        self.n_af = depth + 2
        self.af = nn.ModuleList([AFModule(width) for _ in range(self.n_af)]) if adaptive else None
        self.out = UpBlock(half, out_channels, kernel=3, stride=2, gdn=False, act=False)

    def forward(self, z: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        x = z.contiguous(memory_format=torch.channels_last)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if self.af is not None and i < self.n_af:
                x = self.af[i](x, snr_db)
        return _finish(self.out(x), self.output)


# ================================================================================== resconv

def _conv3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class _SubPixelConv(nn.Module):
    """3x3 convolution to ``4 cout`` channels + pixel shuffle: a learned 2x upsampling."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = _conv3(cin, 4 * cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), 2)


class _ResBlock(nn.Module):
    """Two 3x3 convolutions with leaky ReLUs and an identity shortcut (same size in and out)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv3(channels, channels), nn.LeakyReLU(inplace=True),
                                  _conv3(channels, channels), nn.LeakyReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _ResDown(nn.Module):
    """Residual 2x downsampling: strided 3x3 conv, leaky ReLU, 3x3 conv, GDN; strided 1x1 shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv3(cin, cout, 2), nn.LeakyReLU(inplace=True), _conv3(cout, cout), GDN(cout))
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the strided 1x1 shortcut as subsampling + 1x1 convolution (the same map): the backward
        # of a stride-2 1x1 convolution on channels-last inputs crashes on CPU in torch 2.13
        return self.body(x) + self.skip(x[:, :, ::2, ::2])


class _ResUp(nn.Module):
    """Residual 2x upsampling: sub-pixel conv, leaky ReLU, 3x3 conv, IGDN; sub-pixel shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_SubPixelConv(cin, cout), nn.LeakyReLU(inplace=True), _conv3(cout, cout),
                                  GDN(cout, inverse=True))
        self.skip = _SubPixelConv(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class _BottleneckUnit(nn.Module):
    """1x1 (halve) -> 3x3 -> 1x1 (restore) with ReLUs and a shortcut, the unit of the attention module."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        mid = max(channels // 2, 1)
        self.body = nn.Sequential(nn.Conv2d(channels, mid, 1), nn.ReLU(inplace=True), _conv3(mid, mid),
                                  nn.ReLU(inplace=True), nn.Conv2d(mid, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class _Attention(nn.Module):
    """Simplified attention module of Cheng et al. (2020): ``x + trunk(x) * sigmoid(mask(x))``.

    Both branches are three bottleneck residual units; the mask branch ends in a 1x1 convolution.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(*[_BottleneckUnit(channels) for _ in range(3)])
        self.mask = nn.Sequential(*[_BottleneckUnit(channels) for _ in range(3)], nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.trunk(x) * torch.sigmoid(self.mask(x))


def _resconv_channels(width: int, stages: int) -> list[int]:
    """Channels of the stages, highest resolution first: ``width // 2`` at 1/2, ``width`` below."""
    return [width // 2] + [width] * (stages - 1)


class ResConvEncoder(nn.Module):
    """Residual convolutional JSCC encoder with attention modules.

    Follows the analysis transform of Cheng et al. (CVPR 2020): per stage a residual stride-2
    block with GDN and ``depth`` residual blocks; a simplified attention module at 1/4 resolution
    and at the latent resolution; a 3x3 convolution to the latent.  With ``adaptive`` an AF module
    (ADJSCC) gates the features after every stage from 1/4 resolution down.  The first stage (at
    1/2 resolution, where most of the compute goes) has ``width // 2`` channels, the others
    ``width``.

    Args:
        latent_channels: ``2k`` output channels.
        width: feature channels of the stages below 1/2 resolution.
        adaptive: insert AF modules fed with the SNR.
        depth: residual blocks per stage.
        downsample: 16 (four stages) or 8 (three).
        in_channels: channels of the input (3: an RGB frame).

    Shape:
        x: ``(B, in_channels, H, W)`` with H, W multiples of ``downsample``; snr_db ``(B,)``
        -> ``(B, 2k, H/ds, W/ds)``.
    """

    def __init__(self, *, latent_channels: int, width: int, adaptive: bool, depth: int = 1,
                 downsample: int = 16, in_channels: int = 3) -> None:
        super().__init__()
        n = _stages(downsample)
        ch = _resconv_channels(width, n)
        self.stages = nn.ModuleList([
            nn.Sequential(_ResDown(in_channels if i == 0 else ch[i - 1], ch[i]), *[_ResBlock(ch[i]) for _ in range(depth)])
            for i in range(n)])
        self.attention = nn.ModuleDict({str(i): _Attention(width) for i in (1, n - 1)})
        self.af = nn.ModuleList([AFModule(width) for _ in range(n - 1)]) if adaptive else None
        self.out = _conv3(width, latent_channels)

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if str(i) in self.attention:
                x = self.attention[str(i)](x)
            if self.af is not None and i >= 1:
                x = self.af[i - 1](x, snr_db)
        return self.out(x)


class ResConvDecoder(nn.Module):
    """Residual convolutional JSCC decoder with attention modules, mirror of :class:`ResConvEncoder`.

    Follows the synthesis transform of Cheng et al. (CVPR 2020): a 3x3 convolution from the
    latent, an attention module, then per stage ``depth`` residual blocks and a residual sub-pixel
    upsampling block with IGDN (the last stage ends in a sub-pixel convolution to RGB), a second
    attention module at 1/4 resolution.  AF modules gate the features at the latent resolution
    and after every stage down to 1/4 resolution.

    Args:
        latent_channels, width, adaptive, depth, downsample: as :class:`ResConvEncoder`.
        out_channels: channels of the output (3: an RGB frame).
        output: ``"sigmoid"`` (values in [0, 1]) or ``"linear"`` (the last layer as it is).

    Shape:
        z: ``(B, 2k, h, w)``; snr_db ``(B,)`` -> ``(B, out_channels, ds h, ds w)``.
    """

    def __init__(self, *, latent_channels: int, width: int, adaptive: bool, depth: int = 1,
                 downsample: int = 16, out_channels: int = 3, output: str = "sigmoid") -> None:
        super().__init__()
        n = _stages(downsample)
        self.output = _output_mode(output)
        ch = _resconv_channels(width, n)[::-1]  # lowest resolution first
        self.inp = _conv3(latent_channels, width)
        self.stages = nn.ModuleList([
            nn.Sequential(*[_ResBlock(ch[i]) for _ in range(depth)],
                          _ResUp(ch[i], ch[i + 1]) if i < n - 1 else _SubPixelConv(ch[i], out_channels))
            for i in range(n)])
        #: attention at the latent resolution ("in") and after the stage that reaches 1/4
        self.attention = nn.ModuleDict({"in": _Attention(width), str(n - 3): _Attention(width)})
        self.af = nn.ModuleList([AFModule(width) for _ in range(n - 1)]) if adaptive else None

    def forward(self, z: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        x = self.attention["in"](self.inp(z.contiguous(memory_format=torch.channels_last)))
        if self.af is not None:
            x = self.af[0](x, snr_db)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if str(i) in self.attention:
                x = self.attention[str(i)](x)
            if self.af is not None and i + 1 < len(self.af):
                x = self.af[i + 1](x, snr_db)
        return _finish(x, self.output)


# ================================================================================== swin

def _heads(dim: int, head_dim: int = 32) -> int:
    """Attention heads for a feature size: about ``dim / head_dim``, at least one, dividing ``dim``."""
    heads = max(1, dim // head_dim)
    while dim % heads:
        heads -= 1
    return heads


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows, with a learned relative position bias (Swin).

    The bias table has one entry per relative offset ``(dy, dx)`` within a ``window x window``
    window and per head; windows smaller than ``window`` (small feature maps) read the offsets
    they contain.

    Args:
        dim: token features ``C``.
        heads: attention heads (``C`` must be a multiple).
        window: the largest window side.

    Shape:
        x: ``(B, nW, wh, ww, C)`` tokens of ``nW`` windows; mask: ``(nW, 1, N, N)`` additive or
        ``None`` (``N = wh ww``) -> ``(B, nW, wh, ww, C)``.
    """

    def __init__(self, dim: int, *, heads: int, window: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not a multiple of heads {heads}")
        self.heads = heads
        self.window = window
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        self._index: dict[tuple[int, int, str], torch.Tensor] = {}

    def _bias_index(self, wh: int, ww: int, device: torch.device) -> torch.Tensor:
        """Row of the bias table for each (query, key) pair of a ``wh x ww`` window, ``(N * N,)``."""
        key = (wh, ww, str(device))
        if key not in self._index:
            ys, xs = torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")
            ys, xs = ys.reshape(-1), xs.reshape(-1)
            dy = ys[:, None] - ys[None, :] + self.window - 1
            dx = xs[:, None] - xs[None, :] + self.window - 1
            self._index[key] = (dy * (2 * self.window - 1) + dx).reshape(-1).to(device)
        return self._index[key]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, nw, wh, ww, c = x.shape
        n, h = wh * ww, self.heads
        qkv = self.qkv(x).reshape(b, nw, n, 3, h, c // h).permute(3, 0, 1, 4, 2, 5)
        q, k, v = qkv.unbind(0)  # each (B, nW, heads, N, d)
        bias = self.bias_table[self._bias_index(wh, ww, x.device)].reshape(n, n, h).permute(2, 0, 1)
        if mask is not None:
            bias = bias + mask  # (nW, heads, N, N)
        # explicit attention: on CPU faster than scaled_dot_product_attention with an additive mask
        scores = (q * self.scale) @ k.transpose(-2, -1) + bias.to(q.dtype)
        out = scores.softmax(dim=-1) @ v
        out = out.permute(0, 1, 3, 2, 4).reshape(b, nw, wh, ww, c)
        return self.proj(out)


#: additive attention mask value between tokens that must not see each other (exp(-100) ~ 0)
_MASKED = -100.0


def shifted_window_mask(h: int, w: int, wh: int, ww: int, sh: int, sw: int,
                        device: torch.device) -> torch.Tensor | None:
    """Additive mask of the (shifted) windows of an ``h x w`` map padded to multiples of the window.

    After the map is padded to ``hp x wp`` and rolled by ``(-sh, -sw)``, the windows at the
    bottom and right edges hold tokens from both sides of the wrap-around; a query may only
    attend to keys that wrapped the same way in both directions, and never to padding tokens.

    Returns:
        ``(nW, 1, N, N)`` float (0 or ``-100``), or ``None`` when nothing is masked.
    """
    hp, wp = -(-h // wh) * wh, -(-w // ww) * ww
    if (hp, wp) == (h, w) and sh == sw == 0:
        return None
    rows, cols = torch.arange(hp, device=device), torch.arange(wp, device=device)
    # where each rolled position came from, and whether it wrapped around the edge
    src_r, src_c = (rows + sh) % hp, (cols + sw) % wp
    wrap_r, wrap_c = rows + sh >= hp, cols + sw >= wp
    group = wrap_r[:, None].long() * 2 + wrap_c[None, :].long()  # (hp, wp): 4 contiguous regions
    valid = (src_r < h)[:, None] & (src_c < w)[None, :]

    def windows(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(hp // wh, wh, wp // ww, ww).permute(0, 2, 1, 3).reshape(-1, wh * ww)

    g, ok = windows(group), windows(valid)
    allowed = (g[:, :, None] == g[:, None, :]) & ok[:, None, :]
    mask = torch.zeros(allowed.shape, device=device).masked_fill_(~allowed, _MASKED)
    return mask[:, None]


class SwinBlock(nn.Module):
    """Swin transformer block: (shifted) window attention and an MLP, each with LayerNorm and a residual.

    Liu et al., "Swin Transformer: hierarchical vision transformer using shifted windows"
    (ICCV 2021).  Windows are ``window x window`` (smaller on maps that are smaller); the map is
    padded to a multiple of the window where needed, padding tokens are never attended to.
    A shifted block rolls the map by half a window before partitioning, and masks attention
    between tokens that only became neighbours through the roll.

    Args:
        dim: token features ``C``.
        heads: attention heads.
        window: window side.
        shift: shift the windows by half a window (every second block of a stage).
        mlp_ratio: hidden size of the MLP relative to ``C``.

    Shape:
        ``(B, H, W, C)`` -> ``(B, H, W, C)``.
    """

    def __init__(self, dim: int, *, heads: int, window: int = 8, shift: bool = False, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.window = window
        self.shift = bool(shift)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads=heads, window=window)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self._masks: dict[tuple, torch.Tensor | None] = {}

    def plan(self, h: int, w: int) -> tuple[int, int, int, int]:
        """Window size ``(wh, ww)`` and shift ``(sh, sw)`` on an ``h x w`` map (no shift where one window covers it)."""
        wh, ww = min(self.window, h), min(self.window, w)
        sh = wh // 2 if self.shift and h > wh else 0
        sw = ww // 2 if self.shift and w > ww else 0
        return wh, ww, sh, sw

    def _mask(self, h: int, w: int, device: torch.device) -> torch.Tensor | None:
        wh, ww, sh, sw = self.plan(h, w)
        key = (h, w, str(device))
        if key not in self._masks:
            if len(self._masks) > 16:
                self._masks.clear()
            self._masks[key] = shifted_window_mask(h, w, wh, ww, sh, sw, device)
        return self._masks[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        wh, ww, sh, sw = self.plan(h, w)
        hp, wp = -(-h // wh) * wh, -(-w // ww) * ww
        y = self.norm1(x)
        if (hp, wp) != (h, w):
            y = F.pad(y, (0, 0, 0, wp - w, 0, hp - h))
        if sh or sw:
            y = torch.roll(y, shifts=(-sh, -sw), dims=(1, 2))
        y = y.reshape(b, hp // wh, wh, wp // ww, ww, c).transpose(2, 3).reshape(b, -1, wh, ww, c)
        y = self.attn(y, self._mask(h, w, x.device))
        y = y.reshape(b, hp // wh, wp // ww, wh, ww, c).transpose(2, 3).reshape(b, hp, wp, c)
        if sh or sw:
            y = torch.roll(y, shifts=(sh, sw), dims=(1, 2))
        x = x + y[:, :h, :w]
        return x + self.mlp(self.norm2(x))


class _SwinStage(nn.Module):
    """``depth`` Swin blocks, every second one with shifted windows."""

    def __init__(self, dim: int, depth: int, window: int) -> None:
        super().__init__()
        heads = _heads(dim)
        self.blocks = nn.ModuleList([SwinBlock(dim, heads=heads, window=window, shift=bool(i % 2))
                                     for i in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


def _space_to_depth(x: torch.Tensor) -> torch.Tensor:
    """``(B, H, W, C)`` -> ``(B, H/2, W/2, 4C)``: each 2x2 patch becomes one token."""
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h // 2, w // 2, 4 * c)


def _depth_to_space(x: torch.Tensor) -> torch.Tensor:
    """``(B, H, W, 4C)`` -> ``(B, 2H, 2W, C)``, the inverse of :func:`_space_to_depth`."""
    b, h, w, c4 = x.shape
    c = c4 // 4
    return x.reshape(b, h, w, 2, 2, c).permute(0, 1, 3, 2, 4, 5).reshape(b, 2 * h, 2 * w, c)


class _PatchMerge(nn.Module):
    """Swin patch merging: 2x2 neighbours concatenated, LayerNorm, linear to ``dout`` (halves H and W)."""

    def __init__(self, din: int, dout: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * din)
        self.proj = nn.Linear(4 * din, dout, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.norm(_space_to_depth(x)))


class _PatchSplit(nn.Module):
    """Inverse of patch merging: LayerNorm, linear to ``4 dout``, pixel shuffle (doubles H and W)."""

    def __init__(self, din: int, dout: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(din)
        self.proj = nn.Linear(din, 4 * dout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _depth_to_space(self.proj(self.norm(x)))


class SNRModulation(nn.Module):
    """WITT's channel-wise SNR modulation: per-token sigmoid scales from the features and the SNR.

    ``y = x * sigmoid(W2 gelu(W1 x + w_s snr / snr_scale))`` (Yang et al., WITT, ICASSP 2023).

    Args:
        dim: token features ``C``.
        hidden: width of the hidden layer (default ``max(C // 2, 8)``).
        snr_scale: the SNR in dB is divided by this before entering the network.

    Shape:
        x: ``(B, H, W, C)``; snr_db: ``(B,)`` -> ``(B, H, W, C)``.
    """

    def __init__(self, dim: int, *, hidden: int | None = None, snr_scale: float = 20.0) -> None:
        super().__init__()
        hidden = hidden or max(dim // 2, 8)
        self.snr_scale = float(snr_scale)
        self.fc1 = nn.Linear(dim, hidden)
        self.snr = nn.Linear(1, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        s = self.snr((snr_db.to(x.dtype).reshape(-1, 1) / self.snr_scale).expand(x.shape[0], 1))
        gate = torch.sigmoid(self.fc2(F.gelu(self.fc1(x) + s[:, None, None, :])))
        return x * gate


def _swin_dims(width: int, stages: int) -> list[int]:
    """Feature sizes of the stages: ``width``, 1.5, 2 and 2 times ``width``."""
    return [width * m // 2 for m in (2, 3, 4, 4)[:stages]]


def _init_swin(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class SwinEncoder(nn.Module):
    """Swin-transformer JSCC encoder (WITT / SwinJSCC style).

    2x2 patch embedding, then one stage of Swin blocks per resolution with patch merging between
    stages down to ``1/downsample``, LayerNorm and a linear head to the latent; with ``adaptive``
    an SNR modulation (WITT) follows every stage from 1/4 resolution down.  Stage features are
    ``width x (1, 1.5, 2, 2)``, heads of about 32 features, windows of 8 (smaller on small maps).

    Args:
        latent_channels: ``2k`` output channels.
        width: feature size of the first stage (even).
        adaptive: insert SNR modulation.
        depth: Swin blocks per stage (alternating plain and shifted windows).
        downsample: 16 (four stages) or 8 (three).
        window: window side.
        in_channels: channels of the input (3: an RGB frame).

    Shape:
        x: ``(B, in_channels, H, W)`` with H, W multiples of ``downsample``; snr_db ``(B,)``
        -> ``(B, 2k, H/ds, W/ds)``.
    """

    def __init__(self, *, latent_channels: int, width: int, adaptive: bool, depth: int = 2,
                 downsample: int = 16, window: int = 8, in_channels: int = 3) -> None:
        super().__init__()
        n = _stages(downsample)
        dims = _swin_dims(width, n)
        self.embed = nn.Conv2d(in_channels, dims[0], 2, stride=2)
        self.embed_norm = nn.LayerNorm(dims[0])
        self.stages = nn.ModuleList([_SwinStage(d, depth, window) for d in dims])
        self.merges = nn.ModuleList([_PatchMerge(dims[i], dims[i + 1]) for i in range(n - 1)])
        self.mod = nn.ModuleList([SNRModulation(d) for d in dims[1:]]) if adaptive else None
        self.head_norm = nn.LayerNorm(dims[-1])
        self.head = nn.Linear(dims[-1], latent_channels)
        _init_swin(self)

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        x = self.embed_norm(self.embed(x).permute(0, 2, 3, 1))  # (B, H/2, W/2, C)
        for i, stage in enumerate(self.stages):
            if i:
                x = self.merges[i - 1](x)
            x = stage(x)
            if self.mod is not None and i:
                x = self.mod[i - 1](x, snr_db)
        return self.head(self.head_norm(x)).permute(0, 3, 1, 2)


class SwinDecoder(nn.Module):
    """Swin-transformer JSCC decoder, mirror of :class:`SwinEncoder`.

    A linear layer from the latent, then per resolution (lowest first) an SNR modulation (when
    ``adaptive``, down to 1/4 resolution), a stage of Swin blocks and a patch split (LayerNorm,
    linear, pixel shuffle) to the next resolution; the last split gives RGB, then a sigmoid.

    Args:
        latent_channels, width, adaptive, depth, downsample, window: as :class:`SwinEncoder`.
        out_channels: channels of the output (3: an RGB frame).
        output: ``"sigmoid"`` (values in [0, 1]) or ``"linear"`` (the last split as it is).

    Shape:
        z: ``(B, 2k, h, w)``; snr_db ``(B,)`` -> ``(B, out_channels, ds h, ds w)``.
    """

    def __init__(self, *, latent_channels: int, width: int, adaptive: bool, depth: int = 2,
                 downsample: int = 16, window: int = 8, out_channels: int = 3, output: str = "sigmoid") -> None:
        super().__init__()
        n = _stages(downsample)
        self.output = _output_mode(output)
        dims = _swin_dims(width, n)[::-1]  # lowest resolution first
        self.inp = nn.Linear(latent_channels, dims[0])
        self.mod = nn.ModuleList([SNRModulation(d) for d in dims[:-1]]) if adaptive else None
        self.stages = nn.ModuleList([_SwinStage(d, depth, window) for d in dims])
        self.splits = nn.ModuleList([_PatchSplit(dims[i], dims[i + 1] if i + 1 < n else out_channels)
                                     for i in range(n)])
        _init_swin(self)

    def forward(self, z: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        x = self.inp(z.permute(0, 2, 3, 1))
        for i, (stage, split) in enumerate(zip(self.stages, self.splits)):
            if self.mod is not None and i < len(self.mod):
                x = self.mod[i](x, snr_db)
            x = split(stage(x))
        return _finish(x.permute(0, 3, 1, 2), self.output)


# ================================================================================== registry

@dataclass(frozen=True)
class Backbone:
    """A registered backbone: its encoder and decoder classes and default sizes.

    Args:
        name: the name codecs take as ``backbone=``.
        encoder, decoder: the network classes (keyword arguments ``latent_channels``, ``width``,
            ``adaptive``, ``depth``, ``downsample``; ``in_channels`` for the encoder,
            ``out_channels`` and ``output`` for the decoder).
        width: default ``width`` (channels of the conv backbones, first-stage features of swin).
        depth: default ``depth`` (stride-1 layers, residual blocks or Swin blocks per stage).
        min_width: smallest ``width`` accepted (``width`` must also be even).
        help: one line for listings.
    """

    name: str
    encoder: Callable[..., nn.Module]
    decoder: Callable[..., nn.Module]
    width: int
    depth: int
    min_width: int
    help: str


BACKBONES: dict[str, Backbone] = {b.name: b for b in (
    Backbone("conv", JSCCEncoder, JSCCDecoder, width=64, depth=1, min_width=4,
             help="DeepJSCC convolutions with GDN and AF modules (ADJSCC)"),
    Backbone("resconv", ResConvEncoder, ResConvDecoder, width=64, depth=1, min_width=4,
             help="residual convolutions with attention modules (Cheng et al. 2020) and AF modules"),
    Backbone("swin", SwinEncoder, SwinDecoder, width=64, depth=2, min_width=8,
             help="Swin transformer stages with shifted windows and SNR modulation (WITT / SwinJSCC)"),
)}


def backbone_defaults(name: str, *, width: int | None = None, depth: int | None = None,
                      downsample: int = 16) -> tuple[int, int, int]:
    """Validated ``(width, depth, downsample)`` of backbone ``name``, defaults filled in.

    Raises:
        ValueError: unknown backbone, a width or depth it cannot take, a downsampling other
            than 8 or 16.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r} (known: {', '.join(BACKBONES)})")
    spec = BACKBONES[name]
    for key, value in (("width", width), ("depth", depth)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{key} must be an integer, got {value!r}")
    width = spec.width if width is None else width
    depth = spec.depth if depth is None else depth
    if width < spec.min_width or width % 2:
        raise ValueError(f"width must be an even integer >= {spec.min_width} for backbone {name!r}, got {width}")
    if depth < 1:
        raise ValueError(f"depth must be an integer >= 1, got {depth}")
    _stages(downsample)
    return width, depth, downsample


def _sizes(name: str, latent_channels: int, width: int | None, depth: int | None,
           downsample: int) -> dict[str, int]:
    width, depth, downsample = backbone_defaults(name, width=width, depth=depth, downsample=downsample)
    if isinstance(latent_channels, bool) or not isinstance(latent_channels, int) \
            or latent_channels < 2 or latent_channels % 2:
        raise ValueError(f"latent_channels must be an even integer >= 2, got {latent_channels}")
    return dict(latent_channels=latent_channels, width=width, depth=depth, downsample=downsample)


def _channels(key: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive integer, got {value!r}")
    return value


def build_encoder(name: str, *, latent_channels: int, width: int | None = None, depth: int | None = None,
                  downsample: int = 16, adaptive: bool, in_channels: int = 3) -> nn.Module:
    """The encoder of backbone ``name`` for ``in_channels`` input channels (``None`` sizes: the backbone's).

    Shape:
        ``(B, in_channels, H, W)``, ``(B,)`` -> ``(B, latent_channels, H/ds, W/ds)``.
    """
    kw = _sizes(name, latent_channels, width, depth, downsample)
    return BACKBONES[name].encoder(**kw, adaptive=bool(adaptive), in_channels=_channels("in_channels", in_channels))


def build_decoder(name: str, *, latent_channels: int, width: int | None = None, depth: int | None = None,
                  downsample: int = 16, adaptive: bool, out_channels: int = 3, output: str = "sigmoid") -> nn.Module:
    """The decoder of backbone ``name`` with ``out_channels`` outputs in mode ``output`` (see :data:`OUTPUTS`).

    Shape:
        ``(B, latent_channels, h, w)``, ``(B,)`` -> ``(B, out_channels, ds h, ds w)`` (in [0, 1] with
        ``output="sigmoid"``, unbounded with ``"linear"``).
    """
    kw = _sizes(name, latent_channels, width, depth, downsample)
    return BACKBONES[name].decoder(**kw, adaptive=bool(adaptive), out_channels=_channels("out_channels", out_channels),
                                   output=_output_mode(output))


def build_backbone(name: str, *, latent_channels: int, width: int | None = None, depth: int | None = None,
                   downsample: int = 16, adaptive: bool) -> tuple[nn.Module, nn.Module]:
    """The encoder and decoder of backbone ``name`` for RGB frames (``None`` sizes: the backbone's defaults).

    Args:
        name: ``"conv"``, ``"resconv"`` or ``"swin"`` (see :data:`BACKBONES`).
        latent_channels: channels of the real latent (``2k``; even).
        width, depth: size knobs (see :class:`Backbone`).
        downsample: 16 or 8, the latent grid relative to the frame.
        adaptive: the networks read the SNR.

    Shape:
        encoder: ``(B, 3, H, W)``, ``(B,)`` -> ``(B, latent_channels, H/ds, W/ds)``;
        decoder: ``(B, latent_channels, h, w)``, ``(B,)`` -> ``(B, 3, ds h, ds w)`` in [0, 1].
    """
    kw = dict(latent_channels=latent_channels, width=width, depth=depth, downsample=downsample, adaptive=adaptive)
    return build_encoder(name, **kw), build_decoder(name, **kw)
