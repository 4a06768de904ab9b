"""The natural-photograph corpus from Debian packages: ``photos`` (training) and ``photos-image``.

:data:`MANIFEST` (``photos.json`` beside this module) lists each photograph with its Debian
package, version, path inside the package, SHA-256 and ``split``; ``semcom data photos``
(:mod:`semcom.sources.install`; in a checkout also ``make photos``) downloads the packages with
``apt-get download``, unpacks them and copies the listed files into :func:`photos_root`.  The sources read only files whose SHA-256 matches the
manifest, so the corpus is the same everywhere.

Chosen: the colour photographs of ``opencv-doc``'s examples, ``mate-backgrounds``' nature set,
the photographic wallpapers of ``plasma-workspace-wallpapers`` and ``lomiri-wallpapers-16.04`` /
``-20.04``, ``palapeli-data``'s puzzle pictures, ``kphotoalbum``'s demo album and two more (the
manifest's ``about`` says which and why).  Left out: drawings, logos, paintings, renders,
calibration targets, screenshots, grey-scale, motion-blurred and mostly defocused pictures.

Two splits, disjoint by content hash (no two entries share a SHA-256):

* ``split="train"``: what the ``photos`` source (the hybrid camera over the photographs mixed with
  dead leaves, the zoo's training corpus) and ``photos-image``'s training crops read;
* ``split="test"``: a fixed, hand-picked set of held-out photographs, never trained on: the
  evaluation set of the image task (``photos-image``, its default split).

None is an evaluation picture of the deblurring figures (the scikit-image pictures of
``synth-blur``'s test split; tested by content), and no picture bundled with a Python package is
used.

Photographs are scaled (area filter) so their short side is ``short_side`` pixels (default 512,
about the size of the scikit-image evaluation pictures) before they are cropped.

Example:
    >>> ds = SOURCES.build("photos", split="train", size=128, n=64)   # doctest: +SKIP
    >>> test = SOURCES.build("photos-image")                          # doctest: +SKIP
    >>> len(test), test[0].sharp.shape                                # doctest: +SKIP
    (25, torch.Size([3, 256, 256]))
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semcom.errors import SemcomError
from semcom.files import sha256_of
from semcom.registry import SOURCES
from semcom.sources.base import Sample, SourceDataset
from semcom.sources.datasets import SynthBlur, read_picture

__all__ = ["MANIFEST", "SPLITS", "read_manifest", "photos_root", "installed_photos", "PhotosBlur", "PhotoImages"]

MANIFEST = Path(__file__).resolve().parent / "photos.json"

#: the manifest's splits: ``train`` (the training corpus) and ``test`` (held out, the image task's evaluation set)
SPLITS = ("train", "test")


def read_manifest(split: str | None = None) -> list[dict[str, Any]]:
    """The manifest's entries (``name``, ``package``, ``version``, ``path``, ``sha256``, ``bytes``,
    ``split``), all of them or those of one ``split``, in manifest order.

    Raises:
        SemcomError: an unknown split, an entry without a known split, or two entries with the same
            name or SHA-256 (the same photograph in both splits would leak the test set into training).
    """
    if split is not None and split not in SPLITS:
        raise SemcomError(f"the photo corpus has the splits {', '.join(SPLITS)}; not {split!r}")
    entries = json.loads(MANIFEST.read_text())["photos"]
    for key in ("name", "sha256"):
        seen: set[str] = set()
        for e in entries:
            if e[key] in seen:
                raise SemcomError(f"{MANIFEST.name}: two entries have the {key} {e[key]!r}")
            seen.add(e[key])
    for e in entries:
        if e.get("split") not in SPLITS:
            raise SemcomError(f"{MANIFEST.name}: entry {e['name']!r} has split {e.get('split')!r}, "
                              f"not one of {', '.join(SPLITS)}")
    return [e for e in entries if split is None or e["split"] == split]


def photos_root() -> Path:
    """``$SEMCOM_PHOTOS`` or ``~/.cache/semcom/photos``: where the install script puts the files."""
    env = os.environ.get("SEMCOM_PHOTOS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "semcom" / "photos"


def installed_name(entry: dict[str, Any]) -> str:
    """The file name of an entry under :func:`photos_root` (its name plus the original suffix)."""
    return entry["name"] + Path(entry["path"]).suffix.lower()


def installed_photos(root: str | Path | None = None, split: str | None = "train") -> list[tuple[str, Path]]:
    """``(name, path)`` of every manifest photograph of ``split`` under ``root`` with the right SHA-256.

    ``split`` is ``"train"`` by default, so that every training path (the ``photos`` source,
    ``--fresh-data``) reads the training photographs only; ``"test"`` gives the held-out ones and
    ``None`` all of them.

    Raises:
        SemcomError: not every photograph of the split is installed (the message gives the install
            command), or a file is present with other contents (a changed corpus would change training).
    """
    root = Path(root).expanduser() if root is not None else photos_root()
    entries = read_manifest(split)
    found, bad = [], []
    for entry in entries:
        path = root / installed_name(entry)
        if not path.is_file():
            continue
        if sha256_of(path) != entry["sha256"]:
            bad.append(path.name)
            continue
        found.append((entry["name"], path))
    if bad:
        raise SemcomError(f"photos under {root} differ from the manifest ({', '.join(bad[:3])}"
                          f"{' ...' if len(bad) > 3 else ''}); reinstall them with `semcom data photos`")
    if len(found) < len(entries):  # a partial corpus would silently train (or evaluate) on other data
        what = {"train": "training ", "test": "test "}.get(split or "", "")
        raise SemcomError(f"{len(found)} of the {len(entries)} {what}photographs are under {root}; "
                          "install them with `semcom data photos`, or set $SEMCOM_PHOTOS to where they are")
    return found


@lru_cache(maxsize=128)  # the whole corpus (93 photographs) scaled to 512: about 120 MB
def _load_scaled(path: str, short_side: int) -> np.ndarray:
    """The photograph scaled (area filter) so its short side is ``short_side`` pixels."""
    from PIL import Image

    img = read_picture(path)
    h, w = img.shape[:2]
    s = short_side / min(h, w)
    if s < 1:
        size = (max(1, round(w * s)), max(1, round(h * s)))
        img = np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BOX))
    return np.ascontiguousarray(img)


@SOURCES.register("photos", help="hybrid camera over natural photographs from Debian packages, plus dead leaves")
class PhotosBlur(SynthBlur):
    """The ``synth-blur`` chain over the training photographs of the corpus and dead leaves.

    Only a training split exists, and it reads only the manifest's ``split="train"`` photographs:
    the held-out ones (``photos-image``'s test split) are never trained on.

    Args:
        photos_root: where the photographs are (default :func:`photos_root`).
        dead_leaves: fraction of samples drawn from dead-leaves pictures (default 0.3).
        short_side: photographs are scaled to this short side first (default 512).
        (the other arguments are those of ``synth-blur``.)

    Shape:
        as ``synth-blur``.
    """


    def __init__(self, *, split: str = "train", photos_root: str | None = None, dead_leaves: float = 0.3,
                 short_side: int = 512, **kwargs: Any) -> None:
        if split != "train":
            raise SemcomError("photos is a training corpus; it has only split='train' (evaluate on photos-image "
                              "(its held-out photographs), synth-blur's test split, a folder or GoPro)")
        self.short_side = _short_side(short_side)
        self.photos = installed_photos(photos_root, split="train")
        super().__init__(split=split, dead_leaves=dead_leaves, **kwargs)

    @property
    def pictures(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.photos)

    def _config(self) -> dict[str, Any]:
        digests = {e["name"]: e["sha256"][:16] for e in read_manifest()}
        return {**super()._config(), "photos": [[n, digests[n]] for n in self.pictures],
                "short_side": self.short_side}

    def _picture(self, index: int, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        if rng.uniform() < self.dead_leaves:
            return self._dead_leaves_picture(rng)
        name, path = self.photos[int(rng.integers(len(self.photos)))]
        return name, _load_scaled(str(path), self.short_side)


def _count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise SemcomError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _short_side(value: Any) -> int:
    return _count("short_side", value, 64)


@lru_cache(maxsize=128)
def _prepared(path: str, short_side: int, size: int) -> tuple[np.ndarray, float]:
    """The photograph scaled to ``short_side`` (:func:`_load_scaled`), then enlarged (bicubic) where
    that leaves its short side below the crop ``size``; and the enlargement factor (1 when none)."""
    from PIL import Image

    img = _load_scaled(path, short_side)
    h, w = img.shape[:2]
    if min(h, w) >= size:
        return img, 1.0
    s = size / min(h, w)
    dims = (max(size, round(w * s)), max(size, round(h * s)))
    return np.ascontiguousarray(np.asarray(Image.fromarray(img).resize(dims, Image.Resampling.BICUBIC))), s


def _spread(length: int, size: int, k: int) -> list[int]:
    """``k`` crop offsets of a ``size`` window along ``length`` pixels, evenly spread (centred when ``k = 1``)."""
    return [int(round((length - size) * (j + 0.5) / k)) for j in range(k)]


@SOURCES.register("photos-image", help="sharp held-out photographs from Debian packages, no camera "
                                       "(blurry = sharp): the image task's test set, or training crops")
class PhotoImages(SourceDataset):
    """Sharp crops of the corpus's photographs, with no camera: ``blurry`` equals ``sharp``.

    The image-transmission task's data.  ``split="test"`` (the default) is its evaluation set: the
    manifest's held-out photographs (``split="test"``, never trained on), ``crops_per_picture``
    fixed crops each, in manifest order; sample ``i`` is crop ``i mod crops_per_picture`` of
    photograph ``i // crops_per_picture``.  ``split="train"``: ``n`` random crops of the manifest's
    training photographs (a uniformly drawn photograph, a uniformly drawn window), sample ``i``
    drawn from ``(seed, i)`` alone.  No events and no spikes (``None``, as for ``skimage``).

    Each photograph is first scaled (area filter) to a short side of ``short_side`` pixels, as the
    ``photos`` source does; one whose short side is then below ``size`` is enlarged to ``size``
    (bicubic; the sample's ``info["upscale"]`` records the factor).  The held-out photographs all
    have a short side of at least 512, so with the defaults none is enlarged.

    Args:
        split: ``"test"`` (held-out photographs, fixed crops) or ``"train"`` (random crops).
        size: crop side in pixels (default 256).
        crops_per_picture: test split: crops per photograph, spread evenly along its long side and
            centred across its short side (default 1: the centre crop).
        n: train split: number of samples (default 512); the test split has one sample per
            photograph and crop, so it takes no ``n`` (use ``limit``).
        limit: keep at most this many samples (the first ones).
        seed: train split: seeds the crops (the test split's crops are fixed).
        short_side: photographs are scaled to this short side first (default 512).
        photos_root: where the photographs are (default :func:`photos_root`).

    Shape:
        ``sharp``, ``blurry``: ``(3, size, size)`` float32 in [0, 1]; ``events``, ``spikes``: ``None``.

    Example:
        >>> ds = SOURCES.build("photos-image", split="test", size=256)   # doctest: +SKIP
        >>> len(ds), torch.equal(ds[0].sharp, ds[0].blurry)              # doctest: +SKIP
        (25, True)
    """

    has_events = False
    has_spikes = False

    def __init__(self, *, split: str = "test", size: int = 256, crops_per_picture: int = 1, n: int | None = None,
                 limit: int | None = None, seed: int = 0, short_side: int = 512, photos_root: str | None = None,
                 data_root: str | None = None) -> None:
        if data_root is not None:  # accepted by name so that the mistake gets a clear answer
            raise SemcomError("photos-image reads the installed photo corpus, not a data_root; set photos_root "
                              "(or $SEMCOM_PHOTOS), or use --dataset folder with --data-root for your own pictures")
        if split not in SPLITS:
            raise SemcomError(f"photos-image has the splits {', '.join(SPLITS)}; not {split!r}")
        self.split = split
        self.size = _count("size", size, 16)
        self.short_side = _short_side(short_side)
        self.crops_per_picture = _count("crops_per_picture", crops_per_picture, 1)
        self.seed = _count("seed", seed, 0)
        if split == "test":
            if n is not None:
                raise SemcomError("photos-image's test split has one sample per held-out photograph and crop "
                                  "(crops_per_picture); it takes no n (use limit)")
        elif crops_per_picture != 1:
            raise SemcomError("crops_per_picture sets the test split's fixed crops; the train split draws n "
                              "random crops")
        self.photos = installed_photos(photos_root, split=split)
        count = (len(self.photos) * self.crops_per_picture if split == "test"
                 else _count("n", 512 if n is None else n, 0))
        self.n = count if limit is None else min(count, _count("limit", limit, 0))
        self._digests = {e["name"]: e["sha256"] for e in read_manifest(split)}

    def __len__(self) -> int:
        return self.n

    def _window(self, index: int) -> tuple[str, np.ndarray, float, int, int]:
        """Sample ``index``'s photograph name, prepared picture, enlargement and crop origin."""
        if self.split == "test":
            name, path = self.photos[index // self.crops_per_picture]
            img, up = _prepared(str(path), self.short_side, self.size)
            h, w = img.shape[:2]
            j, k = index % self.crops_per_picture, self.crops_per_picture
            y = _spread(h, self.size, k)[j] if h > w else (h - self.size) // 2
            x = _spread(w, self.size, k)[j] if w >= h else (w - self.size) // 2
            return name, img, up, y, x
        salt = int(hashlib.sha256(b"photos-image").hexdigest()[:8], 16)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(index), salt]))
        name, path = self.photos[int(rng.integers(len(self.photos)))]
        img, up = _prepared(str(path), self.short_side, self.size)
        h, w = img.shape[:2]
        y, x = int(rng.integers(0, h - self.size + 1)), int(rng.integers(0, w - self.size + 1))
        return name, img, up, y, x

    def __getitem__(self, index: int) -> Sample:
        if not -self.n <= index < self.n:
            raise IndexError(f"sample {index} of {self.n}")
        index = int(index) % self.n
        name, img, up, y, x = self._window(index)
        crop = np.ascontiguousarray(img[y:y + self.size, x:x + self.size])
        t = torch.from_numpy(crop).permute(2, 0, 1).float() / 255.0
        label = f"{name}@{y},{x}"
        info = {"name": label, "picture": name, "sha256": self._digests[name], "crop_y": y, "crop_x": x,
                "upscale": round(float(up), 6), "index": index, "split": self.split}
        if self.split == "train":
            info["seed"] = self.seed
        return Sample(sharp=t, blurry=t.clone(), name=label, info=info)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": "photos-image", "split": self.split, "size": self.size,
                               "short_side": self.short_side, "n": len(self),
                               "photos": [[n, self._digests[n][:16]] for n, _ in self.photos]}
        if self.split == "test":
            out["crops_per_picture"] = self.crops_per_picture
        else:
            out["seed"] = self.seed
        return out
