"""EV-JSCC's ablations (``results/ablation/``): does it use its event stream, is the stream worth its
channel uses, and which of its parts matter at equal training budget.

* ``evjscc-events``: for each checkpoint and SNR, on the default evaluation set, PSNR against the sharp
  frame, the normalized MSE of the decoded event representation ``||E^ - E||^2 / ||E||^2`` (1.0: the
  receiver learned nothing about the events) and the mean power per complex symbol of the image, shared
  and event streams of the unit-power transmission (a starved stream is well below 1):
  ``evjscc_events.csv``.  A checkpoint is named by its zoo name when it is a shipped file (same SHA-256),
  else by its path inside the repository, else by the ``NAME`` given as ``NAME=PATH``.  The committed
  table's ``ev-jscc-cbr1-48-adaptive@b178253`` is the shipped EV-JSCC 1/48 of commit b178253, extracted
  with ``git show b178253:semcom/zoo/checkpoints/ev-jscc-cbr1-48-adaptive.ckpt > FILE``.
* ``evjscc-event-share``: two variants at equal budget, both warm-started from the shipped EV-JSCC 1/48
  and fine-tuned with the ``cpu`` recipe: ``trained`` keeps the paper's split (0.5, 0.25, 0.25);
  ``given`` hands the event stream's quarter to the image stream (0.75, 0.25, 0) while the events still
  reach the shared encoder.  Each is measured as above: ``evjscc_event_share.csv``, learning curves in
  ``event-share/``.
* ``evjscc-ablation``: variants trained from scratch with the same short schedule (single SNR, batch 8
  of 128x128 synth-blur frames) and evaluated at that SNR: the channel-use split, the shared encoder's EDI
  prior, no shared encoder, no events (``deepjscc-deblur``), the width.  Short runs rank the variants;
  they do not converge.  ``evjscc_ablation.csv`` grows a row per variant, and a rerun skips the variants
  it holds.
"""

from __future__ import annotations

import shutil
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import torch

from semcom.conventions import parse_cbr, parse_snr
from semcom.errors import SemcomError
from semcom.experiments.base import Results, experiment
from semcom.experiments.shared import Variant, evaluation_batches, pick, score, sweep, train_once
from semcom.files import sha256_of
from semcom.link import Link, find_link
from semcom.zoo.store import entry_path, find_entry, read_manifest, read_meta

#: the repository root, for naming a checkpoint by its path inside the repository
ROOT = Path(__file__).resolve().parents[2]
#: the shipped EV-JSCC 1/48 (SNR-adaptive) the event-share variants start from
SHIPPED = "ev-jscc-cbr1-48-adaptive"


# -- does EV-JSCC use its events ------------------------------------------------------------------------------

def checkpoint_label(checkpoint: str | None, *, cbr: float) -> tuple[str | None, str]:
    """``(file, label)`` of one checkpoint item (``PATH`` or ``NAME=PATH``; ``None``: the shipped one).

    The label is the zoo name of a shipped file (matched by SHA-256), else the path relative to the
    repository, else the given ``NAME``; a file outside the repository without a name is refused, so a
    table never records a path that exists on one machine only.
    """
    if checkpoint is None:
        return None, find_entry(codec="ev-jscc", cbr=cbr, snr_mode="adaptive", link="ev-jscc")["name"]
    name, sep, path = checkpoint.rpartition("=")
    if sep and name:
        return path, name
    digest = sha256_of(Path(path))
    for entry in read_manifest():
        if entry.get("sha256") == digest and entry_path(entry).is_file():
            return path, entry["name"]
    try:
        return path, Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        raise SemcomError(f"{path} lies outside the repository and is not a shipped checkpoint: "
                          "name it, NAME=PATH (e.g. ev-jscc-cbr1-48-adaptive@b178253=/tmp/old.ckpt)") from None


def measure(checkpoint: str | None, *, snrs: list[float], limit: int | None, cbr: float, label: str | None = None,
            codec_params: dict | None = None, say=print) -> list[dict]:
    """PSNR, decoded-event NMSE and power per stream of one EV-JSCC checkpoint at each SNR (one row each)."""
    over = {**(codec_params or {}), **({} if checkpoint is None else {"checkpoint": checkpoint})}
    link = Link(find_link("ev-jscc"), cbr=cbr, codec_overrides=over).eval()
    batches = evaluation_batches(limit)
    rows = []
    for snr in snrs:
        err = ref = 0.0
        power = torch.zeros(3, dtype=torch.float64)
        psnrs = []
        for k, b in enumerate(batches):
            g = torch.Generator().manual_seed(1000 + k)
            with torch.no_grad():
                out = link(b, snr_db=snr, generator=g)
            ev = out.reception.events
            err += float(((ev - b.events) ** 2).sum())
            ref += float((b.events ** 2).sum())
            psnrs.extend(score(out.output, b.sharp, ("psnr",))["psnr"].tolist())
            parts = torch.split(out.transmission.symbols, list(out.transmission.state.uses), dim=1)
            for i, part in enumerate(parts):
                if part.shape[1]:
                    power[i] += float(part.abs().square().mean()) * b.size
        n = sum(b.size for b in batches)
        rows.append({"checkpoint": label or checkpoint or "shipped", "snr_db": snr,
                     "psnr": round(sum(psnrs) / len(psnrs), 3), "event_nmse": round(err / ref, 4),
                     "power_image": round(float(power[0]) / n, 3), "power_shared": round(float(power[1]) / n, 3),
                     "power_event": round(float(power[2]) / n, 3)})
        say(str(rows[-1]))
    return rows


