"""``gopro``: real blurry/sharp pairs of a local GoPro tree, with events and spikes simulated from its
high-frame-rate frames where present."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from semcom.errors import SemcomError
from semcom.registry import SOURCES
from semcom.sources.cache import config_hash
from semcom.sources.camera import CameraConfig, Capture
from semcom.sources.datasets import read_picture
from semcom.sources.hybrid import _HybridDataset, _positive_int
from semcom.colour import srgb_to_linear_np
from semcom.sources.scene import LatentSequence, frame_times_us


_FRAME_RATE = 240.0  # GoPro Hero4 high-frame-rate capture


@SOURCES.register("gopro", help="a local GOPRO_Large tree (real blur) with events/spikes from GOPRO_Large_all frames")
class GoPro(_HybridDataset):
    """Real blurry/sharp pairs of GoPro (Nah et al., CVPR 2017) read from a local copy.

    Layout: ``<data_root>/<split>/<sequence>/blur/NAME.png`` and ``.../sharp/NAME.png``.  When the
    240 fps frames of the ``GOPRO_Large_all`` layout (``<frames_root>/<split>/<sequence>/NAME.png``,
    ``frames_root`` default: a ``GOPRO_Large_all`` folder beside ``data_root``) hold the
    ``window`` frames centred on the sharp frame's number, events and spikes are simulated from
    them, with ``interpolate - 1`` linear blends (in linear light) between consecutive frames
    so that the event camera sees small steps; otherwise the sample carries none.

    Args:
        data_root: the GOPRO_Large folder.
        split: ``"train"`` or ``"test"``.
        size: ``None`` (full frames) or a crop side in pixels (random position from the seed).
        limit, seed, cache: as ``synth-blur``.
        frames_root: the GOPRO_Large_all folder (optional).
        window: high-frame-rate frames per blurry frame; ``None``: the spacing of the sharp
            frame numbers in the sequence (odd, at most 13), 7 for a single frame.
        interpolate: latent frames per high-frame-rate frame interval.
        representation, num_bins, camera (or its settings as keywords), cache: as ``synth-blur``
            (the RGB camera's noise settings are not used: the blurry frame is GoPro's).

    Shape:
        as ``synth-blur``; frames are 720 x 1280 without ``size``.
    """


    def __init__(self, *, data_root: str | None = None, split: str = "test", size: int | None = None,
                 limit: int | None = None, seed: int = 0, n: int | None = None, frames_root: str | None = None,
                 window: int | None = None, interpolate: int = 4, representation: str = "scer",
                 num_bins: int = 6, camera: CameraConfig | Mapping[str, Any] | None = None, cache: bool | str = True,
                 **camera_settings: Any) -> None:
        if data_root is None:
            raise SemcomError("gopro needs data_root=DIR (the GOPRO_Large folder)")
        root = Path(data_root).expanduser()
        if not (root / split).is_dir():
            raise SemcomError(f"gopro: {root / split} is not a folder (expected <root>/{split}/<sequence>/blur)")
        self.root = root.resolve()
        self.frames_root = (Path(frames_root).expanduser() if frames_root is not None
                            else self.root.parent / "GOPRO_Large_all").resolve()
        self.size = None if size is None else _positive_int("size", size, 16)
        self.window = None if window is None else _positive_int("window", window)
        self.interpolate = _positive_int("interpolate", interpolate)
        self.items: list[tuple[str, str, int | None]] = []  # (sequence, file name, window)
        for seq_dir in sorted(p for p in (root / split).iterdir() if p.is_dir()):
            blur = {p.name for p in (seq_dir / "blur").glob("*.png")}
            names = sorted(p.name for p in (seq_dir / "sharp").glob("*.png") if p.name in blur)
            nums = [_frame_number(nm) for nm in names]
            win = self.window or _infer_window(nums)
            self.items.extend((seq_dir.name, nm, win) for nm in names)
        if not self.items:
            raise SemcomError(f"gopro: no blur/sharp PNG pairs under {root / split}")
        if n is not None:
            self.items = self.items[:_positive_int("n", n, 0)]
        # the exposure of the default window sets the event and spike time base per sample
        self._setup(split=split, limit=limit, seed=seed, exposure_us=1, representation=representation,
                    num_bins=num_bins, camera=camera, camera_settings=camera_settings, cache=cache)

    def _count(self) -> int:
        return len(self.items)

    def _config(self) -> dict[str, Any]:
        return {"root": str(self.root), "frames_root": str(self.frames_root), "size": self.size,
                "window": self.window, "interpolate": self.interpolate,
                "items": config_hash({"items": self.items})}

    def frame_paths(self, index: int) -> list[Path] | None:
        """The high-frame-rate frames of sample ``index``, or ``None`` where any is missing."""
        seq, name, win = self.items[index]
        num = _frame_number(name)
        if num is None:
            return None
        width = len(Path(name).stem)
        folder = self.frames_root / self.split / seq
        paths = [folder / f"{j:0{width}d}.png" for j in range(num - win // 2, num - win // 2 + win)]
        return paths if all(p.is_file() for p in paths) else None

    def _generate(self, index: int) -> Capture:
        seq, name, win = self.items[index]
        r_crop, r_cam = self._rng(index).spawn(2)
        folder = self.root / self.split / seq
        blurry = read_picture(folder / "blur" / name)
        sharp = read_picture(folder / "sharp" / name)
        if blurry.shape != sharp.shape:
            raise SemcomError(f"gopro: {seq}/{name}: blur {blurry.shape} and sharp {sharp.shape} differ")
        h, w = sharp.shape[:2]
        y0 = x0 = 0
        if self.size is not None:
            if self.size > min(h, w):
                raise SemcomError(f"gopro: size {self.size} exceeds the {h}x{w} frames")
            y0 = int(r_crop.integers(0, h - self.size + 1))
            x0 = int(r_crop.integers(0, w - self.size + 1))
            h = w = self.size
        crop = lambda a: np.ascontiguousarray(a[y0:y0 + h, x0:x0 + w].transpose(2, 0, 1))  # noqa: E731
        sharp_c, blurry_c = crop(sharp), crop(blurry)
        info: dict[str, Any] = {"name": f"{seq}/{name}", "sequence": seq, "crop_y": y0, "crop_x": x0,
                                "index": int(index), "seed": self.seed}
        paths = self.frame_paths(index) if (self.camera.events or self.camera.spikes) else None
        if paths is None:
            exposure = int(round(win / _FRAME_RATE * 1e6))
            info.update(exposure_us=exposure, num_latent=0, frames="missing")
            return Capture(sharp=sharp_c, blurry=blurry_c, raw_events=None, spikes=None, info=info)
        hfr = np.stack([srgb_to_linear_np(crop(read_picture(p)).astype(np.float32) / 255.0) for p in paths])
        seq_lat = _interpolated_sequence(hfr, self.interpolate)
        cap = self.camera.capture(seq_lat, r_cam, sharp=sharp_c, blurry=blurry_c)
        cap.info.update(info, frames="simulated", window=int(win))
        return cap


def _frame_number(name: str) -> int | None:
    m = re.search(r"(\d+)$", Path(name).stem)
    return int(m.group(1)) if m else None


def _infer_window(nums: list[int | None]) -> int:
    vals = sorted(v for v in nums if v is not None)
    gaps = np.diff(vals) if len(vals) > 1 else np.array([])
    gaps = gaps[gaps > 0]
    if gaps.size == 0:
        return 7
    win = int(np.median(gaps))
    win = win if win % 2 else win - 1
    return int(min(max(win, 1), 13))


def _interpolated_sequence(frames: np.ndarray, factor: int) -> LatentSequence:
    """``W`` frames at 240 fps -> ``(W - 1) * factor + 1`` latent frames (linear blends)."""
    w = frames.shape[0]
    exposure = int(round(w / _FRAME_RATE * 1e6))
    hfr_times = frame_times_us(w, exposure)
    if w == 1 or factor == 1:
        return LatentSequence(frames=frames.astype(np.float32), times_us=hfr_times, exposure_us=exposure)
    out, times = [], []
    for j in range(w - 1):
        for m in range(factor):
            a = np.float32(m / factor)
            out.append((1 - a) * frames[j] + a * frames[j + 1])
            times.append(hfr_times[j] + (hfr_times[j + 1] - hfr_times[j]) * m / factor)
    out.append(frames[-1])
    times.append(hfr_times[-1])
    return LatentSequence(frames=np.stack(out).astype(np.float32), times_us=np.asarray(times), exposure_us=exposure)


@SOURCES.register("gopro-video", help="consecutive blurry frames of a local GOPRO_Large tree, as sequences")
class GoProVideo(GoPro):
    """Sequences of ``exposures`` consecutive blurry frames of one GoPro sequence folder (a sliding window
    over its sorted frames), each with its sharp frame and, where the 240 fps frames are there, its events:
    ``dataset[i]`` is a :class:`~semcom.sources.base.SequenceSample`.  The read-out gap between two
    exposures is ``gap_us`` in each exposure's ``info`` (from the frame numbers at 240 fps; 0 when the
    windows are back to back, as in GoPro's own blurring); the events of a gap are not simulated (empty).

    Args: ``exposures`` (T, default 3), the rest as ``gopro``.
    """

    name = "gopro-video"
    sequences = True

    def __init__(self, *, exposures: int = 3, **params: Any) -> None:
        self.exposures = _positive_int("exposures", exposures)
        super().__init__(**params)
        self.starts = [k for k in range(len(self.items) - self.exposures + 1)
                       if len({seq for seq, _, _ in self.items[k:k + self.exposures]}) == 1]

    def _config(self) -> dict[str, Any]:
        return {**super()._config(), "exposures": self.exposures}

    def _stored(self) -> int:
        return len(self.items)

    def __len__(self) -> int:
        n = len(self.starts)
        return n if self.limit is None else min(n, int(self.limit))

    def __getitem__(self, index: int):
        from semcom.sources.base import EVENT_DTYPE, SequenceSample

        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"sequence {index} out of range (dataset of {len(self)})")
        first = self.starts[index]
        frames = [super(GoProVideo, self).__getitem__(k) for k in range(first, first + self.exposures)]
        start, out = 0, []
        for k, frame in enumerate(frames):
            info = dict(frame.info, exposure_index=k, start_us=int(start))
            if k + 1 < len(frames):
                _, name, win = self.items[first + k]
                gap_frames = (_frame_number(self.items[first + k + 1][1]) or 0) - (_frame_number(name) or 0) - win
                info["gap_us"] = int(round(gap_frames / _FRAME_RATE * 1e6))
                start += int(info["exposure_us"]) + info["gap_us"]
            out.append(replace(frame, info=info))
        seq = self.items[first][0]
        return SequenceSample(frames=tuple(out), gap_events=tuple(np.zeros(0, EVENT_DTYPE) for _ in out[1:]),
                              name=f"{seq}/{self.items[first][1]}+{self.exposures}",
                              info={"exposures": self.exposures, "index": int(index), "gap_events": "not simulated"})
