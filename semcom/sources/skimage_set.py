"""``skimage``: sharp crops of the colour pictures bundled with scikit-image (no blur, no events).

A minimal evaluation set that needs no simulation: ``blurry`` equals ``sharp``.  Useful to
evaluate a codec on its own.  The hybrid-camera datasets live in :mod:`semcom.sources.datasets`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from semcom.errors import SemcomError
from semcom.registry import SOURCES
from semcom.sources.base import Sample, SourceDataset

#: colour pictures that ship inside the scikit-image wheel (no download)
SKIMAGE_PICTURES = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry",
                    "hubble_deep_field", "retina", "cat", "colorwheel", "stereo_motorcycle")


def load_skimage_picture(name: str) -> np.ndarray:
    """An RGB uint8 ``(H, W, 3)`` picture bundled with scikit-image."""
    import skimage.data

    img = getattr(skimage.data, name)()
    if isinstance(img, tuple):  # stereo pairs: take the left view
        img = img[0]
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


@SOURCES.register("skimage", help="sharp crops of scikit-image's bundled colour pictures (blurry = sharp)")
class SkimageCrops(SourceDataset):
    """Random crops of scikit-image's colour pictures, ``crops_per_picture`` per picture.

    Args:
        size: crop side in pixels (pictures smaller than that are upscaled first).
        crops_per_picture: crops taken from each picture.
        limit: keep at most this many samples.
        seed: seed of the crop positions.
    """

    def __init__(self, *, split: str = "test", size: int = 256, crops_per_picture: int = 2,
                 limit: int | None = None, seed: int = 0, data_root: str | None = None) -> None:
        if data_root is not None:  # accepted by name so that the mistake gets a clear answer
            raise SemcomError("skimage reads no data_root (its pictures come with scikit-image); for your own "
                              "pictures use --dataset folder with --data-root")
        if size < 16:
            raise SemcomError(f"crop size must be at least 16 pixels, got {size}")
        self.size, self.seed = int(size), int(seed)
        rng = np.random.default_rng(seed)
        self.items: list[tuple[str, int, int, np.ndarray]] = []
        for name in SKIMAGE_PICTURES:
            img = load_skimage_picture(name)
            h, w = img.shape[:2]
            if min(h, w) < size:
                t = torch.from_numpy(img).permute(2, 0, 1)[None].float()
                scale = size / min(h, w)
                t = torch.nn.functional.interpolate(t, scale_factor=scale, mode="bicubic", align_corners=False)
                img = t[0].permute(1, 2, 0).clamp(0, 255).round().byte().numpy()
                h, w = img.shape[:2]
            for _k in range(crops_per_picture):
                y = int(rng.integers(0, h - size + 1))
                x = int(rng.integers(0, w - size + 1))
                self.items.append((name, y, x, img[y:y + size, x:x + size]))
        if limit is not None:
            self.items = self.items[: int(limit)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Sample:
        name, y, x, crop = self.items[index]
        t = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float() / 255.0
        return Sample(sharp=t, blurry=t.clone(), name=f"{name}@{y},{x}")

    def describe(self) -> dict[str, Any]:
        return {"name": "skimage", "size": self.size, "seed": self.seed, "n": len(self)}
