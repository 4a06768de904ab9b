"""Hybrid-camera datasets: blurry RGB frame, sharp target, events and spikes of one exposure.

Three registered sources (``gopro`` in :mod:`semcom.sources.gopro`) share one simulation chain (:class:`HybridCamera`)::

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

import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from semcom.errors import SemcomError
from semcom.registry import SOURCES
from semcom.sources.scene import SceneRenderer, _range, check_picture, dead_leaves
from semcom.sources.skimage_set import SKIMAGE_PICTURES, load_skimage_picture
from semcom.sources.cache import (CACHE_VERSION, _load_npz, cache_root, config_hash, decode_events, encode_events,
                                  save_npz)
from semcom.sources.camera import CameraConfig, Capture, HybridCamera
from semcom.sources.hybrid import _HybridDataset, _positive_int

__all__ = ["HybridCamera", "CameraConfig", "Capture", "SynthBlur", "FolderBlur", "TRAIN_PICTURES", "TEST_PICTURES",
           "cache_root", "save_npz", "encode_events", "decode_events", "CACHE_VERSION", "read_picture"]

#: scikit-image pictures used for training (``cat`` is left out: it is the same picture as ``chelsea``)
TRAIN_PICTURES = ("chelsea", "immunohistochemistry", "hubble_deep_field", "retina", "colorwheel")
#: scikit-image pictures used for testing only
TEST_PICTURES = ("astronaut", "coffee", "rocket", "stereo_motorcycle")
assert not set(TRAIN_PICTURES) & set(TEST_PICTURES)
assert set(TRAIN_PICTURES) | set(TEST_PICTURES) | {"cat"} == set(SKIMAGE_PICTURES)

_PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".heic", ".heif")


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
        representation: ``"scer"`` (default), ``"voxel"`` or ``"count"``; ``num_bins`` its
            channels (SCER: ``N`` even, default 6).
        camera: the cameras' settings as one table (:class:`~semcom.sources.camera.CameraConfig`:
            ``events``, ``contrast``, ..., ``spikes``, ``spike_rate_hz``, ..., ``full_well``,
            ``read_noise``); each may also be given as a keyword of its own (``spikes=False``).
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
                 zoom: float = 0.2, max_step_px: float = 1.0, exposure_us: int = 10_000,
                 representation: str = "scer", num_bins: int = 6, camera: CameraConfig | Mapping[str, Any] | None = None, dead_leaves: float = 0.5,
                 cache: bool | str = True, **camera_settings: Any) -> None:
        if data_root is not None:  # accepted by name so that the mistake gets a clear answer
            raise SemcomError("synth-blur builds its pictures in and reads no data_root; for your own pictures "
                              "use --dataset folder (or gopro) with --data-root")
        self._setup(split=split, limit=limit, seed=seed, exposure_us=exposure_us, representation=representation,
                    num_bins=num_bins, camera=camera, camera_settings=camera_settings, cache=cache)
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
                 zoom: float = 0.2, max_step_px: float = 1.0, exposure_us: int = 10_000,
                 representation: str = "scer", num_bins: int = 6, camera: CameraConfig | Mapping[str, Any] | None = None, cache: bool | str = True, **camera_settings: Any) -> None:
        self.files = _list_pictures(data_root, "folder")
        self.root = Path(data_root).expanduser().resolve()
        self._setup(split=split, limit=limit, seed=seed, exposure_us=exposure_us, representation=representation,
                    num_bins=num_bins, camera=camera, camera_settings=camera_settings, cache=cache)
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
