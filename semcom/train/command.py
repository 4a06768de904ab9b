"""``semcom train``: train a learned link and write a resumable checkpoint (a thin layer over
:func:`semcom.train.trainer.train`)."""

from __future__ import annotations

import os
from typing import Any

import click

from semcom.cliutil import parse_kv as _parse_kv
from semcom.errors import SemcomError


def _parse_range(text: str) -> tuple[float, float]:
    parts = text.split(":")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise SemcomError(f"malformed --snr-range {text!r}: expected A:B in dB, e.g. 0:20") from None
    if hi < lo:
        raise SemcomError(f"--snr-range {text!r}: A must not exceed B")
    return lo, hi


@click.command("train")
@click.option("--link", "link_name", default=None,
              help="Link to train (deepjscc, deepjscc-deblur, ...).  [required, except with --plot]")
@click.option("--cbr", default=None, help="Channel bandwidth ratio: 1/48 or 0.0208.  [required, except with --plot]")
@click.option("--snr", "snr", default=None,
              help="Train at this one SNR in dB (paper protocol).  [this or --snr-range is required]")
@click.option("--snr-range", "snr_range", default=None,
              help="SNR-adaptive training: uniform per sample in A:B dB.  [this or --snr is required]")
@click.option("--steps", default=20000, show_default=True, type=int, help="Optimizer steps in total.")
@click.option("--out", default=None, type=click.Path(),
              help="Checkpoint path (default checkpoints/<link>-cbr<R>-<mode>.ckpt); log in <out>.csv.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the weights, data order and channel draws.")
@click.option("--batch", "--batch-size", "batch_size", default=8, show_default=True, type=int,
              help="Global batch (all shards and processes); the learning rate scales by sqrt(batch / 8).")
@click.option("--lr", default=5e-4, show_default=True, type=float,
              help="Peak learning rate at batch 8 (Adam; one cosine over the run).")
@click.option("--schedule", default=None,
              help="Stage schedule: single, jscc-then-deblur, codec-then-receiver, ev-jscc (see docs/training.md); "
                   "default: the codec's own (ev-jscc for EV-JSCC links), else single.")
@click.option("--lam", default=0.02, show_default=True, type=float,
              help="Weight of the events' normalized MSE in the EV-JSCC stage-1 loss.")
@click.option("--dataset", default=None, help="Training source, its train split (default: the link's [source]).")
@click.option("--size", default=128, show_default=True, type=int, help="Side of the training frames.")
@click.option("--crop", default=None, type=int, help="Random crop side (default: whole frames).")
@click.option("--n-train", default=512, show_default=True, type=int, help="Training frames kept in memory.")
@click.option("--dataset-param", multiple=True, metavar="KEY=VALUE",
              help="Training source argument, e.g. spikes=false (repeatable).")
@click.option("--codec-param", multiple=True, metavar="KEY=VALUE",
              help="Codec architecture argument, e.g. width=64 (repeatable).")
@click.option("--workers", default=0, show_default=True, type=int,
              help="Processes that generate the training frames (first run only; then the cache is read).")
