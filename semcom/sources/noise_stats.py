"""The sensor-noise statistics benchmark: measured noise rates and spreads of the hybrid camera's presets
against the values they are configured with (issue 37).

Each noise source is measured alone on a scene rendered for it, with the preset's parameters:

* shot-noise events per pixel and second on static scenes (dark, grey, white), and leak events per pixel
  and second (from each pixel's event spacing), in the numpy and the torch simulators, against v2e's
  closed forms (the intensity factor, ``E[C / C_i]`` of the pixel's thresholds, the mean of the log-normal
  rate spread);
* the threshold spread, measured from the event spacing on a log-intensity ramp;
* the photoreceptor's time constant, fitted to the ON events of a step;
* the shortest interval between two events of a pixel, against the refractory period;
* the spike camera's dark-spike rate on a black scene, its threshold x gain spread from the rates on a grey
  scene; the RGB frame's noise on a flat grey.

Run: ``python -m semcom.sources.noise_stats [--out results/sensor-noise] [--side 64] [--presets v2e,noisy]``;
writes ``stats.csv`` and its sidecar ``stats.json`` through :mod:`semcom.bench.results`.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semcom.sources.camera import PRESETS, CameraConfig
from semcom.sources.events import SHOT_NOISE_WHITE, intensity01

__all__ = ["measure", "run"]


def _per_pixel_rate(ev: np.ndarray, width: int, npix: int) -> np.ndarray:
    """Each pixel's event rate (Hz) from the spacing of its events: ``(n - 1) / (last - first)`` (NaN below 2)."""
    idx = ev["y"].astype(np.int64) * width + ev["x"]
    order = np.lexsort((ev["t"], idx))
    idx, t = idx[order], ev["t"][order].astype(np.float64)
    n = np.bincount(idx, minlength=npix)
    starts = np.searchsorted(idx, np.arange(npix))
    ends = np.searchsorted(idx, np.arange(npix), side="right") - 1
    span = np.where(n >= 2, t[np.minimum(ends, len(t) - 1)] - t[np.minimum(starts, len(t) - 1)], np.nan)
    return np.where(n >= 2, (n - 1) / (span * 1e-6), np.nan)


def _torch_total(cfg: CameraConfig, lum: float, side: int, span_us: int, seed: int) -> float:
    from semcom.sources import torchsim

    log = torch.full((1, 2, side, side), math.log(lum + 1e-3))
    g = torch.Generator().manual_seed(seed)
    pat = torchsim.sensor_pattern(cfg, 1, side, side, g, "cpu")
    cross = torchsim.noisy_crossings(log, torch.tensor([0.0, float(span_us)]), cfg=cfg, cp=pat["cp"], cn=pat["cn"],
                                     spread=pat["spread"], reference=log[:, 0].clone(), exposure_us=span_us,
                                     num_bins=2, g=g)
    return float(cross.total[0])


def _row(preset: str, sensor: str, quantity: str, scene: str, unit: str, configured: float, measured: float,
         measured_torch: float | None = None, count: int | None = None) -> dict[str, Any]:
    rel = (measured - configured) / configured if configured else math.nan
    rel_t = (measured_torch - configured) / configured if (configured and measured_torch is not None) else None
    return {"preset": preset, "sensor": sensor, "quantity": quantity, "scene": scene, "unit": unit,
            "configured": configured, "measured_numpy": measured, "measured_torch": measured_torch,
            "rel_err_numpy": rel, "rel_err_torch": rel_t, "count": count}


