"""Every back-end on exact inputs under each sensor-noise preset (issue 37, deliverable 5): does the camera's
noise change which receiver wins? (``results/sensor-noise/backends/``; run: ``semcom experiment sensor-noise``)

The default evaluation set (synth-blur test split, 32 frames of 256x256: the same pictures, motions and
seeds under every preset) is simulated under each camera preset of :data:`semcom.sources.camera.PRESETS`
(``default``, ``ideal``, ``v2e``, ``noisy``: events, spikes and the RGB frame's noise together; docs/sources.md,
"Sensor noise and presets"), and every back-end runs on the camera's exact, un-transmitted output:

* the blurry input itself; EDI from the raw events with the camera's nominal contrast and with an estimated
  one; EDI from the 6-channel SCER; SDM on the spike stream (64-tick window): as ``semcom experiment backends``;
* the learned back-ends as the zoo ships them today (trained on the default camera, not fine-tuned on noise):
  S-SDM (``s-sdm``, shipped: its LDN distilled from SDM + SR *without* the blind-spot denoiser), and, when
  ``ssdm_bsn_weights`` names them, S-SDM weights distilled with the BSN in the teacher (``ssdm-cascade``'s
  ``ckpt/ssdm/s-sdm.ckpt``, or ``s-sdm-paper``'s); DiffEvent (b) ``y = f(E)x`` and (e) ``y = f(E)x + r`` built
  as ``semcom experiment diffevent`` builds them (projected sampler, its guidance weights from
  ``results/diffevent/tuning.csv``) on the first ``diffevent_limit`` frames (they cost about 3.4 and 6.8 s a
  frame at 256x256);
* the U-Net with cross attention (link ``unet-xattn``) only when ``unet_checkpoint`` names trained weights.

A back-end that cannot run (no weights given) is named in ``notes.csv`` and has no row.

Tables: ``backends.csv``, a row per (preset, back-end): frames scored, PSNR and SSIM against the sharp frame
(mean over frames and the half-width of its 95 % Student-t interval), seconds per frame on the machine that
ran it, and ``psnr_vs_default_db``: the mean paired difference (frame by frame) to the same back-end under the
``default`` preset, with its 95 % interval; ``per_frame.csv``, every frame's PSNR and SSIM; ``events.csv``,
what the noise does to the streams: per preset, the mean events and spikes per frame (with 95 % intervals)
and their ratio to the default camera's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from semcom.errors import SemcomError
from semcom.experiments.base import Results, experiment
from semcom.experiments.shared import evaluation_batches, mean_ci95, paired_ci95, score
from semcom.link import Link
from semcom.linkspec import find_link
from semcom.receivers.edi import EDI
from semcom.receivers.sdm import SDM
from semcom.sources.base import Batch
from semcom.sources.camera import CameraConfig
from semcom.zoo.build import build_receiver
from semcom.zoo.store import load_checkpoint, read_meta

__all__ = ["SensorNoiseConfig", "BACKENDS_COLUMNS", "EVENTS_COLUMNS"]

#: the columns of ``backends.csv`` and ``events.csv``
BACKENDS_COLUMNS = ("preset", "back_end", "frames", "psnr", "psnr_ci95", "ssim", "ssim_ci95", "seconds_per_frame",
                    "psnr_vs_default_db", "psnr_vs_default_ci95")
EVENTS_COLUMNS = ("preset", "frames", "events_per_frame", "events_ci95", "spikes_per_frame", "spikes_ci95",
                  "events_vs_default", "spikes_vs_default")

#: the preset every other one is compared with
REFERENCE = "default"

Method = Callable[[Batch], torch.Tensor]


@dataclass(frozen=True)
class SensorNoiseConfig:
    """Args:
        presets: the camera presets to simulate the evaluation set under (:data:`~semcom.sources.camera.PRESETS`).
        limit: evaluation frames (None: all 32); ``size`` their side (None: the set's 256).
        batch_size: frames a batch.
        diffevent_limit: DiffEvent's frames, the first of the set (None: as many as ``limit``); 0 leaves it out.
        diffevent_weights: DiffEvent's weights (``shipped`` or a checkpoint of ``python -m semcom.train.diffevent``).
        diffevent_steps: its sampler's steps; ``diffevent_s``, ``diffevent_s_r``, ``diffevent_lam_r``: its
            guidance weights (those ``semcom experiment diffevent`` chose at 20 steps:
            ``results/diffevent/tuning.csv``).
        ssdm_weights: S-SDM's weights (``shipped``: distilled without the blind-spot denoiser); "" leaves it out.
        ssdm_bsn_weights: S-SDM weights distilled with the blind-spot denoiser in the teacher (``semcom experiment
            ssdm-cascade`` writes ``ckpt/ssdm/s-sdm.ckpt``); "": no such row (a note says why).
        unet_checkpoint: a trained ``unet-xattn`` checkpoint (``semcom experiment backends`` writes
            ``ckpt/unet-xattn-ideal.ckpt``); "": no U-Net row (a note says why).
    """

    presets: tuple[str, ...] = ("default", "ideal", "v2e", "noisy")
    limit: int | None = None
    size: int | None = None
    batch_size: int = 4
    diffevent_limit: int | None = 16
    diffevent_weights: str = "shipped"
    diffevent_steps: int = 20
    diffevent_s: float = 1e4
    diffevent_s_r: float = 1e-3
    diffevent_lam_r: float = 3.0
    ssdm_weights: str = "shipped"
    ssdm_bsn_weights: str = ""
    unet_checkpoint: str = ""


#: two 64x64 frames under the default and the noisy camera, DiffEvent on one frame with one sampler step
TINY = SensorNoiseConfig(presets=("default", "noisy"), limit=2, size=64, batch_size=2, diffevent_limit=1,
                         diffevent_steps=1)


def _check(cfg: SensorNoiseConfig) -> None:
    """Refuse, before any work, what would fail later."""
    if not cfg.presets:
        raise SemcomError("sensor-noise: no presets")
    if len(set(cfg.presets)) != len(cfg.presets):
        raise SemcomError(f"sensor-noise: a preset named twice in {', '.join(cfg.presets)}")
    for preset in cfg.presets:
        CameraConfig.from_settings(preset, what="sensor-noise")  # an unknown preset: one line naming the known ones
    for what, path in (("ssdm_bsn_weights", cfg.ssdm_bsn_weights), ("unet_checkpoint", cfg.unet_checkpoint)):
        if path and not Path(path).is_file():
            raise SemcomError(f"sensor-noise: {what} {path!r} is not a file")
    if cfg.diffevent_weights not in ("shipped", "") and not cfg.diffevent_weights.startswith("shipped:") \
            and not Path(cfg.diffevent_weights).is_file():
        raise SemcomError(f"sensor-noise: diffevent_weights {cfg.diffevent_weights!r} is not a file (or 'shipped')")


def _methods(cfg: SensorNoiseConfig, notes: list[dict[str, str]]) -> tuple[dict[str, Method], set[str]]:
    """The back-ends by row name, and the names of those that run on the DiffEvent subset of frames."""
    methods: dict[str, Method] = {
        "blurry input": lambda b: b.blurry,
        "edi (raw events, camera's nominal c)": lambda b: EDI(source="raw", contrast="source")(b.blurry, batch=b),
        "edi (raw events, estimated c)": lambda b: EDI(source="raw", contrast="estimate")(b.blurry, batch=b),
        "edi (scer, 6 channels, nominal c)": lambda b: EDI(source="representation")(b.blurry, batch=b),
        "sdm (spikes, 64-tick window)": lambda b: SDM(window=64)(b.blurry, batch=b),
    }
    if cfg.ssdm_weights:
        ssdm = build_receiver("s-sdm", weights=cfg.ssdm_weights).eval()
        label = "shipped" if cfg.ssdm_weights == "shipped" else cfg.ssdm_weights
        methods[f"s-sdm ({label}: LDN distilled from SDM + SR, no blind-spot denoiser)"] = \
            lambda b: ssdm(b.blurry, batch=b)
    if cfg.ssdm_bsn_weights:
        meta = read_meta(cfg.ssdm_bsn_weights).get("receiver", {})
        params = {k: meta[k] for k in ("variant", "width") if k in meta}
        bsn = build_receiver("s-sdm", weights=cfg.ssdm_bsn_weights, **params).eval()
        methods[f"s-sdm with the blind-spot denoiser ({cfg.ssdm_bsn_weights})"] = lambda b: bsn(b.blurry, batch=b)
    else:
        notes.append({"back_end": "s-sdm with the blind-spot denoiser",
                      "note": "no weights ship: semcom experiment ssdm-cascade writes ckpt/ssdm/s-sdm.ckpt; "
                              "--set ssdm_bsn_weights=ckpt/ssdm/s-sdm.ckpt"})
    if cfg.unet_checkpoint:
        link = Link(find_link("unet-xattn"), cbr=1.0).eval()
        link.receiver.load_state_dict(load_checkpoint(cfg.unet_checkpoint).receiver)
        methods[f"unet-xattn ({cfg.unet_checkpoint})"] = lambda b: link.receiver(b.blurry, batch=b).clamp(0, 1)
    else:
        notes.append({"back_end": "unet-xattn",
                      "note": "no checkpoint given: semcom experiment backends trains one (ckpt/unet-xattn-ideal.ckpt);"
                              " --set unet_checkpoint=PATH"})
    slow: set[str] = set()
    if cfg.diffevent_weights and cfg.diffevent_limit != 0:
        guidance = dict(s=cfg.diffevent_s, s_r=cfg.diffevent_s_r, lam_r=cfg.diffevent_lam_r)
        for deg, label in (("fEx", "(b) y = f(E)x"), ("fEx+r", "(e) y = f(E)x + r")):
            rx = build_receiver("diffevent", weights=cfg.diffevent_weights, sampler="projected",
                                steps=cfg.diffevent_steps, degradation=deg, **guidance).eval()
            name = f"DiffEvent {label}"
            methods[name] = (lambda m: (lambda b: m(b.blurry, batch=b)))(rx)
            slow.add(name)
    else:
        notes.append({"back_end": "DiffEvent", "note": "left out (diffevent_limit 0 or no diffevent_weights)"})
    return methods, slow


def _run(fn: Method, batches: list[Batch], *, grad: bool) -> tuple[dict[str, np.ndarray], float]:
    """Per-frame PSNR and SSIM of ``fn`` over ``batches`` against the sharp frames, and its seconds per frame
    (DiffEvent's guidance may take gradients: ``grad``)."""
    t0 = time.perf_counter()
    with torch.set_grad_enabled(grad):
        out = torch.cat([fn(b).detach() for b in batches])
    secs = time.perf_counter() - t0
    return score(out.float(), torch.cat([b.sharp for b in batches])), secs / max(1, len(out))


def _stream_counts(batches: list[Batch]) -> tuple[np.ndarray, np.ndarray]:
    """Events and spikes of every frame."""
    events, spikes = [], []
    for b in batches:
        for i, info in enumerate(b.info):
            raw = b.raw_events[i] if b.raw_events else None
            events.append(info.get("num_events", 0 if raw is None else len(raw)))
            spikes.append(info["num_spikes"] if "num_spikes" in info
                          else (0 if b.spikes is None else int(b.spikes[i].sum(dtype=torch.int64))))
    return np.asarray(events, np.float64), np.asarray(spikes, np.float64)


def _f(value: float, digits: int) -> str:
    return "" if not np.isfinite(value) else f"{value:.{digits}f}"


@experiment("sensor-noise", config=SensorNoiseConfig, tiny=TINY, out="results/sensor-noise/backends")
def run(cfg: SensorNoiseConfig, results: Results) -> None:
    """Every back-end on exact inputs under each camera noise preset (default, ideal, v2e, noisy)."""
    _check(cfg)
    torch.manual_seed(0)
    notes: list[dict[str, str]] = []
    methods, slow = _methods(cfg, notes)
    for n in notes:
        results.say(f"not measured: {n['back_end']}: {n['note']}")
    extra: dict[str, Any] = {} if cfg.size is None else {"size": cfg.size}
    de_limit = cfg.limit if cfg.diffevent_limit is None else (
        cfg.diffevent_limit if cfg.limit is None else min(cfg.limit, cfg.diffevent_limit))
    # the reference first, so that every later preset's row can say what it changes; rows in the given order
    order = sorted(cfg.presets, key=lambda p: p != REFERENCE)
    per: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    streams: dict[str, dict[str, Any]] = {}
    for preset in order:
        t0 = time.perf_counter()
        batches = evaluation_batches(cfg.limit, batch_size=cfg.batch_size, camera=preset, **extra)
        subset = (batches if slow == set() or de_limit == cfg.limit else
                  evaluation_batches(de_limit, batch_size=cfg.batch_size, camera=preset, **extra))
        ev, sp = _stream_counts(batches)
        results.say(f"{preset}: {len(ev)} frames simulated or read in {time.perf_counter() - t0:.1f} s; "
                    f"{ev.mean():.0f} events and {sp.mean():.0f} spikes a frame")
        streams[preset] = {"frames": len(ev), "events": ev, "spikes": sp}
        for name, fn in methods.items():
            s, spf = _run(fn, subset if name in slow else batches, grad=name in slow)
            per[(preset, name)] = s
            p, p_half = mean_ci95(s["psnr"])
            q, q_half = mean_ci95(s["ssim"])
            row = {"preset": preset, "back_end": name, "frames": len(s["psnr"]), "psnr": _f(p, 3),
                   "psnr_ci95": _f(p_half, 3), "ssim": _f(q, 4), "ssim_ci95": _f(q_half, 4),
                   "seconds_per_frame": f"{spf:.3f}", "psnr_vs_default_db": "", "psnr_vs_default_ci95": ""}
            ref = per.get((REFERENCE, name))
            if ref is not None:
                d, d_half = paired_ci95(s["psnr"], ref["psnr"])
                row.update(psnr_vs_default_db=_f(d, 3), psnr_vs_default_ci95=_f(d_half, 3))
            rows[(preset, name)] = row
            results.say(f"{preset:<8} {name:<72} PSNR {p:6.2f} ± {p_half:.2f}  SSIM {q:.4f}  "
                        f"vs default {row['psnr_vs_default_db'] or '-':>7} dB  ({spf:.2f} s/frame)")
        # written after every preset, so that a long run leaves what it has measured
        done = [p for p in cfg.presets if p in streams]
        results.table("backends.csv", [rows[(p, m)] for p in done for m in methods])
    results.table("per_frame.csv", [{"preset": p, "back_end": m, "frame": i, "psnr": f"{v['psnr'][i]:.3f}",
                                     "ssim": f"{v['ssim'][i]:.4f}"}
                                    for p in cfg.presets for m in methods for v in [per[(p, m)]]
                                    for i in range(len(v["psnr"]))])
    ref = streams.get(REFERENCE)
    ev_rows = []
    for p in cfg.presets:
        st = streams[p]
        e, e_half = mean_ci95(st["events"])
        k, k_half = mean_ci95(st["spikes"])
        ev_rows.append({"preset": p, "frames": st["frames"], "events_per_frame": _f(e, 1), "events_ci95": _f(e_half, 1),
                        "spikes_per_frame": _f(k, 1), "spikes_ci95": _f(k_half, 1),
                        "events_vs_default": _f(e / ref["events"].mean(), 4) if ref and ref["events"].mean() else "",
                        "spikes_vs_default": _f(k / ref["spikes"].mean(), 4) if ref and ref["spikes"].mean() else ""})
    results.table("events.csv", ev_rows)
    stale = results.out / "notes.csv"
    if notes:
        results.table("notes.csv", notes)
    elif stale.exists():  # a note of an earlier run that this one no longer has
        stale.unlink()
        stale.with_suffix(".json").unlink(missing_ok=True)
