"""``photos``: the hybrid camera over natural photographs from Debian packages, mixed with dead leaves.

The training corpus of the zoo.  :data:`MANIFEST` (``photos.json`` beside this module) lists
each photograph with its Debian package, version, path inside the package and SHA-256;
``scripts/install_photos.py`` (or ``make photos``) downloads the packages with ``apt-get
download``, unpacks them and copies the listed files into :func:`photos_root`.  The dataset
reads only files whose SHA-256 matches the manifest, so the corpus is the same everywhere.

Chosen: the colour photographs of ``opencv-doc``'s examples and ``mate-backgrounds``' nature
set.  Left out: drawings, logos, paintings, renders, calibration targets, grey-scale and
motion-blurred pictures (and all of ``gnome-backgrounds``, which holds no photograph).  None is
an evaluation picture (tested by content hash), and no picture bundled with a Python package is
used (the scikit-image training pictures of ``synth-blur`` are the only ones, as before).

Photographs are scaled (area filter) so their short side is ``short_side`` pixels (default
512, about the size of the evaluation pictures) before the camera crops and moves over them.

Example:
    >>> ds = SOURCES.build("photos", split="train", size=128, n=64)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from semcom.errors import SemcomError
from semcom.files import sha256_of
from semcom.registry import SOURCES
from semcom.sources.datasets import SynthBlur, read_picture

__all__ = ["MANIFEST", "read_manifest", "photos_root", "installed_photos", "PhotosBlur"]

MANIFEST = Path(__file__).resolve().parent / "photos.json"


def read_manifest() -> list[dict[str, Any]]:
    """The manifest's entries: ``name``, ``package``, ``version``, ``path``, ``sha256``, ``bytes``."""
    return json.loads(MANIFEST.read_text())["photos"]


def photos_root() -> Path:
    """``$SEMCOM_PHOTOS`` or ``~/.cache/semcom/photos``: where the install script puts the files."""
    env = os.environ.get("SEMCOM_PHOTOS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "semcom" / "photos"


def installed_name(entry: dict[str, Any]) -> str:
    """The file name of an entry under :func:`photos_root` (its name plus the original suffix)."""
    return entry["name"] + Path(entry["path"]).suffix.lower()


def installed_photos(root: str | Path | None = None) -> list[tuple[str, Path]]:
    """``(name, path)`` of every manifest photograph present under ``root`` with the right SHA-256.

    Raises:
        SemcomError: not every photograph is installed (the message gives the install command),
            or a file is present with other contents (a changed corpus would change training).
    """
    root = Path(root).expanduser() if root is not None else photos_root()
    found, bad = [], []
    for entry in read_manifest():
        path = root / installed_name(entry)
        if not path.is_file():
            continue
        if sha256_of(path) != entry["sha256"]:
            bad.append(path.name)
            continue
        found.append((entry["name"], path))
    if bad:
        raise SemcomError(f"photos under {root} differ from the manifest ({', '.join(bad[:3])}"
                          f"{' ...' if len(bad) > 3 else ''}); reinstall with `python scripts/install_photos.py`")
    if len(found) < len(read_manifest()):  # a partial corpus would silently train on other data
        raise SemcomError(f"{len(found)} of the {len(read_manifest())} training photographs are under {root}; "
                          "install them with `python scripts/install_photos.py` (or `make photos`), "
                          "or set $SEMCOM_PHOTOS")
    return found


@lru_cache(maxsize=64)
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
    """The ``synth-blur`` chain over the photographs of the training corpus and dead leaves.

    Only a training split exists: the corpus never serves for evaluation.

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
            raise SemcomError("photos is a training corpus; it has only split='train' (evaluate on synth-blur's "
                              "test split, a folder or GoPro)")
        if int(short_side) != short_side or short_side < 64:
            raise SemcomError(f"short_side must be an integer >= 64, got {short_side!r}")
        self.photos = installed_photos(photos_root)
        self.short_side = int(short_side)
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
