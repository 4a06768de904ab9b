"""STRA on synthetic video (issue 18): its ablation table on exact inputs, and the video links through the
channel against that table.  Both read ``synth-blur-video``'s test split (8 sequences of 3 exposures at
256x256: 24 frames), every frame of every sequence.

* ``stra`` (``results/stra/``): STRA's ablation table on exact inputs at equal training budget, like STRA's
  Tables 1-3.  Every learned back-end is trained here in this process by ``semcom train``'s code
  (:func:`semcom.train.train`) on the same sequences of ``synth-blur-video`` (training split: ``n_train``
  sequences of 3 exposures at ``size``, and ``val`` more held out for validation), for the same steps, batch
  (``batch`` sequences = 3x as many frames), learning rate and seed:

  - ``unet-xattn``: the single-frame U-Net with event cross attention (each frame and its own SCER);
  - ``stra-frames``: STRA without events (three consecutive blurry frames);
  - ``stra-notmb``: STRA without the Temporal Memory Block (three frames, the current frame's events);
  - ``stra``: STRA full (three frames, three event sequences);
  - ``stra-notmb-skips``, ``stra-skips``: the last two with the current event sequence's features also
    joined to the decoder at the finer scales (``event_skips``, ours).

  They are scored against the sharp frames, with the blurry frame itself and EDI per frame (raw events, the
  camera's nominal contrast) as references.  Each row gives parameters and CPU throughput in frames/s at
  180x320 (one sequence of 3 frames a pass, ``torch`` threads as set).  Writes ``table.csv`` and
  ``targets.csv`` (the paired differences STRA's claims are about), each model's learning curve as
  ``training/<link>.csv`` and ``.png``, and the checkpoints under ``ckpt_dir`` (resumed if present).  Written
  to the default folder ``results/stra`` by the full-scale run, the curves of the two shipped models
  (``stra``, ``stra-skips``) go where every shipped checkpoint's curve goes:
  ``results/training/stra-cbr1-1-snr0.*`` and ``results/training/stra-skips-cbr1-1-snr0.*``.
* ``stra-links`` (``results/stra/links/``): the video links through the channel (AWGN 10 dB, CBR 1/48) against
  the exact-input table of ``stra``: does the channel keep its ordering?  Each link's counterpart on exact
  inputs: ``deepjscc`` (the frame as sent, no deblurring) <-> the blurry input; ``bpg-ldpc-events`` (EDI on the
  decoded SCER) <-> EDI per frame; ``ev-jscc`` (its U-Net with events, one frame) <-> the single-frame U-Net;
  ``deepjscc-stra`` and ``bpg-ldpc-events-stra`` <-> STRA (with the event skips: the shipped ``stra-skips``
  weights).  Runs ``semcom run``'s sweep for each (resumable: the CSVs beside ``links.csv``).

The intervals are Student-t intervals over the frames (:func:`~semcom.experiments.shared.mean_ci95`, and
:func:`~semcom.experiments.shared.paired_ci95` for the gains and the targets' differences).  The files under
``results/stra/`` were written by this module's predecessor ``benchmarks/stra.py``, which took the half-width
as ``1.96 s / sqrt(n)`` (a normal interval): on 24 frames the t interval is about 6 % wider (t = 2.07 for 23 degrees of freedom), so a
rerun gives ``psnr_ci95``, ``gain_ci95`` and ``ci95`` slightly larger than the committed ones; the means
do not change.
"""

from __future__ import annotations

import csv
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from semcom.bench.sweep import SweepConfig, run_sweep
from semcom.conventions import parse_cbr
from semcom.errors import SemcomError
from semcom.experiments.base import Results, experiment
from semcom.experiments.shared import link_file, mean_ci95, paired_ci95, score
from semcom.link import Link, find_link, receiver_takes_weights
from semcom.receivers.edi import EDI
from semcom.registry import SOURCES
from semcom.sources.base import Batch, collate
from semcom.sources.video import SequenceFrames
from semcom.train import train
from semcom.train.curves import plot_training_log
from semcom.zoo.store import load_checkpoint

__all__ = ["MODELS", "SHIPPED", "PAIRS", "LINKS", "StraConfig", "StraLinksConfig", "throughput", "curve_path"]

