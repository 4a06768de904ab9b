"""STRA (event-guided video deblurring): a U-Net over three consecutive blurry frames with a Spatial
Fusion Block (SFB) and a Temporal Memory Block (TMB), after the STRA paper (``../shared/papers/stra.txt``,
Sec. 3, Eq. 1-5, Fig. 2).

* **Frames.** The blurry frames ``B_{t-1}, B_t, B_{t+1}`` enter one U-Net encoder together, folded 2x2
  into channels first (as the project's single-frame U-Net does, for four times cheaper convolutions); its
  three levels give the maps ``CB1`` (1/2), ``CB2`` (1/4) and ``CB3`` (1/8 resolution).
* **Events.** One event encoder (shared by the three event sequences) brings each sequence's
  representation to the scale of ``CB3``.
* **TMB** (Eq. 4-5): a common convolution gives ``F_m`` for the previous and the next event sequence;
  a convolution of its own per direction gives the keys and values ``K_{t-1}, V_{t-1}`` and
  ``K_{t+1}, V_{t+1}``, stored in temporal order; the reader queries the concatenated memory with the
  current sequence's features (scaled dot products, softmax over every stored position) and adds what it
  reads to them.  ``memory=False`` skips it: the neighbours' events are then not read at all.
* **SFB** (Eq. 1-3): ``CB = Conv(Concat(CB1↓, CB2↓, CB3))``, then the non-local fusion
  ``Feat_i = 1/N Σ_j θ(E_i)ᵀ φ(F_j) g(F_j)`` (queries from the events, keys and values from the frames,
  normalized by the number of positions ``N``, computed as ``θ(E) (φ(F)ᵀ g(F)) / N`` in ``O(N d²)``),
  added to ``CB`` through a 1x1 convolution, and brought back to the three scales (``EB1..3``) to join the
  decoder.  ``events=False`` (STRA without events, the paper's frame-only ablation) fuses ``CB`` alone.
* **Decoder**: up-convolutions with the encoder's skips plus ``EB``; the output is ``B_t`` corrected by a
  predicted residual, in the form the project's single-frame U-Net uses (a per-pixel gain shared by the
  colour channels and a grey offset, starting as the identity) rather than the paper's free RGB residual,
  so that the two back-ends differ in what they see, not in how they write their output.

:class:`STRAReceiver` (registered back-end ``stra``) runs it on the frames a link delivers: each frame of
a batch with its sequence's previous and next frame (:func:`semcom.sources.video.sequence_neighbours`;
a sequence's first and last frame stand in for their missing neighbour) and their event representations.

Shapes: ``frames (B, 3, 3, H, W)`` (previous, current, next), ``events (B, 3, C, H, W)`` in the same
order; ``H`` and ``W`` multiples of 8 (padded by the caller otherwise).
"""

from __future__ import annotations

import math

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from semcom.errors import SemcomError
from semcom.receivers.base import Receiver
from semcom.receivers.unet_xattn import MAX_LOG_GAIN
from semcom.registry import RECEIVERS
from semcom.sources.base import Batch

__all__ = ["STRA", "STRAReceiver", "TemporalMemory", "SpatialFusion"]


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.LeakyReLU(0.1, inplace=True))


