"""Self-supervised training of S-SDM's cascade (SpikeReveal Sec. 3.3): BSN, then SR, then the LDN distilled
from the teacher (SDM on the BSN's and SR's outputs) with the reblur loss.  None of the three reads a sharp
frame: every batch they draw has its sharp frames replaced by NaN, and a non-finite loss stops training, so
code that looked at them would fail (tested).  :func:`train_supervised` is the comparison: the same LDN
trained on sharp frames.

* **BSN** (Eq. 9): the short-window spike frame (a random window a batch) reproduces itself through the
  blind-spot network, mean squared error.
* **SR** (Eq. 10): the whole-exposure spike frame is mapped to the luminance of the blurry frame in linear
  light (normalized by its mean over the picture, as the spike frames are), L1.
* **LDN** (Eq. 11-14): ``K`` consecutive windows tile the exposure; for each, the LDN's output follows the
  teacher's (the teacher loss: L1 here, as DISTS and LPIPS need ImageNet weights that are not available)
  and the mean of the ``K`` outputs in linear light must give back the blurry frame (the reblur loss,
  weight ``lam``).

Run as ``python -m semcom.train.ssdm --out DIR [--teacher sdm+sr | sdm+bsn+sr]``.  The default teacher, SDM on
the SR network's frames without the BSN, is the recipe of the shipped ``s-sdm`` (the BSN hurts on the simulated
spikes, whose only noise is count quantization: docs/results.md, "Spikes: S-SDM"); ``sdm+bsn+sr`` is the
paper's cascade.  ``benchmarks/ssdm.py`` and ``benchmarks/ssdm_nobsn.py`` measure both.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from semcom.colour import srgb_to_linear
from semcom.train.stages import run_stage
from semcom.receivers.ssdm import LDN, BlindSpotNet, Cascade, SpikeSR, reblur_loss, spike_frames
from semcom.seeds import step_seed
from semcom.sources.base import Batch

__all__ = ["self_supervised", "train_bsn", "train_sr", "train_ldn", "train_supervised", "load_spike_data"]

#: Rec. 709 luminance weights of linear RGB (what the monochrome spike camera sees)
LUMA = (0.2126, 0.7152, 0.0722)


def load_spike_data(*, split: str = "train", size: int = 128, n: int = 512, seed: int = 0, theta: float = 1.0,
                    workers: int = 0):
    """``n`` samples of ``synth-blur`` with their spike streams (camera threshold ``theta``), no events."""
    from semcom.train.sources import load_training_data

    return load_training_data("synth-blur", size=size, n=n, seed=seed, split=split, workers=workers, spikes=True,
                              params={"spike_theta": float(theta), "events": False})


class _NoSharp:
    """Batches of ``data`` with their sharp frames replaced by NaN: a self-supervised trainer must not read them."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def draw(self, **kw: Any) -> Batch:
        b = self.data.draw(**kw)
        return replace(b, sharp=torch.full_like(b.sharp, float("nan")))


def self_supervised(data: Any) -> _NoSharp:
    return data if isinstance(data, _NoSharp) else _NoSharp(data)


def _centre(ticks: int, width: int, seed: int, step: int) -> float:
    g = torch.Generator().manual_seed(step_seed(seed, step, 7))
    return width / 2 + float(torch.rand((), generator=g)) * (ticks - width)


#: the BSN's feature channels here (32 costs four times as much for little: ~2 s a step of 16 crops on 1 core)
BSN_WIDTH = 16


def train_bsn(data: Any, *, steps: int = 1500, batch_size: int = 8, crop: int = 128, lr: float = 1e-3,
              width: int = 80, seed: int = 0, log: Path | None = None, progress: bool = True) -> BlindSpotNet:
    """The blind-spot denoiser of short-window spike frames (Eq. 9)."""
    data = self_supervised(data)
    torch.manual_seed(seed)
    bsn = BlindSpotNet(width=BSN_WIDTH).train()

    def loss_fn(step: int) -> torch.Tensor:
        b = data.draw(seed=seed, step=step, batch_size=batch_size, crop=crop)
        short, _ = spike_frames(b.spikes, centre=_centre(b.spikes.shape[1], width, seed, step), width=width)
        return F.mse_loss(bsn(short), short)

    run_stage("bsn", list(bsn.parameters()), loss_fn, steps=steps, lr=lr, log=log, progress=progress)
    return bsn.eval()


def _luminance_frame(blurry: torch.Tensor) -> torch.Tensor:
    lum = sum(w * srgb_to_linear(blurry[:, c:c + 1]) for c, w in enumerate(LUMA))
    return lum / lum.mean((1, 2, 3), keepdim=True).clamp_min(1e-6)


def train_sr(data: Any, *, steps: int = 1500, batch_size: int = 8, crop: int = 128, lr: float = 1e-3, seed: int = 0,
             log: Path | None = None, progress: bool = True) -> SpikeSR:
    """The x4 upsampler of spike frames, on (whole-exposure spike frame, blurry luminance) pairs (Eq. 10)."""
    data = self_supervised(data)
    torch.manual_seed(seed)
    sr = SpikeSR().train()

    def loss_fn(step: int) -> torch.Tensor:
        b = data.draw(seed=seed, step=step, batch_size=batch_size, crop=crop)
        _, long = spike_frames(b.spikes, centre=b.spikes.shape[1] / 2, width=1)
        return F.l1_loss(sr(long), _luminance_frame(b.blurry))

    run_stage("sr", list(sr.parameters()), loss_fn, steps=steps, lr=lr, log=log, progress=progress)
    return sr.eval()


