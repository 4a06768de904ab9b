"""STRA (event-guided video deblurring): a U-Net over three consecutive blurry frames with a Spatial
Fusion Block (SFB) and a Temporal Memory Block (TMB), after the STRA paper (``../shared/papers/stra.txt``,
Sec. 3, Eq. 1-5, Fig. 2).

* **Frames.** The blurry frames ``B_{t-1}, B_t, B_{t+1}`` enter one U-Net encoder together; its three
  levels give the maps ``CB1`` (full), ``CB2`` (1/2) and ``CB3`` (1/4 resolution).
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
* **Decoder**: up-convolutions with the encoder's skips plus ``EB``; the output is ``B_t`` plus a
  predicted residual.

Shapes: ``frames (B, 3, 3, H, W)`` (previous, current, next), ``events (B, 3, C, H, W)`` in the same
order; ``H`` and ``W`` multiples of 4 (padded by the caller otherwise).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["STRA", "TemporalMemory", "SpatialFusion"]


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
    """

    def __init__(self, *, event_channels: int = 6, width: int = 16, memory: bool = True, events: bool = True) -> None:
        super().__init__()
        w1, w2, w3 = width, 2 * width, 4 * width
        self.memory, self.events = bool(memory and events), bool(events)
        self.enc1 = nn.Sequential(_conv(9, w1), _conv(w1, w1))
        self.enc2 = nn.Sequential(_conv(w1, w2, 2), _conv(w2, w2))
        self.enc3 = nn.Sequential(_conv(w2, w3, 2), _conv(w3, w3))
        if self.events:
            self.event_encoder = nn.Sequential(_conv(event_channels, w1), _conv(w1, w2, 2), _conv(w2, w3, 2),
                                               _conv(w3, w3))
        self.tmb = TemporalMemory(w3) if self.memory else None
        self.sfb = SpatialFusion((w1, w2, w3), w3 if self.events else None)
        self.dec3 = _conv(w3, w3)
        self.up2 = nn.ConvTranspose2d(w3, w2, 2, stride=2)
        self.dec2 = _conv(2 * w2, w2)
        self.up1 = nn.ConvTranspose2d(w2, w1, 2, stride=2)
        self.dec1 = _conv(2 * w1, w1)
        self.head = nn.Conv2d(w1, 3, 3, padding=1)

    def forward(self, frames: torch.Tensor, events: torch.Tensor | None = None) -> torch.Tensor:
        if frames.ndim != 5 or frames.shape[1] != 3 or frames.shape[2] != 3:
            raise ValueError(f"STRA takes three RGB frames (B, 3, 3, H, W), got {tuple(frames.shape)}")
        b, _, _, h, w = frames.shape
        if h % 4 or w % 4:
            raise ValueError(f"STRA needs H and W multiples of 4, got {h}x{w}")
        cb1 = self.enc1(frames.reshape(b, 9, h, w))
        cb2 = self.enc2(cb1)
        cb3 = self.enc3(cb2)
        ev = None
        if self.events:
            if events is None or events.ndim != 5 or events.shape[1] != 3:
                raise ValueError("STRA with events takes three event sequences (B, 3, C, H, W)")
            if self.memory:
                feats = self.event_encoder(events.flatten(0, 1)).unflatten(0, (b, 3))
                ev = self.tmb(feats[:, 1], feats[:, 0], feats[:, 2])
            else:  # without the memory only the current sequence is read
                ev = self.event_encoder(events[:, 1])
        eb1, eb2, eb3 = self.sfb(cb1, cb2, cb3, ev)
        x = self.dec3(cb3 + eb3)
        x = self.dec2(torch.cat([self.up2(x), cb2 + eb2], 1))
        x = self.dec1(torch.cat([self.up1(x), cb1 + eb1], 1))
        return frames[:, 1] + self.head(x)