def measure(preset: str, *, side: int = 64, seed: int = 0, events_target: int = 4000) -> list[dict[str, Any]]:
    """The benchmark's rows for one preset (see the module docstring)."""
    cfg = CameraConfig.preset(preset)
    rows: list[dict[str, Any]] = []
    npix = side * side
    spread_mean = math.exp((math.log(10) * cfg.noise_spread_decades) ** 2 / 2)
    only = dict(cutoff_hz=0.0, shot_noise_hz=0.0, leak_hz=0.0, refractory_us=0.0, noise_rate_hz=0.0)
    # ---- shot noise, alone, on static scenes
    if cfg.shot_noise_hz > 0:
        span = int(min(4e9, max(1e6, events_target / (cfg.shot_noise_hz * SHOT_NOISE_WHITE * npix) * 1e6)))
        alone = replace(cfg, **{**only, "shot_noise_hz": cfg.shot_noise_hz})
        cam = alone.event_camera()
        cp, cn = cam.pixel_thresholds(side, side, np.random.default_rng(seed))
        thr = 0.5 * (np.mean(cfg.contrast / cp) + np.mean(cfg.contrast / cn))
        for lum in (0.0, 0.25, 1.0):
            expected = cfg.shot_noise_hz * (1 + (SHOT_NOISE_WHITE - 1) * float(intensity01(np.float64(lum))))
            expected *= thr * spread_mean
            ev = cam.simulate(np.full((2, side, side), lum, np.float32), np.array([0.0, float(span)]),
                              exposure_us=span, rng=np.random.default_rng(seed))
            got = len(ev) / npix / (span * 1e-6)
            got_t = _torch_total(alone, lum, side, span, seed) / npix / (span * 1e-6)
            rows.append(_row(preset, "events", "shot_noise_rate", f"static L={lum:g}", "Hz/pixel", expected, got,
                             got_t, len(ev)))
    # ---- leak events, alone, on a grey static scene (rate from each pixel's spacing: no start-up effect)
    if cfg.leak_hz > 0:
        span = int(min(4e9, 20 / cfg.leak_hz * 1e6))
        alone = replace(cfg, **{**only, "leak_hz": cfg.leak_hz})
        cam = alone.event_camera()
        ev = cam.simulate(np.full((2, side, side), 0.25, np.float32), np.array([0.0, float(span)]),
                          exposure_us=span, rng=np.random.default_rng(seed))
        rates = _per_pixel_rate(ev, side, npix)
        got_t = _torch_total(alone, 0.25, side, span, seed) / npix / (span * 1e-6)
        rows.append(_row(preset, "events", "leak_rate", "static L=0.25", "Hz/pixel", cfg.leak_hz * spread_mean,
                         float(np.nanmean(rates)), got_t, len(ev)))
        if cfg.noise_spread_decades > 0:
            no_jitter = replace(alone, leak_jitter=0.0).event_camera()
            ev = no_jitter.simulate(np.full((2, side, side), 0.25, np.float32), np.array([0.0, float(span)]),
                                    exposure_us=span, rng=np.random.default_rng(seed))
            rates = _per_pixel_rate(ev, side, npix)
            rows.append(_row(preset, "events", "noise_rate_spread_decades", "static L=0.25 (no jitter)", "decades",
                             cfg.noise_spread_decades, float(np.nanstd(np.log10(rates))), None, len(ev)))
    # ---- threshold spread from the event spacing on a log ramp
    if cfg.contrast_sigma > 0:
        span, rise = 100_000, 4.0
        cam = replace(cfg, **only).event_camera()
        cam.reference, cam.log_eps = "first", 0.0
        lum = (np.exp(np.array([-5.0, -5.0 + rise]))[:, None, None] * np.ones((2, side, side))).astype(np.float32)
        ev = cam.simulate(lum, np.array([0.0, float(span)]), exposure_us=span + 1, rng=np.random.default_rng(seed))
        rates = _per_pixel_rate(ev, side, npix)  # events per second = slope / C_i
        measured = (rise / (span * 1e-6)) / rates
        rows.append(_row(preset, "events", "threshold_sigma", "log ramp", "log units", cfg.contrast_sigma,
                         float(np.nanstd(measured)), None, len(ev)))
    # ---- photoreceptor time constant from a step (white and grey)
    if cfg.cutoff_hz > 0:
        for level in (1.0, 0.25):
            cam = replace(cfg, **{**only, "cutoff_hz": cfg.cutoff_hz, "contrast_sigma": 0.0}).event_camera()
            cam.reference = "first"
            tau = 1e6 / (2 * math.pi * cfg.cutoff_hz * float(intensity01(np.float64(level))))
            span = int(1000 + 8 * tau)
            lum = np.array([0.01, 0.01, level, level], np.float32)[:, None, None] * np.ones((4, 1, 1), np.float32)
            ev = cam.simulate(lum, np.array([0.0, 1000.0, 1000.001, float(span)]), exposure_us=span + 1,
                              rng=np.random.default_rng(seed))
            step = math.log(level + 1e-3) - math.log(0.01 + 1e-3)
            j = np.arange(1, len(ev) + 1)
            fitted = (ev["t"] - 1000.0) / -np.log(1 - cfg.contrast * j / step)
            rows.append(_row(preset, "events", "lowpass_tau", f"step 0.01->{level:g}", "us", tau,
                             float(np.median(fitted[2:])), None, len(ev)))
    # ---- refractory period: the shortest interval of a pixel on a busy random scene
    if cfg.refractory_us > 0:
        rng = np.random.default_rng(seed)
        k = 80
        lum = np.exp(np.cumsum(rng.normal(0, 0.5, size=(k, 32, 32)), axis=0)).clip(1e-3, 1).astype(np.float32)
        cam = replace(cfg, **{**only, "refractory_us": cfg.refractory_us}).event_camera()
        ev = cam.simulate(lum, np.linspace(0, 20_000, k), exposure_us=20_001, rng=np.random.default_rng(seed))
        idx = ev["y"].astype(np.int64) * 32 + ev["x"]
        order = np.lexsort((ev["t"], idx))
        same = idx[order][1:] == idx[order][:-1]
        gaps = np.diff(ev["t"][order].astype(np.int64))[same]
        rows.append(_row(preset, "events", "min_interval", "random flicker", "us", cfg.refractory_us,
                         float(gaps.min()) if gaps.size else math.nan, None, len(ev)))
    # ---- spike camera: dark spikes on black, threshold x gain spread on grey
    spk = cfg.spike_camera()
    spk.scale = 1
    if cfg.dark_current > 0:
        s = spk.simulate(np.zeros((2, side, side)), np.array([0.0, 100_000.0]), exposure_us=100_000,
                         rng=np.random.default_rng(seed))
        theta, _, dark = spk.pixel_pattern(side, side, np.random.default_rng(seed))
        rows.append(_row(preset, "spikes", "dark_spike_rate", "black", "Hz/pixel",
                         float(np.mean(dark / theta)) * spk.rate_hz, float(s.mean()) * spk.rate_hz, None,
                         int(s.sum())))
    if cfg.spike_theta_sigma > 0 or cfg.spike_gain_sigma > 0:
        quiet = replace(cfg, dark_current=0.0, spike_read_noise=0.0, spike_photons=None).spike_camera()
        quiet.scale = 1
        s = quiet.simulate(np.full((2, side, side), 0.25), np.array([0.0, 100_000.0]), exposure_us=100_000,
                           rng=np.random.default_rng(seed))
        rate = s.mean(0)
        rows.append(_row(preset, "spikes", "rate_spread_rel", "static L=0.25", "relative std",
                         math.hypot(cfg.spike_theta_sigma, cfg.spike_gain_sigma), float(rate.std() / rate.mean()),
                         None, int(s.sum())))
    # ---- RGB frame: noise on a flat grey, in linear light (16-bit codes so quantization does not hide it)
    if cfg.full_well is not None or cfg.read_noise > 0:
        from semcom.colour import srgb_to_linear_np
        from semcom.sources.rgb import RGBCamera, to_float

        cam = RGBCamera(full_well=cfg.full_well, read_noise=cfg.read_noise, bits=16)
        level = 0.18
        codes = cam.expose(np.full((3, 3, side, side), level, np.float32), np.random.default_rng(seed))
        lin = srgb_to_linear_np(to_float(codes))
        expected = math.sqrt((level / cfg.full_well if cfg.full_well else 0.0) + cfg.read_noise ** 2)
        rows.append(_row(preset, "rgb", "noise_std_linear", f"flat L={level:g}", "linear", expected,
                         float(lin.std()), None, None))
    return rows


