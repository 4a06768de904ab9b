"""Throughput of the hybrid-camera source nodes: latent frames, events, spikes, datasets.

Each case runs in a fresh process (so its peak resident memory can be read), twice, and keeps
the faster run.  Cases:

* ``render``: latent frames per second of :class:`~semcom.sources.scene.SceneRenderer` (RGB,
  bicubic, linear light) for a 128 x 128 crop and a 1280 x 720 frame.
* ``events``: the ESIM-model event camera on those frames: events per second and pixel-frames
  per second (target: a 1280 x 720 x 64-frame sequence in <= 1.5 s on 2 cores; ESIM's C++
  code processes about 60 M pixel-frames/s).
* ``spikes``: spike-camera ticks per second.
* ``dataset``: the default evaluation set (``synth-blur`` test, 32 x 256 x 256): first
  generation into an empty cache, then a second load from the cache.

Usage: ``python benchmarks/sources.py [--quick]`` (``make bench``).  Prints one table.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _frames(height: int, width: int, num: int):
    import numpy as np

    from semcom.sources.scene import SceneRenderer
    from semcom.sources.skimage_set import load_skimage_picture

    r = SceneRenderer(size=(height, width), blur_px=min(60.0, num - 4.0), foreground=0.0, min_frames=num,
                      max_frames=num)
    pic = load_skimage_picture("retina")
    t0 = time.perf_counter()
    seq = r.render(pic, np.random.default_rng(0))
    return seq, time.perf_counter() - t0


def case_render(height: int, width: int, num: int) -> dict:
    base = _peak_mb()
    seq, dt = _frames(height, width, num)
    k = seq.num_latent
    return {"case": f"render {width}x{height}", "frames": k, "seconds": dt, "rate": f"{k / dt:,.0f} frames/s",
            "mpix_per_s": k * height * width / dt / 1e6, "peak_mb": _peak_mb() - base}


def case_events(height: int, width: int, num: int) -> dict:
    import tracemalloc

    import numpy as np

    from semcom.sources.events import EventCamera, luminance

    seq, _ = _frames(height, width, num)
    lum, times, exposure = luminance(seq.frames), seq.times_us, seq.exposure_us
    del seq
    cam = EventCamera()
    tracemalloc.start()
    t0 = time.perf_counter()
    ev = cam.simulate(lum, times, exposure_us=exposure, rng=np.random.default_rng(0))
    dt = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    k = lum.shape[0]
    return {"case": f"events {width}x{height}", "frames": k, "seconds": dt,
            "rate": f"{len(ev) / dt / 1e6:.2f} M events/s ({len(ev):,} events)",
            "mpix_per_s": (k - 1) * height * width / dt / 1e6, "peak_mb": peak / 2**20}


def case_spikes(height: int, width: int, num: int) -> dict:
    import numpy as np

    from semcom.sources.events import luminance
    from semcom.sources.spikes import SpikeCamera

    seq, _ = _frames(height, width, num)
    lum = luminance(seq.frames)
    cam = SpikeCamera()
    base = _peak_mb()
    t0 = time.perf_counter()
    s = cam.simulate(lum, seq.times_us, exposure_us=seq.exposure_us, rng=np.random.default_rng(0))
    dt = time.perf_counter() - t0
    return {"case": f"spikes {width // 4}x{height // 4}", "frames": lum.shape[0], "seconds": dt,
            "rate": f"{s.shape[0] / dt:,.0f} ticks/s", "mpix_per_s": s.size / dt / 1e6, "peak_mb": _peak_mb() - base}


def case_dataset(n: int) -> dict:
    from semcom.registry import SOURCES

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ds = SOURCES.build("synth-blur", split="test", n=n, cache=tmp)
        samples = [ds[i] for i in range(len(ds))]
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        ds = SOURCES.build("synth-blur", split="test", n=n, cache=tmp)
        samples = [ds[i] for i in range(len(ds))]
        warm = time.perf_counter() - t0
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tmp) for f in fs)
    ev = sum(s.info["num_events"] for s in samples) / len(samples)
    return {"case": f"synth-blur test x{n} (256^2)", "frames": n, "seconds": cold,
            "rate": f"cold {cold:.1f} s, cached {warm:.2f} s, {size / 2**20:.0f} MiB, {ev:,.0f} events/sample",
            "mpix_per_s": float("nan"), "peak_mb": _peak_mb()}


def _run(fn, args, repeats: int) -> dict:
    ctx = mp.get_context("spawn")
    best = None
    for _ in range(repeats):
        with ctx.Pool(1) as pool:
            row = pool.apply(fn, args)
        if best is None or row["seconds"] < best["seconds"]:
            best = row
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="128x128 only, one repeat, 8 dataset samples")
    ap.add_argument("--frames", type=int, default=65, help="latent frames per sequence (odd)")
    args = ap.parse_args(argv)
    import torch

    sizes = [(128, 128)] if args.quick else [(128, 128), (720, 1280)]
    repeats = 1 if args.quick else 2
    rows = []
    for h, w in sizes:
        rows.append(_run(case_render, (h, w, args.frames), repeats))
        rows.append(_run(case_events, (h, w, args.frames), repeats))
        rows.append(_run(case_spikes, (h, w, args.frames), repeats))
    rows.append(_run(case_dataset, (8 if args.quick else 32,), 1))
    print(f"# cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, python {sys.version.split()[0]}")
    print(f"{'case':<28} {'K':>4} {'seconds':>8} {'Mpix/s':>8} {'peak MiB':>9}  rate")
    for r in rows:
        print(f"{r['case']:<28} {r['frames']:>4} {r['seconds']:>8.3f} {r['mpix_per_s']:>8.1f} "
              f"{r['peak_mb']:>9.0f}  {r['rate']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
