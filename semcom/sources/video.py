"""Consecutive exposures of one continuous motion: the latent scene of a video (STRA's inputs).

A camera that films records exposure after exposure: ``T`` exposures of ``exposure_us`` with a
read-out gap of ``gap_us`` between two of them, while the camera keeps moving.  :class:`VideoRenderer`
draws **one** smooth trajectory over the whole span ``T·E + (T−1)·G`` (the scene renderer's cubic
similarity motion, scaled so that a point travels about ``blur_px`` pixels per exposure) and renders
latent frames over all of it:

* in exposure ``i`` (starting at ``i·(E + G)``), ``K`` frames at the midpoints ``(k + 1/2)·E/K``
  (``K`` odd, so the middle one, at ``E/2``, is the exposure's sharp target), as for one exposure;
* in each gap, frames no further apart than those, so that the event camera, which keeps
  running, sees motion in steps of at most ``max_step_px`` there too.

:class:`VideoSequence` holds them; :meth:`VideoSequence.exposure` gives exposure ``i`` as the
:class:`~semcom.sources.scene.LatentSequence` the hybrid camera captures, and :func:`split_events`
cuts one event stream simulated over the whole span into the events of each exposure (times from its
start) and of each gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from semcom.errors import SemcomError
from semcom.registry import SOURCES
from semcom.sources.base import Batch, Sample, SequenceSample
from semcom.sources.cache import decode_events, encode_events
from semcom.sources.camera import CameraConfig, Capture
from semcom.sources.datasets import SynthBlur
from semcom.sources.hybrid import _positive_int
from semcom.sources.scene import (LatentSequence, SceneRenderer, _affine_sample, _as_float_picture, _inverse_affine,
                                  _path_stats, _random_trajectory, _window)

if TYPE_CHECKING:  # pragma: no cover
    from semcom.sources.camera import HybridCamera

__all__ = ["VideoSequence", "VideoRenderer", "split_events", "capture_video", "stack_sequence", "unstack_sequences",
           "sequence_neighbours"]


@dataclass(frozen=True, eq=False)
class VideoSequence:
    """Latent frames over ``T`` exposures and the gaps between them.

    Args:
        frames: ``(N, 3, H, W)`` float32 linear light, in time order.
        times_us: ``(N,)`` float64 frame times from the start of the first exposure.
        exposure_us, gap_us: ``E`` and ``G``.
        windows: ``T`` ``(first, stop)`` frame index ranges of the exposures.
        blur_px: per exposure, the longest path (pixels) that a point travels during it.
        origin, upscale: as in :class:`~semcom.sources.scene.LatentSequence`.
    """

    frames: np.ndarray
    times_us: np.ndarray
    exposure_us: int
    gap_us: int
    windows: tuple[tuple[int, int], ...]
    blur_px: tuple[float, ...]
    origin: tuple[int, int] = (0, 0)
    upscale: float = 1.0

    @property
    def num_exposures(self) -> int:
        return len(self.windows)

    @property
    def span_us(self) -> int:
        return self.num_exposures * self.exposure_us + (self.num_exposures - 1) * self.gap_us

    def start_us(self, i: int) -> int:
        """Start of exposure ``i`` (microseconds from the start of the first)."""
        return i * (self.exposure_us + self.gap_us)

    def exposure(self, i: int) -> LatentSequence:
        """Exposure ``i`` as one exposure's latent frames (times from its own start)."""
        a, b = self.windows[i]
        return LatentSequence(frames=self.frames[a:b], times_us=self.times_us[a:b] - self.start_us(i),
                              exposure_us=self.exposure_us, blur_px=self.blur_px[i], origin=self.origin,
                              upscale=self.upscale)


