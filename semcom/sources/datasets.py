"""Hybrid-camera datasets: blurry RGB frame, sharp target, events and spikes of one exposure.

Three registered sources share one simulation chain (:class:`HybridCamera`)::

    picture ──► SceneRenderer (latent frames) ──► RGBCamera   ──► blurry, sharp (uint8)
                                               ├─► EventCamera ──► raw events ──► SCER / voxel / count
                                               └─► SpikeCamera ──► spikes (T, h, w) uint8

* ``synth-blur`` (the embedded default): training pictures are procedural dead-leaves pictures
  and the scikit-image pictures of :data:`TRAIN_PICTURES`; test pictures are the *other*
  scikit-image pictures, :data:`TEST_PICTURES`, never used for training.
* ``folder``: the same chain over the user's own sharp pictures (``data_root=DIR``).
* ``gopro``: a local GoPro tree (real blurry/sharp pairs), with events and spikes simulated from
  the high-frame-rate frames of the ``GOPRO_Large_all`` layout where they are present.

Every sample is generated on first access from a seed derived from ``(seed, split, index)``
and cached on disk (one ``.npz`` per sample, written byte-for-byte reproducibly) under
``$SEMCOM_CACHE`` (default ``~/.cache/semcom``) in a folder named by a hash of the
configuration, so later runs only read files.  See ``docs/sources.md``.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from semcom.errors import SemcomError
from semcom.registry import SOURCES
from semcom.sources.base import Sample, SourceDataset
from semcom.sources.events import EventCamera
from semcom.sources.representations import REPRESENTATIONS, event_representation
from semcom.sources.rgb import RGBCamera, to_float
from semcom.sources.scene import (LatentSequence, SceneRenderer, _range, check_picture, dead_leaves,
                                  frame_times_us, srgb_to_linear_np)
from semcom.sources.skimage_set import SKIMAGE_PICTURES, load_skimage_picture
from semcom.sources.spikes import SpikeCamera

__all__ = ["HybridCamera", "Capture", "SynthBlur", "FolderBlur", "GoPro", "TRAIN_PICTURES", "TEST_PICTURES",
           "cache_root", "save_npz", "encode_events", "decode_events", "CACHE_VERSION"]

#: scikit-image pictures used for training (``cat`` is left out: it is the same picture as ``chelsea``)
TRAIN_PICTURES = ("chelsea", "immunohistochemistry", "hubble_deep_field", "retina", "colorwheel")
#: scikit-image pictures used for testing only
TEST_PICTURES = ("astronaut", "coffee", "rocket", "stereo_motorcycle")
assert not set(TRAIN_PICTURES) & set(TEST_PICTURES)
assert set(TRAIN_PICTURES) | set(TEST_PICTURES) | {"cat"} == set(SKIMAGE_PICTURES)

#: bump when the simulation changes so old cache folders are not reused
CACHE_VERSION = 3

_SPLITS = {"train": 0, "test": 1}
_PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".heic", ".heif")


# --------------------------------------------------------------------------- caching


def cache_root() -> Path:
    """``$SEMCOM_CACHE`` or ``~/.cache/semcom``."""
    env = os.environ.get("SEMCOM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "semcom"


def config_hash(config: dict[str, Any]) -> str:
    """A short stable hash of a JSON-serializable configuration."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an ``.npz`` whose bytes depend only on the arrays (fixed zip dates).

    ``numpy.savez`` stamps each member with the current time; this writer does not, so the same
    seed gives byte-identical files.  The file is written to a temporary name and renamed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            zf.writestr(info, buf.getvalue())
    os.replace(tmp, path)