@dataclass(frozen=True)
class EventsConfig:
    """Args: ``checkpoints`` each ``PATH`` or ``NAME=PATH`` (empty: the shipped one); ``snr`` dB points;
    ``limit`` evaluation frames; ``cbr``."""

    checkpoints: tuple[str, ...] = ()
    snr: tuple[float, ...] = (0.0, 10.0, 20.0)
    limit: int | None = 32
    cbr: str = "1/48"


TINY_EVENTS = EventsConfig(snr=(10.0,), limit=2)


@experiment("evjscc-events", config=EventsConfig, tiny=TINY_EVENTS, out="results/ablation")
def run_events(cfg: EventsConfig, results: Results) -> None:
    """Does EV-JSCC use its event stream: decoded-event NMSE and the power of each stream."""
    cbr = parse_cbr(cfg.cbr)
    rows = []
    for item in cfg.checkpoints or (None,):
        path, label = checkpoint_label(item, cbr=cbr)
        rows += measure(path, snrs=list(cfg.snr), limit=cfg.limit, cbr=cbr, label=label, say=results.say)
    results.table("evjscc_events.csv", rows)


# -- is the event stream worth its channel uses ------------------------------------------------------------------

SHARE_VARIANTS = {"trained": "[0.5,0.25,0.25]", "given": "[0.75,0.25,0.0]"}


@dataclass(frozen=True)
class EventShareConfig:
    """Args: ``steps`` of each fine-tuning; ``recipe`` of :data:`~semcom.experiments.shared.RECIPES`;
    ``snr`` dB points of the evaluation; ``limit`` its frames; ``variants`` (empty: both);
    ``ckpt_dir`` for the checkpoints (None: ``<out>/ckpt``); ``codec_params`` more ``KEY=VALUE``
    codec arguments (the tiny run's narrow network, trained without a warm start)."""

    steps: int = 2000
    recipe: str = "cpu"
    snr: tuple[float, ...] = (0.0, 10.0, 20.0)
    limit: int | None = 32
    variants: tuple[str, ...] = ()
    ckpt_dir: str | None = "ckpt/event-share"
    codec_params: tuple[str, ...] = ()
    warm_start: bool = True


TINY_SHARE = EventShareConfig(steps=2, recipe="tiny", snr=(10.0,), limit=2, ckpt_dir=None,
                              codec_params=("width=8", "unet_width=8"), warm_start=False)


def _toml_value(text: str):
    return tomllib.loads(f"v = {text}")["v"]


@experiment("evjscc-event-share", config=EventShareConfig, tiny=TINY_SHARE, out="results/ablation")
def run_event_share(cfg: EventShareConfig, results: Results) -> None:
    """Is EV-JSCC's event stream worth its channel uses: the event share trained vs given to the image."""
    unknown = [v for v in cfg.variants if v not in SHARE_VARIANTS]
    if unknown:
        raise SemcomError(f"unknown variant(s) {', '.join(unknown)} (known: {', '.join(SHARE_VARIANTS)})")
    ckpts = results.scratch(cfg.ckpt_dir)
    curves = results.folder("event-share")
    shipped = str(entry_path(next(e for e in read_manifest() if e["name"] == SHIPPED)))
    warm = ["--warm-start", shipped] if cfg.warm_start else []
    extra = [a for p in cfg.codec_params for a in ("--codec-param", p)]
    params = {k: _toml_value(v) for k, _, v in (p.partition("=") for p in cfg.codec_params)}
    rows = []
    for name, split in SHARE_VARIANTS.items():
        if cfg.variants and name not in cfg.variants:
            continue
        ck = train_once("ev-jscc", ckpts / f"{name}.ckpt", steps=cfg.steps, recipe=cfg.recipe,
                        args=["--cbr", "1/48", "--snr-range", "0:20", *warm, "--codec-param", f"split={split}", *extra])
        for ext in (".csv", ".png"):
            if ck.with_suffix(ext).exists():
                shutil.copyfile(ck.with_suffix(ext), curves / f"{name}{ext}")
        for row in measure(str(ck), snrs=list(cfg.snr), limit=cfg.limit, cbr=1 / 48, codec_params=params,
                           say=results.say):
            rows.append({"variant": name, "split": split, "steps": cfg.steps, **row, "checkpoint": ck.name})
    results.table("evjscc_event_share.csv", rows)


