"""Training data held on the training device in compact dtypes, and batches drawn on the device.

:class:`TrainingData` keeps the frames as ``uint8`` (8-bit camera values), the event
representation as ``int8`` when it holds small integers (SCER counts) else ``float16``, and
spike streams as ``uint8`` bits.  :func:`draw_batch` assembles one batch on the same device:
random samples, one random crop per sample, and a random element of the dihedral group (flips
and 90-degree rotations) and time direction per sample, all through one gather, from a
generator seeded by ``(seed, step, shard)``; nothing goes back to the host.

Time reversal (``t -> T - t``, every event's polarity negated) leaves the blurry frame and the
mid-exposure sharp frame as they are.  Its effect on an event representation is exact and tested
against the event simulator: SCER (EV-JSCC Eq. 10) and per-polarity counts reverse their
channel order; a voxel grid reverses its bins and changes sign.  Spike streams are reversed in
time, which is only approximately the spikes of the reversed scene (an integrate-and-fire pixel
carries its potential forward in time).

Example:
    >>> data = TrainingData.from_float(sharp, blurry, events, describe={"name": "x"},   # doctest: +SKIP
    ...                                representation="scer", device="cuda")
    >>> batch = draw_batch(data, seed=0, step=7, shard=0, batch_size=16, crop=128)      # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch

from semcom.errors import SemcomError
from semcom.seeds import step_seed
from semcom.sources.base import Batch
from semcom.train.config import AUGMENTATIONS  # draw_batch: flip (both axes), rot90 (transpose), time

__all__ = ["TrainingData", "AUGMENTATIONS", "draw_batch", "step_seed", "time_reverse", "REVERSAL"]


#: per representation: (reverse the channel order, negate) under time reversal
REVERSAL: dict[str, tuple[bool, bool]] = {"scer": (True, False), "count": (True, False), "voxel": (True, True)}


def _compact_events(events: torch.Tensor) -> torch.Tensor:
    """int8 when every value is an integer in [-128, 127] (exact), else float16."""
    ev = events.float()
    if bool(torch.all(ev == ev.round())) and float(ev.abs().max()) <= 127:
        return ev.to(torch.int8)
    return ev.to(torch.float16)


def _to_uint8(frames: torch.Tensor) -> torch.Tensor:
    return (frames.float().clamp(0, 1) * 255.0).round().to(torch.uint8)


@dataclass(frozen=True)
class TrainingData:
    """Training samples on one device: ``sharp``, ``blurry`` ``(N, 3, S, S)`` uint8, ``events``
    ``(N, C, S, S)`` int8/float16, ``spikes`` ``(N, T, s, s)`` uint8.

    Args:
        describe: what the samples are (dataset name and parameters), stored in checkpoints.
        representation: the event representation's kind (``scer``, ``voxel``, ``count``), which
            decides how time reversal acts on it; ``None``: unknown (no time reversal).
    """

    sharp: torch.Tensor
    blurry: torch.Tensor
    events: torch.Tensor | None
    describe: dict[str, Any]
    spikes: torch.Tensor | None = None
    representation: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.sharp.dtype != torch.uint8 or self.blurry.dtype != torch.uint8:
            raise ValueError("TrainingData holds uint8 frames; build it with TrainingData.from_float")
        n, _, h, w = self.sharp.shape if self.sharp.ndim == 4 else (0, 0, 0, -1)
        if self.sharp.shape != self.blurry.shape or h != w:
            raise ValueError(f"sharp and blurry must both be square (N, 3, S, S), got {tuple(self.sharp.shape)} "
                             f"and {tuple(self.blurry.shape)}")
        if self.events is not None and (self.events.ndim != 4 or tuple(self.events.shape[2:]) != (h, w)
                                        or self.events.shape[0] != n):
            raise ValueError(f"events must be (N, C, {h}, {w}) like the frames, got {tuple(self.events.shape)}")
        if self.spikes is not None and (self.spikes.ndim != 4 or self.spikes.shape[0] != n
                                        or self.spikes.shape[2] != self.spikes.shape[3]
                                        or h % self.spikes.shape[-1]):
            raise ValueError(f"spikes must be (N, T, s, s) with s dividing {h}, got {tuple(self.spikes.shape)}")

    @classmethod
    def from_float(cls, sharp: torch.Tensor, blurry: torch.Tensor, events: torch.Tensor | None, *,
                   describe: dict[str, Any], spikes: torch.Tensor | None = None, representation: str | None = None,
                   device: torch.device | str = "cpu") -> "TrainingData":
        """Compact float frames in [0, 1] (and float events) and move everything to ``device``."""
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return cls(mv(_to_uint8(sharp)), mv(_to_uint8(blurry)),
                   None if events is None else mv(_compact_events(events)), dict(describe),
                   None if spikes is None else mv(torch.as_tensor(spikes).to(torch.uint8)), representation)

    def __len__(self) -> int:
        return int(self.sharp.shape[0])

    @property
    def device(self) -> torch.device:
        return self.sharp.device

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.sharp, self.blurry, self.events, self.spikes)
                   if t is not None)

    def subset(self, index: slice | torch.Tensor) -> "TrainingData":
        pick = lambda t: None if t is None else t[index]  # noqa: E731
        return replace(self, sharp=pick(self.sharp), blurry=pick(self.blurry), events=pick(self.events),
                       spikes=pick(self.spikes), describe={**self.describe})

    def split(self, n_val: int) -> tuple["TrainingData", "TrainingData | None"]:
        """The first ``N - n_val`` samples for training and the last ``n_val`` for validation."""
        if n_val <= 0:
            return self, None
        if n_val >= len(self):
            raise SemcomError(f"--val {n_val} leaves no training samples out of {len(self)}")
        n = len(self) - n_val
        train, val = self.subset(slice(0, n)), self.subset(slice(n, None))
        return (replace(train, describe={**self.describe, "n": n, "n_val": n_val}),
                replace(val, describe={**self.describe, "n": n_val, "split": "validation"}))

    def to(self, device: torch.device | str) -> "TrainingData":
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return replace(self, sharp=mv(self.sharp), blurry=mv(self.blurry), events=mv(self.events),
                       spikes=mv(self.spikes))

    def draw(self, *, seed: int, step: int, batch_size: int, shard: int = 0, crop: int | None = None,
             augment: tuple[str, ...] = AUGMENTATIONS) -> Batch:
        """:func:`draw_batch` of these samples (the trainer's interface, shared with fresh sources)."""
        if self.exposures:  # time reversal of a stacked sequence would also have to reverse its exposures
            augment = tuple(a for a in augment if a != "time")
        return self._frames(draw_batch(self, seed=seed, step=step, batch_size=batch_size, shard=shard, crop=crop,
                                       augment=augment))

    @property
    def exposures(self) -> int:
        """``T`` where each sample is a sequence of ``T`` exposures stacked along the channels, else 0."""
        return int(self.extra.get("exposures", 0))

    def _frames(self, batch: Batch) -> Batch:
        """Sequences unstacked into frames (:func:`semcom.sources.video.unstack_sequences`); frames as they are."""
        if not self.exposures:
            return batch
        from semcom.sources.video import unstack_sequences

        return unstack_sequences(batch, self.exposures)

    def batch(self, index: torch.Tensor | slice) -> Batch:
        """Samples ``index`` as a float :class:`Batch`, no augmentation (validation)."""
        s = self.subset(index)
        return self._frames(Batch(sharp=s.sharp.float() / 255.0, blurry=s.blurry.float() / 255.0,
                                  events=None if s.events is None else s.events.float(), spikes=s.spikes))


def time_reverse(rep: torch.Tensor, representation: str) -> torch.Tensor:
    """The representation ``(B, C, H, W)`` of the time-reversed exposure (see the module docstring)."""
    if representation not in REVERSAL:
        raise SemcomError(f"time reversal is not defined for event representation {representation!r}")
    flip, negate = REVERSAL[representation]
    out = rep.flip(1) if flip else rep
    return -out if negate else out


def _index_grid(offset: torch.Tensor, n: int, flip_y: torch.Tensor, flip_x: torch.Tensor,
                transpose: torch.Tensor, offset_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices ``(B, n, n)`` of a crop with per-sample flips and transposition."""
    ar = torch.arange(n, device=offset.device)
    iy = torch.where(flip_y[:, None], n - 1 - ar, ar) + offset[:, None]
    ix = torch.where(flip_x[:, None], n - 1 - ar, ar) + offset_x[:, None]
    b = offset.shape[0]
    rows = iy[:, :, None].expand(b, n, n)
    cols = ix[:, None, :].expand(b, n, n)
    t = transpose[:, None, None]
    return torch.where(t, iy[:, None, :].expand(b, n, n), rows), torch.where(t, ix[:, :, None].expand(b, n, n), cols)


def _gather(frames: torch.Tensor, idx: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    ch = torch.arange(frames.shape[1], device=frames.device)
    return frames[idx[:, None, None, None], ch[None, :, None, None], rows[:, None], cols[:, None]]


def draw_batch(data: TrainingData, *, seed: int, step: int, batch_size: int, crop: int | None = None,
               shard: int = 0, augment: tuple[str, ...] = AUGMENTATIONS) -> Batch:
    """The batch of ``step`` for ``shard``, assembled on ``data.device``.

    Every draw (sample indices, crop offsets, flips, transposition, time direction) comes from
    one generator on the data's device seeded by ``(seed, step, shard)``: the same arguments give
    the same batch; another step or shard gives another.

    Args:
        crop: side of the random crop (``None``: whole frames); with spikes it must be a
            multiple of the spike camera's downscaling so both views stay aligned.
        augment: a subset of :data:`AUGMENTATIONS`.

    Shape:
        returns a :class:`~semcom.sources.base.Batch` of float32 frames ``(B, 3, c, c)`` in [0, 1],
        float32 events ``(B, C, c, c)`` and uint8 spikes ``(B, T, c/s, c/s)``.
    """
    unknown = set(augment) - set(AUGMENTATIONS)
    if unknown:
        raise SemcomError(f"unknown augmentation(s) {sorted(unknown)} (known: {', '.join(AUGMENTATIONS)})")
    dev = data.device
    g = torch.Generator(device=dev).manual_seed(step_seed(seed, step, 0, shard))
    size = int(data.sharp.shape[-1])
    n = size if crop is None else int(crop)
    if not 1 <= n <= size:
        raise SemcomError(f"crop {crop} must lie in [1, {size}]")
    scale = 1
    if data.spikes is not None:
        scale = size // int(data.spikes.shape[-1])
        if n % scale:
            raise SemcomError(f"crop {n} is not a multiple of the spike camera's scale {scale}")
    b = int(batch_size)
    idx = torch.randint(len(data), (b,), generator=g, device=dev)
    offs = torch.randint((size - n) // scale + 1, (2, b), generator=g, device=dev) * scale
    coins = torch.rand(4, b, generator=g, device=dev) < 0.5
    flip_y, flip_x = (coins[0], coins[1]) if "flip" in augment else (torch.zeros_like(coins[0]),) * 2
    transpose = coins[2] if "rot90" in augment else torch.zeros_like(coins[0])
    rows, cols = _index_grid(offs[0], n, flip_y, flip_x, transpose, offs[1])
    sharp = _gather(data.sharp, idx, rows, cols).float().div_(255.0)
    blurry = _gather(data.blurry, idx, rows, cols).float().div_(255.0)
    # time reversal needs a known action on the representation (spikes alone: reverse in time)
    reversible = data.events is None or data.representation in REVERSAL
    reverse = coins[3] if ("time" in augment and reversible) else None
    events = None
    if data.events is not None:
        events = _gather(data.events, idx, rows, cols).float()
        if reverse is not None:
            events = torch.where(reverse[:, None, None, None], time_reverse(events, data.representation), events)
    spikes = None
    if data.spikes is not None:
        crows, ccols = _index_grid(offs[0] // scale, n // scale, flip_y, flip_x, transpose, offs[1] // scale)
        spikes = _gather(data.spikes, idx, crows, ccols)
        if reverse is not None:
            spikes = torch.where(reverse[:, None, None, None], spikes.flip(1), spikes)
    return Batch(sharp=sharp, blurry=blurry, events=events, spikes=spikes)