@click.option("--init", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Start from this checkpoint instead of random weights.")
@click.option("--warm-start", "warm_start", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Copy matching tensors first: another codec at this CBR (deepjscc into deepjscc-deblur) or this codec at another CBR.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N (torchrun: the local GPU).")
@click.option("--val", "n_val", default=0, show_default=True, type=int,
              help="Hold out the last N of --n-train samples; validation PSNR is logged on them.")
@click.option("--val-every", default=None, type=int, help="Steps between validations, a multiple of --log-every (default: 50 log rows) and at the end.")
@click.option("--ema", default=0.0, show_default=True, type=float,
              help="Decay of the weights' moving average (e.g. 0.999; 0: off); checkpoints hold the average.")
@click.option("--augment", default="flip,rot90,time", show_default=True,
              help="Comma-separated subset of flip, rot90, time ('' for none).")
@click.option("--shards", default=None, type=int,
              help="Sub-batches of the global batch, each with its own draws (default: one per process).")
@click.option("--amp/--no-amp", default=True, show_default=True, help="bf16 autocast (CUDA, and CPUs with AMX / AVX512-BF16).")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the networks.")
@click.option("--lr-curve", type=click.Choice(["run", "stage"]), default="run", show_default=True,
              help="One cosine over the run, or one per stage.")
@click.option("--fresh-data", is_flag=True,
              help="Simulate every batch anew on --device (dead leaves; plus the photos with --dataset photos).")
@click.option("--fresh-pool", default=0, type=click.IntRange(min=0), metavar="N",
              help="Fresh data through a pool: N simulated samples held on --device, batches cropped and "
                   "augmented from it, simulated anew every --fresh-renew steps (implies --fresh-data).")
@click.option("--fresh-renew", default=100, show_default=True, type=click.IntRange(min=1),
              help="Steps between two pools of --fresh-pool.")
@click.option("--plot", "plot_log", default=None, type=click.Path(),
              help="Only draw the learning curve of this training log (CSV) into --out (default: LOG.png); "
                   "a folder: redraw every learning curve under it (each PNG beside its CSV log).")
@click.option("--threads", default=None, type=int, help="torch CPU threads.")
@click.option("--checkpoint-every", default=500, show_default=True, type=int,
              help="Steps between two checkpoints written to --out (what an interrupted run resumes from).")
@click.option("--log-every", default=10, show_default=True, type=int,
              help="Steps between two rows of the training log (<out>.csv) and progress updates.")
@click.option("--overwrite", is_flag=True, help="Start again instead of resuming an existing --out.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def train(link_name: str, cbr: str, snr: str | None, snr_range: str | None, steps: int, out: str | None, seed: int,
          batch_size: int, lr: float, schedule: str | None, lam: float, dataset: str, size: int, crop: int | None,
          n_train: int, dataset_param: tuple[str, ...], codec_param: tuple[str, ...], workers: int,
          init: str | None, warm_start: str | None, device: str, threads: int | None, checkpoint_every: int,
          log_every: int, overwrite: bool, quiet: bool, n_val: int, val_every: int | None, ema: float, augment: str,
          shards: int | None, amp: bool, compile_: bool, lr_curve: str, fresh_data: bool, fresh_pool: int, fresh_renew: int,
          plot_log: str | None) -> None:
    """Train a learned link (resumes an interrupted run with the same --out)."""
    if plot_log is not None:
        from pathlib import Path

        from semcom.train.curves import plot_training_log

        if Path(plot_log).is_dir():
            from semcom.train.curves import redraw_curves

            for png in redraw_curves(plot_log):
                click.echo(png)
            return
        if not Path(plot_log).is_file():
            raise SemcomError(f"training log not found: {plot_log}")
        click.echo(plot_training_log(plot_log, out or Path(plot_log).with_suffix(".png")))
        return
    if link_name is None or cbr is None:
        raise SemcomError("semcom train needs --link and --cbr (or --plot LOG.csv to draw a learning curve)")
    import torch

    from semcom.conventions import parse_cbr
    from semcom.train.trainer import train as run_training

    if (snr is None) == (snr_range is None):
        raise SemcomError("give exactly one of --snr S (single-SNR) or --snr-range A:B (SNR-adaptive)")
    snr_db = None
    if snr is not None:
        try:
            snr_db = float(snr)
        except ValueError:
            raise SemcomError(f"malformed --snr {snr!r}: expected one number in dB") from None
    cbr_value = parse_cbr(cbr)
    snr_span = _parse_range(snr_range) if snr_range else None
    from pathlib import Path

    if out is not None and (Path(out).is_dir() or out.endswith(("/", os.sep))):
        from semcom.linkspec import find_link
        from semcom.train.trainer import default_out

        name = default_out(find_link(link_name).name, cbr_value, snr_db, snr_span).name
        raise SemcomError(f"--out {out!r} names a folder; give the checkpoint's file name, "
                          f"e.g. --out {Path(out) / name}")
    if threads is not None:
        if threads < 1:
            raise SemcomError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)

    from semcom.cliutil import OutputFolder

    with OutputFolder(Path(out).parent if out else Path("checkpoints"), "--out"):
        result = run_training(
            link_name, cbr=cbr_value, snr_db=snr_db, snr_range=snr_span,
            steps=steps, out=out, seed=seed, batch_size=batch_size, lr=lr, dataset=dataset, size=size, crop=crop,
            n_train=n_train, schedule=schedule, lam=lam, init=init, device=device,
            checkpoint_every=checkpoint_every, log_every=log_every, progress=not quiet, overwrite=overwrite,
            dataset_params=_parse_kv(dataset_param, "--dataset-param"),
            codec_params=_parse_kv(codec_param, "--codec-param"), workers=workers, warm_start=warm_start,
            n_val=n_val, val_every=val_every, ema=ema,
            augment=tuple(a.strip() for a in augment.split(",") if a.strip()), shards=shards, amp=amp,
            compile=compile_, lr_curve=lr_curve, fresh_data=fresh_data, fresh_pool=fresh_pool,
            fresh_renew=fresh_renew)
    from semcom.train import distributed

    if distributed.rank() != 0:
        return
    how = f"resumed from step {result.resumed_from}" if result.resumed_from else "fresh run"
    val = "" if result.val_psnr != result.val_psnr else f", validation PSNR {result.val_psnr:.2f} dB"
    click.echo(f"{result.checkpoint}  ({result.steps} steps, {how}, final loss {result.final_loss:.5g}{val}, "
               f"log {result.log})")