def encode_events(events: np.ndarray) -> np.ndarray:
    """Compress a sorted event array: time deltas and fields stored column-wise, then zstd.

    Returns a uint8 array; :func:`decode_events` inverts it exactly.
    """
    import imagecodecs

    t = events["t"].astype(np.int64)
    dt = np.diff(t, prepend=np.int64(0))
    if len(dt) and dt.min() < 0:
        raise ValueError("events must be sorted by t")
    wide = bool(len(dt) and dt.max() >= 1 << 16)
    head = np.array([len(events), 4 if wide else 2], np.int64).tobytes()
    cols = [dt.astype(np.uint32 if wide else np.uint16), events["x"].astype(np.int16),
            events["y"].astype(np.int16), events["p"].astype(np.int8)]
    payload = head + b"".join(c.tobytes() for c in cols)
    return np.frombuffer(imagecodecs.zstd_encode(payload, level=3), np.uint8)


def decode_events(blob: np.ndarray) -> np.ndarray:
    """The event array that :func:`encode_events` compressed."""
    import imagecodecs

    from semcom.sources.base import EVENT_DTYPE

    data = imagecodecs.zstd_decode(blob.tobytes())
    n, width = (int(v) for v in np.frombuffer(data[:16], np.int64))
    off = 16
    dt = np.frombuffer(data, np.uint32 if width == 4 else np.uint16, count=n, offset=off)
    off += n * width
    out = np.empty(n, EVENT_DTYPE)
    out["t"] = np.cumsum(dt, dtype=np.int64)
    out["x"] = np.frombuffer(data, np.int16, count=n, offset=off)
    out["y"] = np.frombuffer(data, np.int16, count=n, offset=off + 2 * n)
    out["p"] = np.frombuffer(data, np.int8, count=n, offset=off + 4 * n)
    return out


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


# --------------------------------------------------------------------------- the camera


@dataclass(frozen=True, eq=False)
class Capture:
    """What the hybrid camera records over one exposure.

    Args:
        sharp: target ``(3, H, W)`` uint8 (the middle latent frame).
        blurry: blurry frame ``(3, H, W)`` uint8.
        raw_events: structured array of ``EVENT_DTYPE`` or ``None``.
        spikes: ``(T, h, w)`` uint8 or ``None``.
        info: scalar facts (see :class:`semcom.sources.base.Sample`).
        rep: the event representation ``(C, H, W)`` float32 (stored so loading skips it).
    """

    sharp: np.ndarray
    blurry: np.ndarray
    raw_events: np.ndarray | None
    spikes: np.ndarray | None
    info: dict[str, Any] = field(default_factory=dict)
    rep: np.ndarray | None = None

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {"sharp": self.sharp, "blurry": self.blurry,
               "info_json": np.frombuffer(json.dumps(self.info, sort_keys=True).encode(), np.uint8)}
        if self.raw_events is not None:
            out["raw_events"] = encode_events(self.raw_events)
        if self.spikes is not None:
            binary = self.spikes.size == 0 or int(self.spikes.max()) <= 1
            out["spikes"] = np.packbits(self.spikes.ravel()) if binary else self.spikes
            out["spikes_shape"] = np.asarray(self.spikes.shape, np.int64)
            out["spikes_packed"] = np.asarray(binary)
        if self.rep is not None:
            out.update(_pack_rep(self.rep))
        return out

    @classmethod
    def from_arrays(cls, arrs: dict[str, np.ndarray]) -> "Capture":
        spikes = None
        if "spikes" in arrs:
            shape = tuple(int(v) for v in arrs["spikes_shape"])
            if bool(arrs["spikes_packed"]):
                spikes = np.unpackbits(arrs["spikes"], count=int(np.prod(shape))).reshape(shape)
            else:
                spikes = arrs["spikes"].reshape(shape)
        raw = decode_events(arrs["raw_events"]) if "raw_events" in arrs else None
        return cls(sharp=arrs["sharp"], blurry=arrs["blurry"], raw_events=raw, spikes=spikes,
                   info=json.loads(arrs["info_json"].tobytes().decode()),
                   rep=_unpack_rep(arrs) if "rep_zst" in arrs else None)


