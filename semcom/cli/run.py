"""``semcom run``: one link over SNR points, written as CSV + JSON sidecar + PNG (a thin layer over
:func:`semcom.bench.sweep.run_sweep`)."""

from __future__ import annotations

from pathlib import Path

import click

from semcom.cli.options import camera_value, executor_options, parse_kv
from semcom.errors import SemcomError

__all__ = ["run_cmd"]


@click.command("run")
@click.option("--link", "link_name", required=True, help="Link name (see `semcom links`) or a link TOML file.")
@click.option("--snr", required=True, help="SNR points in dB: 0:20 (1 dB steps), 0:20:2, 7 or 0,5,10.")
@click.option("--cbr", required=True, help="Channel bandwidth ratio: 1/48 or 0.0208.")
@click.option("--channel", default=None, help="Channel: awgn, rayleigh or none (default: the link's).")
@click.option("--channel-param", multiple=True, metavar="KEY=VALUE",
              help="Channel argument, e.g. fading=fast or coherence=64 (repeatable).")
@click.option("--dataset", default=None, help="Evaluation data source (default: the link's, synth-blur).")
@click.option("--data-root", default=None, type=click.Path(), help="Folder for datasets read from disk.")
@click.option("--size", default=None, type=int, help="Crop side of the evaluation frames in pixels.")
@click.option("--camera", default=None, metavar="PRESET",
              help="Camera noise preset of the simulated sources: default, ideal, v2e or noisy (default: the link's).")
@click.option("--camera-param", multiple=True, metavar="KEY=VALUE",
              help="Camera setting on top of the preset, e.g. leak_hz=0.05 (repeatable; docs/sources.md).")
@click.option("--limit", default=None, type=int, help="Evaluate at most N samples.")
@click.option("--repeats", default=1, show_default=True, type=int, help="Channel realizations per image.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of every channel draw.")
@click.option("--batch-size", default=8, show_default=True, type=int,
              help="Frames per forward pass (memory, not results).")
@click.option("--metrics", default="psnr,ssim,dists", show_default=True, help="Comma-separated metrics.")
@click.option("--checkpoint", default=None, type=click.Path(),
              help="Checkpoint of the learned codec, or of the learned back-end behind a codec without weights (stra).")
@click.option("--all-configs", is_flag=True, help="Adaptive digital links: also write every configuration's curve.")
@click.option("--out", "out_dir", default="results/runs", show_default=True, type=click.Path(),
              help="Folder for the CSV, JSON sidecar and PNG.")
@click.option("--overwrite", is_flag=True, help="Replace earlier results of this link/channel/CBR instead of resuming.")
@click.option("--no-plot", is_flag=True, help="Do not draw the PNG.")
@executor_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or table.")
def run_cmd(link_name: str, snr: str, cbr: str, channel: str | None, channel_param: tuple[str, ...],
            dataset: str | None, data_root: str | None, size: int | None, camera: str | None,
            camera_param: tuple[str, ...], limit: int | None, repeats: int,
            seed: int, batch_size: int, metrics: str, checkpoint: str | None, all_configs: bool, out_dir: str,
            overwrite: bool, no_plot: bool, executor: str, address: str | None, quiet: bool) -> None:
    """Run a link over SNR points and write CSV + JSON + PNG (resumes an interrupted run)."""
    from semcom.bench.plots import plot_curves, summarize
    from semcom.bench.sweep import SweepConfig, check_sweep, run_sweep
    from semcom.conventions import parse_cbr, parse_snr
    from semcom.link import find_link
    from semcom.registry import CHANNELS

    snr_points = parse_snr(snr)
    if size is not None and not 16 <= size <= 4096:
        raise SemcomError(f"--size must lie in [16, 4096] pixels, got {size}")
    cbr_value = parse_cbr(cbr)
    spec = find_link(link_name)  # fail fast on an unknown link
    if channel is not None and channel not in CHANNELS:
        raise SemcomError(CHANNELS.unknown_message(channel))
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise SemcomError(f"checkpoint not found: {checkpoint}")
    cfg = SweepConfig(link=link_name, cbr=cbr_value, snr_db=tuple(snr_points), channel=channel,
                      channel_params=parse_kv(channel_param, "--channel-param"), dataset=dataset,
                      dataset_params={"data_root": data_root, "size": size,
                                      "camera": camera_value(camera, camera_param)}, limit=limit, repeats=repeats,
                      seed=seed, batch_size=batch_size,
                      metrics=tuple(m.strip() for m in metrics.split(",") if m.strip()),
                      all_configs=all_configs, checkpoint=checkpoint)
    # --limit beyond what the evaluation set holds, and a sweep too large to finish (--repeats 100000000),
    # are refused before anything is written
    check_sweep(cfg, spec.source)
    if executor == "ray":
        from semcom.bench.distributed import run_sweeps_ray

        csv_path = run_sweeps_ray([(cfg, Path(out_dir))], address=address, overwrite=overwrite, progress=not quiet)[0]
    else:
        csv_path = run_sweep(cfg, out_dir=out_dir, overwrite=overwrite, progress=not quiet)
    if not no_plot:
        png = plot_curves([csv_path], csv_path.with_suffix(".png"))
        configs = csv_path.with_name(csv_path.stem + "_configs.csv")
        if all_configs and configs.exists():  # one curve per configuration and their envelope
            png = f"{png}\n         {plot_curves([configs], configs.with_suffix('.png'))}"
    if not quiet:
        click.echo(summarize([csv_path]))
    click.echo(f"results: {csv_path}" + ("" if no_plot else f"\nplot:    {png}"))
