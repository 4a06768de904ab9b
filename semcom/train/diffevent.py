"""Training of DiffEvent's three learned parts (issue 19), in this order:

1. **the event enhancement** :class:`~semcom.receivers.diffevent.EventEnhancer`: ``f(E) = E·exp(Δ)`` so that
   ``(y + ε) / f − ε`` is the sharp frame (L1 in sRGB), i.e. what EDI's double integral misses;
2. **the prior of x**: an epsilon-prediction U-Net on sharp frames (linear light mapped to [-1, 1]), the DDPM
   loss ``||ε − ε_θ(sqrt(ᾱ_t) x + sqrt(1 − ᾱ_t) ε, t)||²`` with ``t`` uniform over the 1000 steps;
3. **the prior of r**: the same on the EBRD residuals ``r = y + ε − f(E)·(x + ε)`` of the training frames
   (with the trained ``f``), in units ``ρ = 2r / k`` clipped to ±4; ``k`` (``r_gain``) puts 90 % of ``ρ`` in [-1, 1].

Data: the zoo's training corpus (source ``photos``: photographs from Debian packages and dead leaves), random
crops with flips; ``E`` from the SCER each sample carries, at the camera's nominal contrast.  Run as
``python -m semcom.train.diffevent --out DIR`` (or from ``semcom experiment diffevent``); it writes
``DIR/diffevent.ckpt`` (the receiver's weights, what ``build_receiver("diffevent", weights=...)`` loads) and
``DIR/log.csv`` (one row every ``log_every`` steps of each part, its ``stage`` column naming the part).

**Guidance selection** (issue 35): :func:`tune_guidance` scores a grid of sampler settings (``s``, ``λ``, ``s'``,
``λ'``, the step cap, the step spacing) with trained weights on frames of the ``synth-blur`` *training* split
(never the evaluation frames) and returns one row per setting, best first::

    python -m semcom.train.diffevent tune --weights shipped --frames 16 --size 128 --steps 20 \
        --out results/diffevent/tuning-published.csv
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
import torch.nn.functional as F

from semcom.colour import linear_to_srgb, srgb_to_linear
from semcom.errors import SemcomError
from semcom.train.stages import run_stage
from semcom.receivers.diffevent import DiffEvent, EpsUNet, EventEnhancer, noise_schedule, TRAIN_STEPS
from semcom.receivers.edi import edi_denominator_from_samples
from semcom.sources.events import LUMA_WEIGHTS
from semcom.sources.representations import scer_levels

__all__ = ["load_data", "event_denominator", "train_enhancer", "train_prior", "residual_gain", "save_receiver",
           "train_all", "guidance_grid", "tune_guidance", "TUNE_GRID"]

#: the event camera's log offset (the simulator's and EDI's default)
LOG_EPS = 1e-3


def load_data(*, n: int = 1024, size: int = 128, seed: int = 0, workers: int = 2, dataset: str = "photos"):
    """``n`` training samples (sharp, blurry, SCER) of ``dataset``."""
    from semcom.train.sources import load_training_data

    return load_training_data(dataset, size=size, n=n, seed=seed, split="train", workers=workers)


def _contrast(data: Any) -> float:
    try:
        return float(data.describe["camera"]["events"]["contrast"])
    except (KeyError, TypeError):
        raise SemcomError("diffevent training: the data does not state its event camera's contrast") from None


def event_denominator(scer: torch.Tensor, contrast: float) -> torch.Tensor:
    """EDI's ``E`` from an SCER batch ``(B, N, H, W)`` at one contrast: ``(B, 1, H, W)`` float32."""
    n = scer.shape[1]
    levels = scer_levels(scer.to(torch.float64))
    times = torch.linspace(0.0, 1.0, n + 1, dtype=torch.float64)
    return edi_denominator_from_samples(levels, times, contrast=contrast).unsqueeze(1).float()