BLURRY = "blurry input"
EDI_ROW = "EDI per frame (raw events, nominal contrast)"
UNET = "single-frame U-Net with events (unet-xattn)"
FRAMES = "STRA frame-only (no events)"
NOTMB = "STRA without TMB"
FULL = "STRA full"
NOTMB_SKIPS = "STRA without TMB, event skips (ours)"
FULL_SKIPS = "STRA full, event skips (ours)"

#: row label -> link (a name, or one of the experiments' own link files)
MODELS = {
    UNET: "unet-xattn",
    FRAMES: link_file("stra-frames"),
    NOTMB: link_file("stra-notmb"),
    FULL: "stra",
    NOTMB_SKIPS: link_file("stra-notmb-skips"),
    FULL_SKIPS: "stra-skips",
}
#: the models shipped as zoo checkpoints: their curves go where every shipped checkpoint's curve goes
SHIPPED = {"stra": "stra-cbr1-1-snr0", "stra-skips": "stra-skips-cbr1-1-snr0"}
#: the paired differences the targets are about: (a, b, target in dB; 0: a must beat b)
PAIRS = ((FULL, UNET, 0.5), (FULL, FRAMES, 1.5), (FULL, NOTMB, 0.0),
         (FULL_SKIPS, UNET, 0.5), (FULL_SKIPS, FRAMES, 1.5), (FULL_SKIPS, NOTMB_SKIPS, 0.0))


def throughput(receiver: torch.nn.Module, *, reps: int = 5) -> float:
    """Frames per second of a back-end at 180x320, one sequence of three frames per pass (eval, no grad)."""
    g = torch.Generator().manual_seed(0)
    img, ev = torch.rand(3, 3, 180, 320, generator=g), torch.randn(3, 6, 180, 320, generator=g) * 4
    info = tuple({"sequence": 0, "exposure_index": k, "exposures": 3} for k in range(3))
    batch = Batch(sharp=img, blurry=img, events=ev, info=info)
    receiver.eval()
    with torch.no_grad():
        receiver(img, events=ev, batch=batch)  # warm-up
        t0 = time.perf_counter()
        for _ in range(reps):
            receiver(img, events=ev, batch=batch)
    return 3 * reps / (time.perf_counter() - t0)


def curve_path(stem: str, results: Results) -> Path:
    """Where model ``stem``'s learning curve (CSV; the PNG beside it) goes: ``<out>/training/<stem>.csv``, except
    for a shipped model in a full-scale run written to the experiment's default folder (``results/stra``):
    then ``results/training/<checkpoint>.csv``, beside the other shipped checkpoints' curves."""
    default = results.out.resolve() == Path(results.experiment.out).resolve()
    if stem in SHIPPED and default and not results.tiny:
        return results.out.parent / "training" / f"{SHIPPED[stem]}.csv"
    return results.out / "training" / f"{stem}.csv"


# -- stra: the ablation table on exact inputs ------------------------------------------------------------------

@dataclass(frozen=True)
class StraConfig:
    """Args: ``steps`` of each back-end's training, ``batch`` sequences a step, peak learning rate ``lr``,
    frames of side ``size``; ``n_train`` training sequences and ``val`` more for validation; ``workers``
    generating the training data (first run only); ``limit`` test sequences (None: the whole test split);
    ``only`` the links (file stems: ``stra``, ``stra-notmb``, ...) to train and score (empty: all);
    ``ckpt_dir`` for the checkpoints (None: ``<out>/ckpt``); ``log_every`` / ``val_every`` steps between
    the training log's rows / validations; ``fps_reps`` passes of the throughput timing."""

    steps: int = 1500
    batch: int = 8
    lr: float = 5e-4
    size: int = 128
    n_train: int = 352
    val: int = 32
    workers: int = 2
    limit: int | None = None
    only: tuple[str, ...] = ()
    ckpt_dir: str | None = "ckpt/stra"
    log_every: int = 10
    val_every: int = 100
    fps_reps: int = 5


TINY_STRA = StraConfig(steps=2, batch=1, size=32, n_train=4, val=2, workers=0, limit=1, ckpt_dir=None,
                       log_every=1, val_every=1, fps_reps=1)


