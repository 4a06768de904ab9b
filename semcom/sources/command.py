"""``semcom data``: build the simulated datasets and look at a sample.

``semcom data synth`` fills the disk cache of ``synth-blur`` (training and test splits) and
prints what the cameras recorded; ``semcom data show`` draws one sample: blurry frame, sharp
target, events (positive red, negative blue), the SCER channels and the spike camera's TFP;
``semcom data photos`` installs the natural-photograph corpus (:mod:`semcom.sources.install`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from semcom.errors import SemcomError

__all__ = ["data", "build_splits", "draw_sample"]


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


@click.group("data")
def data() -> None:
    """Simulated hybrid-camera datasets (blurry frames, events, spikes)."""


@data.command("synth")
@click.option("--size", default=128, show_default=True, type=int, help="Crop side of the training split.")
@click.option("--test-size", default=256, show_default=True, type=int, help="Crop side of the test split.")
@click.option("--n-train", default=512, show_default=True, type=int, help="Training samples (0: skip).")
@click.option("--n-test", default=32, show_default=True, type=int, help="Test samples (0: skip).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the simulated scenes and cameras.")
@click.option("--out", "out", default=None, type=click.Path(file_okay=False),
              help="Cache folder (default: $SEMCOM_CACHE or ~/.cache/semcom).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def synth_cmd(size: int, test_size: int, n_train: int, n_test: int, seed: int, out: str | None, quiet: bool) -> None:
    """Generate the synth-blur training and test splits into the cache."""
    for name, v in (("--n-train", n_train), ("--n-test", n_test)):
        if v < 0:
            raise SemcomError(f"{name} must not be negative, got {v}")
    rows = build_splits(size=size, test_size=test_size, n_train=n_train, n_test=n_test, seed=seed,
                        cache=out if out is not None else True, progress=not quiet)
    click.echo(f"{'split':<6} {'n':>5} {'size':>5} {'latent':>7} {'blur px':>8} {'events':>10} {'AER kB':>9} "
               f"{'s':>7}  folder")
    for r in rows:
        click.echo(f"{r['split']:<6} {r['samples']:>5} {r['size']:>5} {r['latent']:>7.1f} {r['blur_px']:>8.1f} "
                   f"{r['events']:>10.0f} {r['event_bytes'] / 1000:>9.1f} {r['seconds']:>7.2f}  {r['folder']}")


@data.command("show")
@click.option("--index", default=0, show_default=True, type=int, help="Sample index.")
@click.option("--out", "out", default="sample.png", show_default=True, type=click.Path(dir_okay=False),
              help="PNG to draw into.")
@click.option("--dataset", default="synth-blur", show_default=True, help="Source name.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "test"]),
              help="Which split to draw from.")
@click.option("--size", default=None, type=int, help="Crop side (default: the dataset's).")
@click.option("--seed", default=0, show_default=True, type=int, help="The dataset's seed.")
@click.option("--data-root", default=None, type=click.Path(), help="Folder for folder/gopro datasets.")
def show_cmd(index: int, out: str, dataset: str, split: str, size: int | None, seed: int,
             data_root: str | None) -> None:
    """Draw one sample: blurry, sharp, events, SCER channels and spike TFP (a sequence: each exposure and gap)."""
    from semcom.registry import SOURCES

    if dataset not in SOURCES:
        raise SemcomError(SOURCES.unknown_message(dataset))
    params: dict[str, Any] = {"split": split, "seed": seed}
    if size is not None:
        params["size"] = size
    if data_root is not None:
        params["data_root"] = data_root
    ds = SOURCES.build(dataset, **params)
    if not 0 <= index < len(ds):
        raise SemcomError(f"--index {index} out of range: {dataset} {split} has {len(ds)} samples")
    sample = ds[index]
    draw = draw_sequence if hasattr(sample, "gap_events") else draw_sample
    click.echo(str(draw(sample, out, title=f"{dataset} {split} #{index}: {sample.name}")))


@data.command("photos")
@click.option("--dest", default=None, type=click.Path(file_okay=False),
              help="Folder for the photographs (default: $SEMCOM_PHOTOS or ~/.cache/semcom/photos; the sources "
                   "read them from there).")
@click.option("--debs", default=None, type=click.Path(exists=True, file_okay=False),
              help="A folder of .deb files (e.g. from snapshot.debian.org) to use before apt-get is asked.")
def photos_cmd(dest: str | None, debs: str | None) -> None:
    """Install the natural-photograph corpus (the photos and photos-image sources) from Debian packages:
    apt-get download, dpkg-deb -x, SHA-256 checked; no root needed where apt's lists are current."""
    from semcom.sources.install import MANIFEST, install_photos

    missing = install_photos(dest, debs=debs, echo=lambda msg: click.echo(msg),
                             warn=lambda msg: click.echo(msg, err=True))
    if missing:
        import json

        total = len(json.loads(MANIFEST.read_text())["photos"])
        raise SemcomError(f"{len(missing)} of the {total} photographs are not installed (listed above); "
                          "run `apt-get update` first, or give --debs")