def split_events(events: np.ndarray, *, exposures: int, exposure_us: int, gap_us: int
                 ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Events of a whole span (``t`` from the first exposure's start) as ``(per exposure, per gap)``:
    exposure ``i`` keeps ``t`` in ``[i(E+G), i(E+G) + E)`` with ``t`` made relative to its start; gap ``i``
    (after exposure ``i``) keeps the rest up to the next exposure, with ``t`` relative to the gap's start.
    Every event lands in exactly one of them."""
    t = events["t"].astype(np.int64)
    period = exposure_us + gap_us
    ins, gaps = [], []
    for i in range(exposures):
        start = i * period
        part = events[(t >= start) & (t < start + exposure_us)].copy()
        part["t"] -= start
        ins.append(part)
        if i + 1 < exposures:
            part = events[(t >= start + exposure_us) & (t < start + period)].copy()
            part["t"] -= start + exposure_us
            gaps.append(part)
    return ins, gaps


class VideoRenderer:
    """Render ``exposures`` consecutive exposures of a picture filmed by a smoothly moving camera.

    Args:
        size: output side (or ``(H, W)``).
        exposures: ``T`` (at least 1; STRA uses 3).
        exposure_us: ``E``; gap_us: the read-out gap ``G`` between exposures (0: back to back).
        blur_px: motion per exposure: the longest path a point travels during one exposure on
            average over the span (number or range); curvature makes it vary between exposures.
        rotation, zoom, curvature, max_step_px, min_frames: as :class:`~semcom.sources.scene.SceneRenderer`.
    """

    def __init__(self, *, size: int | tuple[int, int] = 128, exposures: int = 3, exposure_us: int = 10_000,
                 gap_us: int = 2_500, blur_px: float | tuple[float, float] = (8.0, 24.0), rotation: float = 0.3,
                 zoom: float = 0.2, curvature: float = 0.5, max_step_px: float = 1.0, min_frames: int = 7,
                 max_frames: int = 1001) -> None:
        if int(exposures) != exposures or exposures < 1:
            raise ValueError(f"exposures must be a positive integer, got {exposures!r}")
        if int(gap_us) != gap_us or gap_us < 0:
            raise ValueError(f"gap_us must be a non-negative integer, got {gap_us!r}")
        # the single-exposure renderer checks and keeps the shared settings
        self.scene = SceneRenderer(size=size, blur_px=blur_px, rotation=rotation, zoom=zoom, curvature=curvature,
                                   foreground=0.0, exposure_us=exposure_us, max_step_px=max_step_px,
                                   min_frames=min_frames, max_frames=max_frames)
        self.exposures, self.gap_us = int(exposures), int(gap_us)

    @property
    def exposure_us(self) -> int:
        return self.scene.exposure_us

    @property
    def span_us(self) -> int:
        return self.exposures * self.exposure_us + (self.exposures - 1) * self.gap_us

    def describe(self) -> dict:
        return {**self.scene.describe(), "exposures": self.exposures, "gap_us": self.gap_us}

    def times(self, speed_px_per_span: float) -> tuple[np.ndarray, tuple[tuple[int, int], ...]]:
        """Frame times over the span and each exposure's frame range, for the fastest point's speed."""
        e, g, sc = self.exposure_us, self.gap_us, self.scene
        k = sc._num_frames(speed_px_per_span * e / self.span_us)  # frames per exposure (odd)
        dt = e / k
        m = int(math.ceil(g / dt)) if g else 0  # gap frames, no further apart than dt
        times, windows = [], []
        for i in range(self.exposures):
            start = i * (e + g)
            windows.append((len(times), len(times) + k))
            times.extend(start + (np.arange(k) + 0.5) * dt)
            if i + 1 < self.exposures and m:
                times.extend(start + e + (np.arange(m) + 0.5) * g / m)
        return np.asarray(times, dtype=np.float64), tuple(windows)

    def render(self, picture: np.ndarray, rng: np.random.Generator) -> VideoSequence:
        """Draw a motion over the span and a crop position; render every latent frame."""
        sc = self.scene
        pic = _as_float_picture(picture)
        h, w = sc.height, sc.width
        probe = sc._probe()
        radius = float(np.linalg.norm(probe, axis=1).max())
        per_exposure = float(rng.uniform(*sc.blur_range))
        cam = _random_trajectory(rng, blur_px=per_exposure * self.span_us / self.exposure_us, radius=radius,
                                 rotation=sc.rotation, zoom=sc.zoom, curvature=sc.curvature, probe=probe)
        _, speed, disp = _path_stats(cam, probe)
        margin = int(math.ceil(disp)) + 4
        _, src, y0, x0, factor = _window(pic, (h, w), margin, (h + 2 * margin, w + 2 * margin), rng)
        times, windows = self.times(speed)
        s = times / self.span_us - 0.5  # the trajectory's own time: [-1/2, 1/2] over the span
        centre = (margin + (w - 1) / 2.0, margin + (h - 1) / 2.0)
        with torch.no_grad():
            frames, _ = _affine_sample(src, _inverse_affine(cam, s), centre, (h, w))
        frames = frames.clamp_(0.0, 1.0).numpy().astype(np.float32, copy=False)
        blur = []
        for i in range(self.exposures):  # each exposure's own path length
            lo = (i * (self.exposure_us + self.gap_us)) / self.span_us - 0.5
            pos = cam.apply(probe, np.linspace(lo, lo + self.exposure_us / self.span_us, 129))
            blur.append(float(np.linalg.norm(np.diff(pos, axis=0), axis=-1).sum(0).max()))
        return VideoSequence(frames=frames, times_us=times, exposure_us=self.exposure_us, gap_us=self.gap_us,
                             windows=windows, blur_px=tuple(blur), origin=(y0 + margin, x0 + margin),
                             upscale=factor)


def capture_video(camera: "HybridCamera", video: VideoSequence, rng: np.random.Generator
                  ) -> tuple[list[Capture], list[np.ndarray]]:
    """What the hybrid camera records over a video: one :class:`~semcom.sources.camera.Capture` per
    exposure (blurry and sharp frames, the exposure's events) and the raw events of each gap.

    The event camera runs once over the whole span (its reference levels carry over from one exposure to
    the next, as a real sensor's do) and its stream is cut by :func:`split_events`; the frame camera
    exposes each exposure on its own; the spike camera, where present, records each exposure on its own."""
    r_ev, *r_exp = rng.spawn(1 + video.num_exposures)
    ins: list[np.ndarray | None] = [None] * video.num_exposures
    gaps: list[np.ndarray] = []
    if camera.events is not None:
        raw = camera.events.simulate(video.frames, video.times_us, exposure_us=video.span_us, rng=r_ev)
        ins, gaps = split_events(raw, exposures=video.num_exposures, exposure_us=video.exposure_us,
                                 gap_us=video.gap_us)
    captures = []
    for i in range(video.num_exposures):
        cap = camera.capture(video.exposure(i), r_exp[i], raw_events=ins[i])
        cap.info.update(exposure_index=i, start_us=video.start_us(i))
        captures.append(cap)
    return captures, gaps


# --------------------------------------------------------------------------- sequences as batches of frames

def stack_sequence(seq: "SequenceSample") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """A sequence as one training sample: sharp and blurry ``(3T, H, W)`` and events ``(C·T, H, W)``, the
    exposures' channels one after the other (so that a crop or flip acts on all of them alike)."""
    sharp = torch.cat([f.sharp for f in seq.frames])
    blurry = torch.cat([f.blurry for f in seq.frames])
    events = None if any(f.events is None for f in seq.frames) else torch.cat([f.events for f in seq.frames])
    return sharp, blurry, events


def unstack_sequences(batch: Batch, exposures: int) -> Batch:
    """The inverse of :func:`stack_sequence` over a batch: ``B`` stacked sequences become ``B·T`` frames,
    sequence after sequence, each frame's ``info`` naming its sequence (its place in the batch), its
    exposure index and ``T`` (what :func:`sequence_neighbours` reads)."""
    t = int(exposures)
    b, c3, h, w = batch.sharp.shape
    if c3 != 3 * t:
        raise ValueError(f"a stacked sequence of {t} exposures has {3 * t} frame channels, got {c3}")
    flat = lambda x: None if x is None else x.reshape(b * t, x.shape[1] // t, *x.shape[2:])  # noqa: E731
    info = tuple({"sequence": i, "exposure_index": k, "exposures": t} for i in range(b) for k in range(t))
    return Batch(sharp=flat(batch.sharp), blurry=flat(batch.blurry), events=flat(batch.events), info=info)


def sequence_neighbours(batch: Batch | None, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each of the ``n`` frames of ``batch``, the batch positions of the previous and next exposure of
    its sequence (a sequence's first and last frame are their own missing neighbour).

    Frames without sequence information (single exposures) are sequences of one.  Raises ``ValueError``
    where a batch cuts a sequence or holds its frames out of order: the neighbours would be wrong."""
    info = tuple(batch.info) if batch is not None else ()
    prev, nxt = list(range(n)), list(range(n))
    if not info or "exposures" not in info[0]:
        return torch.tensor(prev), torch.tensor(nxt)
    if len(info) != n:
        raise ValueError(f"the batch describes {len(info)} frames but holds {n}")
    j = 0
    while j < n:
        t, seq = int(info[j]["exposures"]), info[j].get("sequence")
        group = info[j:j + t]
        if len(group) != t or [g.get("exposure_index") for g in group] != list(range(t)) \
                or any(g.get("sequence") != seq for g in group):
            raise ValueError("a batch of sequence frames must hold whole sequences in order (frame "
                             f"{j} starts an incomplete one); batch them with SequenceFrames.sequence_batches")
        for k in range(t):
            prev[j + k], nxt[j + k] = j + max(k - 1, 0), j + min(k + 1, t - 1)
        j += t
    return torch.tensor(prev), torch.tensor(nxt)


# --------------------------------------------------------------------------- the dataset

class SequenceFrames:
    """Every exposure of a sequence source as a single-exposure dataset (sequence after sequence), for the
    links that send and restore each frame on its own: their per-frame metrics average over all frames of
    all sequences, and the CBR of a sequence is the CBR of its frames (each frame sends its own budget).
    A frame's ``info`` gains ``sequence`` (its sequence's index) besides ``exposure_index``."""

    def __init__(self, sequences: Any) -> None:
        self.sequences = sequences
        self.index = [(i, k) for i in range(len(sequences)) for k in range(sequences.exposures)]
        self._last: tuple[int, SequenceSample] | None = None  # frames are read in order: load a sequence once

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, j: int) -> Sample:
        i, k = self.index[j]
        if self._last is None or self._last[0] != i:
            self._last = (i, self.sequences[i])
        frame = self._last[1].frames[k]
        return Sample(sharp=frame.sharp, blurry=frame.blurry, events=frame.events, spikes=frame.spikes,
                      raw_events=frame.raw_events, name=frame.name,
                      info={**frame.info, "sequence": i, "exposure_index": k,
                            "exposures": self.sequences.exposures})

    def sequence_batches(self, frames_per_batch: int) -> list[list[int]]:
        """Frame indices in batches of whole sequences, in order: ``ceil(frames_per_batch / T)`` sequences a
        batch (at least one), so that a back-end reading a frame's neighbours finds them in its batch."""
        t = self.sequences.exposures
        per = max(1, -(-int(frames_per_batch) // t))
        n = len(self.sequences)
        return [list(range(s * t, min(s + per, n) * t)) for s in range(0, n, per)]

    def describe(self) -> dict[str, Any]:
        return {**self.sequences.describe(), "frames_of_sequences": {"sequences": len(self.sequences),
                                                                    "frames": len(self)}}


@SOURCES.register("synth-blur-video", help="T consecutive exposures of one continuous motion (blur, events "
                                           "in and between exposures), over synth-blur's pictures")
class SynthBlurVideo(SynthBlur):
    """Sequences of ``exposures`` consecutive blurry frames with their events, the events of the
    read-out gaps between them and each exposure's sharp mid-exposure frame (STRA's inputs).

    The pictures, splits, seeding, camera settings and caching are ``synth-blur``'s; the scene is a
    :class:`VideoRenderer` (no moving foreground patch) and ``dataset[i]`` is a
    :class:`SequenceSample`.  Extra arguments: ``exposures`` (T, default 3) and ``gap_us`` (the
    read-out gap, default 2500 µs); ``blur_px`` is the motion per exposure.  The spike camera is
    off by default (``spikes=True`` records each exposure on its own).
    """

    name = "synth-blur-video"
    sequences = True  #: ``dataset[i]`` is a SequenceSample

    def __init__(self, *, split: str = "test", size: int | None = None, n: int | None = None,
                 limit: int | None = None, seed: int = 0, exposures: int = 3, gap_us: int = 2_500,
                 blur_px: float | Sequence[float] = (8.0, 24.0), rotation: float = 0.3, zoom: float = 0.2,
                 max_step_px: float = 1.0, exposure_us: int = 10_000, representation: str = "scer",
                 num_bins: int = 6, camera: CameraConfig | Mapping[str, Any] | None = None,
                 dead_leaves: float = 0.5, cache: bool | str = True, **camera_settings: Any) -> None:
        if not (isinstance(camera, CameraConfig) or (isinstance(camera, Mapping) and "spikes" in camera)):
            camera_settings.setdefault("spikes", False)  # no spike camera unless asked for
        super().__init__(split=split, size=size, n=n if n is not None else (256 if split == "train" else 8),
                         limit=limit, seed=seed, blur_px=blur_px, foreground=0.0, rotation=rotation, zoom=zoom,
                         max_step_px=max_step_px, exposure_us=exposure_us, representation=representation,
                         num_bins=num_bins, camera=camera, dead_leaves=dead_leaves, cache=cache,
                         **camera_settings)
        try:
            self.video = VideoRenderer(size=self.size, exposures=_positive_int("exposures", exposures),
                                       exposure_us=self.exposure_us, gap_us=gap_us,
                                       blur_px=self.renderer.blur_range, rotation=rotation, zoom=zoom,
                                       max_step_px=max_step_px)
        except ValueError as exc:
            raise SemcomError(f"{self.name}: {exc}") from None

    @property
    def exposures(self) -> int:
        return self.video.exposures

    def _config(self) -> dict[str, Any]:
        return {**super()._config(), "video": self.video.describe()}

    unit = "sequence"

    def sequence(self, index: int) -> tuple[list[Capture], list[np.ndarray]]:
        """The stored captures and gap events of sequence ``index`` (generated and cached on first access)."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range (dataset of {len(self)})")
        return self._cached(index, self._generate_sequence, self._pack, self._unpack)

    _item = sequence

    def _generate_sequence(self, index: int) -> tuple[list[Capture], list[np.ndarray]]:
        r_pic, r_scene, r_cam = self._rng(index).spawn(3)
        label, picture = self._picture(index, r_pic)
        video = self.video.render(picture, r_scene)
        caps, gaps = capture_video(self.camera, video, r_cam)
        for cap in caps:
            cap.info.update(name=f"{label}#{index}/{cap.info['exposure_index']}", picture=label,
                            crop_y=int(video.origin[0]), crop_x=int(video.origin[1]),
                            upscale=round(float(video.upscale), 6), index=int(index), seed=self.seed,
                            gap_us=video.gap_us)
        return [self._with_rep(cap) for cap in caps], gaps

    @staticmethod
    def _pack(item: tuple[list[Capture], list[np.ndarray]]) -> dict[str, np.ndarray]:
        caps, gaps = item
        arrays = {f"e{i}_{k}": v for i, cap in enumerate(caps) for k, v in cap.to_arrays().items()}
        arrays.update({f"gap{i}": encode_events(g) for i, g in enumerate(gaps)})
        return arrays

    def _unpack(self, arrays: dict[str, np.ndarray]) -> tuple[list[Capture], list[np.ndarray]]:
        caps = []
        for i in range(self.video.exposures):
            own = {k[len(f"e{i}_"):]: v for k, v in arrays.items() if k.startswith(f"e{i}_")}
            caps.append(Capture.from_arrays(own))
        gaps = [decode_events(arrays[f"gap{i}"]) for i in range(self.video.exposures - 1)
                if f"gap{i}" in arrays]
        return caps, gaps

    def capture(self, index: int) -> Capture:  # the single-exposure interface: not for sequences
        raise SemcomError(f"{self.name} holds sequences: read dataset[i] (a SequenceSample) or "
                          "dataset.sequence(i)")

    def __getitem__(self, index: int) -> SequenceSample:
        if index < 0:
            index += len(self)
        shared = index in self._memory
        caps, gaps = self.sequence(index)
        frames = tuple(self._sample(cap, index, shared=shared) for cap in caps)
        name = str(caps[0].info.get("name", index)).rsplit("/", 1)[0]
        return SequenceSample(frames=frames, gap_events=tuple(gaps), name=name,
                              info={"exposures": len(frames), "exposure_us": self.exposure_us,
                                    "gap_us": self.video.gap_us, "index": int(index)})