def _trained_model(label: str, link_name: str, cfg: StraConfig, ckpts: Path, results: Results):
    """Train (or resume) one back-end, copy its learning curve; ``(run, parameters, fps, train seconds)``."""
    stem = Path(link_name).stem
    t0 = time.perf_counter()
    ck = ckpts / f"{stem}.ckpt"
    train(link_name, cbr=1.0, snr_db=0.0, steps=cfg.steps, batch_size=cfg.batch, lr=cfg.lr,
          dataset="synth-blur-video", size=cfg.size, n_train=cfg.n_train + cfg.val, n_val=cfg.val,
          val_every=cfg.val_every, log_every=cfg.log_every, checkpoint_every=100, workers=cfg.workers, out=ck,
          progress=not results.tiny)
    if ck.with_suffix(".csv").exists():  # the curve drawn from the copy: a shipped one is titled by its entry
        curve = curve_path(stem, results)
        curve.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ck.with_suffix(".csv"), curve)
        plot_training_log(curve, curve.with_suffix(".png"))
    spec = find_link(link_name)
    if receiver_takes_weights(spec):  # STRA: the checkpoint goes to the back-end
        link = Link(spec, cbr=1.0, codec_overrides={"checkpoint": str(ck)}).eval()
    else:  # the U-Net takes no weights argument: load them by hand
        link = Link(spec, cbr=1.0).eval()
        link.receiver.load_state_dict(load_checkpoint(ck).receiver)
    receiver = link.receiver

    def run(b: Batch) -> torch.Tensor:
        with torch.no_grad():
            return receiver(b.blurry, batch=b).clamp(0, 1)

    trained = load_checkpoint(ck).meta.get("training", {})
    secs, val = trained.get("seconds"), trained.get("val_psnr")
    val_text = "no validation" if val is None else f"validation {float(val):.2f} dB"
    results.say(f"{label}: {secs} s of training ({val_text}; {time.perf_counter() - t0:.0f} s now)")
    return run, sum(p.numel() for p in receiver.parameters()), throughput(receiver, reps=cfg.fps_reps), secs


@experiment("stra", config=StraConfig, tiny=TINY_STRA, out="results/stra")
def run_stra(cfg: StraConfig, results: Results) -> None:
    """STRA's ablation table on synthetic video: exact inputs, equal training budget (STRA's Tables 1-3)."""
    stems = [Path(link).stem for link in MODELS.values()]
    unknown = [s for s in cfg.only if s not in stems]
    if unknown:
        raise SemcomError(f"stra: unknown model(s) {', '.join(unknown)} (known: {', '.join(stems)})")
    ckpts = results.scratch(cfg.ckpt_dir)
    results.folder("training")

    test = SOURCES.build("synth-blur-video", split="test", limit=cfg.limit)
    frames = SequenceFrames(test)
    batches = [collate([frames[i] for i in group]) for group in frames.sequence_batches(6)]
    sharp = torch.cat([b.sharp for b in batches])
    methods = {
        BLURRY: (lambda b: b.blurry, 0, None, None),
        EDI_ROW: (lambda b: EDI(source="raw", contrast="source")(b.blurry, batch=b), 0, None, None),
    }
    for label, link_name in MODELS.items():
        if cfg.only and Path(link_name).stem not in cfg.only:
            continue
        methods[label] = _trained_model(label, link_name, cfg, ckpts, results)

    rows, base, values = [], None, {}
    for name, (fn, params, fps, secs) in methods.items():
        t0 = time.perf_counter()
        out = torch.cat([fn(b) for b in batches])
        s = score(out, sharp)
        p = s["psnr"]
        values[name] = p
        base = p if base is None else base
        p_mean, p_half = mean_ci95(p)
        gain, gain_half = paired_ci95(p, base)
        rows.append({"method": name, "frames": len(p), "psnr": f"{p_mean:.3f}", "psnr_ci95": f"{p_half:.3f}",
                     "ssim": f"{np.mean(s['ssim']):.4f}", "gain_over_blurry_db": f"{gain:.3f}",
                     "gain_ci95": f"{gain_half:.3f}", "parameters": params,
                     "fps_cpu_180x320": "" if fps is None else f"{fps:.2f}",
                     "train_steps": cfg.steps if params else 0, "train_seconds": "" if secs is None else secs,
                     "eval_seconds": f"{time.perf_counter() - t0:.1f}"})
        results.say(f"{name:<48} PSNR {p_mean:6.2f} dB  SSIM {np.mean(s['ssim']):.4f}  gain {gain:+.2f} dB")
    results.table("table.csv", rows)

    # the paired differences the targets are about (same frames, so the noise of the test set cancels)
    diffs = []
    for a, b, target in PAIRS:
        if a in values and b in values:
            d, half = paired_ci95(values[a], values[b])
            diffs.append({"comparison": f"{a} - {b}", "psnr_diff_db": f"{d:.3f}", "ci95": f"{half:.3f}",
                          "target_db": target, "met": bool(d >= target if target else d > 0)})
            results.say(f"{a} - {b}: {d:+.3f} dB (target {target:+.1f})")
    if diffs:
        results.table("targets.csv", diffs)


