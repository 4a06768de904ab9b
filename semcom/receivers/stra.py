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

**As published** (``variant="paper"``, :class:`STRAPaper`, link ``stra-paper``): the departures above undone
(docs/fidelity-stra.md, "Status in stra-paper"): no fold (levels at 1, 1/2, 1/4), res-blocks of ``R`` res-units
at ``C = 32``, the SFB at ``CB3``'s scale (1/4) or the released code's finest level, with the softmax, a TMB whose
memory is carried from frame to frame in temporal order (optionally with the read-out gaps' events), and a free
RGB residual at the output.  The default ``variant="ours"`` is the network above, unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from semcom.errors import SemcomError
from semcom.receivers.base import Receiver
from semcom.receivers.unet_xattn import MAX_LOG_GAIN
from semcom.registry import RECEIVERS
from semcom.sources.base import Batch

__all__ = ["STRA", "STRAPaper", "STRAReceiver", "TemporalMemory", "SpatialFusion", "PaperMemory", "PaperFusion",
           "VARIANTS", "sequence_groups"]

#: the receiver's designs: ``ours`` (the shipped ``stra`` / ``stra-skips``) and ``paper`` (as published)
VARIANTS = ("ours", "paper")


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


# --------------------------------------------------------------------------- STRA as published (variant "paper")

class _ResUnit(nn.Module):
    """A basic res-unit: 3x3 convolution, ReLU, 3x3 convolution, plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _res_block(cin: int, cout: int, units: int, stride: int = 1) -> nn.Sequential:
    """A res-block: one entry convolution (``stride`` 2 halves the scale) and ``units`` res-units."""
    return nn.Sequential(_conv(cin, cout, stride), *[_ResUnit(cout) for _ in range(units)])


class PaperMemory(TemporalMemory):
    """TMB as published (Eq. 4-5, Fig. 2(c)): each stored event sequence goes through one common convolution
    (``F_m``) and the convolution of its direction (``prev`` for the sequences before the current one, ``next``
    for those after it), giving its keys and values; the memory holds them in temporal order. The current
    sequence's query reads it (scaled dot products, softmax over every valid stored position); the read is
    added to the current features through a 1x1 convolution.

    ``forward(current, entries)``: ``current (B, C, h, w)``; ``entries`` a list, in temporal order, of
    ``(features (B, C, h, w), direction ("prev" | "next"), valid (B,) bool)``; an entry that is not valid for a
    sample (a sequence's first frame has nothing before it) gets no attention.  With no valid entry the read is 0.
    """

    def __init__(self, channels: int, key_channels: int | None = None) -> None:
        super().__init__(channels, key_channels)  # the same layers as TemporalMemory; only the read differs
        self.last_attention: torch.Tensor | None = None  # (B, N, M) of the last call, for inspection

    def forward(self, current: torch.Tensor, entries: list[tuple[torch.Tensor, str, torch.Tensor]]) -> torch.Tensor:
        b, c, h, w = current.shape
        if not entries:
            return current
        kv, masks = [], []
        for feats, direction, valid in entries:
            conv = self.prev if direction == "prev" else self.next
            kv.append(conv(self.common(feats)).flatten(2))
            masks.append(valid.to(torch.bool).reshape(b, 1).expand(b, h * w))
        kv_all, mask = torch.cat(kv, dim=2), torch.cat(masks, dim=1)   # (B, k + C, M), (B, M)
        keys, values = kv_all[:, :self.k], kv_all[:, self.k:]
        q = self.query(current).flatten(2)                             # (B, k, N)
        logits = torch.einsum("bkn,bkm->bnm", q, keys).float() / math.sqrt(self.k)
        logits = logits.masked_fill(~mask[:, None, :], -1e9)
        attn = torch.softmax(logits, dim=-1) * mask[:, None, :]        # all masked: a zero read
        self.last_attention = attn.detach()
        read = torch.einsum("bnm,bcm->bcn", attn.to(values.dtype), values).reshape(b, c, h, w)
        return current + self.out(read)


class PaperFusion(nn.Module):
    """SFB as published: the three encoder maps resized to one scale and fused (Eq. 1), then the non-local
    attention of Eq. 2-3 with the softmax the text names (queries ``θ`` from the events, keys ``φ`` and values
    ``g`` from the fused frame features), added through a 1x1 convolution and brought back to the three scales.

    ``level="coarsest"`` fuses at ``CB3``'s scale (Eq. 1 as written: 1/4 of the input);
    ``level="finest"`` at ``CB1``'s (full resolution, as the authors' released SFB): ``CB2`` and ``CB3`` are
    upsampled, the event features are concatenated to the frame maps, and the attention itself is computed on
    the coarsest grid (both sides average-pooled to ``CB3``'s size) and its read upsampled back.
    """

    def __init__(self, widths: tuple[int, int, int], event_channels: int | None, *, level: str = "coarsest",
                 inner: int | None = None) -> None:
        super().__init__()
        if level not in ("coarsest", "finest"):
            raise ValueError(f"fusion level must be 'coarsest' or 'finest', got {level!r}")
        w1, w2, w3 = widths
        self.level = level
        self.with_events = event_channels is not None
        out_c = w3 if level == "coarsest" else w1
        joined = w1 + w2 + w3 + (event_channels if (self.with_events and level == "finest") else 0)
        self.fuse = nn.Conv2d(joined, out_c, 1)
        d = inner or max(8, out_c // 2)
        if self.with_events:
            self.theta = nn.Conv2d(event_channels, d, 1)
            self.phi = nn.Conv2d(out_c, d, 1)
            self.g = nn.Conv2d(out_c, d, 1)
            self.z = nn.Conv2d(d, out_c, 1)
        self.back = nn.ModuleList([nn.Conv2d(out_c, w, 1) for w in widths])
        self.last_attention: torch.Tensor | None = None  # (B, N, N) of the last call, for inspection

    def forward(self, cb1: torch.Tensor, cb2: torch.Tensor, cb3: torch.Tensor,
                events: torch.Tensor | None) -> list[torch.Tensor]:
        grid = cb3.shape[-2:]
        if self.level == "coarsest":
            parts = [F.adaptive_avg_pool2d(cb1, grid), F.adaptive_avg_pool2d(cb2, grid), cb3]
        else:
            up = lambda x: F.interpolate(x, size=cb1.shape[-2:], mode="bilinear", align_corners=False)  # noqa: E731
            parts = [cb1, up(cb2), up(cb3)] + ([events] if self.with_events else [])
        cb = self.fuse(torch.cat(parts, 1))
        if self.with_events:
            b = cb.shape[0]
            ev_g = F.adaptive_avg_pool2d(events, grid) if events.shape[-2:] != grid else events
            cb_g = F.adaptive_avg_pool2d(cb, grid) if cb.shape[-2:] != grid else cb
            theta = self.theta(ev_g).flatten(2)                          # (B, d, N)
            phi, g = self.phi(cb_g).flatten(2), self.g(cb_g).flatten(2)   # (B, d, N)
            # f(E_i, F_j) = θ(E_i)ᵀ φ(F_j), normalized over j by the softmax
            attn = torch.softmax(torch.einsum("bdn,bdm->bnm", theta, phi).float(), dim=-1)
            self.last_attention = attn.detach()
            feat = torch.einsum("bnm,bdm->bdn", attn.to(g.dtype), g).reshape(b, -1, *grid)
            if feat.shape[-2:] != cb.shape[-2:]:
                feat = F.interpolate(feat, size=cb.shape[-2:], mode="bilinear", align_corners=False)
            cb = cb + self.z(feat)
        return [proj(F.interpolate(cb, size=ref.shape[-2:], mode="bilinear", align_corners=False))
                if cb.shape[-2:] != ref.shape[-2:] else proj(cb) for proj, ref in zip(self.back, (cb1, cb2, cb3))]


class STRAPaper(nn.Module):
    """STRA as published (the seed text, Sec. 3; the departures of :class:`STRA` undone: docs/fidelity-stra.md).

    * Three consecutive blurry frames enter one U-Net at full resolution (no fold): levels at 1, 1/2 and 1/4
      of the input, widths ``C, 2C, 2C`` (the authors' released levels), each a res-block of ``R`` res-units
      (Sec. 4.4: default ``C = 32``, ``R = 8``); the decoder mirrors it with res-blocks of ``R`` res-units.
    * One event encoder (shared by every event sequence) gives features at full resolution and at 1/4.
    * TMB (:class:`PaperMemory`) at 1/4: the memory holds, in temporal order, the sequence before the current
      one (with ``carry``: the previous frame's memory-read features, so the memory runs on from frame to frame
      as the frames are processed in temporal order), the read-out gap's events before and after the current
      exposure (``gap_events``) and the next sequence.
    * SFB (:class:`PaperFusion`) at ``fusion="coarsest"`` (Eq. 1) or ``"finest"`` (the released code's level),
      with the softmax; its output joins the decoder at the three scales.
    * Output: the current blurry frame plus a free RGB residual (the released network's ``z + x``), starting
      as the identity.

    ``forward(frames, events, gaps=None, state=None, has_prev=None, has_next=None)`` restores one time step
    of a batch of sequences and returns ``(output, state)``; ``state`` (the memory-read event features at 1/4)
    is what the next time step's ``state`` takes.

    Shape:
        frames ``(B, 3, 3, H, W)`` (previous, current, next), events ``(B, 3, C, H, W)`` in the same order,
        gaps ``(B, 2, C, H, W)`` (the read-out gap before and after the current exposure), ``has_prev`` and
        ``has_next`` ``(B,)`` bool; ``H, W`` multiples of 4 -> ``(B, 3, H, W)``.
    """

    multiple = 4

    def __init__(self, *, event_channels: int = 6, width: int = 32, res_units: int = 8, memory: bool = True,
                 events: bool = True, fusion: str = "coarsest", gap_events: bool = False, carry: bool = True) -> None:
        super().__init__()
        c = int(width)
        w1, w2, w3 = c, 2 * c, 2 * c
        self.events, self.memory = bool(events), bool(memory and events)
        self.gap_events, self.carry = bool(gap_events and self.memory), bool(carry and self.memory)
        self.fusion = fusion
        r = int(res_units)
        self.enc1 = _res_block(9, w1, r)
        self.enc2 = _res_block(w1, w2, r, 2)
        self.enc3 = _res_block(w2, w3, r, 2)
        fine = fusion == "finest"
        if self.events:
            self.ev1 = nn.Sequential(_conv(event_channels, w1), _conv(w1, w1))
            self.ev3 = nn.Sequential(_conv(w1, w2, 2), _conv(w2, w3, 2), _conv(w3, w3))  # the downsampling layers
            if fine:
                self.ev_up = nn.Conv2d(w3, w1, 1)  # the memory's read, brought to the fine event features
        self.tmb = PaperMemory(w3) if self.memory else None
        self.sfb = PaperFusion((w1, w2, w3), (w1 if fine else w3) if self.events else None, level=fusion)
        self.dec3 = nn.Sequential(*[_ResUnit(w3) for _ in range(r)])
        self.up2 = nn.ConvTranspose2d(w3, w2, 2, stride=2)
        self.dec2 = _res_block(2 * w2, w2, r)
        self.up1 = nn.ConvTranspose2d(w2, w1, 2, stride=2)
        self.dec1 = _res_block(2 * w1, w1, r)
        self.head = nn.Conv2d(w1, 3, 3, padding=1)  # a free RGB residual
        nn.init.zeros_(self.head.weight)  # start as the identity map
        nn.init.zeros_(self.head.bias)

    def _encode_events(self, seqs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e1 = self.ev1(seqs.contiguous(memory_format=torch.channels_last))
        return e1, self.ev3(e1)

    def forward(self, frames: torch.Tensor, events: torch.Tensor | None = None, *, gaps: torch.Tensor | None = None,
                state: torch.Tensor | None = None, has_prev: torch.Tensor | None = None,
                has_next: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if frames.ndim != 5 or frames.shape[1] != 3 or frames.shape[2] != 3:
            raise ValueError(f"STRA takes three RGB frames (B, 3, 3, H, W), got {tuple(frames.shape)}")
        b, _, _, h, w = frames.shape
        if h % self.multiple or w % self.multiple:
            raise ValueError(f"STRA (paper) needs H and W multiples of {self.multiple}, got {h}x{w}")
        cl = torch.channels_last
        cb1 = self.enc1(frames.reshape(b, 9, h, w).contiguous(memory_format=cl))
        cb2 = self.enc2(cb1)
        cb3 = self.enc3(cb2)
        ev, new_state = None, None
        if self.events:
            if events is None or events.ndim != 5 or events.shape[1] != 3:
                raise ValueError("STRA with events takes three event sequences (B, 3, C, H, W)")
            dev = frames.device
            yes = torch.ones(b, dtype=torch.bool, device=dev)
            has_prev = yes if has_prev is None else has_prev.to(dev)
            has_next = yes if has_next is None else has_next.to(dev)
            if self.memory:
                use_state = self.carry and state is not None
                seqs = [events[:, 1], events[:, 2]] + ([] if use_state else [events[:, 0]])
                if self.gap_events:
                    if gaps is None or gaps.ndim != 5 or gaps.shape[1] != 2:
                        raise ValueError("STRA with gap events takes the two read-out gaps' events (B, 2, C, H, W)")
                    seqs += [gaps[:, 0], gaps[:, 1]]
                e1, e3 = self._encode_events(torch.cat(seqs))
                parts = e3.split(b)
                cur, nxt = parts[0], parts[1]
                before = state if use_state else parts[2]
                entries = [(before, "prev", has_prev)]
                if self.gap_events:
                    gap_before, gap_after = parts[-2], parts[-1]
                    entries += [(gap_before, "prev", has_prev), (gap_after, "next", has_next)]
                entries.append((nxt, "next", has_next))
                ev = self.tmb(cur, entries)
                new_state = ev
                e1 = e1[:b]
            else:
                e1, ev = self._encode_events(events[:, 1])
            if self.fusion == "finest":
                ev = e1 + F.interpolate(self.ev_up(ev), size=e1.shape[-2:], mode="bilinear", align_corners=False)
        eb1, eb2, eb3 = self.sfb(cb1, cb2, cb3, ev)
        x = self.dec3(cb3 + eb3)
        x = self.dec2(torch.cat([self.up2(x), cb2 + eb2], 1))
        x = self.dec1(torch.cat([self.up1(x), cb1 + eb1], 1))
        return frames[:, 1] + self.head(x), new_state


@RECEIVERS.register("stra", help="STRA video deblurring: each frame with its sequence's neighbours and their "
                                 "events (SFB + TMB); needs sequence batches")
class STRAReceiver(Receiver):
    """The STRA back-end on a link's decoded frames.

    A batch holds whole sequences in order (the runner and the trainer batch sequence sources so);
    frame ``t`` is restored from frames ``t-1, t, t+1`` and their event representations, the decoded
    ones when the codec delivers events, else ``batch.events`` with ``use_batch_events``.

    Args:
        variant: ``"ours"`` (default: :class:`STRA`, the shipped ``stra`` and ``stra-skips``) or ``"paper"``
            (:class:`STRAPaper`, STRA as published: link ``stra-paper``; docs/fidelity-stra.md).
        width, memory, events, event_skips: the network's; ``events=False`` is the frame-only STRA; width
            defaults to 16 (ours) or 32 (paper, ``C``); ``event_skips`` is ours only.
        res_units, fusion, gap_events, carry: the paper variant's only (:class:`STRAPaper`): ``R`` res-units a
            level (default 8), the SFB's scale (``"coarsest"``, Eq. 1, default; ``"finest"``, the released code),
            the read-out gaps' events in the memory (the frames' events then carry ``2C`` channels: their own,
            then the gap's after them, as :mod:`semcom.train.stra` delivers) and the memory carried from frame
            to frame (default on; each sequence is then restored in temporal order).
        event_channels: channels of one event representation (SCER: 6).
        event_scale: the events are divided by this first (8 suits raw SCER counts).
        use_batch_events: with no decoded events, read the source's (exact side information).

    Built untrained; the zoo loads its weights (:func:`semcom.zoo.build.build_receiver` with ``weights``
    ``"shipped"`` (link ``stra``), ``"shipped:LINK"`` (e.g. ``stra-skips``) or a checkpoint trained by a link
    with this back-end (``semcom train --link stra``, ``python -m semcom.train.stra`` for ``stra-paper``); a
    link file's ``[receiver] weights``).

    Shape:
        image ``(N, 3, H, W)``, events ``(N, C, H, W)`` -> ``(N, 3, H, W)``; any ``H, W`` (padded to a
        multiple of 8 and cropped back).
    """

    #: the link whose training checkpoint is shipped for this back-end
    shipped_link = "stra"

    def __init__(self, *, width: int | None = None, memory: bool = True, events: bool = True,
                 event_skips: bool = False, event_channels: int = 6, event_scale: float = 8.0,
                 use_batch_events: bool = False, variant: str = "ours",
                 res_units: int | None = None, fusion: str | None = None, gap_events: bool = False,
                 carry: bool = True) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        paper = variant == "paper"
        width = (32 if paper else 16) if width is None else width
        for name, v in (("width", width), ("event_channels", event_channels)):
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(event_scale, bool) or not isinstance(event_scale, (int, float)) or not event_scale > 0:
            raise ValueError(f"event_scale must be a positive number, got {event_scale!r}")
        if not paper:
            extra = [n for n, v in (("res_units", res_units), ("fusion", fusion), ("gap_events", gap_events or None),
                                    ("carry", None if carry else False)) if v is not None]
            if extra:
                raise ValueError(f"{', '.join(extra)}: only for variant='paper'")
        else:
            if event_skips:
                raise ValueError("event_skips is ours (variant='ours'), not part of the paper's design")
            res_units = 8 if res_units is None else res_units
            if isinstance(res_units, bool) or int(res_units) != res_units or res_units < 0:
                raise ValueError(f"res_units must be a non-negative integer, got {res_units!r}")
            fusion = "coarsest" if fusion is None else fusion
            if fusion not in ("coarsest", "finest"):
                raise ValueError(f"fusion must be 'coarsest' (Eq. 1) or 'finest' (the released code), got {fusion!r}")
        self.variant = variant
        self.event_scale, self.use_batch_events = float(event_scale), bool(use_batch_events)
        self.with_events, self.event_channels = bool(events), int(event_channels)
        self.gap_events = bool(paper and gap_events and memory and events)
        if paper:
            self.net = STRAPaper(event_channels=int(event_channels), width=int(width), res_units=int(res_units),
                                 memory=memory, events=events, fusion=fusion, gap_events=gap_events, carry=carry)
            arch = (f"STRA as published (width {width}, res_units {res_units}, fusion {fusion}, memory {memory}, "
                    f"events {events}, gap_events {gap_events}, carry {carry})")
        else:
            self.net = STRA(event_channels=int(event_channels), width=int(width), memory=memory, events=events,
                            event_skips=event_skips)
            arch = f"STRA (width {width}, memory {memory}, events {events}, event_skips {event_skips})"
        self.architecture = arch

    def forward(self, image: torch.Tensor, *, events: torch.Tensor | None = None,
                batch: Batch | None = None) -> torch.Tensor:
        n, c, h, w = image.shape
        if c != 3:
            raise ValueError(f"stra expects RGB frames (N, 3, H, W), got {tuple(image.shape)}")
        if self.variant == "paper":
            out = self._forward_paper(image, events, batch)
            return out if self.training else out.clamp(0.0, 1.0)
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

    def _events_of(self, image: torch.Tensor, events: torch.Tensor | None, batch: Batch | None) -> torch.Tensor:
        """The frames' event representations, scaled: ``(N, C, H, W)``, or ``(N, 2C, H, W)`` with gap events."""
        n, _, h, w = image.shape
        if events is None and self.use_batch_events and batch is not None:
            events = batch.events
        if events is None:
            raise SemcomError("stra with events needs the decoded events or, with use_batch_events, the "
                              "source's (a source with an event camera)")
        want = self.event_channels * (2 if self.gap_events else 1)
        if events.shape[0] != n or events.shape[1] != want or events.shape[-2:] != (h, w):
            gap = (" (each frame's own events, then the read-out gap's after it: semcom.train.stra delivers them)"
                   if self.gap_events else "")
            raise ValueError(f"stra is built for events (N, {want}, {h}, {w}){gap}, got {tuple(events.shape)}")
        return events.to(image.dtype) / self.event_scale

    def _forward_paper(self, image: torch.Tensor, events: torch.Tensor | None, batch: Batch | None) -> torch.Tensor:
        """Every sequence of the batch restored frame after frame, in temporal order, the memory carried on."""
        n, _, h, w = image.shape
        _neighbours(batch, n)  # whole sequences, in order
        e = self._events_of(image, events, batch) if self.with_events else None
        m = self.net.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            image = F.pad(image, (0, pw, 0, ph), mode="replicate")
            e = None if e is None else F.pad(e, (0, pw, 0, ph))
        c = self.event_channels
        own = None if e is None else e[:, :c]
        after = e[:, c:] if self.gap_events else None  # the read-out gap after each frame's exposure
        outs, where = [], []
        for idx in sequence_groups(batch, n):  # (S, T) frame positions, sequences of equal length
            idx = idx.to(image.device)
            s_count, t_len = idx.shape
            state = None
            for t in range(t_len):
                cur, p, q = idx[:, t], idx[:, max(t - 1, 0)], idx[:, min(t + 1, t_len - 1)]
                frames = torch.stack([image[p], image[cur], image[q]], dim=1)
                ev = gaps = None
                if own is not None:
                    ev = torch.stack([own[p], own[cur], own[q]], dim=1)
                if after is not None:
                    gaps = torch.stack([after[p] if t > 0 else torch.zeros_like(after[cur]), after[cur]], dim=1)
                flags = [torch.full((s_count,), flag, dtype=torch.bool, device=image.device)
                         for flag in (t > 0, t + 1 < t_len)]
                out, state = self.net(frames, ev, gaps=gaps, state=state, has_prev=flags[0], has_next=flags[1])
                outs.append(out)
                where.append(cur)
        order = torch.argsort(torch.cat(where))
        return torch.cat(outs)[order][:, :, :h, :w].contiguous()


def sequence_groups(batch: Batch | None, n: int) -> list[torch.Tensor]:
    """The batch positions of its sequences as ``(S, T)`` index tensors, one per sequence length ``T`` (frames
    without sequence information are sequences of one); the batch must hold whole sequences in order."""
    info = tuple(batch.info) if batch is not None else ()
    if not info or "exposures" not in info[0]:
        return [torch.arange(n)[:, None]]
    starts: dict[int, list[int]] = {}
    j = 0
    while j < n:
        t = int(info[j]["exposures"])
        starts.setdefault(t, []).append(j)
        j += t
    return [torch.tensor(v)[:, None] + torch.arange(t)[None, :] for t, v in starts.items()]


def _neighbours(batch: Batch | None, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    from semcom.sources.video import sequence_neighbours

    try:
        return sequence_neighbours(batch, n)
    except ValueError as exc:
        raise SemcomError(f"stra: {exc}") from None