def _pack_rep(rep: np.ndarray) -> dict[str, np.ndarray]:
    """An event representation as zstd bytes (int16 when it holds small integers, exactly)."""
    import imagecodecs

    as_int = np.all(rep == np.round(rep)) and (rep.size == 0 or np.abs(rep).max() < 2**15)
    arr = rep.astype(np.int16) if as_int else rep.astype(np.float32)
    return {"rep_zst": np.frombuffer(imagecodecs.zstd_encode(arr.tobytes(), level=3), np.uint8),
            "rep_shape": np.asarray(rep.shape, np.int64), "rep_int16": np.asarray(bool(as_int))}


def _unpack_rep(arrs: dict[str, np.ndarray]) -> np.ndarray:
    import imagecodecs

    dtype = np.int16 if bool(arrs["rep_int16"]) else np.float32
    data = np.frombuffer(imagecodecs.zstd_decode(arrs["rep_zst"].tobytes()), dtype)
    return data.reshape(tuple(int(v) for v in arrs["rep_shape"])).astype(np.float32)


class HybridCamera:
    """An RGB camera, an event camera and a spike camera that share optics and exposure.

    Follows the hybrid camera of EV-JSCC (Sec. II-B: time- and space-synchronized RGB and event
    cameras) with the spike camera of SpikeReveal beside them.

    Args:
        rgb: the frame camera.
        events: the event camera, or ``None``.
        spikes: the spike camera, or ``None``.

    Shape:
        :meth:`capture` takes a :class:`~semcom.sources.scene.LatentSequence` with RGB frames
        ``(K, 3, H, W)`` and returns a :class:`Capture`.
    """

    def __init__(self, *, rgb: RGBCamera, events: EventCamera | None = None,
                 spikes: SpikeCamera | None = None) -> None:
        self.rgb, self.events, self.spikes = rgb, events, spikes

    def describe(self) -> dict[str, Any]:
        return {"rgb": self.rgb.describe(), "events": None if self.events is None else self.events.describe(),
                "spikes": None if self.spikes is None else self.spikes.describe()}

    def capture(self, seq: LatentSequence, rng: np.random.Generator, *,
                sharp: np.ndarray | None = None, blurry: np.ndarray | None = None) -> Capture:
        """Record one exposure; ``sharp``/``blurry`` codes replace the simulated ones (GoPro)."""
        r_rgb, r_ev, r_sp = rng.spawn(3)
        frames = seq.frames
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"the hybrid camera needs RGB latent frames (K, 3, H, W), got {frames.shape}")
        sharp_codes = self.rgb.sharp(seq.sharp) if sharp is None else sharp
        blurry_codes = self.rgb.expose(frames, r_rgb) if blurry is None else blurry
        info: dict[str, Any] = {"exposure_us": int(seq.exposure_us), "num_latent": seq.num_latent,
                                "blur_px": round(float(seq.blur_px), 4), "foreground": bool(seq.foreground)}
        raw = None
        if self.events is not None:
            raw = self.events.simulate(frames, seq.times_us, exposure_us=seq.exposure_us, rng=r_ev)
            info.update(contrast_threshold=self.events.contrast, contrast_neg=self.events.contrast_neg,
                        contrast_sigma=self.events.contrast_sigma, num_events=int(len(raw)),
                        bytes_per_event=self.events.bytes_per_event, event_bytes=self.events.payload_bytes(raw))
        spikes = None
        if self.spikes is not None:
            spikes = self.spikes.simulate(frames, seq.times_us, exposure_us=seq.exposure_us, rng=r_sp)
            info.update(spike_rate_hz=self.spikes.rate_hz, spike_theta=self.spikes.theta,
                        spike_gain=self.spikes.gain, spike_scale=self.spikes.scale,
                        spike_ticks=int(spikes.shape[0]), num_spikes=int(spikes.sum(dtype=np.int64)))
        return Capture(sharp=sharp_codes, blurry=blurry_codes, raw_events=raw, spikes=spikes, info=info)