class TemporalMemory(nn.Module):
    """TMB: keys and values of the previous and next event features (common conv, then one conv per
    direction, Eq. 4-5), read by attention from the current event features."""

    def __init__(self, channels: int, key_channels: int | None = None) -> None:
        super().__init__()
        k = key_channels or max(8, channels // 2)
        self.common = _conv(channels, channels)
        self.prev = nn.Conv2d(channels, k + channels, 1)   # K_{T-1}, V_{T-1}
        self.next = nn.Conv2d(channels, k + channels, 1)   # K_{T+1}, V_{T+1}
        self.query = nn.Conv2d(channels, k, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        self.k = k

    def forward(self, current: torch.Tensor, previous: torch.Tensor, following: torch.Tensor) -> torch.Tensor:
        b, c, h, w = current.shape
        kv_prev = self.prev(self.common(previous)).flatten(2)
        kv_next = self.next(self.common(following)).flatten(2)
        kv = torch.cat([kv_prev, kv_next], dim=2)            # the memory, in temporal order: (B, k + C, 2N)
        keys, values = kv[:, :self.k], kv[:, self.k:]
        q = self.query(current).flatten(2)                   # (B, k, N)
        attn = torch.softmax(torch.einsum("bkn,bkm->bnm", q, keys) / math.sqrt(self.k), dim=-1)
        read = torch.einsum("bnm,bcm->bcn", attn, values).reshape(b, c, h, w)
        return current + self.out(read)


class SpatialFusion(nn.Module):
    """SFB: multi-scale frame features fused (Eq. 1) and joined with the event features by non-local
    attention normalized by the number of positions (Eq. 2-3)."""

    def __init__(self, widths: tuple[int, int, int], event_channels: int | None, inner: int | None = None) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.fuse = nn.Conv2d(w1 + w2 + w3, w3, 1)
        d = inner or max(8, w3 // 2)
        self.with_events = event_channels is not None
        if self.with_events:
            self.theta = nn.Conv2d(event_channels, d, 1)
            self.phi = nn.Conv2d(w3, d, 1)
            self.g = nn.Conv2d(w3, d, 1)
            self.z = nn.Conv2d(d, w3, 1)
        self.back = nn.ModuleList([nn.Conv2d(w3, w, 1) for w in widths])

    def forward(self, cb1: torch.Tensor, cb2: torch.Tensor, cb3: torch.Tensor,
                events: torch.Tensor | None) -> list[torch.Tensor]:
        size = cb3.shape[-2:]
        cb = self.fuse(torch.cat([F.adaptive_avg_pool2d(cb1, size), F.adaptive_avg_pool2d(cb2, size), cb3], 1))
        if self.with_events:
            b, _, h, w = cb.shape
            theta = self.theta(events).flatten(2)                      # (B, d, N)
            phi, g = self.phi(cb).flatten(2), self.g(cb).flatten(2)    # (B, d, N)
            n = phi.shape[-1]
            context = torch.einsum("bdn,ben->bde", phi, g) / n         # Σ_j φ(F_j) g(F_j)ᵀ / N
            feat = torch.einsum("bdn,bde->ben", theta, context).reshape(b, -1, h, w)
            cb = cb + self.z(feat)
        return [proj(F.interpolate(cb, size=ref.shape[-2:], mode="bilinear", align_corners=False))
                for proj, ref in zip(self.back, (cb1, cb2, cb3))]


class STRA(nn.Module):
    """The STRA network (see the module docstring).

    Args:
        event_channels: channels of one event sequence's representation (SCER: 6).
        width: channels of the first level (levels ``w, 2w, 4w``).
        memory: use the TMB (the neighbours' event sequences); ``False``: STRA without TMB.
        events: use events at all; ``False``: the frame-only STRA.
        event_skips: also join the current event sequence's features at the two finer scales (1/2, 1/4)
            to the decoder, through a 1x1 convolution each (ours, not the paper's: there the events reach
            the decoder only through the SFB, at the coarsest scale).
    """

    def __init__(self, *, event_channels: int = 6, width: int = 16, memory: bool = True, events: bool = True,
                 event_skips: bool = False) -> None:
        super().__init__()
        w1, w2, w3 = width, 2 * width, 4 * width
        self.memory, self.events = bool(memory and events), bool(events)
        self.event_skips = bool(event_skips and events)
        self.enc1 = nn.Sequential(_conv(36, w1), _conv(w1, w1))
        self.enc2 = nn.Sequential(_conv(w1, w2, 2), _conv(w2, w2))
        self.enc3 = nn.Sequential(_conv(w2, w3, 2), _conv(w3, w3))
        if self.events:
            self.event_encoder = nn.Sequential(_conv(4 * event_channels, w1), _conv(w1, w2, 2), _conv(w2, w3, 2),
                                               _conv(w3, w3))
        if self.event_skips:
            self.skip1, self.skip2 = nn.Conv2d(w1, w1, 1), nn.Conv2d(w2, w2, 1)
        self.tmb = TemporalMemory(w3) if self.memory else None
        self.sfb = SpatialFusion((w1, w2, w3), w3 if self.events else None)
        self.dec3 = _conv(w3, w3)
        self.up2 = nn.ConvTranspose2d(w3, w2, 2, stride=2)
        self.dec2 = _conv(2 * w2, w2)
        self.up1 = nn.ConvTranspose2d(w2, w1, 2, stride=2)
        self.dec1 = _conv(2 * w1, w1)
        self.head = nn.Conv2d(w1, 8, 3, padding=1)  # log-gain and grey offset per pixel of each 2x2 fold
        nn.init.zeros_(self.head.weight)  # start as the identity map
        nn.init.zeros_(self.head.bias)

    def forward(self, frames: torch.Tensor, events: torch.Tensor | None = None) -> torch.Tensor:
        if frames.ndim != 5 or frames.shape[1] != 3 or frames.shape[2] != 3:
            raise ValueError(f"STRA takes three RGB frames (B, 3, 3, H, W), got {tuple(frames.shape)}")
        b, _, _, h, w = frames.shape
        if h % 8 or w % 8:
            raise ValueError(f"STRA needs H and W multiples of 8, got {h}x{w}")
        cl = torch.channels_last  # faster convolutions on CPU
        cb1 = self.enc1(F.pixel_unshuffle(frames.reshape(b, 9, h, w), 2).contiguous(memory_format=cl))
        cb2 = self.enc2(cb1)
        cb3 = self.enc3(cb2)
        ev, skips = None, (0, 0)
        if self.events:
            if events is None or events.ndim != 5 or events.shape[1] != 3:
                raise ValueError("STRA with events takes three event sequences (B, 3, C, H, W)")
            enc = self.event_encoder
            # without the memory only the current sequence is read
            seqs = events.flatten(0, 1) if self.memory else events[:, 1]
            e1 = enc[0](F.pixel_unshuffle(seqs, 2).contiguous(memory_format=cl))
            e2 = enc[1](e1)
            e3 = enc[3](enc[2](e2))
            if self.memory:
                feats = e3.unflatten(0, (b, 3))
                ev = self.tmb(feats[:, 1], feats[:, 0], feats[:, 2])
                e1, e2 = e1.unflatten(0, (b, 3))[:, 1], e2.unflatten(0, (b, 3))[:, 1]
            else:
                ev = e3
            if self.event_skips:
                skips = (self.skip1(e1), self.skip2(e2))
        eb1, eb2, eb3 = self.sfb(cb1, cb2, cb3, ev)
        x = self.dec3(cb3 + eb3)
        x = self.dec2(torch.cat([self.up2(x), cb2 + eb2 + skips[1]], 1))
        x = self.dec1(torch.cat([self.up1(x), cb1 + eb1 + skips[0]], 1))
        log_gain, offset = F.pixel_shuffle(self.head(x), 2).split(1, dim=1)
        return frames[:, 1] * torch.exp(MAX_LOG_GAIN * torch.tanh(log_gain / MAX_LOG_GAIN)) + offset


@RECEIVERS.register("stra", help="STRA video deblurring: each frame with its sequence's neighbours and their "
                                 "events (SFB + TMB); needs sequence batches")
class STRAReceiver(Receiver):
    """The STRA back-end on a link's decoded frames.

    A batch holds whole sequences in order (the runner and the trainer batch sequence sources so);
    frame ``t`` is restored from frames ``t-1, t, t+1`` and their event representations, the decoded
    ones when the codec delivers events, else ``batch.events`` with ``use_batch_events``.

    Args:
        width, memory, events, event_skips: the network's (:class:`STRA`); ``events=False`` is the
            frame-only STRA.
        event_channels: channels of one event representation (SCER: 6).
        event_scale: the events are divided by this first (8 suits raw SCER counts).
        use_batch_events: with no decoded events, read the source's (exact side information).
        weights: ``None`` (untrained), ``"shipped"`` (the checkpoint shipped for link ``stra``),
            ``"shipped:LINK"`` (the one shipped for link ``LINK``, e.g. ``stra-skips``) or the path of a
            checkpoint trained by a link with this back-end (``semcom train --link stra``).

    Shape:
        image ``(N, 3, H, W)``, events ``(N, C, H, W)`` -> ``(N, 3, H, W)``; any ``H, W`` (padded to a
        multiple of 8 and cropped back).
    """

    #: the link whose training checkpoint is shipped for this back-end
    shipped_link = "stra"

    def __init__(self, *, width: int = 16, memory: bool = True, events: bool = True, event_skips: bool = False,
                 event_channels: int = 6, event_scale: float = 8.0, use_batch_events: bool = False,
                 weights: str | Path | None = None) -> None:
        super().__init__()
        for name, v in (("width", width), ("event_channels", event_channels)):
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(event_scale, bool) or not isinstance(event_scale, (int, float)) or not event_scale > 0:
            raise ValueError(f"event_scale must be a positive number, got {event_scale!r}")
        self.event_scale, self.use_batch_events = float(event_scale), bool(use_batch_events)
        self.with_events, self.event_channels = bool(events), int(event_channels)
        self.net = STRA(event_channels=int(event_channels), width=int(width), memory=memory, events=events,
                        event_skips=event_skips)
        if weights is not None:
            self.load_weights(weights, name="stra", architecture=f"STRA (width {width}, memory {memory}, events "
                                                                  f"{events}, event_skips {event_skips})")

    def forward(self, image: torch.Tensor, *, events: torch.Tensor | None = None,
                batch: Batch | None = None) -> torch.Tensor:
        n, c, h, w = image.shape
        if c != 3:
            raise ValueError(f"stra expects RGB frames (N, 3, H, W), got {tuple(image.shape)}")
        prev, nxt = (i.to(image.device) for i in _neighbours(batch, n))
        frames = torch.stack([image[prev], image, image[nxt]], dim=1)
        ev = None
        if self.with_events:
            if events is None and self.use_batch_events and batch is not None:
                events = batch.events
            if events is None:
                raise SemcomError("stra with events needs the decoded events or, with use_batch_events, the "
                                  "source's (a source with an event camera)")
            if events.shape[0] != n or events.shape[1] != self.event_channels or events.shape[-2:] != (h, w):
                raise ValueError(f"stra is built for events (N, {self.event_channels}, {h}, {w}), got "
                                 f"{tuple(events.shape)}")
            e = events.to(image.dtype) / self.event_scale
            ev = torch.stack([e[prev], e, e[nxt]], dim=1)
        ph, pw = (-h) % 8, (-w) % 8
        if ph or pw:
            frames = F.pad(frames.flatten(1, 2), (0, pw, 0, ph), mode="replicate").unflatten(1, (3, 3))
            if ev is not None:
                ev = F.pad(ev.flatten(1, 2), (0, pw, 0, ph)).unflatten(1, (3, -1))
        out = self.net(frames, ev)[:, :, :h, :w].contiguous()
        return out if self.training else out.clamp(0.0, 1.0)


def _neighbours(batch: Batch | None, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    from semcom.sources.video import sequence_neighbours

    try:
        return sequence_neighbours(batch, n)
    except ValueError as exc:
        raise SemcomError(f"stra: {exc}") from None