# -- stra-links: the video links through the channel -------------------------------------------------------------

#: link -> its counterpart in the exact-input table
LINKS = {
    "deepjscc": BLURRY,
    "bpg-ldpc-events": EDI_ROW,
    "ev-jscc": UNET,
    "deepjscc-stra": FULL_SKIPS,
    "bpg-ldpc-events-stra": FULL_SKIPS,
}


@dataclass(frozen=True)
class StraLinksConfig:
    """Args: ``snr`` of the AWGN channel (dB); ``cbr``; ``table`` the exact-input table of ``stra`` (its
    counterparts' PSNR; a missing file leaves them empty); ``links`` to run (empty: all of :data:`LINKS`);
    ``limit`` test sequences (None: the whole test split)."""

    snr: float = 10.0
    cbr: str = "1/48"
    table: str = "results/stra/table.csv"
    links: tuple[str, ...] = ()
    limit: int | None = None


TINY_LINKS = StraLinksConfig(table="", links=("deepjscc", "deepjscc-stra"), limit=1)


@experiment("stra-links", config=StraLinksConfig, tiny=TINY_LINKS, out="results/stra/links")
def run_links(cfg: StraLinksConfig, results: Results) -> None:
    """Video links through the channel (AWGN 10 dB, CBR 1/48) beside their exact-input counterparts of stra."""
    unknown = [link for link in cfg.links if link not in LINKS]
    if unknown:
        raise SemcomError(f"stra-links: unknown link(s) {', '.join(unknown)} (known: {', '.join(LINKS)})")
    cbr = parse_cbr(cfg.cbr)
    exact: dict[str, str] = {}
    if cfg.table and Path(cfg.table).exists():
        with open(cfg.table, newline="") as f:
            exact = {r["method"]: r["psnr"] for r in csv.DictReader(f)}
    elif cfg.table:
        results.say(f"{cfg.table} does not exist: the counterparts' PSNR is left empty")
    out_dir = results.out
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for link, counterpart in LINKS.items():
        if cfg.links and link not in cfg.links:
            continue
        path = run_sweep(SweepConfig(link=link, cbr=cbr, snr_db=(cfg.snr,), dataset="synth-blur-video",
                                     metrics=("psnr", "ssim"), limit=cfg.limit), out_dir=out_dir, progress=False,
                         notice=results.say)
        with open(path, newline="") as f:
            r = next(csv.DictReader(f))
        rows.append({"link": link, "snr_db": cfg.snr, "cbr": round(cbr, 6), "frames": r["n_images"],
                     "psnr": round(float(r["psnr"]), 3), "psnr_ci95": round(float(r["psnr_ci95"]), 3),
                     "ssim": round(float(r["ssim"]), 4), "cbr_used": round(float(r["cbr_used"]), 6),
                     "exact_input_counterpart": counterpart, "counterpart_psnr": exact.get(counterpart, "")})
        results.say(f"{link:<22} PSNR {float(r['psnr']):6.2f} dB   (exact inputs: {counterpart} "
                    f"{exact.get(counterpart)})")
    results.table("links.csv", rows)