# --------------------------------------------------------------------------- shared dataset machinery


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise SemcomError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class _HybridDataset(SourceDataset):
    """Shared constructor arguments, per-sample seeding, caching and :class:`Sample` assembly."""

    has_events = True
    has_spikes = True
    name = "hybrid"

    def _setup(self, *, split: str, limit: int | None, seed: int, exposure_us: int, contrast: float,
               contrast_sigma: float, refractory_us: float, noise_rate_hz: float, bytes_per_event: int,
               representation: str, num_bins: int, events: bool, spikes: bool, spike_rate_hz: float,
               spike_theta: float, spike_gain: float, spike_scale: int, dark_current: float,
               full_well: float | None, read_noise: float, cache: bool | str) -> None:
        if split not in _SPLITS:
            raise SemcomError(f"split must be 'train' or 'test', got {split!r}")
        if limit is not None:
            _positive_int("limit", limit, 0)
        if representation not in REPRESENTATIONS:
            raise SemcomError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
        if representation == "scer" and (int(num_bins) != num_bins or num_bins < 2 or num_bins % 2):
            raise SemcomError(f"SCER needs an even num_bins >= 2, got {num_bins!r}")
        self.split, self.limit, self.seed = split, limit, int(seed)
        self.exposure_us = _positive_int("exposure_us", exposure_us)
        self.representation, self.num_bins = representation, _positive_int("num_bins", num_bins)
        try:
            self.camera = HybridCamera(
                rgb=RGBCamera(full_well=full_well, read_noise=read_noise),
                events=EventCamera(contrast=contrast, contrast_sigma=contrast_sigma, refractory_us=refractory_us,
                                   noise_rate_hz=noise_rate_hz, bytes_per_event=bytes_per_event) if events else None,
                spikes=SpikeCamera(rate_hz=spike_rate_hz, theta=spike_theta, gain=spike_gain, scale=spike_scale,
                                   dark_current=dark_current) if spikes else None)
        except ValueError as exc:
            raise SemcomError(f"{self.name}: {exc}") from None
        self.has_events, self.has_spikes = bool(events), bool(spikes)
        if cache is True:
            self.cache_dir: Path | None = cache_root()
        elif cache is False or cache is None:
            self.cache_dir = None
        else:
            self.cache_dir = Path(cache).expanduser()
        self._memory: dict[int, Capture] = {}

    # subclasses: the number of samples, the configuration and one capture
    def _count(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _config(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _generate(self, index: int) -> Capture:  # pragma: no cover - abstract
        raise NotImplementedError

    def _full_config(self) -> dict[str, Any]:
        return {"dataset": self.name, "version": CACHE_VERSION, "split": self.split, "seed": self.seed,
                "exposure_us": self.exposure_us, "camera": self.camera.describe(),
                "representation": self.representation, "num_bins": self.num_bins, **self._config()}

    @property
    def key(self) -> str:
        """Hash of the configuration; names the cache folder."""
        return config_hash(self._full_config())

    def sample_path(self, index: int) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / self.name / self.key / f"{self.split}-{index:05d}.npz"

    def _rng(self, index: int) -> np.random.Generator:
        salt = int(hashlib.sha256(self.name.encode()).hexdigest()[:8], 16)
        return np.random.default_rng(np.random.SeedSequence([self.seed, _SPLITS[self.split], int(index), salt]))

    def capture(self, index: int) -> Capture:
        """The stored capture of sample ``index`` (generated and cached on first access)."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range (dataset of {len(self)})")
        if index in self._memory:
            return self._memory[index]
        path = self.sample_path(index)
        if path is not None and path.is_file():
            try:
                return Capture.from_arrays(_load_npz(path))
            except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                pass  # a damaged file: generate again
        cap = self._generate(index)
        if cap.raw_events is not None:
            h, w = cap.sharp.shape[1:]
            rep = event_representation(self.representation, cap.raw_events, height=h, width=w,
                                       exposure_us=int(cap.info["exposure_us"]), num_bins=self.num_bins)
            cap = Capture(sharp=cap.sharp, blurry=cap.blurry, raw_events=cap.raw_events, spikes=cap.spikes,
                          info=cap.info, rep=rep)
        if path is None:
            self._memory[index] = cap
        else:
            save_npz(path, cap.to_arrays())
            if not (path.parent / "config.json").exists():
                (path.parent / "config.json").write_text(json.dumps(self._full_config(), indent=1, sort_keys=True,
                                                                    default=str))
        return cap

    def prepare(self, progress: bool = False) -> None:
        """Generate every missing sample now (``semcom data synth``)."""
        it = range(len(self))
        if progress:
            from tqdm import tqdm
            it = tqdm(it, desc=f"{self.name} {self.split}", unit="sample")
        for i in it:
            path = self.sample_path(i)
            if path is None or not path.is_file():
                self.capture(i)

    def __len__(self) -> int:
        n = self._count()
        return n if self.limit is None else min(n, int(self.limit))

    def __getitem__(self, index: int) -> Sample:
        if index < 0:
            index += len(self)
        shared = index in self._memory  # arrays kept in memory are copied, those read from disk are fresh
        cap = self.capture(index)
        own = (lambda a: np.array(a, copy=True)) if shared else (lambda a: a)  # noqa: E731
        info = dict(cap.info)
        h, w = cap.sharp.shape[1:]
        events = None
        if cap.raw_events is not None:
            rep = cap.rep
            if rep is None:
                rep = event_representation(self.representation, cap.raw_events, height=h, width=w,
                                           exposure_us=int(info["exposure_us"]), num_bins=self.num_bins)
            events = torch.from_numpy(own(rep) if cap.rep is not None else rep)
            info.update(representation=self.representation, num_bins=int(rep.shape[0]))
        spikes = None if cap.spikes is None else torch.from_numpy(own(cap.spikes))
        return Sample(sharp=torch.from_numpy(to_float(cap.sharp)), blurry=torch.from_numpy(to_float(cap.blurry)),
                      events=events, spikes=spikes, raw_events=None if cap.raw_events is None else own(cap.raw_events),
                      name=str(info.get("name", index)),
                      info=info)

    def describe(self) -> dict[str, Any]:
        return {**self._full_config(), "n": len(self), "representation": self.representation,
                "num_bins": self.num_bins, "key": self.key}


# --------------------------------------------------------------------------- synthetic sources


@lru_cache(maxsize=16)
def _skimage(name: str) -> np.ndarray:
    return load_skimage_picture(name)


class _SynthBase(_HybridDataset):
    """Pictures -> scene renderer -> hybrid camera."""

    def _setup_scene(self, *, size: int | None, n: int | None, blur_px, foreground: float, rotation: float,
                     zoom: float, max_step_px: float) -> None:
        default_size = 128 if self.split == "train" else 256
        self.size = default_size if size is None else _positive_int("size", size, 16)
        self.n = (512 if self.split == "train" else 32) if n is None else _positive_int("n", n, 0)
        try:
            self.renderer = SceneRenderer(size=self.size, blur_px=_range("blur_px", blur_px), rotation=rotation,
                                          zoom=zoom, foreground=foreground, exposure_us=self.exposure_us,
                                          max_step_px=max_step_px)
        except ValueError as exc:
            raise SemcomError(f"{self.name}: {exc}") from None
        if self.camera.spikes is not None and self.size < self.camera.spikes.scale:
            raise SemcomError(f"size {self.size} is smaller than the spike pixel ({self.camera.spikes.scale})")

    def _count(self) -> int:
        return self.n

    def _picture(self, index: int, rng: np.random.Generator) -> tuple[str, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def _generate(self, index: int) -> Capture:
        r_pic, r_scene, r_cam = self._rng(index).spawn(3)
        label, picture = self._picture(index, r_pic)
        seq = self.renderer.render(picture, r_scene)
        cap = self.camera.capture(seq, r_cam)
        cap.info.update(name=f"{label}#{index}", picture=label, crop_y=int(seq.origin[0]), crop_x=int(seq.origin[1]),
                        upscale=round(float(seq.upscale), 6), index=int(index), seed=self.seed)
        return cap


_COMMON_DOC = """
        split: ``"train"`` or ``"test"``.
        size: crop side in pixels (default 128 for train, 256 for test).
        n: number of samples (default 512 for train, 32 for test).
        limit: keep at most this many samples (the first ones; they do not depend on ``n``).
        seed: seeds every draw; sample ``i`` depends only on ``(seed, split, i)`` and the options.
        data_root: folder of pictures (``folder``; ``synth-blur`` refuses one: its pictures are built in).
        blur_px: camera motion magnitude in pixels, a number or a ``[low, high]`` range.
        foreground: probability of an independently moving foreground patch.
        rotation, zoom: largest shares of the blur due to rotation and zoom.
        max_step_px: largest motion between latent frames (sets their number).
        exposure_us: exposure in microseconds.
        contrast, contrast_sigma, refractory_us, noise_rate_hz, bytes_per_event: event camera.
        representation: ``"scer"`` (default), ``"voxel"`` or ``"count"``; ``num_bins`` its
            channels (SCER: ``N`` even, default 6).
        events, spikes: whether the event / spike camera is present.
        spike_rate_hz, spike_theta, spike_gain, spike_scale, dark_current: spike camera.
        full_well, read_noise: RGB camera noise (default none).
        cache: ``True`` (``$SEMCOM_CACHE``), a folder, or ``False`` (keep samples in memory).
"""


@SOURCES.register("synth-blur", help="hybrid camera (blur, events, spikes) over dead leaves and scikit-image pictures")
class SynthBlur(_SynthBase):
    """Synthetic motion blur with events and spikes; train and test pictures are disjoint.

    Training pictures: procedural dead-leaves pictures (fraction ``dead_leaves``) and the
    scikit-image pictures of :data:`TRAIN_PICTURES`; test pictures: :data:`TEST_PICTURES`
    (sample ``i`` uses picture ``i mod 4``).  The default evaluation set is
    ``split="test"``: 32 samples of 256 x 256.

    Args:""" + _COMMON_DOC + """        dead_leaves: fraction of training samples drawn from dead-leaves pictures.

    Shape:
        ``sharp``, ``blurry``: ``(3, S, S)``; ``events``: ``(num_bins, S, S)`` float32;
        ``spikes``: ``(T, S // 4, S // 4)`` uint8 with ``T = exposure · spike_rate``
        (400 by default); ``raw_events``: ``EVENT_DTYPE`` sorted by ``t``.

    Example:
        >>> ds = SOURCES.build("synth-blur", split="test", size=64, limit=2)   # doctest: +SKIP
        >>> ds[0].events.shape                                                 # doctest: +SKIP
        torch.Size([6, 64, 64])
    """


    def __init__(self, *, split: str = "test", size: int | None = None, n: int | None = None,
                 limit: int | None = None, seed: int = 0, data_root: str | None = None,
                 blur_px: float | Sequence[float] = (8.0, 24.0), foreground: float = 0.5, rotation: float = 0.3,
                 zoom: float = 0.2, max_step_px: float = 1.0, exposure_us: int = 10_000, contrast: float = 0.2,
                 contrast_sigma: float = 0.03, refractory_us: float = 0.0, noise_rate_hz: float = 0.0,
                 bytes_per_event: int = 8, representation: str = "scer", num_bins: int = 6, events: bool = True,
                 spikes: bool = True, spike_rate_hz: float = 40_000.0, spike_theta: float = 1.0,
                 spike_gain: float = 1.0, spike_scale: int = 4, dark_current: float = 0.0,
                 full_well: float | None = None, read_noise: float = 0.0, dead_leaves: float = 0.5,
                 cache: bool | str = True) -> None:
        if data_root is not None:  # accepted by name so that the mistake gets a clear answer
            raise SemcomError("synth-blur builds its pictures in and reads no data_root; for your own pictures "
                              "use --dataset folder (or gopro) with --data-root")
        self._setup(split=split, limit=limit, seed=seed, exposure_us=exposure_us, contrast=contrast,
                    contrast_sigma=contrast_sigma, refractory_us=refractory_us, noise_rate_hz=noise_rate_hz,
                    bytes_per_event=bytes_per_event, representation=representation, num_bins=num_bins,
                    events=events, spikes=spikes, spike_rate_hz=spike_rate_hz, spike_theta=spike_theta,
                    spike_gain=spike_gain, spike_scale=spike_scale, dark_current=dark_current,
                    full_well=full_well, read_noise=read_noise, cache=cache)
        if not 0 <= dead_leaves <= 1:
            raise SemcomError(f"dead_leaves is a fraction in [0, 1], got {dead_leaves!r}")
        self.dead_leaves = float(dead_leaves)
        self._setup_scene(size=size, n=n, blur_px=blur_px, foreground=foreground, rotation=rotation, zoom=zoom,
                          max_step_px=max_step_px)

    @property
    def pictures(self) -> tuple[str, ...]:
        """The scikit-image pictures this split draws from."""
        return TRAIN_PICTURES if self.split == "train" else TEST_PICTURES

    def _config(self) -> dict[str, Any]:
        return {"scene": self.renderer.describe(), "pictures": list(self.pictures),
                "dead_leaves": self.dead_leaves if self.split == "train" else 0.0}

    def _picture(self, index: int, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        if self.split == "test":
            name = TEST_PICTURES[index % len(TEST_PICTURES)]
            return name, _skimage(name)
        if rng.uniform() < self.dead_leaves:
            return self._dead_leaves_picture(rng)
        name = TRAIN_PICTURES[int(rng.integers(len(TRAIN_PICTURES)))]
        return name, _skimage(name)

    def _dead_leaves_picture(self, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        """A dead-leaves picture large enough for the crop and the largest motion."""
        hi = max(self.renderer.blur_range[1], self.renderer.fg_range[1])
        side = self.size + 2 * int(math.ceil(hi)) + 16
        return "dead-leaves", dead_leaves(side, rng)


def read_picture(path: str | Path) -> np.ndarray:
    """An RGB uint8 ``(H, W, 3)`` picture from a file (PNG, JPEG, TIFF, WebP, HEIC, ...)."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() in (".heic", ".heif"):
        import pillow_heif

        pillow_heif.register_heif_opener()
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise SemcomError(f"cannot read picture {path}: {exc}") from None
    return check_picture(arr, what=str(path))


def _list_pictures(root: str | Path | None, what: str) -> list[Path]:
    if root is None:
        raise SemcomError(f"{what} needs data_root=DIR (a folder of sharp pictures)")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise SemcomError(f"{what}: data_root {str(root)!r} is not a folder")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in _PICTURE_SUFFIXES)
    if not files:
        raise SemcomError(f"{what}: no pictures ({', '.join(_PICTURE_SUFFIXES)}) under {root}")
    return files


@SOURCES.register("folder", help="hybrid camera (blur, events, spikes) over a folder of your own sharp pictures")
class FolderBlur(_SynthBase):
    """The ``synth-blur`` chain over the pictures of a folder (searched recursively).

    Sample ``i`` uses picture ``i mod P`` (``P`` pictures, sorted by path); use two folders for a
    training and a test set.

    Args:""" + _COMMON_DOC + """
    Shape:
        as ``synth-blur``.
    """


    def __init__(self, *, data_root: str | None = None, split: str = "test", size: int | None = None,
                 n: int | None = None, limit: int | None = None, seed: int = 0,
                 blur_px: float | Sequence[float] = (8.0, 24.0), foreground: float = 0.5, rotation: float = 0.3,
                 zoom: float = 0.2, max_step_px: float = 1.0, exposure_us: int = 10_000, contrast: float = 0.2,
                 contrast_sigma: float = 0.03, refractory_us: float = 0.0, noise_rate_hz: float = 0.0,
                 bytes_per_event: int = 8, representation: str = "scer", num_bins: int = 6, events: bool = True,
                 spikes: bool = True, spike_rate_hz: float = 40_000.0, spike_theta: float = 1.0,
                 spike_gain: float = 1.0, spike_scale: int = 4, dark_current: float = 0.0,
                 full_well: float | None = None, read_noise: float = 0.0, cache: bool | str = True) -> None:
        self.files = _list_pictures(data_root, "folder")
        self.root = Path(data_root).expanduser().resolve()
        self._setup(split=split, limit=limit, seed=seed, exposure_us=exposure_us, contrast=contrast,
                    contrast_sigma=contrast_sigma, refractory_us=refractory_us, noise_rate_hz=noise_rate_hz,
                    bytes_per_event=bytes_per_event, representation=representation, num_bins=num_bins,
                    events=events, spikes=spikes, spike_rate_hz=spike_rate_hz, spike_theta=spike_theta,
                    spike_gain=spike_gain, spike_scale=spike_scale, dark_current=dark_current,
                    full_well=full_well, read_noise=read_noise, cache=cache)
        self._setup_scene(size=size, n=n if n is not None else len(self.files) if split == "test" else None,
                          blur_px=blur_px, foreground=foreground, rotation=rotation, zoom=zoom,
                          max_step_px=max_step_px)
        self._check_sizes()

    def _check_sizes(self) -> None:
        """Refuse a picture smaller than the crop: it would be stretched, not photographed.

        (Pictures at least ``size`` on their short side are used as they are, or enlarged by the
        small factor that leaves room for the motion; each sample records it as ``upscale``.)
        """
        from PIL import Image

        for path in self.files:
            try:
                with Image.open(path) as im:  # reads the header only
                    w, h = im.size
            except (OSError, ValueError):
                continue  # unreadable files are reported, with their reason, when read
            if min(h, w) < self.size:
                raise SemcomError(f"folder: {path.relative_to(self.root)} is {w}x{h}, smaller than the "
                                  f"{self.size}x{self.size} crop; remove it or pass a smaller --size")

    def _config(self) -> dict[str, Any]:
        files = []
        for p in self.files:
            st = p.stat()
            files.append([str(p.relative_to(self.root)), st.st_size, st.st_mtime_ns])
        return {"scene": self.renderer.describe(), "root": str(self.root), "files": files}

    def _picture(self, index: int, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        path = self.files[index % len(self.files)]
        return str(path.relative_to(self.root)), read_picture(path)


# --------------------------------------------------------------------------- GoPro


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
        contrast, ..., read_noise: the cameras, as ``synth-blur`` (the RGB camera is not used:
            the blurry frame is GoPro's).

    Shape:
        as ``synth-blur``; frames are 720 x 1280 without ``size``.
    """


    def __init__(self, *, data_root: str | None = None, split: str = "test", size: int | None = None,
                 limit: int | None = None, seed: int = 0, n: int | None = None, frames_root: str | None = None,
                 window: int | None = None, interpolate: int = 4, contrast: float = 0.2,
                 contrast_sigma: float = 0.03, refractory_us: float = 0.0, noise_rate_hz: float = 0.0,
                 bytes_per_event: int = 8, representation: str = "scer", num_bins: int = 6, events: bool = True,
                 spikes: bool = True, spike_rate_hz: float = 40_000.0, spike_theta: float = 1.0,
                 spike_gain: float = 1.0, spike_scale: int = 4, dark_current: float = 0.0,
                 full_well: float | None = None, read_noise: float = 0.0, cache: bool | str = True) -> None:
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
        self._setup(split=split, limit=limit, seed=seed, exposure_us=1, contrast=contrast,
                    contrast_sigma=contrast_sigma, refractory_us=refractory_us, noise_rate_hz=noise_rate_hz,
                    bytes_per_event=bytes_per_event, representation=representation, num_bins=num_bins,
                    events=events, spikes=spikes, spike_rate_hz=spike_rate_hz, spike_theta=spike_theta,
                    spike_gain=spike_gain, spike_scale=spike_scale, dark_current=dark_current,
                    full_well=full_well, read_noise=read_noise, cache=cache)

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
