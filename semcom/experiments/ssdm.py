"""S-SDM (SpikeReveal, self-supervised spike-guided deblurring) at this scale, on exact inputs and behind the
channel (issue 20).  Six experiments, all on ``synth-blur`` (training split for training, the 32 test frames of
256x256 for scoring), sharing :func:`score_at_thresholds` (PSNR / SSIM with spikes at thresholds ``THETAS``):

* ``ssdm-cascade`` (``results/ssdm/``): SpikeReveal's Tables 1 and 3.  Trains, without reading a sharp frame
  (:mod:`semcom.train.ssdm`), the BSN, the SR network and the LDN distilled from SDM + BSN + SR with the
  reblur loss, each for ``steps`` steps on ``n_train`` samples with spikes at threshold 1, and the same LDN
  supervised on sharp frames; scores the cascade SDM -> +BSN -> +SR -> +LDN at thresholds 1, 2 and 4 (only the
  spike streams differ between thresholds).  ``cascade.csv`` (threshold 1), ``domain_gap.csv``, ``seconds.csv``,
  ``training_log.csv``; the networks in ``<ckpt_dir>/nets.pt`` (reused while the settings match) and the LDN
  as ``s-sdm`` weights in ``<ckpt_dir>/s-sdm.ckpt``.
* ``ssdm-nobsn`` (``results/ssdm/nobsn.csv``): the recipe of the **shipped** ``s-sdm`` weights.  The LDN
  distilled from SDM + SR with the SR network of ``ssdm-cascade``, scored at the three thresholds.  No BSN:
  the simulated camera's only noise is the quantization of counts, so an 80-tick spike frame is already
  close to the clean rate (MSE 0.0035 to the sharp frame's luminance, normalized frames, 8 test frames) and
  the blind-spot estimate, made from the neighbours only, loses detail (MSE 0.089).  Writes the weights ``<ckpt_dir>/s-sdm.ckpt`` (what the zoo ships as
  ``s-sdm-cbr1-1-snr0``) and their learning curve where the manifest names it
  (``results/training/s-sdm-cbr1-1-snr0.csv`` and ``.png``).
* ``ssdm-unet`` (``results/ssdm/unet*.csv``): the supervised baseline of Table 1, the deblurring U-Net with
  cross attention (SP-JSCC's receiver network) trained on sharp frames with the six spike-rate windows at
  threshold 1, beside the shipped ``s-sdm``, at the three thresholds.
* ``ssdm-noise`` (``results/ssdm/noise/``): does the BSN help once the spike camera has dark current ``d``
  (charge per tick)?  Per ``d``: the BSN trained self-supervised on spikes with that noise, the short-window
  frame's error before and after it, and SDM, SDM on the BSN's frame and SDM with the dark rate subtracted.
* ``ssdm-links`` (``results/ssdm/links/``): S-SDM behind SP-JSCC's stream decoders and behind the digital
  spike link, beside the links that treat the same frame and spikes otherwise (AWGN 10 dB, CBR 1/48), with
  diagnostics (decoded frame alone, S-SDM on the exact spikes, other spike codes and shares), how well each
  link delivers the spike-rate windows (``decoded_windows.csv``) and the choice of the spike code on
  training-split frames (``train_split.csv``).
* ``ssdm-decoded`` (``results/ssdm/decoded/``): the shipped LDN fine-tuned on what the digital spike link
  delivers, against the teacher computed from the exact inputs, still without sharp frames.
"""

from __future__ import annotations

import csv
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from semcom.bench.identity import display_path
from semcom.bench.results import mean_ci95
from semcom.bench.sweep import SweepConfig, run_sweep
from semcom.codecs.spjscc import spike_windows
from semcom.colour import linear_to_srgb, srgb_to_linear
from semcom.conventions import parse_cbr
from semcom.errors import SemcomError
from semcom.experiments.base import Results, experiment
from semcom.experiments.shared import evaluation_batches, paired_ci95, score
from semcom.link import Link
from semcom.linkspec import available_links, find_link
from semcom.receivers.sdm import SDM
from semcom.receivers.ssdm import (LDN, BlindSpotNet, Cascade, SpikeSR, spike_frames, window_bounds_at,
                                   window_frames)
from semcom.receivers.unet_xattn import UNetXAttn
from semcom.registry import SOURCES
from semcom.sources.base import collate
from semcom.sources.events import LUMA_WEIGHTS
from semcom.train.curves import plot_training_log
from semcom.train.sources import load_training_data
from semcom.train.ssdm import (BSN_WIDTH, load_spike_data, moments, save_receiver, train_bsn, train_ldn, train_sr,
                               train_supervised)
from semcom.train.stages import run_stage
from semcom.zoo.build import build_receiver

__all__ = ["THETAS", "score_at_thresholds", "gap_rows", "spike_sr", "link_variant", "CascadeConfig",
           "NoBsnConfig", "UnetConfig", "NoiseConfig", "LinksConfig", "DecodedConfig"]

#: the spike camera thresholds of the domain-gap test (trained at 1; SpikeReveal Table 1)
THETAS = (1.0, 2.0, 4.0)
#: the tiny runs' training data (seconds on a CPU)
TINY_DATA = dict(n_train=4, size=32, limit=2, eval_size=64)

Method = Callable[[Any], torch.Tensor]


# -- shared pieces -----------------------------------------------------------------------------------------

