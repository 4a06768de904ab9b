"""One sample under several camera noise presets, side by side (for ``semcom data show --compare-noise``).

:func:`draw_noise_comparison` builds the same dataset once per preset (same seed: the same scene, motion
and sample), and draws for each preset a row: the blurry frame, the exposure's events (ON red, OFF blue,
per-pixel net count) and the spike camera's long-exposure count, with the event and spike totals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["noise_samples", "draw_noise_comparison"]


def noise_samples(dataset: str = "synth-blur", index: int = 0, *, presets: Sequence[str] = ("default", "noisy"),
                  split: str = "test", seed: int = 0, **params: Any) -> list[tuple[str, Any]]:
    """``(preset, Sample)`` of sample ``index`` of ``dataset`` under each camera preset (no cache)."""
    from semcom.registry import SOURCES

    out = []
    for preset in presets:
        ds = SOURCES.build(dataset, split=split, seed=seed, camera={"preset": preset}, cache=False, **params)
        if not 0 <= index < len(ds):
            from semcom.errors import SemcomError

            raise SemcomError(f"--index {index} out of range: {dataset} {split} has {len(ds)} samples")
        out.append((preset, ds[index]))
    return out


def _events_rgb(raw: np.ndarray | None, h: int, w: int) -> np.ndarray:
    img = np.ones((h, w, 3), np.float32)
    if raw is None or len(raw) == 0:
        return img
    net = np.zeros((h, w), np.float32)
    np.add.at(net, (raw["y"].astype(np.int64), raw["x"].astype(np.int64)), raw["p"].astype(np.float32))
    scale = max(1.0, float(np.percentile(np.abs(net[net != 0]), 99)) if np.any(net) else 1.0)
    a = np.clip(net / scale, -1, 1)
    img[..., 1] -= np.abs(a)
    img[..., 2] -= np.clip(a, 0, 1)   # ON: red
    img[..., 0] -= np.clip(-a, 0, 1)  # OFF: blue
    return img.clip(0, 1)


def draw_noise_comparison(out: str | Path, dataset: str = "synth-blur", index: int = 0, *,
                          presets: Sequence[str] = ("default", "noisy"), split: str = "test", seed: int = 0,
                          **params: Any) -> Path:
    """Draw sample ``index`` under each of ``presets`` into the PNG ``out`` (one row per preset)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = noise_samples(dataset, index, presets=presets, split=split, seed=seed, **params)
    fig, axes = plt.subplots(len(rows), 3, figsize=(9.6, 3.3 * len(rows)), squeeze=False)
    for r, (preset, sample) in enumerate(rows):
        h, w = sample.blurry.shape[-2:]
        blurry = sample.blurry.permute(1, 2, 0).numpy()
        raw = sample.raw_events
        axes[r, 0].imshow(blurry)
        axes[r, 0].set_title(f"{preset}: blurry frame")
        axes[r, 1].imshow(_events_rgb(raw, h, w))
        axes[r, 1].set_title(f"events ({0 if raw is None else len(raw)})")
        if sample.spikes is not None:
            count = sample.spikes.float().sum(0).numpy()
            axes[r, 2].imshow(count, cmap="gray")
            axes[r, 2].set_title(f"spike count ({int(count.sum())})")
        else:
            axes[r, 2].set_title("no spike camera")
        for ax in axes[r]:
            ax.axis("off")
    fig.suptitle(f"{dataset} {split} #{index}: camera noise presets")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