# -- EV-JSCC's parts at equal budget ---------------------------------------------------------------------------

ABLATION_VARIANTS = (
    Variant("split-0.5-0.25-0.25", "ev-jscc", ("split=[0.5,0.25,0.25]",)),
    Variant("split-0.5-0.25-0.25-noprior", "ev-jscc", ("split=[0.5,0.25,0.25]", 'prior="none"')),
    Variant("noshared-0.667-0-0.333", "ev-jscc-noshared"),
    Variant("split-0.625-0.125-0.25", "ev-jscc", ("split=[0.625,0.125,0.25]",)),
    Variant("deepjscc-deblur", "deepjscc-deblur"),
    # model size: EV-JSCC's default width 32 gives 0.59 M parameters (image tail 50 k), DeepJSCC-Deblur
    # (width 64) 0.68 M (decoder 179 k); the same EV-JSCC at widths 48 and 64
    Variant("split-0.5-0.25-0.25-width48", "ev-jscc", ("split=[0.5,0.25,0.25]", "width=48")),
    Variant("split-0.5-0.25-0.25-width64", "ev-jscc", ("split=[0.5,0.25,0.25]", "width=64")),
)
ABLATION_COLUMNS = ("variant", "link", "params", "steps", "snr_db", "cbr", "psnr", "ssim", "train_seconds")


@dataclass(frozen=True)
class AblationConfig:
    """Args: ``steps`` of each from-scratch training; ``snr`` the single training and evaluation SNR;
    ``cbr``; ``limit`` evaluation frames; ``threads`` torch threads of the training; ``only`` these
    variants (empty: all); ``train_args`` more ``semcom train`` arguments (the tiny run's small data)."""

    steps: int = 1000
    snr: str = "10"
    cbr: str = "1/48"
    limit: int = 16
    threads: int = 1
    only: tuple[str, ...] = ()
    ckpt_dir: str | None = None
    train_args: tuple[str, ...] = ()


TINY_ABLATION = AblationConfig(steps=2, limit=2, only=("split-0.5-0.25-0.25-noprior",),
                               train_args=("--size", "32", "--n-train", "4", "--batch", "2", "--log-every", "1",
                                           "--dataset-param", "cache=false"))


@experiment("evjscc-ablation", config=AblationConfig, tiny=TINY_ABLATION, out="results/ablation")
def run_ablation(cfg: AblationConfig, results: Results) -> None:
    """EV-JSCC's parts (split, EDI prior, shared encoder, events, width) at equal small training budget."""
    table = "evjscc_ablation.csv"
    done = {r["variant"] for r in results.rows(table)}
    ckpts = results.scratch(cfg.ckpt_dir)
    for v in pick(ABLATION_VARIANTS, cfg.only):
        if v.name in done:
            continue
        ck = ckpts / f"{v.name}.ckpt"
        t0 = time.perf_counter()
        train_once(v.link, ck, steps=cfg.steps, recipe=None,
                   args=["--cbr", cfg.cbr, "--snr", cfg.snr, "--lr", "8e-4", "--threads", str(cfg.threads),
                         *v.train_args(), *cfg.train_args])
        train_s = time.perf_counter() - t0
        if train_s < 1.0:  # trained before: its own training time
            train_s = float(read_meta(ck).get("training", {}).get("seconds") or train_s)
        _, data = sweep(v.link, cbr=parse_cbr(cfg.cbr), snr_db=parse_snr(cfg.snr), checkpoint=str(ck),
                        limit=cfg.limit, metrics=("psnr", "ssim"), out_dir=results.folder(f"runs/{v.name}"),
                        overwrite=True, say=results.say)
        row = data[float(parse_snr(cfg.snr)[0])]
        results.append(table, {"variant": v.name, "link": v.link, "params": v.described, "steps": cfg.steps,
                               "snr_db": cfg.snr, "cbr": cfg.cbr, "psnr": row["psnr"], "ssim": row["ssim"],
                               "train_seconds": f"{train_s:.0f}"}, columns=ABLATION_COLUMNS)
        results.say(f"{v.name}: PSNR {float(row['psnr']):.2f} dB, SSIM {float(row['ssim']):.4f} "
                    f"(trained in {train_s:.0f} s)")