def score_at_thresholds(methods: Mapping[str, Method], thetas: Sequence[float], *, limit: int | None = None,
                        size: int | None = None, say: Callable[[str], None] = print) -> list[dict]:
    """One row per threshold and method (a function of a batch): PSNR with its 95 % Student-t interval and
    SSIM against the sharp frame on the test split with spikes at that camera threshold (the same pictures,
    motions and RGB frames at every threshold; only the spike streams differ).  ``size``: the frames' side
    (None: the set's 256)."""
    rows = []
    extra = {} if size is None else {"size": size}
    for theta in thetas:
        batches = evaluation_batches(limit, batch_size=8, spike_theta=theta, events=False, **extra)
        sharp = torch.cat([b.sharp for b in batches])
        for name, fn in methods.items():
            with torch.no_grad():
                y = torch.cat([fn(b) for b in batches]).float()
            s = score(y, sharp)
            p_mean, p_half = mean_ci95(s["psnr"])
            s_mean = float(np.mean(s["ssim"]))
            rows.append({"method": name, "spike_theta": theta, "frames": len(s["psnr"]), "psnr": round(p_mean, 3),
                         "psnr_ci95": round(p_half, 3), "ssim": round(s_mean, 4)})
            say(f"theta {theta:g}  {name:<52} PSNR {p_mean:6.2f}  SSIM {s_mean:.4f}")
    return rows


def gap_rows(rows: list[dict], thetas: Sequence[float] = THETAS) -> list[dict]:
    """Per method, its PSNR at each threshold and what it loses from the first threshold to the last."""
    by = {(r["method"], r["spike_theta"]): r["psnr"] for r in rows}
    first, last = thetas[0], thetas[-1]
    return [{"method": m, **{f"psnr_theta{t:g}": by[(m, t)] for t in thetas},
             f"loss_{first:g}_to_{last:g}_db": round(by[(m, first)] - by[(m, last)], 3)}
            for m in dict.fromkeys(r["method"] for r in rows)]


def _ldn_method(net: torch.nn.Module, width: int) -> Method:
    """An LDN fed the spike frames of a window of ``width`` ticks at mid-exposure."""
    def run(b):
        short, long = spike_frames(b.spikes, centre=b.spikes.shape[1] / 2, width=width)
        return net(b.blurry, short, long).clamp(0, 1)
    return run


def spike_sr(nets: str | None, *, steps: int, n_train: int, size: int, scratch: Path,
             say: Callable[[str], None] = print) -> SpikeSR:
    """The SR network of ``ssdm-cascade`` (its ``nets.pt``, when ``nets`` names one that exists), else one
    trained here the same way (same data, seed and steps: the same network), kept in ``scratch/sr.pt``."""
    sr = SpikeSR()
    if nets and Path(nets).exists():
        sr.load_state_dict(torch.load(nets)["sr"])
        return sr.eval()
    path = Path(scratch) / "sr.pt"
    key = {"steps": steps, "n_train": n_train, "size": size}
    saved = torch.load(path) if path.exists() else {}
    if saved.get("key") != key:
        say(f"{nets or 'no networks file'}: training the SR network ({steps} steps)")
        data = load_spike_data(n=n_train, size=size)
        trained = train_sr(data, steps=steps, crop=min(128, size), progress=False)
        saved = {"key": key, "sr": trained.state_dict()}
        torch.save(saved, path)
    sr.load_state_dict(saved["sr"])
    return sr.eval()


#: diagnostic receivers put in place of a link's own in a copy of its file
RECEIVERS = {
    "decoded": '[receiver]\nname = "identity"\n\n',
    "exact-spikes": '[receiver]\nname = "s-sdm"\nsource = "raw"\nweights = "shipped"\n\n',
}


def link_variant(link: str, tag: str, out: Path, *, receiver: str | None = None, **settings: Any) -> Path:
    """Write ``out/<link>-<tag>.toml``: a copy of link ``link``'s file under that name, with one of
    :data:`RECEIVERS` in place of its receiver and/or other values of settings already in the file
    (``key = value`` lines: a string value is quoted)."""
    text = Path(available_links()[link]).read_text()
    text = re.sub(r"^name = \"[^\"]+\"", f'name = "{link}-{tag}"', text, count=1, flags=re.M)
    if receiver:
        text = re.sub(r"\[receiver\].*?(?=^\[)", RECEIVERS[receiver], text, count=1, flags=re.S | re.M)
    for key, value in settings.items():
        value = f'"{value}"' if isinstance(value, str) else value
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
        if n != 1:
            raise SemcomError(f"link {link!r} has no setting {key!r} to change")
    path = Path(out) / f"{link}-{tag}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _first_row(path: Path) -> dict[str, str]:
    with open(path, newline="") as f:
        return next(csv.DictReader(f))


# -- ssdm-cascade ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CascadeConfig:
    """Args: ``steps`` of each network's training; ``n_train`` training samples of side ``size``; ``lam``
    the LDN's reblur weight; ``limit`` test frames (None: all 32) of side ``eval_size`` (None: 256);
    ``workers`` of the data synthesis; ``ckpt_dir`` for the networks and the LDN's weights."""

    steps: int = 1000
    n_train: int = 512
    size: int = 128
    lam: float = 10.0
    limit: int | None = None
    eval_size: int | None = None
    workers: int = 2
    ckpt_dir: str = "ckpt/ssdm"


TINY_CASCADE = CascadeConfig(steps=1, workers=0, ckpt_dir="", **TINY_DATA)


def _same_run(saved: dict, cfg: CascadeConfig) -> bool:
    """Whether ``nets.pt`` holds this configuration's networks (files from before this module record
    the steps only)."""
    return (saved.get("steps") == cfg.steps and saved.get("n_train", cfg.n_train) == cfg.n_train
            and saved.get("size", cfg.size) == cfg.size and saved.get("lam", cfg.lam) == cfg.lam)


