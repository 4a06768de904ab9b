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

**As published** (:func:`train_paper`, ``--recipe paper``, link ``s-sdm-paper``): the blind-spot U-Net
(:class:`~semcom.receivers.ssdm.BlindSpotUNet`) on 37-tick windows (9 of the authors' 97), an EDSR-sized SR
network trained with MSE, and the published LDN (:class:`~semcom.receivers.ssdm.PaperLDN`) on the raw
87-tick spike stream, distilled through a structural teacher loss (:func:`teacher_loss`: multi-scale SSIM,
as LPIPS's weights cannot be had here; DISTS where the VGG16 file is present) at reblur weight 100.  It saves
its whole state (networks, optimizer, step, log) in the output folder and resumes from it; the log has a
validation PSNR column (held-out training samples against their sharp frames).

Run as ``python -m semcom.train.ssdm --out DIR [--teacher sdm+sr | sdm+bsn+sr]``.  The default teacher, SDM on
the SR network's frames without the BSN, is the recipe of the shipped ``s-sdm`` (the BSN hurts on the simulated
spikes, whose only noise is count quantization: docs/results.md, "Spikes: S-SDM"); ``sdm+bsn+sr`` is the
paper's cascade.  ``semcom experiment ssdm-cascade`` and ``semcom experiment ssdm-nobsn`` measure both.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from semcom.colour import srgb_to_linear
from semcom.errors import SemcomError
from semcom.train.stages import cosine_step, run_stage
from semcom.receivers.ssdm import (LDN, BlindSpotNet, BlindSpotUNet, Cascade, PaperLDN, SpikeSR, paper_ticks,
                                   reblur_loss, spike_frames, spike_stream)
from semcom.seeds import step_seed
from semcom.sources.base import Batch

__all__ = ["self_supervised", "train_bsn", "train_sr", "train_ldn", "train_supervised", "load_spike_data",
           "PaperRecipe", "train_paper", "teacher_loss", "TEACHER_LOSSES"]

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


def save_receiver(path: Path, ldn: torch.nn.Module, *, width: int, training: dict[str, Any],
                  link: str = "s-sdm", variant: str | None = None) -> Path:
    """Store an LDN as the receiver weights of link ``link`` (``s-sdm``; ``s-sdm-paper`` with
    ``variant="paper"``): what ``build_receiver("s-sdm", weights=path)`` loads."""
    from semcom.zoo.store import save_checkpoint

    state = {f"net.{k}": v.detach().cpu() for k, v in ldn.state_dict().items()}
    receiver: dict[str, Any] = {"name": "s-sdm", "width": width}
    if variant is not None:
        receiver["variant"] = variant
    meta = {"link": link, "codec": "softcast", "cbr": 1.0, "cbr_label": "1", "snr_mode": "single", "snr_db": 0.0,
            "step": training.get("steps"), "config": {}, "receiver": receiver,
            "training": training}
    save_checkpoint(path, meta=meta, codec={}, receiver=state, train=None)
    return path


# --------------------------------------------------------------------------- as published (s-sdm-paper)

#: the teacher losses :func:`teacher_loss` knows (``ssim`` is the paper recipe's default here)
TEACHER_LOSSES = ("ssim", "dists", "l1")


def _ssim_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - SSIM`` averaged over the scales 1, 1/2 and 1/4 (2x2 average pooling) that still hold the
    11-pixel Gaussian window; the mean over the batch."""
    from semcom.metrics.functional import ssim

    terms = []
    x, y = out, target
    for _ in range(3):
        if min(x.shape[-2:]) < 11:
            break
        terms.append(1.0 - ssim(x, y).mean())
        x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    if not terms:
        raise ValueError(f"the SSIM teacher loss needs frames of at least 11 pixels a side, got {tuple(out.shape)}")
    return torch.stack(terms).mean().to(out.dtype)


def teacher_loss(kind: str) -> Any:
    """The LDN's teacher loss ``f(out, target) -> scalar`` (both ``(B, 3, H, W)`` sRGB).

    The paper uses LPIPS (its release: LPIPS-VGG) "to avoid the scenario where the LDN exactly replicates
    the mapping of the teacher". LPIPS needs ImageNet-trained weights that cannot be had here, so:

    * ``"ssim"``: ``1 - SSIM`` at three scales (:func:`_ssim_loss`): a full-reference perceptual measure
      without learned weights that, like LPIPS, compares local structure and contrast rather than values,
      so a pixel-exact copy of the teacher is not what it asks for. The default of the paper recipe here:
      a named departure (docs/fidelity-ssdm.md).
    * ``"dists"``: DISTS (:class:`semcom.metrics.DISTS`), the same VGG16 trunk as LPIPS-VGG with the
      authors' learned weights; only where the ImageNet VGG16 file is present (never downloaded).
    * ``"l1"``: what the shipped ``s-sdm`` uses.
    """
    if kind == "ssim":
        return _ssim_loss
    if kind == "l1":
        return F.l1_loss
    if kind == "dists":
        from semcom.metrics import DISTS, MetricUnavailable, dists

        try:
            model = DISTS().eval().requires_grad_(False)
        except MetricUnavailable as exc:
            raise SemcomError(f"teacher loss 'dists': {exc}") from None
        return lambda out, target: dists(out.clamp(0.0, 1.0), target, model=model).mean().float()
    raise ValueError(f"teacher loss must be one of {', '.join(TEACHER_LOSSES)}, got {kind!r}")


@dataclass(frozen=True)
class PaperRecipe:
    """The published S-SDM recipe (SpikeReveal Sec. 3.3, A.2, A.4.2 and the authors' release), at our crop
    size and CPU step counts.

    Window lengths are fractions of the exposure (:func:`~semcom.receivers.ssdm.paper_ticks`): the BSN and
    the teacher read 9 of 97 ticks (37 of 400), the LDN 21 of 97 (87 of 400).

    Args:
        bsn_steps, sr_steps, ldn_steps: optimizer steps of each stage (the paper counts epochs on GOPRO).
        batch_size, crop: samples a step and their side (spike frames are ``crop / 4``); the paper's BSN and
            SR batch is 8 (its LDN: 4 of 512 px).
        bsn_lr, sr_lr, ldn_lr: Adam on a cosine (released: 3e-4, 2e-4, 1e-3).
        bsn_width, bsn_dec_width: the blind-spot U-Net's encoder and decoder channels (48, 96).
        sr_width, sr_blocks: the EDSR's (64, 16).
        ldn_width, ldn_blocks: the LDN's channels per modality and residual blocks (32, 2).
        moments: LDN outputs a step for the reblur loss (``N = 5``).
        lam: reblur weight (the paper's best, 100).
        teacher_loss: :data:`TEACHER_LOSSES` (:func:`teacher_loss`).
        seed: seeds the initialization and every batch draw.
    """

    bsn_steps: int = 1000
    sr_steps: int = 1000
    ldn_steps: int = 1000
    batch_size: int = 8
    crop: int = 128
    bsn_lr: float = 3e-4
    sr_lr: float = 2e-4
    ldn_lr: float = 1e-3
    bsn_width: int = 48
    bsn_dec_width: int = 96
    sr_width: int = 64
    sr_blocks: int = 16
    ldn_width: int = 32
    ldn_blocks: int = 2
    moments: int = 5
    lam: float = 100.0
    teacher_loss: str = "ssim"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("bsn_steps", "sr_steps", "ldn_steps", "batch_size", "crop", "bsn_width", "bsn_dec_width",
                     "sr_width", "sr_blocks", "ldn_width", "ldn_blocks", "moments"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.crop % 16:
            raise ValueError(f"crop must be a multiple of 16 (spike frames at 1/4, two poolings), got {self.crop}")
        for name in ("bsn_lr", "sr_lr", "ldn_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if not self.lam >= 0:
            raise ValueError(f"lam must be non-negative, got {self.lam!r}")
        if self.teacher_loss not in TEACHER_LOSSES:
            raise ValueError(f"teacher_loss must be one of {', '.join(TEACHER_LOSSES)}, got {self.teacher_loss!r}")

    def networks(self, ticks: int) -> tuple[BlindSpotUNet, SpikeSR, PaperLDN]:
        """Fresh BSN, SR and LDN for spike streams of ``ticks`` ticks (seeded)."""
        torch.manual_seed(self.seed)
        bsn = BlindSpotUNet(width=self.bsn_width, dec_width=self.bsn_dec_width)
        sr = SpikeSR(width=self.sr_width, blocks=self.sr_blocks)
        ldn = PaperLDN(ticks=paper_ticks(ticks)[0], width=self.ldn_width, blocks=self.ldn_blocks)
        return bsn, sr, ldn


#: the columns of the paper recipe's log (``val_psnr`` empty where not measured)
PAPER_LOG_FIELDS = ("stage", "step", "loss", "val_psnr", "seconds")
STATE_FILE = "state.pt"


class _State:
    """The paper recipe's training state in a folder: ``state.pt`` (networks of the finished stages, the
    current stage's network and optimizer, its step and seconds, the log rows) and ``log.csv``, a view of
    the rows that is rewritten from the state on resume (rows logged after the last save are dropped, as
    the steps that made them are run again)."""

    def __init__(self, folder: Path, key: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / STATE_FILE
        self.log = self.folder / "log.csv"
        self.key = key
        if self.path.exists():
            self.data = torch.load(self.path, map_location="cpu", weights_only=False)
            if self.data.get("key") != key:
                diff = sorted(k for k in set(key) | set(self.data.get("key", {}))
                              if key.get(k) != self.data.get("key", {}).get(k))
                raise SemcomError(f"{self.path} holds a run with other settings ({', '.join(diff)}); use another "
                                  f"--out or the same settings to resume it")
        else:
            self.data = {"key": key, "done": {}, "current": None, "rows": []}
        self._write_log()

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.data["rows"]

    def _write_log(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.log, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(PAPER_LOG_FIELDS))
            w.writeheader()
            w.writerows(self.rows)

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        with open(self.log, "a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=list(PAPER_LOG_FIELDS)).writerow(row)

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        torch.save(self.data, tmp)
        os.replace(tmp, self.path)


class _Budget:
    """Steps this call may still run (``None``: no limit)."""

    def __init__(self, steps: int | None) -> None:
        self.left = steps

    def take(self) -> bool:
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def _resumable_stage(name: str, net: torch.nn.Module, loss_fn: Any, *, steps: int, lr: float, state: _State,
                     budget: _Budget, validate: Any, log_every: int, val_every: int, save_every: int,
                     progress: bool) -> bool:
    """Adam on a cosine (as :func:`semcom.train.stages.run_stage`), resumed from and saved to ``state``.

    Returns whether the stage finished (``False``: the step budget ran out first; the state is saved)."""
    if name in state.data["done"]:
        net.load_state_dict(state.data["done"][name])
        return True
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    cur = state.data["current"]
    start, seconds = 0, 0.0
    if cur is not None and cur["stage"] == name:
        net.load_state_dict(cur["net"])
        opt.load_state_dict(cur["opt"])
        start, seconds = int(cur["step"]), float(cur["seconds"])

    def save(step: int) -> None:
        state.data["current"] = {"stage": name, "step": step, "seconds": seconds,
                                 "net": {k: v.detach().clone() for k, v in net.state_dict().items()},
                                 "opt": opt.state_dict()}
        state.save()

    net.train()
    window: list[float] = []
    t0 = time.perf_counter()
    for step in range(start + 1, steps + 1):
        if not budget.take():
            seconds += time.perf_counter() - t0
            save(step - 1)
            return False
        window.append(cosine_step(name, opt, loss_fn, step=step, steps=steps, lr=lr))
        if step % log_every == 0 or step == steps:
            val = ""
            if step % val_every == 0 or step == steps:
                net.eval()
                with torch.no_grad():
                    val = round(float(validate()), 4)
                net.train()
            now = time.perf_counter()
            seconds += now - t0
            t0 = now
            row = {"stage": name, "step": step, "loss": sum(window) / len(window), "val_psnr": val,
                   "seconds": round(seconds, 1)}
            window = []
            state.append(row)
            if progress:
                print(f"{name}: step {step}/{steps} loss {row['loss']:.5g} val {val} dB ({seconds:.0f} s)",
                      file=sys.stderr, flush=True)
        if step % save_every == 0 and step != steps:
            seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
            save(step)
    state.data["done"][name] = {k: v.detach().clone() for k, v in net.state_dict().items()}
    state.data["current"] = None
    state.save()
    return True


def _psnr(out: torch.Tensor, sharp: torch.Tensor) -> float:
    from semcom.metrics.functional import psnr

    return float(psnr(out.clamp(0.0, 1.0), sharp).mean())


def train_paper(data: Any, val: Any, out: Path, *, recipe: PaperRecipe = PaperRecipe(), log_every: int = 25,
                val_every: int = 100, save_every: int = 50, stop_after: int | None = None,
                progress: bool = True) -> Path | None:
    """Train S-SDM as published, resumably: the BSN, the SR network and the LDN in turn (SpikeReveal Eq. 9,
    10, 11-14), the state kept in ``out`` (``state.pt``, ``log.csv``).

    A call picks up where the state in ``out`` stopped (same recipe, data and tick count, else an error)
    and runs the same steps on the same batches as an uninterrupted run. ``stop_after`` steps (all stages
    together) end this call early with the state saved. The validation PSNR (``val_psnr``) is measured on
    ``val`` (a :class:`~semcom.train.data.TrainingData` whose sharp frames only the metric reads) for the
    cascade so far: SDM (step 0), + BSN (bilinear), + SR, then the LDN alone at mid-exposure (Table 3,
    I-1 to I-4).

    Returns:
        the path of the receiver checkpoint ``out/s-sdm-paper.ckpt`` once every stage is done, else ``None``.
    """
    data = self_supervised(data)
    out = Path(out)
    ticks = int(val.spikes.shape[1])
    ldn_ticks, short = paper_ticks(ticks)
    vb = val.batch(slice(None))
    key = {"recipe": asdict(recipe), "ticks": ticks, "train": dict(getattr(data.data, "describe", {})),
           "val": dict(getattr(val, "describe", {}))}
    state = _State(out, key)
    budget = _Budget(stop_after)
    bsn, sr, ldn = recipe.networks(ticks)
    r = recipe
    if not state.rows:
        with torch.no_grad():
            state.append({"stage": "sdm", "step": 0, "loss": "", "val_psnr":
                          round(_psnr(Cascade(width=short)(vb.blurry, vb.spikes), vb.sharp), 4), "seconds": 0.0})
        state.save()
    kw = dict(state=state, budget=budget, log_every=log_every, val_every=val_every, save_every=save_every,
              progress=progress)

    def bsn_loss(step: int) -> torch.Tensor:
        b = data.draw(seed=r.seed, step=step, batch_size=r.batch_size, crop=r.crop)
        frame, _ = spike_frames(b.spikes, centre=_centre(ticks, short, r.seed, step), width=short)
        return F.mse_loss(bsn(frame), frame)

    if not _resumable_stage("bsn", bsn, bsn_loss, steps=r.bsn_steps, lr=r.bsn_lr,
                            validate=lambda: _psnr(Cascade(bsn=bsn, width=short)(vb.blurry, vb.spikes), vb.sharp),
                            **kw):
        return None
    bsn.eval().requires_grad_(False)

    def sr_loss(step: int) -> torch.Tensor:
        b = data.draw(seed=r.seed, step=step, batch_size=r.batch_size, crop=r.crop)
        _, long = spike_frames(b.spikes, centre=ticks / 2, width=1)
        return F.mse_loss(sr(long), _luminance_frame(b.blurry))

    if not _resumable_stage("sr", sr, sr_loss, steps=r.sr_steps, lr=r.sr_lr,
                            validate=lambda: _psnr(Cascade(bsn=bsn, sr=sr, width=short)(vb.blurry, vb.spikes),
                                                   vb.sharp), **kw):
        return None
    sr.eval().requires_grad_(False)
    teacher = Cascade(bsn=bsn, sr=sr, width=short).eval()
    t_loss = teacher_loss(r.teacher_loss)
    centres, _ = moments(ticks, r.moments)

    def ldn_loss(step: int) -> torch.Tensor:
        b = data.draw(seed=r.seed, step=step, batch_size=r.batch_size, crop=r.crop)
        with torch.no_grad():
            targets = teacher.at_moments(b.blurry, b.spikes, centres)
        outs, teach = [], 0.0
        for i, c in enumerate(centres):
            pred = ldn(b.blurry, spike_stream(b.spikes, centre=c, width=ldn_ticks))
            teach = teach + t_loss(pred, targets[:, i]) / len(centres)
            outs.append(srgb_to_linear(pred.clamp(0.0, 1.0)))
        return teach + r.lam * reblur_loss(torch.stack(outs, 1), b.blurry)

    def ldn_val() -> float:
        return _psnr(ldn(vb.blurry, spike_stream(vb.spikes, centre=ticks / 2, width=ldn_ticks)), vb.sharp)

    if not _resumable_stage("ldn", ldn, ldn_loss, steps=r.ldn_steps, lr=r.ldn_lr, validate=ldn_val, **kw):
        return None
    torch.save({"bsn": bsn.state_dict(), "sr": sr.state_dict(), "short": short}, out / "teacher.pt")
    return save_receiver(out / "s-sdm-paper.ckpt", ldn.eval(), width=ldn_ticks, link="s-sdm-paper", variant="paper",
                         training={"recipe": "paper", **asdict(r), "steps": r.ldn_steps, "ticks": ticks,
                                   "short": short, "train": key["train"], "val": key["val"]})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="train S-SDM's BSN, SR and LDN without sharp frames")
    ap.add_argument("--out", required=True, help="folder for the networks and the log (--recipe paper: also its "
                                                 "resumable state)")
    ap.add_argument("--recipe", choices=("ours", "paper"), default="ours",
                    help="ours: the shipped s-sdm (LDN on two rate maps); paper: s-sdm-paper, S-SDM as published "
                         "(resumable: run the same command again to continue)")
    ap.add_argument("--teacher", choices=("sdm+sr", "sdm+bsn+sr"), default="sdm+sr",
                    help="(ours) the LDN's teacher: SDM on the SR network's frames (the shipped s-sdm; the BSN "
                         "hurts on noise-free simulated spikes, docs/results.md) or the paper's cascade with the BSN")
    ap.add_argument("--steps", type=int, default=None, help="steps of the BSN and the SR network (default 1000)")
    ap.add_argument("--ldn-steps", type=int, default=None, help="steps of the LDN (default 600; paper: 1000)")
    ap.add_argument("--n-train", type=int, default=512)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--lam", type=float, default=None, help="reblur weight (default 10; paper: 100)")
    ap.add_argument("--workers", type=int, default=2)
    paper = ap.add_argument_group("--recipe paper")
    paper.add_argument("--teacher-loss", choices=TEACHER_LOSSES, default="ssim",
                       help="the LDN's teacher loss (the paper's LPIPS cannot be had here: ssim; dists needs the "
                            "VGG16 file)")
    paper.add_argument("--n-val", type=int, default=16, help="samples held out of --n-train for validation PSNR")
    paper.add_argument("--batch-size", type=int, default=8)
    paper.add_argument("--val-every", type=int, default=100)
    paper.add_argument("--save-every", type=int, default=50)
    paper.add_argument("--stop-after", type=int, default=None,
                       help="run at most this many steps now (all stages together), save and stop")
    paper.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    args.steps = 1000 if args.steps is None else args.steps
    args.ldn_steps = (600 if args.recipe == "ours" else 1000) if args.ldn_steps is None else args.ldn_steps
    args.lam = (10.0 if args.recipe == "ours" else 100.0) if args.lam is None else args.lam
    for name in ("steps", "ldn_steps", "n_train", "size", "n_val", "batch_size", "val_every", "save_every"):
        if getattr(args, name) < 1:
            print(f"error: --{name.replace('_', '-')} must be positive", file=sys.stderr)
            return 2
    if args.stop_after is not None and args.stop_after < 0:
        print("error: --stop-after must be non-negative", file=sys.stderr)
        return 2
    if args.recipe == "paper":
        return _main_paper(args)
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


def _main_paper(args: argparse.Namespace) -> int:
    if args.n_val >= args.n_train:
        print(f"error: --n-val {args.n_val} leaves no training samples of --n-train {args.n_train}", file=sys.stderr)
        return 2
    try:
        recipe = PaperRecipe(bsn_steps=args.steps, sr_steps=args.steps, ldn_steps=args.ldn_steps,
                             batch_size=args.batch_size, crop=min(128, args.size), lam=args.lam,
                             teacher_loss=args.teacher_loss, seed=args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.teacher_loss == "dists":
            teacher_loss("dists")   # fail now, not after the BSN and SR stages
        data, val = load_spike_data(size=args.size, n=args.n_train, workers=args.workers).split(args.n_val)
        ckpt = train_paper(data, val, Path(args.out), recipe=recipe, val_every=args.val_every,
                           save_every=args.save_every, stop_after=args.stop_after)
    except SemcomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if ckpt is None:
        print(f"stopped after --stop-after {args.stop_after} steps; run the same command again to continue",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
