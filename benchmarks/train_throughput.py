"""Training throughput of every learned link: samples/s and ms/step split into data / forward /
backward / optimizer, at batch 16 and 128 on 128 x 128 crops, plus the rate of fresh samples.

Configurations, measured side by side in one run on the same model, batch and data:

* ``legacy``: the trainer as it was before the device-resident path (float32 frames in host
  memory, one crop per batch, noise from a host generator, a host sync every step, float32,
  contiguous memory layout), re-enacted here step for step.
* ``device``: today's trainer step (:func:`semcom.train.data.draw_batch` on the device, noise
  drawn on the device, channels-last weights, bf16 autocast where the hardware runs it natively,
  no host sync).
* ``device+compile`` (``--compile``): the same with ``torch.compile`` (its one-off compilation
  time is reported apart and left out of the rate).

Phases are timed with a device synchronization between them (for the split only; the
``samples_per_s`` column comes from the same timed steps).  ``synthesis``: samples per second
of the source simulation: numpy, one process, for the ``photos`` / ``synth-blur`` training sets;
torch (``--fresh-data``) on the device, with and without the spike camera.

Usage: ``python benchmarks/train_throughput.py [--device cuda] [--compile] [--quick]``; writes
``results/train_throughput/<device>.csv`` and prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
LINKS = ("deepjscc", "deepjscc-deblur", "ev-jscc", "sp-jscc")


def _data(n: int, size: int, device: torch.device, spikes: bool):
    """Synthetic samples with the shapes and value ranges of synth-blur (fast to make)."""
    from semcom.train.data import TrainingData

    g = torch.Generator().manual_seed(0)
    sharp = torch.rand(n, 3, size, size, generator=g)
    blurry = 0.5 * (sharp + sharp.roll(3, -1))
    events = (torch.randn(n, 6, size, size, generator=g) * 4).round().clamp(-60, 60)
    spk = (torch.rand(n, 400, size // 4, size // 4, generator=g) < 0.2).to(torch.uint8) if spikes else None
    return TrainingData.from_float(sharp, blurry, events, describe={"name": "bench"}, spikes=spk,
                                   representation="scer", device=device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _legacy_batch(sharp, blurry, events, spikes, *, step: int, batch: int, crop: int):
    """The former trainer's batch: float32 host tensors, one crop and one flip pair per batch."""
    from semcom.sources.base import Batch
    from semcom.train.data import step_seed

    g = torch.Generator().manual_seed(step_seed(0, step, 0))
    idx = torch.randint(len(sharp), (batch,), generator=g)
    ts = [sharp[idx], blurry[idx], events[idx]]
    sp = None if spikes is None else spikes[idx]
    size = sharp.shape[-1]
    y = 4 * int(torch.randint((size - crop) // 4 + 1, (1,), generator=g))
    x = 4 * int(torch.randint((size - crop) // 4 + 1, (1,), generator=g))
    ts = [t[..., y:y + crop, x:x + crop] for t in ts]
    if sp is not None:
        sp = sp[..., y // 4:(y + crop) // 4, x // 4:(x + crop) // 4]
    flips = torch.rand(2, generator=g)
    for dim, f in ((-1, flips[0]), (-2, flips[1])):
        if f < 0.5:
            ts = [t.flip(dim) for t in ts]
            sp = None if sp is None else sp.flip(dim)
    return Batch(*(t.contiguous() for t in ts), spikes=None if sp is None else sp.contiguous())


def measure(link_name: str, *, batch: int, device: torch.device, mode: str, steps: int, size: int = 128):
    from semcom.link import Link, find_link
    from semcom.registry import CODECS
    from semcom.train.data import draw_batch, step_seed
    from semcom.train.schedules import get_schedule
    from semcom.train.losses import compute_loss
    from semcom.train.setup import bf16_supported
    from semcom.train.step import forward_step, set_trainable

    torch.manual_seed(0)
    link = Link(find_link(link_name), cbr=1 / 48, codec_overrides={"checkpoint": "none"}).to(device)
    cls = CODECS.get(link.spec.codec.name)
    stage = get_schedule(cls.default_schedule, steps=100, lr=1e-4)[-1]  # the end-to-end stage
    params = set_trainable(link, stage.trainable)
    opt = torch.optim.Adam(params, lr=1e-4)
    data = _data(max(64, batch), size + 32, device, cls.needs_spikes)
    legacy = mode == "legacy"
    amp = (not legacy) and bf16_supported(device)
    if legacy:
        host = [data.sharp.float().cpu() / 255, data.blurry.float().cpu() / 255, data.events.float().cpu(),
                None if data.spikes is None else data.spikes.cpu()]
    else:
        link.to(memory_format=torch.channels_last)
    compile_s = 0.0
    if mode.endswith("compile"):
        for module in (*link.codec.children(), *link.receiver.children()):
            module.compile()
    link.train()

    def model(b, snr_db, generator, stage, amp):
        # the trainer's pass: the link's forward step and the stage's loss under autocast
        with torch.autocast(device_type=snr_db.device.type, dtype=torch.bfloat16, enabled=amp):
            out = forward_step(link, b, snr_db=snr_db, generator=generator)
            loss = compute_loss(stage.loss, out, stage.params)
        return loss.float(), out.output.detach(), out.target

    phases = {"data": 0.0, "forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    t_total = 0.0
    warm = 3 if mode.endswith("compile") else 2
    for it in range(warm + steps):
        _sync(device)
        t0 = time.perf_counter()
        if legacy:
            b = _legacy_batch(*host, step=it, batch=batch, crop=size).to(device)
            snr = (20 * torch.rand(batch, generator=torch.Generator().manual_seed(it))).to(device)
            gen = torch.Generator().manual_seed(step_seed(0, it, 2))  # host draws, copied
        else:
            b = draw_batch(data, seed=0, step=it, batch_size=batch, crop=size)
            gs = torch.Generator(device=device).manual_seed(step_seed(0, it, 1))
            snr = 20 * torch.rand(batch, generator=gs, device=device)
            gen = torch.Generator(device=device).manual_seed(step_seed(0, it, 2))
        _sync(device)
        t1 = time.perf_counter()
        loss, _, _ = model(b, snr, gen, stage, amp)
        _sync(device)
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _sync(device)
        t3 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
        opt.step()
        if legacy:
            float(loss)  # the former trainer read the loss back every step
        _sync(device)
        t4 = time.perf_counter()
        if it < warm:
            compile_s += t4 - t0 if mode.endswith("compile") else 0.0
            continue
        for k, dt in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            phases[k] += dt
        t_total += t4 - t0
    ms = {k: 1e3 * v / steps for k, v in phases.items()}
    step_ms = 1e3 * t_total / steps
    return {"link": link_name, "device": str(device), "mode": mode, "batch": batch, "crop": size, "amp_bf16": amp,
            "samples_per_s": round(batch / (step_ms / 1e3), 1), "ms_per_step": round(step_ms, 1),
            **{f"{k}_ms": round(v, 1) for k, v in ms.items()},
            "data_share": round(ms["data"] / step_ms, 3), "compile_s": round(compile_s, 1),
            "params": sum(p.numel() for p in link.parameters())}


def synthesis_rate(dataset: str, n: int, size: int = 128) -> dict:
    """Fresh training samples per second of the numpy source simulation (one process, no cache)."""
    from semcom.registry import SOURCES

    try:
        ds = SOURCES.build(dataset, split="train", size=size, n=n, seed=123, cache=False)
    except Exception as exc:  # noqa: BLE001 - reported in the table, e.g. photos not installed
        return {"link": f"synthesis:{dataset}", "mode": "numpy", "note": str(exc).splitlines()[0]}
    t0 = time.perf_counter()
    for i in range(n):
        ds[i]
    dt = time.perf_counter() - t0
    return {"link": f"synthesis:{dataset}", "device": "cpu", "mode": "numpy", "batch": 1, "crop": size,
            "samples_per_s": round(n / dt, 2), "ms_per_step": round(1e3 * dt / n, 1)}


def fresh_rate(device: torch.device, *, batch: int = 16, size: int = 128, spikes: bool = False) -> dict:
    """Fresh samples per second of the torch simulator on ``device`` (dead leaves, events[, spikes])."""
    from semcom.sources.torchsim import FreshSource

    src = FreshSource(size=size, device=device, spikes=spikes)
    src.draw(seed=0, step=0, batch_size=2)  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    reps = 2
    for step in range(1, reps + 1):
        src.draw(seed=0, step=step, batch_size=batch)
    _sync(device)
    dt = (time.perf_counter() - t0) / reps
    return {"link": "synthesis:fresh" + ("+spikes" if spikes else ""), "device": str(device), "mode": "torch",
            "batch": batch, "crop": size, "samples_per_s": round(batch / dt, 2), "ms_per_step": round(1e3 * dt, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--links", default=",".join(LINKS))
    ap.add_argument("--batches", default="16,128")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--compile", action="store_true", help="also measure torch.compile (ev-jscc, batch 16)")
    ap.add_argument("--quick", action="store_true", help="ev-jscc at batch 16 only, legacy vs device")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    import semcom  # noqa: F401
    from semcom.bench.results import write_table

    device = torch.device(args.device)
    links = ["ev-jscc"] if args.quick else [s for s in args.links.split(",") if s]
    batches = [16] if args.quick else [int(b) for b in args.batches.split(",")]
    rows = []
    for name in links:
        for b in batches:
            modes = ["legacy", "device"]
            if args.compile and name == "ev-jscc" and b == 16:
                modes.append("device+compile")
            for mode in modes:
                row = measure(name, batch=b, device=device, mode=mode, steps=args.steps)
                rows.append(row)
                print(row, flush=True)
            base = next(r for r in rows if r["link"] == name and r["batch"] == b and r["mode"] == "legacy")
            for r in rows:
                if r["link"] == name and r["batch"] == b:
                    r["speedup_vs_legacy"] = round(r["samples_per_s"] / base["samples_per_s"], 2)
    if not args.quick:
        for ds in ("synth-blur", "photos"):
            rows.append(synthesis_rate(ds, n=8))
            print(rows[-1], flush=True)
        for spikes in (False, True):
            rows.append(fresh_rate(device, batch=16 if device.type == "cpu" else 128, spikes=spikes))
            print(rows[-1], flush=True)
    out = args.out or ROOT / "results" / "train_throughput" / f"{device.type}.csv"
    keys = list(dict.fromkeys(k for r in rows for k in r))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_table(out, [{k: r.get(k, "") for k in keys} for r in rows])
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