@experiment("ssdm-cascade", config=CascadeConfig, tiny=TINY_CASCADE, out="results/ssdm")
def run_cascade(cfg: CascadeConfig, results: Results) -> None:
    """S-SDM's cascade SDM -> +BSN -> +SR -> +LDN and its spike-threshold domain gap (SpikeReveal Tables 1, 3)."""
    ck = results.scratch(cfg.ckpt_dir or None)
    log = ck / "log.csv"
    data = load_spike_data(n=cfg.n_train, size=cfg.size, workers=cfg.workers)
    width = moments(int(data.spikes.shape[1]), 5)[1]
    crop = min(128, cfg.size)
    nets = ck / "nets.pt"
    saved = torch.load(nets) if nets.exists() else {}
    if not _same_run(saved, cfg):
        log.unlink(missing_ok=True)
        times = {}
        t0 = time.perf_counter()
        bsn = train_bsn(data, steps=cfg.steps, width=width, crop=crop, log=log)
        times["bsn"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        sr = train_sr(data, steps=cfg.steps, crop=crop, log=log)
        times["sr"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ldn = train_ldn(data, Cascade(bsn=bsn, sr=sr, width=width), steps=cfg.steps, crop=crop, lam=cfg.lam,
                        log=log)
        times["ldn"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        sup = train_supervised(data, steps=cfg.steps, width=width, crop=crop, log=log)
        times["supervised"] = time.perf_counter() - t0
        saved = {"steps": cfg.steps, "n_train": cfg.n_train, "size": cfg.size, "lam": cfg.lam,
                 "bsn": bsn.state_dict(), "sr": sr.state_dict(), "ldn": ldn.state_dict(),
                 "supervised": sup.state_dict(), "seconds": times}
        torch.save(saved, nets)
    bsn, sr, ldn, sup = BlindSpotNet(width=BSN_WIDTH), SpikeSR(), LDN(), LDN()
    for net, key in ((bsn, "bsn"), (sr, "sr"), (ldn, "ldn"), (sup, "supervised")):
        net.load_state_dict(saved[key])
        net.eval()
    save_receiver(ck / "s-sdm.ckpt", ldn, width=width,
                  training={"steps": cfg.steps, "lam": cfg.lam, "n_train": cfg.n_train, "size": cfg.size,
                            "dataset": "synth-blur", "spike_theta": 1.0, "seconds": saved["seconds"]})
    shutil.copy(log, results.path("training_log.csv"))

    methods = {
        "blurry input": lambda b: b.blurry,
        "SDM (64-tick window, bilinear: the sdm back-end)": lambda b: SDM(window=64)(b.blurry, batch=b),
        f"SDM ({width}-tick window, bilinear)": lambda b: Cascade(width=width)(b.blurry, b.spikes),
        "SDM + BSN": lambda b: Cascade(bsn=bsn, width=width)(b.blurry, b.spikes),
        "SDM + BSN + SR (the teacher)": lambda b: Cascade(bsn=bsn, sr=sr, width=width)(b.blurry, b.spikes),
        "S-SDM: LDN distilled (self-supervised)": _ldn_method(ldn, width),
        "LDN supervised on sharp frames": _ldn_method(sup, width),
    }
    rows = score_at_thresholds(methods, THETAS, limit=cfg.limit, size=cfg.eval_size, say=results.say)
    results.table("cascade.csv", [r for r in rows if r["spike_theta"] == THETAS[0]])
    results.table("domain_gap.csv", gap_rows(rows))
    results.table("seconds.csv", [{"stage": k, "seconds": round(v, 1), "steps": cfg.steps}
                                  for k, v in saved["seconds"].items()])


# -- ssdm-nobsn: the shipped s-sdm -----------------------------------------------------------------------------

@dataclass(frozen=True)
class NoBsnConfig:
    """Args: ``steps`` of the LDN's distillation (reblur weight ``lam``) on ``n_train`` samples of side
    ``size``; ``nets`` the networks of ``ssdm-cascade`` whose SR network the teacher uses (missing: trained
    here with ``sr_steps``); ``width`` of the spike windows (ticks); ``limit`` / ``eval_size`` the test frames;
    ``ckpt_dir`` for the weights; ``curve`` where the learning curve is copied, relative to the output folder
    (the shipped checkpoint's curve, as the zoo's manifest names it)."""

    steps: int = 600
    lam: float = 10.0
    n_train: int = 512
    size: int = 128
    width: int = 80
    nets: str = "ckpt/ssdm/nets.pt"
    sr_steps: int = 1000
    limit: int | None = None
    eval_size: int | None = None
    ckpt_dir: str = "ckpt/ssdm-nobsn"
    curve: str = "../training/s-sdm-cbr1-1-snr0.csv"


TINY_NOBSN = NoBsnConfig(steps=1, nets="", sr_steps=1, ckpt_dir="", curve="s-sdm-curve.csv", **TINY_DATA)


@experiment("ssdm-nobsn", config=NoBsnConfig, tiny=TINY_NOBSN, out="results/ssdm")
def run_nobsn(cfg: NoBsnConfig, results: Results) -> None:
    """S-SDM's LDN distilled from SDM + SR without the BSN: the shipped s-sdm weights, and their scores."""
    ck = results.scratch(cfg.ckpt_dir or None)
    sr = spike_sr(cfg.nets, steps=cfg.sr_steps, n_train=cfg.n_train, size=cfg.size, scratch=ck, say=results.say)
    teacher = Cascade(sr=sr, width=cfg.width)
    path = ck / "s-sdm.ckpt"
    log = ck / "log.csv"
    if not path.exists():
        data = load_spike_data(n=cfg.n_train, size=cfg.size)
        log.unlink(missing_ok=True)
        t0 = time.perf_counter()
        ldn = train_ldn(data, teacher, steps=cfg.steps, crop=min(128, cfg.size), lam=cfg.lam, log=log)
        save_receiver(path, ldn, width=cfg.width,
                      training={"steps": cfg.steps, "lam": cfg.lam, "n_train": cfg.n_train, "size": cfg.size,
                                "dataset": "synth-blur", "spike_theta": 1.0, "teacher": "SDM + SR (no BSN)",
                                "seconds": round(time.perf_counter() - t0, 1)})
    rx = build_receiver("s-sdm", weights=str(path)).eval()
    rows = score_at_thresholds({"SDM + SR (the teacher)": lambda b: teacher(b.blurry, b.spikes),
                                "S-SDM: LDN distilled from SDM + SR": lambda b: rx(b.blurry, batch=b)},
                               THETAS, limit=cfg.limit, size=cfg.eval_size, say=results.say)
    results.table("nobsn.csv", rows)
    if cfg.curve and log.exists():
        # drawn from the copy, so that the figure is titled by the checkpoint's entry
        curve = results.out / cfg.curve
        curve.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, curve)
        plot_training_log(curve, curve.with_suffix(".png"))


# -- ssdm-unet: the supervised baseline ----------------------------------------------------------------------

#: SP-JSCC's spike-rate windows and their scale before its U-Net
UNET_WINDOWS, UNET_EVENT_SCALE = 6, 0.25


def _rate_windows(b) -> torch.Tensor:
    return spike_windows(b.spikes, num_windows=UNET_WINDOWS, size=tuple(b.blurry.shape[-2:]))


@dataclass(frozen=True)
class UnetConfig:
    """Args: ``steps`` of the U-Net's training (Adam ``lr`` on a cosine, batch 8 of ``crop``-pixel crops, L1
    to the sharp frame) on ``n_train`` samples of side ``size``; ``limit`` / ``eval_size`` the test frames;
    ``ckpt_dir`` for its weights (reused while ``steps`` matches)."""

    steps: int = 6000
    n_train: int = 512
    size: int = 128
    crop: int = 96
    lr: float = 5e-4
    limit: int | None = None
    eval_size: int | None = None
    ckpt_dir: str = "ckpt/ssdm-unet"


TINY_UNET = UnetConfig(steps=1, crop=32, ckpt_dir="", **TINY_DATA)


@experiment("ssdm-unet", config=UnetConfig, tiny=TINY_UNET, out="results/ssdm")
def run_unet(cfg: UnetConfig, results: Results) -> None:
    """The supervised U-Net with cross attention (SpikeReveal Table 1's baseline) against S-SDM across thresholds."""
    ck = results.scratch(cfg.ckpt_dir or None)
    path = ck / "unet.pt"
    net = UNetXAttn(event_channels=UNET_WINDOWS, event_scale=UNET_EVENT_SCALE)
    saved = torch.load(path) if path.exists() else {}
    if saved.get("steps") != cfg.steps:
        data = load_spike_data(n=cfg.n_train, size=cfg.size)
        torch.manual_seed(0)
        net.train()
        log = ck / "log.csv"
        log.unlink(missing_ok=True)

        def loss_fn(step: int) -> torch.Tensor:
            b = data.draw(seed=0, step=step, batch_size=8, crop=cfg.crop)
            return F.l1_loss(net(b.blurry, events=_rate_windows(b)), b.sharp)

        t0 = time.perf_counter()
        run_stage("unet-supervised", list(net.parameters()), loss_fn, steps=cfg.steps, lr=cfg.lr, log=log)
        saved = {"steps": cfg.steps, "state": net.state_dict(), "seconds": round(time.perf_counter() - t0, 1)}
        torch.save(saved, path)
        shutil.copy(log, results.path("unet_training_log.csv"))
    net.load_state_dict(saved["state"])
    net.eval()
    ssdm = build_receiver("s-sdm", weights="shipped").eval()
    unet_name = f"U-Net with cross attention, supervised on sharp frames at threshold 1 ({saved['seconds']:.0f} s)"
    rows = score_at_thresholds({"S-SDM (shipped s-sdm)": lambda b: ssdm(b.blurry, batch=b),
                                unet_name: lambda b: net(b.blurry, events=_rate_windows(b)).clamp(0.0, 1.0)},
                               THETAS, limit=cfg.limit, size=cfg.eval_size, say=results.say)
    results.table("unet.csv", rows)
    gap = gap_rows(rows)
    results.table("unet_gap.csv", gap)
    for g in gap:
        results.say(str(g))


# -- ssdm-noise: the BSN on a noisy spike camera -------------------------------------------------------------

#: the 8-neighbour mean (the simplest blind-spot estimate) as a 3x3 kernel
RING = torch.ones(1, 1, 3, 3).index_put_((torch.tensor([0]), torch.tensor([0]), torch.tensor([1]),
                                          torch.tensor([1])), torch.tensor(0.0)) / 8


def luminance_at_spike_res(sharp: torch.Tensor, factor: int) -> torch.Tensor:
    """Linear luminance of the frames, averaged down to the spike resolution (not normalized)."""
    lin = srgb_to_linear(sharp.double())
    lum = sum(w * lin[:, c:c + 1] for c, w in enumerate(LUMA_WEIGHTS))
    return F.avg_pool2d(lum, factor)


def _by_mean(f: torch.Tensor) -> torch.Tensor:
    return f.double() / f.double().mean((1, 2, 3), keepdim=True)


def calibrated_sdm(blurry: torch.Tensor, spikes: torch.Tensor, dark: float, sdm: Cascade, width: int) -> torch.Tensor:
    """SDM as :class:`Cascade` computes it (bilinear upsampling) on spike rates less the dark rate ``dark``."""
    ticks = spikes.shape[1]
    a, b = window_bounds_at(ticks, ticks / 2, width)
    s = spikes.float()
    short = (s[:, a:b].mean(1, keepdim=True) - dark).clamp_min(0.0)
    long = (s.mean(1, keepdim=True) - dark).clamp_min(0.0)
    scale = long.mean((1, 2, 3), keepdim=True).clamp_min(1e-6)
    size = tuple(blurry.shape[-2:])
    s_hr = F.interpolate(short / scale, size=size, mode="bilinear", align_corners=False)
    l_hr = F.interpolate(long / scale, size=size, mode="bilinear", align_corners=False)
    valid = l_hr > sdm.min_rate
    ratio = torch.where(valid, (s_hr / l_hr.clamp_min(sdm.min_rate)).clamp(0.0, sdm.max_gain), torch.ones_like(l_hr))
    return linear_to_srgb((srgb_to_linear(blurry) * ratio).clamp(0.0, 1.0))


@dataclass(frozen=True)
class NoiseConfig:
    """Args: ``dark`` currents (charge per tick) of the spike camera; ``steps`` of each BSN's training on
    ``n_train`` samples of side ``size``; ``width`` of the short window (ticks); ``limit`` / ``eval_size``
    the test frames."""

    dark: tuple[float, ...] = (0.0, 0.05, 0.2)
    steps: int = 1000
    n_train: int = 256
    size: int = 128
    width: int = 80
    limit: int | None = None
    eval_size: int | None = None


TINY_NOISE = NoiseConfig(dark=(0.2,), steps=1, n_train=4, size=32, limit=2, eval_size=64)


@experiment("ssdm-noise", config=NoiseConfig, tiny=TINY_NOISE, out="results/ssdm/noise")
def run_noise(cfg: NoiseConfig, results: Results) -> None:
    """Does S-SDM's blind-spot denoiser help once the spike camera has dark current?"""
    rows = []
    extra = {} if cfg.eval_size is None else {"size": cfg.eval_size}
    for d in cfg.dark:
        params = {"events": False, "dark_current": d}
        data = load_training_data("synth-blur", size=cfg.size, n=cfg.n_train, seed=0, split="train", workers=0,
                                  spikes=True, params=params)
        log = results.path(f"bsn_dark{d:g}.csv")
        log.unlink(missing_ok=True)
        t0 = time.perf_counter()
        bsn = train_bsn(data, steps=cfg.steps, width=cfg.width, crop=min(128, cfg.size), log=log, progress=False)
        seconds = time.perf_counter() - t0
        batches = evaluation_batches(cfg.limit, batch_size=8, **params, **extra)
        sdm, sdm_bsn = Cascade(width=cfg.width), Cascade(bsn=bsn, width=cfg.width)
        res: dict[str, list[float]] = {k: [] for k in (
            "mse_raw", "mse_bsn", "noise_raw", "noise_bsn", "noise_neighbours", "saturated",
            "psnr_blurry", "psnr_sdm", "psnr_sdm_bsn", "psnr_sdm_calibrated")}
        with torch.no_grad():
            for b in batches:
                ticks = b.spikes.shape[1]
                short, _ = spike_frames(b.spikes, centre=ticks / 2, width=cfg.width)
                factor = b.sharp.shape[-1] // short.shape[-1]
                lum = luminance_at_spike_res(b.sharp, factor)
                den = bsn(short).clamp_min(0.0)
                # against the luminance (noise and offset) and against what the camera fires on average there
                for ref, key in ((_by_mean(lum), "mse"), (_by_mean(lum + d), "noise")):
                    res[f"{key}_raw"] += (_by_mean(short) - ref).square().mean((1, 2, 3)).tolist()
                    res[f"{key}_bsn"] += (_by_mean(den) - ref).square().mean((1, 2, 3)).tolist()
                nb = F.conv2d(F.pad(short, (1, 1, 1, 1), mode="replicate"), RING)
                res["noise_neighbours"] += (_by_mean(nb) - _by_mean(lum + d)).square().mean((1, 2, 3)).tolist()
                res["saturated"] += (b.spikes.float().mean(1) > 0.9).float().mean((1, 2)).tolist()
                for key, out in (("psnr_blurry", b.blurry), ("psnr_sdm", sdm(b.blurry, b.spikes)),
                                 ("psnr_sdm_bsn", sdm_bsn(b.blurry, b.spikes)),
                                 ("psnr_sdm_calibrated", calibrated_sdm(b.blurry, b.spikes, d, sdm, cfg.width))):
                    res[key] += score(out, b.sharp, ("psnr",))["psnr"].tolist()
        gain, half = paired_ci95(res["psnr_sdm_bsn"], res["psnr_sdm"])
        row = {"dark_current": d, "frames": len(res["psnr_sdm"]), "bsn_steps": cfg.steps,
               "bsn_seconds": round(seconds, 1),
               **{k: round(float(np.mean(v)), 3 if k.startswith("psnr") else 5) for k, v in res.items()},
               "bsn_gain_db": round(gain, 3), "bsn_gain_ci95": round(half, 3)}
        rows.append(row)
        results.say(str(row))
    results.table("noise.csv", rows)


# -- ssdm-links: S-SDM behind the channel ------------------------------------------------------------------------

#: the table's rows: name -> (link file, diagnostic receiver of :data:`RECEIVERS` or None for the link's own)
LINKS = {
    "sp-jscc (its U-Net)": ("sp-jscc", None),
    "sp-jscc streams: decoded frame": ("sp-jscc-s-sdm", "decoded"),
    "sp-jscc streams + S-SDM (sp-jscc-s-sdm)": ("sp-jscc-s-sdm", None),
    "sp-jscc decoded frame + S-SDM on the exact spikes": ("sp-jscc-s-sdm", "exact-spikes"),
    "bpg-ldpc (frame only)": ("bpg-ldpc", None),
    "bpg-ldpc + spikes: decoded frame": ("bpg-ldpc-spikes-s-sdm", "decoded"),
    "bpg-ldpc + spikes + S-SDM (bpg-ldpc-spikes-s-sdm)": ("bpg-ldpc-spikes-s-sdm", None),
    "bpg-ldpc + spikes: decoded frame + S-SDM on the exact spikes": ("bpg-ldpc-spikes-s-sdm", "exact-spikes"),
    "SDM at the sensor (sdm-tx-bpg-ldpc)": ("sdm-tx-bpg-ldpc", None),
}
#: the digital spike link
LINK_SPIKES = "bpg-ldpc-spikes-s-sdm"


@dataclass(frozen=True)
class LinksConfig:
    """Args: ``snr`` (dB, AWGN) and ``cbr``; ``limit`` test frames (None: all 32) of side ``eval_size``
    (None: 256); ``links`` the link files of :data:`LINKS` to run (empty: all); ``windows_code`` also the
    digital link coding the three windows; ``shares`` other shares of the channel uses for its spike stream;
    ``train_frames`` training-split frames on which the spike code is chosen (0: skip)."""

    snr: float = 10.0
    cbr: str = "1/48"
    limit: int | None = None
    eval_size: int | None = None
    links: tuple[str, ...] = ()
    windows_code: bool = True
    shares: tuple[float, ...] = (0.1, 0.4, 0.6)
    train_frames: int = 8


TINY_LINKS = LinksConfig(limit=2, eval_size=64, links=("sp-jscc-s-sdm",), windows_code=False, shares=(),
                         train_frames=0)


def _sweep_row(name: str, target: str, cfg: LinksConfig, out: Path, *, train_frames: int = 0,
               say: Callable[[str], None] = print) -> dict:
    """One point of ``semcom run``'s sweep (resumed from ``out`` when there) as a row of ``links.csv``: on
    the test frames, or on ``train_frames`` training-split frames (256x256, another seed)."""
    size = {} if cfg.eval_size is None else {"size": cfg.eval_size}
    data: dict[str, Any] = ({"dataset": "synth-blur",
                             "dataset_params": {"split": "train", "size": 256, "n": train_frames, "seed": 7, **size}}
                            if train_frames else {"limit": cfg.limit, **({"dataset_params": size} if size else {})})
    cbr = parse_cbr(cfg.cbr)
    r = _first_row(run_sweep(SweepConfig(link=target, cbr=cbr, snr_db=(cfg.snr,), metrics=("psnr", "ssim"), **data),
                             out_dir=out, progress=False))
    say(f"{name:<52} PSNR {float(r['psnr']):6.2f} dB  SSIM {float(r['ssim']):.4f}  {r.get('config', '')}")
    return {"method": name, "link": Path(target).stem, "snr_db": cfg.snr, "cbr": round(cbr, 6),
            "frames": r["n_images"], "psnr": round(float(r["psnr"]), 3),
            "psnr_ci95": round(float(r["psnr_ci95"] or "nan"), 3), "ssim": round(float(r["ssim"]), 4),
            "cbr_used": round(float(r["cbr_used"]), 6), "config": r.get("config", "")}


def _exact_rows(cfg: LinksConfig, say: Callable[[str], None]) -> list[dict]:
    """S-SDM on exact inputs (no channel): the raw spike stream and the spike-rate windows the links send."""
    raw = build_receiver("s-sdm", weights="shipped").eval()
    windows = build_receiver("s-sdm", weights="shipped", source="representation").eval()

    def on_windows(k: int) -> Method:
        return lambda b: windows(b.blurry, events=spike_windows(b.spikes, num_windows=k,
                                                                  size=tuple(b.blurry.shape[-2:])), batch=b)

    methods = {
        "exact: blurry input": lambda b: b.blurry,
        "exact: S-SDM on the raw spike stream (s-sdm)": lambda b: raw(b.blurry, batch=b),
        "exact: S-SDM on six exact spike-rate windows (sp-jscc's)": on_windows(6),
        "exact: S-SDM on three exact spike-rate windows (the digital link's)": on_windows(3),
    }
    return [{"method": r["method"], "link": "", "snr_db": "", "cbr": "", "frames": r["frames"], "psnr": r["psnr"],
             "psnr_ci95": r["psnr_ci95"], "ssim": r["ssim"], "cbr_used": "", "config": ""}
            for r in score_at_thresholds(methods, THETAS[:1], limit=cfg.limit, size=cfg.eval_size, say=say)]


def _decoded_window_rows(cfg: LinksConfig, configs: dict[str, str], say: Callable[[str], None]) -> list[dict]:
    """How close each link's decoded spike-rate windows come to the exact ones (same windows, same frames):
    mean rate, correlation and spread (standard deviation over pixels and windows) against the truth's, and
    the correlation of what SDM and S-SDM read from them, the short-window frame over the whole-exposure one
    (:func:`window_frames`, at the spike resolution) minus 1."""
    rows = []
    extra = {} if cfg.eval_size is None else {"size": cfg.eval_size}
    ds = SOURCES.build("synth-blur", split="test", limit=cfg.limit, events=False, **extra)
    for link_name, config in configs.items():
        link = Link(find_link(link_name), cbr=parse_cbr(cfg.cbr)).eval()
        if config:
            link.codec.set_variant(config)
        windows = getattr(link.codec, "spike_windows", None) or getattr(link.codec, "event_channels", 6)
        dec, ref, ticks = [], [], 0
        for i, j in enumerate(range(0, len(ds), 8)):
            b = collate([ds[k] for k in range(j, min(j + 8, len(ds)))])
            with torch.no_grad():
                _, rec = link.codec.transmit(b, link.channel, snr_db=torch.full((b.size,), float(cfg.snr)),
                                             generator=torch.Generator().manual_seed(100 + i))
            dec.append(rec.events.float())
            ticks = int(b.spikes.shape[1])
            ref.append(spike_windows(b.spikes, num_windows=int(windows), size=tuple(b.blurry.shape[-2:])))
        d, r = torch.cat(dec), torch.cat(ref)
        corr = float(torch.corrcoef(torch.stack([d.flatten(), r.flatten()]))[0, 1])
        ratios = []
        for w in (d, r):
            short, long = window_frames(w, ticks=ticks, centre=ticks / 2, width=80)
            ratios.append((short / long.clamp_min(0.02) - 1.0).flatten())
        ratio_corr = float(torch.corrcoef(torch.stack(ratios))[0, 1])
        row = {"link": Path(link_name).stem, "windows": int(windows), "frames": d.shape[0],
               "mean_rate_decoded": round(float(d.mean()), 4),
               "mean_rate_true": round(float(r.mean()), 4), "correlation": round(corr, 3),
               "std_decoded": round(float(d.std()), 4), "std_true": round(float(r.std()), 4),
               "negative_fraction": round(float((d < 0).float().mean()), 5),
               "ratio_correlation": round(ratio_corr, 3)}
        say(str(row))
        rows.append(row)
    return rows


@experiment("ssdm-links", config=LinksConfig, tiny=TINY_LINKS, out="results/ssdm/links")
def run_links(cfg: LinksConfig, results: Results) -> None:
    """S-SDM behind the channel: after SP-JSCC's stream decoders and the digital spike link, with diagnostics."""
    known = {link for link, _ in LINKS.values()}
    unknown = [name for name in cfg.links if name not in known]
    if unknown:
        raise SemcomError(f"unknown link(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    out = results.folder("")
    rows = _exact_rows(cfg, results.say)
    for name, (link, receiver) in LINKS.items():
        if cfg.links and link not in cfg.links:
            continue
        target = link if receiver is None else str(link_variant(link, receiver, out, receiver=receiver))
        rows.append(_sweep_row(name, target, cfg, out, say=results.say))
    windows_link = out / f"{LINK_SPIKES}-windows.toml"
    if cfg.windows_code:
        rows.append(_sweep_row(f"{LINK_SPIKES} coding the three windows (spike_code = windows)",
                               str(link_variant(LINK_SPIKES, "windows", out, spike_code="windows")), cfg, out,
                               say=results.say))
    for share in cfg.shares:  # the spike stream's share of the channel uses (not tuned)
        rows.append(_sweep_row(f"{LINK_SPIKES}, spike stream share {share:g} (shipped: 0.25)",
                               str(link_variant(LINK_SPIKES, f"share{round(100 * share)}", out, event_share=share)),
                               cfg, out, say=results.say))
    results.table("links.csv", rows)
    by_link = {r["link"]: r["config"] for r in rows if r["link"]}
    configs = {"sp-jscc-s-sdm": ""}
    if LINK_SPIKES in by_link:
        configs[LINK_SPIKES] = by_link[LINK_SPIKES]
    if windows_link.stem in by_link:
        configs[str(windows_link)] = by_link[windows_link.stem]
    results.table("decoded_windows.csv", _decoded_window_rows(cfg, configs, results.say))
    if cfg.train_frames:
        sub = results.folder("train_split")
        picks = ((f"{LINK_SPIKES} (contrast)", LINK_SPIKES),
                 (f"{LINK_SPIKES} coding the windows", str(link_variant(LINK_SPIKES, "windows", out,
                                                                        spike_code="windows"))),
                 ("bpg-ldpc (frame only)", "bpg-ldpc"))
        results.table("train_split.csv", [_sweep_row(f"training split: {name}", target, cfg, sub,
                                                     train_frames=cfg.train_frames, say=results.say)
                                          for name, target in picks])


# -- ssdm-decoded: S-SDM fine-tuned on the digital link's output -------------------------------------------------

@dataclass(frozen=True)
class DecodedConfig:
    """Args: ``snr`` (dB, AWGN) at CBR 1/48 through ``bpg-ldpc-spikes-s-sdm``; ``n_train`` training-split
    samples of side ``size`` sent through it; ``steps`` of the fine-tuning (batch 8 of ``crop``-pixel crops,
    Adam ``lr`` on a cosine); ``nets`` the networks of ``ssdm-cascade`` whose SR network makes the teacher
    (missing: trained here with ``sr_steps`` on ``sr_n_train`` samples of side ``sr_size``); ``limit`` /
    ``eval_size`` the test frames of the two sweeps; ``ckpt_dir`` for the weights."""

    snr: float = 10.0
    n_train: int = 128
    size: int = 256
    steps: int = 400
    crop: int = 128
    lr: float = 2e-4
    nets: str = "ckpt/ssdm/nets.pt"
    sr_steps: int = 1000
    sr_n_train: int = 512
    sr_size: int = 128
    limit: int | None = None
    eval_size: int | None = None
    ckpt_dir: str = "ckpt/ssdm-decoded"


TINY_DECODED = DecodedConfig(n_train=2, size=64, steps=1, crop=32, nets="", sr_steps=1, sr_n_train=4, sr_size=32,
                             limit=1, eval_size=64, ckpt_dir="")


def _decoded_set(cfg: DecodedConfig, config: str, teacher: Cascade,
                 say: Callable[[str], None]) -> dict[str, torch.Tensor]:
    """The link's decoded frames and spike frames for the training samples, and the teacher's output on
    their exact inputs (no sharp frame read)."""
    data = load_spike_data(size=cfg.size, n=cfg.n_train, seed=1)
    link = Link(find_link(LINK_SPIKES), cbr=1 / 48).eval()
    link.codec.set_variant(config)
    parts: dict[str, list[torch.Tensor]] = {"image": [], "short": [], "long": [], "target": []}
    for i, j in enumerate(range(0, cfg.n_train, 8)):
        b = data.batch(slice(j, min(j + 8, cfg.n_train)))
        # NaN in place of the sharp frame (anything that read it would give NaN), and the camera's tick count
        b = type(b)(torch.full_like(b.sharp, float("nan")), b.blurry, None, b.spikes, (), (),
                    tuple({"spike_ticks": b.spikes.shape[1]} for _ in range(b.size)))
        with torch.no_grad():
            _, rec = link.codec.transmit(b, link.channel, snr_db=torch.full((b.size,), float(cfg.snr)),
                                         generator=torch.Generator().manual_seed(1000 + i))
            ticks = b.spikes.shape[1]
            short, long = window_frames(rec.events, ticks=ticks, centre=ticks / 2, width=80)
            parts["image"].append(rec.image.clamp(0, 1))
            parts["short"].append(short)
            parts["long"].append(long)
            parts["target"].append(teacher(b.blurry, b.spikes))
        say(f"decoded {min(j + 8, cfg.n_train)}/{cfg.n_train}")
    return {k: torch.cat(v) for k, v in parts.items()}


@experiment("ssdm-decoded", config=DecodedConfig, tiny=TINY_DECODED, out="results/ssdm/decoded")
def run_decoded(cfg: DecodedConfig, results: Results) -> None:
    """S-SDM fine-tuned on what the digital spike link delivers (no sharp frame), beside the shipped weights."""
    ck = results.scratch(cfg.ckpt_dir or None)
    out = results.folder("")
    size = {} if cfg.eval_size is None else {"dataset_params": {"size": cfg.eval_size}}
    base = _first_row(run_sweep(SweepConfig(link=LINK_SPIKES, cbr=1 / 48, snr_db=(cfg.snr,), metrics=("psnr", "ssim"),
                                            limit=cfg.limit, **size), out_dir=out, progress=False))
    tag = f"n{cfg.n_train}-s{cfg.steps}"
    weights = ck / f"s-sdm-decoded-{tag}.ckpt"
    if not weights.exists():
        sr = spike_sr(cfg.nets, steps=cfg.sr_steps, n_train=cfg.sr_n_train, size=cfg.sr_size, scratch=ck,
                      say=results.say)
        d = _decoded_set(cfg, base["config"], Cascade(sr=sr, width=80), results.say)
        ldn = build_receiver("s-sdm", weights="shipped").net.train()
        g = torch.Generator().manual_seed(0)
        n, c, side = d["image"].shape[0], cfg.crop, cfg.size

        def loss_fn(step: int) -> torch.Tensor:
            idx = torch.randint(0, n, (8,), generator=g)
            y0, x0 = (int(v) * 4 for v in torch.randint(0, (side - c) // 4 + 1, (2,), generator=g))
            rows, cols = slice(y0, y0 + c), slice(x0, x0 + c)
            srows, scols = slice(y0 // 4, (y0 + c) // 4), slice(x0 // 4, (x0 + c) // 4)
            pred = ldn(d["image"][idx][..., rows, cols], d["short"][idx][..., srows, scols],
                       d["long"][idx][..., srows, scols])
            return F.l1_loss(pred, d["target"][idx][..., rows, cols])

        log = ck / f"log-{tag}.csv"
        log.unlink(missing_ok=True)
        t0 = time.perf_counter()
        run_stage("ldn-decoded", list(ldn.parameters()), loss_fn, steps=cfg.steps, lr=cfg.lr, log=log)
        save_receiver(weights, ldn.eval(), width=80,
                      training={"steps": cfg.steps, "n_train": cfg.n_train, "size": cfg.size, "link": LINK_SPIKES,
                                "snr_db": cfg.snr, "config": base["config"], "teacher": "SDM + SR on exact inputs",
                                "init": "shipped s-sdm", "seconds": round(time.perf_counter() - t0, 1)})
        shutil.copy(log, results.path(f"training_log_{tag}.csv"))
    # the link file names the weights from the repository's root (where the command runs) when they lie
    # inside it, never by one machine's absolute path
    named = display_path(str(weights))
    tuned_link = link_variant(LINK_SPIKES, f"ft-{tag}", out,
                              weights=named if Path(named).resolve() == weights.resolve() else str(weights))
    tuned = _first_row(run_sweep(SweepConfig(link=str(tuned_link), cbr=1 / 48, snr_db=(cfg.snr,),
                                             metrics=("psnr", "ssim"), limit=cfg.limit, **size),
                                 out_dir=out, progress=False))
    rows = [{"receiver": "s-sdm as shipped (distilled on exact inputs)", "psnr": base["psnr"], "ssim": base["ssim"],
             "config": base["config"]},
            {"receiver": f"s-sdm fine-tuned on the link's decoded inputs (no sharp frame; {cfg.n_train} samples, "
                         f"{cfg.steps} steps)", "psnr": tuned["psnr"], "ssim": tuned["ssim"],
             "config": tuned["config"]}]
    results.table(f"decoded_{tag}.csv", rows)
    for r in rows:
        results.say(str(r))
