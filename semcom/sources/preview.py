"""Build the simulated splits and draw samples: what ``semcom data synth`` and ``semcom data show`` run.

:func:`build_splits` generates (or finds in the cache) a source's training and test splits and
summarizes what the cameras recorded; :func:`draw_sample` and :func:`draw_sequence` draw one sample:
blurry frame, sharp target, events (positive red, negative blue), the SCER channels and the spike
camera's TFP; for a sequence each exposure and the read-out gap after it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from semcom.errors import SemcomError

__all__ = ["build_splits", "draw_sample", "draw_sequence"]


def build_splits(*, size: int = 128, test_size: int = 256, n_train: int = 512, n_test: int = 32, seed: int = 0,
                 cache: str | Path | bool = True, progress: bool = False,
                 dataset: str = "synth-blur", **params: Any) -> list[dict[str, Any]]:
    """Generate (or find in the cache) the training and test splits; one summary row per split."""
    from semcom.registry import SOURCES

    rows = []
    for split, s, n in (("train", size, n_train), ("test", test_size, n_test)):
        if n == 0:
            continue
        t0 = time.perf_counter()
        ds = SOURCES.build(dataset, split=split, size=s, n=n, seed=seed, cache=cache, **params)
        ds.prepare(progress=progress)
        infos = [ds.capture(i).info for i in range(len(ds))]
        mean = lambda k: float(np.mean([i.get(k, 0) for i in infos])) if infos else 0.0  # noqa: E731
        path = ds.sample_path(0)
        rows.append({"split": split, "samples": len(ds), "size": s, "events": mean("num_events"),
                     "event_bytes": mean("event_bytes"), "latent": mean("num_latent"),
                     "blur_px": mean("blur_px"), "seconds": time.perf_counter() - t0,
                     "folder": "" if path is None else str(path.parent)})
    return rows


def _event_image(raw: np.ndarray, h: int, w: int, span_us: int) -> np.ndarray:
    """Raw events as an RGB picture: positive events red, negative blue, on white."""
    from semcom.sources.representations import event_count

    cnt = event_count(raw, height=h, width=w, exposure_us=max(1, int(span_us)))
    vis = np.ones((h, w, 3), np.float32)
    scale = max(float(np.percentile(cnt[cnt > 0], 99)) if (cnt > 0).any() else 1.0, 1.0)
    pos, neg = np.clip(cnt[0] / scale, 0, 1), np.clip(cnt[1] / scale, 0, 1)
    vis[..., 0] -= neg          # negative events: blue
    vis[..., 1] -= np.maximum(pos, neg)
    vis[..., 2] -= pos          # positive events: red
    return np.clip(vis, 0, 1)


def _save(fig: Any, out: str | Path, *, dpi: int) -> Path:
    """Write a figure (one line, exit 2, when the file cannot be written) and close it."""
    import matplotlib.pyplot as plt

    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=dpi)
    except OSError as exc:
        raise SemcomError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return out


def draw_sequence(seq: Any, out: str | Path, *, title: str | None = None) -> Path:
    """Draw a :class:`~semcom.sources.video.SequenceSample`: per exposure (a row) its blurry frame, sharp
    frame and events, and the events of the read-out gap that follows it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img = lambda t: np.clip(t.permute(1, 2, 0).numpy(), 0, 1)  # noqa: E731
    n = len(seq.frames)
    fig, axes = plt.subplots(n, 4, figsize=(12.8, 3.4 * n), squeeze=False, layout="constrained")
    for i, frame in enumerate(seq.frames):
        h, w = frame.sharp.shape[1:]
        start = frame.info.get("start_us", 0)
        panels = [(f"#{i} blurry (from {start / 1000:g} ms)", img(frame.blurry)), (f"#{i} sharp", img(frame.sharp))]
        if frame.raw_events is not None:
            panels.append((f"#{i} events ({len(frame.raw_events)})",
                           _event_image(frame.raw_events, h, w, int(frame.info["exposure_us"]))))
        if i < len(seq.gap_events):
            gap = seq.gap_events[i]
            panels.append((f"gap after #{i}: events ({len(gap)})",
                           _event_image(gap, h, w, int(seq.info.get("gap_us", 1)))))
        for ax in axes[i]:
            ax.axis("off")
        for ax, (name, arr) in zip(axes[i], panels):
            ax.imshow(arr, interpolation="nearest")
            ax.set_title(name, fontsize=9)
    fig.suptitle(title or seq.name, fontsize=10)
    return _save(fig, out, dpi=80)


def draw_sample(sample: Any, out: str | Path, *, title: str | None = None) -> Path:
    """Draw one :class:`~semcom.sources.base.Sample` to a PNG and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom.sources.representations import tfp

    img = lambda t: np.clip(t.permute(1, 2, 0).numpy(), 0, 1)  # noqa: E731
    h, w = sample.sharp.shape[1:]
    panels: list[tuple[str, np.ndarray, dict]] = [("blurry", img(sample.blurry), {}), ("sharp", img(sample.sharp), {})]
    if sample.raw_events is not None:
        panels.append((f"events ({len(sample.raw_events)}: + red, - blue)",
                       _event_image(sample.raw_events, h, w, int(sample.info["exposure_us"])), {}))
    if sample.events is not None:
        rep = sample.events.numpy()
        lim = max(float(np.abs(rep).max()), 1.0)
        for i in range(rep.shape[0]):
            panels.append((f"{sample.info.get('representation', 'events')}[{i}]", rep[i],
                           {"cmap": "bwr", "vmin": -lim, "vmax": lim}))
    if sample.spikes is not None:
        rate = tfp(sample.spikes, window=32).numpy()
        panels.append((f"spike TFP (32 of {sample.spikes.shape[0]} ticks)", rate,
                       {"cmap": "gray", "vmin": 0, "vmax": 1}))
    cols = min(len(panels), 5)
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.6 * rows), squeeze=False, layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (name, arr, kw) in zip(axes.ravel(), panels):
        ax.imshow(arr, interpolation="nearest", **kw)
        ax.set_title(name, fontsize=9)
    fig.suptitle(title or sample.name, fontsize=10)
    return _save(fig, out, dpi=110)