def run(out: Path | str = "results/sensor-noise", *, presets: tuple[str, ...] = ("v2e", "noisy"), side: int = 64,
        seed: int = 0) -> Path:
    """Measure every preset and write ``stats.csv`` + ``stats.json`` into ``out``."""
    from semcom.bench.results import config_key, git_commit, package_versions, write_json, write_table

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    rows = [r for p in presets for r in measure(p, side=side, seed=seed)]
    path = write_table(out / "stats.csv", rows)
    config = {"presets": {p: CameraConfig.preset(p).changed() for p in presets}, "side": side, "seed": seed}
    write_json(path.with_suffix(".json"), {
        "what": "sensor-noise statistics: measured vs configured (python -m semcom.sources.noise_stats)",
        "config": config, "config_key": config_key(config), "commit": git_commit(), "versions": package_versions(),
        "seconds": round(time.time() - start, 1), "rows": len(rows)})
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="results/sensor-noise")
    parser.add_argument("--presets", default="v2e,noisy", help=f"comma-separated, of {', '.join(PRESETS)}")
    parser.add_argument("--side", type=int, default=64, help="side of the rendered scenes in pixels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = run(args.out, presets=tuple(p.strip() for p in args.presets.split(",") if p.strip()), side=args.side,
               seed=args.seed)
    print(path)


if __name__ == "__main__":
    main()
