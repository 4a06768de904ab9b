"""``semcom data``: build the simulated datasets and look at a sample.

``semcom data synth`` fills the disk cache of ``synth-blur`` (training and test splits) and
prints what the cameras recorded; ``semcom data show`` draws one sample (:mod:`semcom.sources.preview`);
``semcom data photos`` installs the natural-photograph corpus (:mod:`semcom.sources.install`).
"""

from __future__ import annotations

from typing import Any

import click

from semcom.errors import SemcomError

__all__ = ["data"]


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
    from semcom.sources.preview import build_splits

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
@click.option("--camera", default=None, metavar="PRESET",
              help="Camera noise preset: default, ideal, v2e or noisy (default: the dataset's camera).")
@click.option("--camera-param", multiple=True, metavar="KEY=VALUE",
              help="Camera setting on top of the preset, e.g. leak_hz=0.05 (repeatable).")
@click.option("--compare-noise", default=None, metavar="PRESET,PRESET,...",
              help="Draw the sample under each of these presets side by side instead (frame, events, spike "
                   "count per row), e.g. default,noisy.")
def show_cmd(index: int, out: str, dataset: str, split: str, size: int | None, seed: int,
             data_root: str | None, camera: str | None, camera_param: tuple[str, ...],
             compare_noise: str | None) -> None:
    """Draw one sample: blurry, sharp, events, SCER channels and spike TFP (a sequence: each exposure and gap)."""
    from semcom.cli.options import camera_value
    from semcom.registry import SOURCES

    if dataset not in SOURCES:
        raise SemcomError(SOURCES.unknown_message(dataset))
    params: dict[str, Any] = {"split": split, "seed": seed}
    if size is not None:
        params["size"] = size
    if data_root is not None:
        params["data_root"] = data_root
    if compare_noise is not None:
        presets = [p.strip() for p in compare_noise.split(",") if p.strip()]
        if not presets or camera is not None or camera_param:
            raise SemcomError("--compare-noise takes a comma-separated list of presets (and no --camera / "
                              "--camera-param)")
        from semcom.sources.camera import PRESETS

        unknown = [p for p in presets if p not in PRESETS]
        if unknown:
            raise SemcomError(f"--compare-noise: unknown preset(s) {', '.join(unknown)} (presets: "
                              f"{', '.join(PRESETS)})")
        from semcom.sources.camera_show import draw_noise_comparison

        click.echo(str(draw_noise_comparison(out, dataset, index, presets=presets,
                                             **{k: v for k, v in params.items()})))
        return
    chosen = camera_value(camera, camera_param)
    if chosen is not None:
        params["camera"] = chosen
    ds = SOURCES.build(dataset, **params)
    if not 0 <= index < len(ds):
        raise SemcomError(f"--index {index} out of range: {dataset} {split} has {len(ds)} samples")
    sample = ds[index]
    from semcom.sources.preview import draw_sample, draw_sequence

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
