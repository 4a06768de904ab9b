"""``unet-xattn``: the deblurring decoder of EV-JSCC — a U-Net whose encoder fuses event features
into the image features at every level with a cross-attention block.

Follows the deblurring decoder of EV-JSCC (Sec. III-C: a U-Net [Ronneberger et al. 2015] with a
cross-attention block [EFNet, Sun et al. ECCV 2022] at each encoder level, skip connections to
the decoder) in a compact form that runs a 256x256 frame in a few tens of milliseconds on a CPU:

* both inputs are first folded 2x2 into channels (pixel unshuffle), so no convolution runs at
  full resolution;
* three encoder levels (1/2, 1/4, 1/8 of the input size) with ``width``, ``2 width``,
  ``4 width`` image channels and half as many event channels;
* the cross-attention is EFNet-style *channel* attention: queries from the image features,
  keys and values from the event features, attention weights between channels computed over
  all pixels (cost linear in the number of pixels);
* a residual block at the bottom, a decoder of transposed convolutions whose outputs are added
  to the encoder features of the same level (skip connections), and an output head at 1/2
  resolution followed by a 2x2 pixel shuffle back to full resolution.  Two heads (``head``):

  - ``"gain-offset"`` (the default, and what every checkpoint without a ``head`` entry holds):
    per pixel a *gain* and a grey *offset* shared by the three colour channels,
    ``out = image * g + o`` with ``g`` in ``[e^-2, e^2]``.  Deblurring models (EDI, SDM) correct a
    blurry pixel by one factor for all colours; when it was chosen, a free RGB residual learned
    the colour casts of the few training pictures then used and shifted the colours of others
    (measured: -2 dB on the evaluation set).  It cannot change a pixel's chroma beyond scaling
    it and adding grey: a colour shift is out of its reach.
  - ``"rgb-residual"``: a free three-channel residual added to the input frame,
    ``out = image + r``, as the cross-attention network EV-JSCC takes its fusion block from
    (EFNet, Sun et al. ECCV 2022) predicts its output: any RGB correction, chroma included.

  Both heads start at zero (the untrained network returns its input).

Example:
    >>> net = UNetXAttn(event_channels=6)
    >>> out = net(torch.rand(1, 3, 64, 64), events=torch.zeros(1, 6, 64, 64))
    >>> tuple(out.shape)
    (1, 3, 64, 64)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from semcom.registry import RECEIVERS
from semcom.receivers.base import Receiver
from semcom.sources.base import Batch

__all__ = ["ChannelCrossAttention", "UNetXAttn", "HEADS"]

#: input sizes are padded to a multiple of this (2x2 fold, then two stride-2 levels)
MULTIPLE = 8
#: the per-pixel gain of the output lies in [exp(-MAX_LOG_GAIN), exp(MAX_LOG_GAIN)]
MAX_LOG_GAIN = 2.0
#: the output heads (see the module doc): maps per output pixel each predicts
HEADS = {"gain-offset": 2, "rgb-residual": 3}
#: the head of a model whose configuration names none (every checkpoint made before the option)
DEFAULT_HEAD = "gain-offset"


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


class ChannelCrossAttention(nn.Module):
    """Image features attend to event features across channels (EFNet's event-image cross attention).

    ``q = Wq x``, ``k = Wk e``, ``v = Wv e`` (1x1 convolutions), split into ``heads`` groups of
    channels; per head ``A = softmax(tau * norm(q) norm(k)^T)`` is a ``(C/h, C/h)`` matrix of
    cosine similarities over all pixels and the output ``x + Wo (A v)``.

    Args:
        channels: image feature channels ``C`` (divisible by ``heads``).
        event_channels: event feature channels.
        heads: attention heads.

    Shape:
        x: ``(B, C, H, W)``, e: ``(B, Ce, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(self, channels: int, event_channels: int, *, heads: int = 2) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.heads = heads
        # 1x1 projections, applied as matrix products over the flattened pixels
        self.q = nn.Linear(channels, channels)
        self.kv = nn.Linear(event_channels, 2 * channels)
        self.out = nn.Linear(channels, channels)
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n, d = h * w, c // self.heads
        # pixels-major views (free for channels-last tensors): (B, N, C)
        xf = x.permute(0, 2, 3, 1).reshape(b, n, c)
        ef = e.permute(0, 2, 3, 1).reshape(b, n, e.shape[1])
        wk, wv = self.kv.weight[:c], self.kv.weight[c:]
        bk, bv = self.kv.bias[:c], self.kv.bias[c:]
        q = torch.baddbmm(self.q.bias, xf, self.q.weight.t().expand(b, -1, -1))
        k = torch.baddbmm(bk, ef, wk.t().expand(b, -1, -1))
        # cosine similarity over all pixels between every query and key channel
        gram = torch.bmm(q.transpose(1, 2), k)                                  # (B, C, C)
        qn = q.square().sum(1).clamp_min(1e-12).sqrt()
        kn = k.square().sum(1).clamp_min(1e-12).sqrt()
        cos = gram / (qn[:, :, None] * kn[:, None, :])
        blocks = torch.diagonal(cos.reshape(b, self.heads, d, self.heads, d), dim1=1, dim2=3)  # (B, d, d, H)
        attn = torch.softmax(blocks.permute(0, 3, 1, 2) * self.temperature, dim=-1)        # (B, H, d, d)
        full = x.new_zeros(b, c, c)
        for i in range(self.heads):
            full[:, i * d:(i + 1) * d, i * d:(i + 1) * d] = attn[:, i]
        # out = Wo (A (Wv e + bv)) + bo, folded into one (Ce x C) matrix per sample
        mix = full.transpose(1, 2) @ self.out.weight.t()                        # (B, C, C)
        proj = wv.t() @ mix                                                     # (B, Ce, C)
        bias = (bv @ mix) + self.out.bias                                       # (B, C)
        fused = torch.baddbmm(bias[:, None, :], ef, proj)                        # (B, N, C)
        return x + fused.reshape(b, h, w, c).permute(0, 3, 1, 2)


class _ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = _act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


@RECEIVERS.register("unet-xattn", help="U-Net deblurring decoder with event-image cross attention (EV-JSCC)")
class UNetXAttn(Receiver):
    """U-Net deblurring decoder with event-image cross attention at every encoder level.

    Without events (``events=None`` and no ``batch.events``) a zero event tensor is used, which
    is how EV-JSCC defines its DeepJSCC-Deblur baseline.  In training mode the output is not
    clamped (so the loss sees the residual's gradient everywhere); in evaluation mode it is
    clamped to [0, 1].

    Args:
        event_channels: channels ``Ce`` of the event representation (SCER bins).
        width: image channels of the first level (the levels have ``w, 2w, 4w``); even.
        heads: attention heads of the cross-attention blocks.
        use_batch_events: with ``events=None``, read ``batch.events`` (side information the
            link treats as available at the receiver) instead of zeros.
        event_scale: the events are divided by this first (8 suits raw SCER counts; the EV-JSCC
            codecs pass events already scaled, hence the default 1).
        head: ``"gain-offset"`` (default: ``out = image * g + o``, one gain and a grey offset
            per pixel) or ``"rgb-residual"`` (``out = image + r``, a free RGB residual); see
            the module doc.  The head's weights are the submodule ``head`` either way (8 or 12
            output channels before the 2x2 unfold).

    Shape:
        image: ``(B, 3, H, W)``; events: ``(B, Ce, H, W)`` or ``None`` -> ``(B, 3, H, W)``.
        Any ``H, W``: inputs are padded to a multiple of 8 and the output cropped back.
    """

    def __init__(self, *, event_channels: int = 6, width: int = 24, heads: int = 2,
                 use_batch_events: bool = False, event_scale: float = 1.0, head: str = DEFAULT_HEAD) -> None:
        super().__init__()
        if not isinstance(head, str) or head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(map(repr, HEADS))}, got {head!r}")
        #: which output head (``self.head`` holds its weights)
        self.head_kind = head
        if int(event_channels) != event_channels or event_channels < 1:
            raise ValueError(f"event_channels must be a positive integer, got {event_channels}")
        if int(width) != width or width < 4 or width % 2:
            raise ValueError(f"width must be an even integer >= 4, got {width}")
        if width % heads:
            raise ValueError(f"width ({width}) must be divisible by heads ({heads})")
        self.event_channels, self.width, self.heads = int(event_channels), int(width), int(heads)
        self.use_batch_events = bool(use_batch_events)
        if isinstance(event_scale, bool) or not isinstance(event_scale, (int, float)) or not event_scale > 0:
            raise ValueError(f"event_scale must be a positive number, got {event_scale!r}")
        self.event_scale = float(event_scale)
        c1, c2, c3 = width, 2 * width, 4 * width
        e1, e2, e3 = width // 2, width, 2 * width
        ce = self.event_channels
        # encoder: level 1 at 1/2 (after a 2x2 fold), level 2 at 1/4, level 3 at 1/8
        self.img1 = nn.Sequential(nn.Conv2d(12, c1, 3, padding=1), _act())
        self.evt1 = nn.Sequential(nn.Conv2d(4 * ce, e1, 3, padding=1), _act())
        self.att1 = ChannelCrossAttention(c1, e1, heads=heads)
        self.img2 = nn.Sequential(nn.Conv2d(c1, c2, 3, stride=2, padding=1), _act())
        self.evt2 = nn.Sequential(nn.Conv2d(e1, e2, 3, stride=2, padding=1), _act())
        self.att2 = ChannelCrossAttention(c2, e2, heads=heads)
        self.img3 = nn.Sequential(nn.Conv2d(c2, c3, 3, stride=2, padding=1), _act())
        self.evt3 = nn.Sequential(nn.Conv2d(e2, e3, 3, stride=2, padding=1), _act())
        self.att3 = ChannelCrossAttention(c3, e3, heads=heads)
        self.bottom = _ResBlock(c3)
        # decoder
        self.up2 = nn.ConvTranspose2d(c3, c2, 2, stride=2)
        self.dec2 = nn.Sequential(nn.Conv2d(c2, c2, 3, padding=1), _act())
        self.up1 = nn.ConvTranspose2d(c2, c1, 2, stride=2)
        self.dec1 = nn.Sequential(nn.Conv2d(c1, c1, 3, padding=1), _act())
        # per output pixel (after the 2x2 unfold): a log-gain and a grey offset, or an RGB residual
        self.head = nn.Conv2d(c1, 4 * HEADS[head], 3, padding=1)
        nn.init.zeros_(self.head.weight)  # start as the identity map (gain 1, offset 0 / residual 0)
        nn.init.zeros_(self.head.bias)

    def forward(self, image: torch.Tensor, *, events: torch.Tensor | None = None,
                batch: Batch | None = None) -> torch.Tensor:
        b, c, h, w = image.shape
        if c != 3:
            raise ValueError(f"unet-xattn expects RGB images (B, 3, H, W), got {tuple(image.shape)}")
        if events is None and self.use_batch_events and batch is not None:
            events = batch.events
        if events is None:
            events = image.new_zeros(b, self.event_channels, h, w)
        if events.shape[1] != self.event_channels or events.shape[-2:] != image.shape[-2:]:
            raise ValueError(f"unet-xattn built for {self.event_channels} event channels at the image size "
                             f"{h}x{w}, got events of shape {tuple(events.shape)}")
        ph, pw = (-h) % MULTIPLE, (-w) % MULTIPLE
        x, ev = image, events.to(image.dtype)
        if self.event_scale != 1.0:
            ev = ev / self.event_scale
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
            ev = F.pad(ev, (0, pw, 0, ph))
        cl = torch.channels_last  # ~1.5x faster convolutions on CPU
        e1 = self.evt1(F.pixel_unshuffle(ev, 2).contiguous(memory_format=cl))
        f1 = self.att1(self.img1(F.pixel_unshuffle(x, 2).contiguous(memory_format=cl)), e1)
        e2 = self.evt2(e1)
        f2 = self.att2(self.img2(f1), e2)
        f3 = self.att3(self.img3(f2), self.evt3(e2))
        y = self.bottom(f3)
        y = self.dec2(self.up2(y) + f2)
        y = self.dec1(self.up1(y) + f1)
        maps = F.pixel_shuffle(self.head(y), 2)
        if self.head_kind == "rgb-residual":
            # any RGB correction of the input frame (EFNet's output: the last layer's residual plus the image)
            out = x + maps
        else:
            log_gain, offset = maps[:, :1], maps[:, 1:]
            # the same correction for the three colour channels: a deblurred pixel is the blurry one times a
            # per-pixel factor (as in EDI and SDM), plus a grey offset
            out = x * torch.exp(MAX_LOG_GAIN * torch.tanh(log_gain / MAX_LOG_GAIN)) + offset
        out = out[:, :, :h, :w].contiguous()
        return out if self.training else out.clamp(0.0, 1.0)