def _luminance(lin: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(LUMA_WEIGHTS, dtype=lin.dtype).view(1, 3, 1, 1)
    return (lin * w).sum(1, keepdim=True)


def _draw(data: Any, step: int, *, seed: int, batch_size: int, crop: int, contrast: float
          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(sharp, blurry, E)`` of one batch: linear light, linear light, the event double integral."""
    b = data.draw(seed=seed, step=step, batch_size=batch_size, crop=crop)
    if b.events is None:
        raise SemcomError("diffevent training needs samples with events (SCER)")
    return srgb_to_linear(b.sharp.float()), srgb_to_linear(b.blurry.float()), event_denominator(b.events, contrast)


def train_enhancer(data: Any, *, steps: int = 800, batch_size: int = 8, crop: int = 96, lr: float = 1e-3,
                   seed: int = 0, width: int = 32, log: Path | None = None, log_every: int = 50,
                   progress: bool = True) -> EventEnhancer:
    """The learned ``f(E)``: ``(y + ε)/f − ε`` against the sharp frame, L1 in sRGB."""
    net = EventEnhancer(width=width)
    c = _contrast(data)

    def loss_fn(step: int) -> torch.Tensor:
        sharp, blurry, denom = _draw(data, step, seed=seed, batch_size=batch_size, crop=crop, contrast=c)
        f = net(denom, _luminance(blurry))
        latent = ((blurry + LOG_EPS) / f - LOG_EPS).clamp(0.0, 1.0)
        return F.l1_loss(linear_to_srgb(latent), linear_to_srgb(sharp))

    run_stage("enhancer", list(net.parameters()), loss_fn, steps=steps, lr=lr, log=log, log_every=log_every,
          progress=progress, clip_grad=1.0)
    return net.eval()


def _residual(sharp: torch.Tensor, blurry: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """``2r`` of the EBRD: ``2(y + ε − f·(x + ε))`` (the sampler's units before the gain)."""
    return 2.0 * (blurry + LOG_EPS - f * (sharp + LOG_EPS))


def residual_gain(data: Any, enhancer: EventEnhancer, *, batches: int = 16, batch_size: int = 8, crop: int = 96,
                  seed: int = 1) -> float:
    """``k``: the 90th percentile of ``|2r|`` over ``batches`` training batches, so that 90 % of ``ρ = 2r / k``
    lies in [-1, 1].  A percentile, not the standard deviation: the residuals have heavy tails (pixels where
    ``E`` is far off: on the photos corpus the standard deviation of ``2r`` is 27 where its median is 0.03)."""
    c = _contrast(data)
    vals = []
    with torch.no_grad():
        for step in range(1, batches + 1):
            sharp, blurry, denom = _draw(data, step, seed=seed, batch_size=batch_size, crop=crop, contrast=c)
            v = _residual(sharp, blurry, enhancer(denom, _luminance(blurry))).abs().flatten()
            vals.append(v[torch.randperm(v.numel(), generator=torch.Generator().manual_seed(step))[:20000]])
    return max(float(torch.quantile(torch.cat(vals), 0.9)), 1e-4)


#: the residual prior's training data is clipped to this magnitude (the sampler clips its estimates alike)
R_CLIP = 4.0


def train_prior(data: Any, target: str, *, enhancer: EventEnhancer | None = None, r_gain: float = 1.0,
                steps: int = 3000, batch_size: int = 12, crop: int = 64, lr: float = 2e-4, seed: int = 0,
                width: int = 32, log: Path | None = None, log_every: int = 50, progress: bool = True) -> EpsUNet:
    """The DDPM (epsilon) prior of ``target``: ``"x"`` (sharp frames) or ``"r"`` (EBRD residuals)."""
    if target not in ("x", "r"):
        raise ValueError(f"target must be 'x' or 'r', got {target!r}")
    if target == "r" and enhancer is None:
        raise ValueError("the prior of r needs the trained enhancement (its residuals are the data)")
    net = EpsUNet(3, width)
    abar = noise_schedule().float()
    c = _contrast(data)
    gen = torch.Generator().manual_seed(seed + 17)

    def loss_fn(step: int) -> torch.Tensor:
        sharp, blurry, denom = _draw(data, step, seed=seed, batch_size=batch_size, crop=crop, contrast=c)
        if target == "x":
            x0 = 2.0 * sharp - 1.0
        else:
            with torch.no_grad():
                x0 = (_residual(sharp, blurry, enhancer(denom, _luminance(blurry))) / r_gain).clamp(-R_CLIP, R_CLIP)
        t = torch.randint(0, TRAIN_STEPS, (x0.shape[0],), generator=gen)
        a = abar[t].view(-1, 1, 1, 1)
        noise = torch.randn(x0.shape, generator=gen)
        return F.mse_loss(net(a.sqrt() * x0 + (1 - a).sqrt() * noise, t), noise)

    run_stage(f"prior-{target}", list(net.parameters()), loss_fn, steps=steps, lr=lr, log=log, log_every=log_every,
          progress=progress, clip_grad=1.0)
    return net.eval()


def save_receiver(path: Path, *, enhancer: EventEnhancer, prior_x: EpsUNet, prior_r: EpsUNet, r_gain: float,
                  training: dict[str, Any]) -> Path:
    """Store the three networks as the receiver weights of link ``diffevent`` (what
    ``build_receiver("diffevent", weights=path)`` loads)."""
    from semcom.zoo.store import save_checkpoint

    rx = DiffEvent(width=prior_x.width, enhancer_width=enhancer.inp.out_channels)
    rx.enhancer.load_state_dict(enhancer.state_dict())
    rx.prior_x.load_state_dict(prior_x.state_dict())
    rx.prior_r.load_state_dict(prior_r.state_dict())
    rx.r_gain.fill_(float(r_gain))
    state = {k: v.detach().cpu() for k, v in rx.state_dict().items()}
    meta = {"link": "diffevent", "codec": "softcast", "cbr": 1.0, "cbr_label": "1", "snr_mode": "single",
            "snr_db": 0.0, "step": sum(int(training.get(k) or 0) for k in ("steps_f", "steps_x", "steps_r")),
            "config": {},
            "receiver": {"name": "diffevent", "width": prior_x.width}, "training": training}
    save_checkpoint(path, meta=meta, codec={}, receiver=state, train=None)
    return path


def train_all(out: Path, *, data: Any, steps_f: int = 800, steps_x: int = 3000, steps_r: int = 1500,
              width: int = 32, enhancer_width: int = 32, crop: int | None = None, progress: bool = True) -> Path:
    """All three parts in order; returns the receiver checkpoint ``out/diffevent.ckpt``.  ``crop`` replaces
    each part's default crop (96 for the enhancement, 64 for the priors)."""
    out.mkdir(parents=True, exist_ok=True)
    log = out / "log.csv"
    if log.exists():
        log.unlink()
    t0 = time.perf_counter()
    cf, cp = (crop, crop) if crop else (96, 64)
    enhancer = train_enhancer(data, steps=steps_f, width=enhancer_width, crop=cf, log=log, progress=progress)
    prior_x = train_prior(data, "x", steps=steps_x, width=width, crop=cp, log=log, progress=progress)
    k = residual_gain(data, enhancer, crop=cf)
    prior_r = train_prior(data, "r", enhancer=enhancer, r_gain=k, steps=steps_r, width=width, crop=cp, log=log,
                          progress=progress)
    training = {"steps_f": steps_f, "steps_x": steps_x, "steps_r": steps_r, "r_gain": k, "n_train": len(data),
                "dataset": data.describe.get("dataset"), "seconds": round(time.perf_counter() - t0, 1)}
    return save_receiver(out / "diffevent.ckpt", enhancer=enhancer, prior_x=prior_x, prior_r=prior_r, r_gain=k,
                         training=training)


#: the default grid of :func:`tune_guidance` for the published sampler (2 x 3 x 2 x 2 x 2 = 48 settings; the step
#: spacing is quadratic throughout): ``s``; ``lam_rel``, the TV weight relative to ``s`` (``λ = lam_rel · s``);
#: ``s'``; ``λ'``; the cap share ``η``.  Centred on the tiny run's best (s = 1e4, λ = 100, s' = 1e-3, λ' = 3, η = 0.9)
TUNE_GRID: dict[str, tuple] = {"s": (1e3, 1e4), "lam_rel": (0.0, 1e-3, 1e-2), "s_r": (1e-3, 1.0),
                               "lam_r": (1.0, 3.0), "cap": (0.9, 0.95)}


def guidance_grid(**axes: Iterable[Any]) -> list[dict[str, Any]]:
    """Every combination of the given axes (receiver options, plus ``lam_rel``: ``lam = lam_rel · s``), in
    order; e.g. ``guidance_grid(s=(10, 100), lam_rel=(0, 0.01))`` gives four settings."""
    names = list(axes)
    out = []
    for values in itertools.product(*(tuple(axes[n]) for n in names)):
        g = dict(zip(names, values))
        if "lam_rel" in g:
            g["lam"] = float(g.pop("lam_rel")) * float(g.get("s", 1.0))
        out.append(g)
    return out


def tune_guidance(grid: Iterable[Mapping[str, Any]], *, weights: str | Path = "shipped", frames: int = 16,
                  size: int = 128, steps: int = 20, sampler: str = "published", seed: int = 7,
                  batch_size: int = 4, progress: bool = False, **receiver: Any) -> list[dict[str, Any]]:
    """Score each setting of ``grid`` (receiver options: ``s``, ``s_r``, ``lam``, ``lam_r``, ``cap``,
    ``spacing``, ...) by DiffEvent's PSNR / SSIM against the sharp frames of ``frames`` samples of the
    ``synth-blur`` **training** split (``size``², ``seed``: never the evaluation frames, which are the test
    split), with the trained ``weights``, ``steps`` sampling steps and the sampler ``sampler``.  The same
    frames and sampling seed for every setting (paired).  ``receiver``: further options for every setting.

    Returns one row per setting, best PSNR first: the setting, ``steps``, ``frames``, ``size``, ``psnr``,
    ``ssim`` (means over the frames), ``r_abs_max`` (the largest returned ``|r|``, linear light) and
    ``seconds_per_frame``.
    """
    from semcom.metrics.functional import psnr, ssim
    from semcom.registry import SOURCES
    from semcom.sources.base import collate
    from semcom.zoo.build import build_receiver

    if frames < 1 or size < 16 or steps < 1 or batch_size < 1:
        raise ValueError("tune_guidance: frames, steps and batch_size must be positive, size at least 16")
    ds = SOURCES.build("synth-blur", split="train", size=size, n=frames, seed=seed)
    batches = [collate([ds[i] for i in range(j, min(j + batch_size, frames))]) for j in range(0, frames, batch_size)]
    sharp = torch.cat([b.sharp for b in batches])
    rows = []
    for g in grid:
        options = {"sampler": sampler, "steps": steps, **receiver, **g}
        rx = build_receiver("diffevent", weights=weights, **options).eval()
        t0 = time.perf_counter()
        outs = [rx.sample(b.blurry, batch=b) for b in batches]
        secs = (time.perf_counter() - t0) / frames
        image = torch.cat([o.image for o in outs])
        row = {**{k: g[k] for k in g}, "steps": g.get("steps", steps), "frames": frames, "size": size,
               "psnr": round(float(psnr(image, sharp).mean()), 4), "ssim": round(float(ssim(image, sharp).mean()), 5),
               "r_abs_max": round(max(float(o.residual.abs().max()) for o in outs), 5),
               "seconds_per_frame": round(secs, 3)}
        rows.append(row)
        if progress:
            print(f"tune {dict(g)}: {row['psnr']:.2f} dB ({secs:.2f} s/frame)", file=sys.stderr, flush=True)
    return sorted(rows, key=lambda r: -r["psnr"])


def tune_main(argv: list[str] | None = None) -> int:
    """``python -m semcom.train.diffevent tune``: :func:`tune_guidance` over :data:`TUNE_GRID` (or a smaller
    grid), written as a CSV (best first)."""
    ap = argparse.ArgumentParser(prog="python -m semcom.train.diffevent tune",
                                 description="choose DiffEvent's guidance on training frames (never the test split)")
    ap.add_argument("--out", required=True, help="CSV to write (one row a setting, best first)")
    ap.add_argument("--weights", default="shipped")
    ap.add_argument("--sampler", default="published")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    for name, values in TUNE_GRID.items():
        ap.add_argument(f"--{name.replace('_', '-')}", type=float, nargs="+", default=list(values))
    ap.add_argument("--spacing", nargs="+", default=["quadratic"])
    args = ap.parse_args(argv)
    from semcom.bench.results import write_table

    try:
        grid = guidance_grid(**{n: getattr(args, n) for n in TUNE_GRID}, spacing=args.spacing)
        rows = tune_guidance(grid, weights=args.weights, frames=args.frames, size=args.size, steps=args.steps,
                             sampler=args.sampler, seed=args.seed, progress=True)
    except (SemcomError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    print(write_table(args.out, rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["tune"]:
        return tune_main(argv[1:])
    ap = argparse.ArgumentParser(description="train DiffEvent's event enhancement and its two diffusion priors")
    ap.add_argument("--out", required=True, help="folder for diffevent.ckpt and log.csv")
    ap.add_argument("--steps-f", type=int, default=800, help="steps of the event enhancement")
    ap.add_argument("--steps-x", type=int, default=3000, help="steps of the prior of x")
    ap.add_argument("--steps-r", type=int, default=1500, help="steps of the prior of r")
    ap.add_argument("--n-train", type=int, default=1024)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--dataset", default="photos", help="training source (photos: the zoo's corpus)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        for name in ("steps_f", "steps_x", "steps_r", "n_train", "size"):
            if getattr(args, name) < 1:
                raise SemcomError(f"--{name.replace('_', '-')} must be positive")
        data = load_data(n=args.n_train, size=args.size, workers=args.workers, dataset=args.dataset)
        ckpt = train_all(Path(args.out), data=data, steps_f=args.steps_f, steps_x=args.steps_x,
                         steps_r=args.steps_r)
    except SemcomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(ckpt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
