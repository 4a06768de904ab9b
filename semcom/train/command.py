"""``semcom train``: train a learned link and write a resumable checkpoint (a thin layer over
:func:`semcom.train.trainer.train`)."""

from __future__ import annotations

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
@click.option("--link", "link_name", required=True, help="Link to train (deepjscc, deepjscc-deblur, ...).")
@click.option("--cbr", required=True, help="Channel bandwidth ratio: 1/48 or 0.0208.")
@click.option("--snr", "snr", default=None, help="Train at this one SNR in dB (paper protocol).")
@click.option("--snr-range", "snr_range", default=None, help="SNR-adaptive training: uniform per sample in A:B dB.")
@click.option("--steps", default=20000, show_default=True, type=int, help="Optimizer steps in total.")
@click.option("--out", default=None, type=click.Path(),
              help="Checkpoint path (default checkpoints/<link>-cbr<R>-<mode>.ckpt); log in <out>.csv.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--batch-size", default=8, show_default=True, type=int)
@click.option("--lr", default=5e-4, show_default=True, type=float, help="Peak learning rate (Adam, cosine decay).")
@click.option("--schedule", default=None,
              help="Stage schedule: single, jscc-then-deblur, codec-then-receiver, ev-jscc (see docs/training.md); "
                   "default: the codec's own (ev-jscc for EV-JSCC links), else single.")
@click.option("--lam", default=0.02, show_default=True, type=float,
              help="Weight of the events' normalized MSE in the EV-JSCC stage-1 loss.")
@click.option("--dataset", default="synth-blur", show_default=True, help="Training source (its train split).")
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
              help="Copy matching tensors from a checkpoint of another codec first (e.g. deepjscc into deepjscc-deblur).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--threads", default=None, type=int, help="torch CPU threads.")
@click.option("--checkpoint-every", default=500, show_default=True, type=int)
@click.option("--log-every", default=10, show_default=True, type=int)
@click.option("--overwrite", is_flag=True, help="Start again instead of resuming an existing --out.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def train(link_name: str, cbr: str, snr: str | None, snr_range: str | None, steps: int, out: str | None, seed: int,
          batch_size: int, lr: float, schedule: str | None, lam: float, dataset: str, size: int, crop: int | None,
          n_train: int, dataset_param: tuple[str, ...], codec_param: tuple[str, ...], workers: int,
          init: str | None, warm_start: str | None, device: str, threads: int | None, checkpoint_every: int,
          log_every: int, overwrite: bool, quiet: bool) -> None:
    """Train a learned link (resumes an interrupted run with the same --out)."""
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
    if threads:
        torch.set_num_threads(threads)
    result = run_training(link_name, cbr=parse_cbr(cbr), snr_db=snr_db,
                          snr_range=_parse_range(snr_range) if snr_range else None, steps=steps, out=out,
                          seed=seed, batch_size=batch_size, lr=lr, dataset=dataset, size=size, crop=crop,
                          n_train=n_train, schedule=schedule, lam=lam, init=init, device=device,
                          checkpoint_every=checkpoint_every, log_every=log_every, progress=not quiet,
                          overwrite=overwrite, dataset_params=_parse_kv(dataset_param, "--dataset-param"),
                          codec_params=_parse_kv(codec_param, "--codec-param"), workers=workers,
                          warm_start=warm_start)
    how = f"resumed from step {result.resumed_from}" if result.resumed_from else "fresh run"
    click.echo(f"{result.checkpoint}  ({result.steps} steps, {how}, final loss {result.final_loss:.5g}, "
               f"log {result.log})")
