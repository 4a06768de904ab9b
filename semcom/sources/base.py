"""What a source node delivers: one :class:`Sample` per captured exposure, batched as :class:`Batch`.

Conventions: images are float32 in [0, 1], shape ``(3, H, W)`` per sample; an event
representation (SCER by default) is ``(C, H, W)`` float32; spikes are uint8 ``(T, h, w)``;
raw events are a numpy structured array with fields ``t`` (int64, microseconds), ``x``, ``y``
(int16) and ``p`` (int8, -1 or +1), sorted by ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
import torch

EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.int8)])


@dataclass(frozen=True)
class Sample:
    """One exposure of the hybrid camera.

    Args:
        sharp: target frame ``(3, H, W)`` float32 in [0, 1] (the middle latent frame).
        blurry: what the RGB camera recorded over the exposure, same shape.
        events: event representation ``(C, H, W)`` float32, or ``None`` without an event camera.
        spikes: spike stream ``(T, h, w)`` uint8, or ``None`` without a spike camera.
        raw_events: structured array of ``EVENT_DTYPE`` or ``None``.
        name: an identifier (source picture and crop).
        info: scalar facts about the sample.  The hybrid-camera sources
            (:mod:`semcom.sources.datasets`) set: ``exposure_us`` (int, exposure ``T``; raw event
            ``t`` lies in ``[0, exposure_us)``), ``num_latent`` (latent frames averaged),
            ``blur_px`` (longest motion path, pixels), ``foreground`` (bool); with an event
            camera ``contrast_threshold`` (nominal ``C+``), ``contrast_neg``, ``contrast_sigma``,
            ``num_events``, ``bytes_per_event``, ``event_bytes`` (AER payload), and, once loaded,
            ``representation`` and ``num_bins``; with a spike camera ``spike_rate_hz`` (ticks per
            second), ``spike_theta``, ``spike_gain`` (charge per tick at linear luminance 1),
            ``spike_scale`` (RGB/spike resolution ratio per side), ``spike_ticks``, ``num_spikes``;
            and ``name``, ``picture``, ``crop_y``, ``crop_x``, ``index``, ``seed``.
    """

    sharp: torch.Tensor
    blurry: torch.Tensor
    events: torch.Tensor | None = None
    spikes: torch.Tensor | None = None
    raw_events: np.ndarray | None = None
    name: str = ""
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SequenceSample:
    """``T`` consecutive exposures of one camera, what ``dataset[i]`` is for a source of sequences
    (:attr:`SourceDataset.sequences`): one :class:`Sample` per exposure (its blurry and sharp frames and its
    events) and the raw events of each gap between two of them.

    Args:
        frames: ``T`` samples, in time order.
        gap_events: ``T - 1`` structured arrays of ``EVENT_DTYPE`` (the read-out gaps).
        name: an identifier.
        info: scalar facts about the sequence (``exposures``, ...).
    """

    frames: tuple  # of Sample
    gap_events: tuple  # of EVENT_DTYPE arrays (T - 1)
    name: str = ""
    info: dict = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self.frames)


@dataclass(frozen=True)
class Batch:
    """A batch of samples; tensors gain a leading batch dimension ``B``.

    Shape:
        sharp, blurry: ``(B, 3, H, W)``; events: ``(B, C, H, W)``; spikes: ``(B, T, h, w)`` uint8.
    """

    sharp: torch.Tensor
    blurry: torch.Tensor
    events: torch.Tensor | None = None
    spikes: torch.Tensor | None = None
    raw_events: tuple[np.ndarray | None, ...] = ()
    names: tuple[str, ...] = ()
    info: tuple[dict[str, Any], ...] = ()

    @property
    def size(self) -> int:
        return int(self.sharp.shape[0])

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        c, h, w = self.sharp.shape[1:]
        return int(c), int(h), int(w)

    def to(self, device: torch.device | str) -> "Batch":
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Batch(mv(self.sharp), mv(self.blurry), mv(self.events), mv(self.spikes),
                     self.raw_events, self.names, self.info)


def collate(samples: Sequence[Sample]) -> Batch:
    """Stack samples of equal frame size into a :class:`Batch`."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")

    def stack(attr: str) -> torch.Tensor | None:
        vals = [getattr(s, attr) for s in samples]
        if any(v is None for v in vals):
            return None
        return torch.stack(vals)

    return Batch(
        sharp=stack("sharp"),
        blurry=stack("blurry"),
        events=stack("events"),
        spikes=stack("spikes"),
        raw_events=tuple(s.raw_events for s in samples),
        names=tuple(s.name for s in samples),
        info=tuple(s.info for s in samples),
    )


class SourceDataset(torch.utils.data.Dataset):
    """Base class of the registered source nodes (datasets).

    Subclasses take keyword-only arguments; the common ones are ``split`` ("train" or
    "test"), ``size`` (crop side in pixels), ``limit`` (at most this many samples), ``seed``
    and ``data_root`` (a folder, for datasets read from disk).
    """

    #: whether samples carry an event representation / spikes
    has_events: bool = False
    has_spikes: bool = False
    #: whether ``dataset[i]`` is a :class:`SequenceSample` (``exposures`` consecutive exposures of one
    #: camera) instead of a :class:`Sample`; a sweep sends and scores each exposure as a frame
    #: (:class:`semcom.sources.video.SequenceFrames`), training stacks a sequence along the channels
    sequences: bool = False
    #: exposures per item: ``T`` for a source of sequences, 1 otherwise
    exposures: int = 1

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int) -> Sample | SequenceSample:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """The configuration that determines the samples (recorded in result sidecars)."""
        return {}


def iterate_batches(dataset: SourceDataset, batch_size: int) -> Iterator[Batch]:
    """Yield consecutive batches in dataset order."""
    for start in range(0, len(dataset), batch_size):
        yield collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])