def moments(ticks: int, k: int) -> tuple[list[float], int]:
    """Centres and width of ``k`` windows that tile ``ticks``."""
    width = ticks // k
    return [(i + 0.5) * ticks / k for i in range(k)], width


def train_ldn(data: Any, teacher: Cascade, *, steps: int = 1500, batch_size: int = 8, crop: int = 128,
              lr: float = 5e-4, k: int = 5, lam: float = 10.0, seed: int = 0, log: Path | None = None,
              progress: bool = True) -> LDN:
    """The LDN distilled from ``teacher`` over ``k`` windows tiling the exposure, with the reblur loss."""
    data = self_supervised(data)
    torch.manual_seed(seed)
    ldn = LDN().train()
    teacher.eval().requires_grad_(False)

    def loss_fn(step: int) -> torch.Tensor:
        b = data.draw(seed=seed, step=step, batch_size=batch_size, crop=crop)
        centres, width = moments(b.spikes.shape[1], k)
        outs, teach = [], 0.0
        for c in centres:
            short, long = spike_frames(b.spikes, centre=c, width=width)
            out = ldn(b.blurry, short, long)
            with torch.no_grad():
                target = teacher(b.blurry, b.spikes, centre=c)
            teach = teach + F.l1_loss(out, target) / k
            outs.append(srgb_to_linear(out.clamp(0.0, 1.0)))
        return teach + lam * reblur_loss(torch.stack(outs, 1), b.blurry)

    run_stage("ldn", list(ldn.parameters()), loss_fn, steps=steps, lr=lr, log=log, progress=progress)
    return ldn.eval()


def train_supervised(data: Any, *, steps: int = 1500, batch_size: int = 8, crop: int = 128, lr: float = 5e-4,
                     width: int = 80, seed: int = 0, log: Path | None = None, progress: bool = True) -> LDN:
    """The same LDN trained on sharp frames (L1 at the middle of the exposure): the supervised comparison."""
    torch.manual_seed(seed)
    ldn = LDN().train()

    def loss_fn(step: int) -> torch.Tensor:
        b = data.draw(seed=seed, step=step, batch_size=batch_size, crop=crop)
        short, long = spike_frames(b.spikes, centre=b.spikes.shape[1] / 2, width=width)
        return F.l1_loss(ldn(b.blurry, short, long), b.sharp)

    run_stage("supervised", list(ldn.parameters()), loss_fn, steps=steps, lr=lr, log=log, progress=progress)
    return ldn.eval()


def save_receiver(path: Path, ldn: LDN, *, width: int, training: dict[str, Any]) -> Path:
    """Store an LDN as the receiver weights of link ``s-sdm`` (what ``SSDM(weights=path)`` and the zoo load)."""
    from semcom.zoo.store import save_checkpoint

    state = {f"net.{k}": v.detach().cpu() for k, v in ldn.state_dict().items()}
    meta = {"link": "s-sdm", "codec": "softcast", "cbr": 1.0, "cbr_label": "1", "snr_mode": "single", "snr_db": 0.0,
            "step": training.get("steps"), "config": {}, "receiver": {"name": "s-sdm", "width": width},
            "training": training}
    save_checkpoint(path, meta=meta, codec={}, receiver=state, train=None)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="train S-SDM's BSN, SR and LDN without sharp frames")
    ap.add_argument("--out", required=True, help="folder for the networks and the log")
    ap.add_argument("--teacher", choices=("sdm+sr", "sdm+bsn+sr"), default="sdm+sr",
                    help="the LDN's teacher: SDM on the SR network's frames (the shipped s-sdm; the BSN hurts on "
                         "noise-free simulated spikes, docs/results.md) or the paper's cascade with the BSN")
    ap.add_argument("--steps", type=int, default=1000, help="steps of the BSN and the SR network")
    ap.add_argument("--ldn-steps", type=int, default=600, help="steps of the LDN")
    ap.add_argument("--n-train", type=int, default=512)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--lam", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    for name in ("steps", "ldn_steps", "n_train", "size"):
        if getattr(args, name) < 1:
            print(f"error: --{name.replace('_', '-')} must be positive", file=sys.stderr)
            return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_spike_data(size=args.size, n=args.n_train, workers=args.workers)
    log = out / "log.csv"
    log.unlink(missing_ok=True)   # a fresh run: its curve alone, not appended to an earlier one
    width = moments(int(data.spikes.shape[1]), 5)[1]
    crop = min(128, args.size)
    bsn = (train_bsn(data, steps=args.steps, width=width, crop=crop, log=log) if args.teacher == "sdm+bsn+sr"
           else None)
    sr = train_sr(data, steps=args.steps, crop=crop, log=log)
    torch.save({"bsn": None if bsn is None else bsn.state_dict(), "sr": sr.state_dict()}, out / "teacher.pt")
    ldn = train_ldn(data, Cascade(bsn=bsn, sr=sr, width=width), steps=args.ldn_steps, crop=crop, lam=args.lam,
                    log=log)
    save_receiver(out / "s-sdm.ckpt", ldn, width=width,
                  training={"steps": args.steps, "ldn_steps": args.ldn_steps, "lam": args.lam, "teacher": args.teacher,
                            "n_train": args.n_train, "size": args.size})
    return 0


if __name__ == "__main__":
    sys.exit(main())
