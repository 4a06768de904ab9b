"""Train a link's learned modules (codec, receiver) through a differentiable channel.

:func:`train` builds the :class:`~semcom.link.Link` with an untrained codec, keeps the training
frames in memory (generated once by the dataset, which caches them on disk), and runs a
:data:`~semcom.train.schedules.Schedule` of stages with Adam and a learning-rate schedule.

Determinism and resuming: every random draw of step ``t`` (batch indices, flips, crop offsets,
per-sample SNRs, channel noise) comes from generators seeded with ``(seed, t)``, and model
initialization from ``seed``; so an interrupted run resumed from its last checkpoint (which
holds weights, Adam state and the step) ends with the same weights as an uninterrupted run.

Outputs: the checkpoint ``out`` (a :mod:`semcom.zoo.store` file; rewritten every
``checkpoint_every`` steps and at the end) and ``out`` with suffix ``.csv``: the metrics log
(step, stage, loss, PSNR of the output against the target, learning rate, seconds).

Example:
    >>> train("deepjscc", cbr=1/48, snr_range=(0, 20), steps=200, out="ckpt/dj.ckpt")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import inspect
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from semcom.conventions import format_cbr
from semcom.errors import SemcomError
from semcom.link import Link, LinkOutput, find_link
from semcom.registry import CODECS, SOURCES
from semcom.sources.base import Batch
from semcom.train.losses import StepOutput, compute_loss
from semcom.train.schedules import Schedule, Stage, get_schedule, schedule_as_dicts
from semcom.zoo.store import load_checkpoint, same_cbr, save_checkpoint

__all__ = ["TrainConfig", "TrainResult", "TrainingData", "train", "train_schedule", "forward_step",
           "load_training_data", "set_trainable", "default_out"]

LOG_FIELDS = ("step", "stage", "loss", "psnr", "lr", "snr_mean", "seconds")


@dataclass(frozen=True)
class TrainConfig:
    """What determines the trained weights (compared when resuming)."""

    link: str
    cbr: float
    snr_db: float | None
    snr_range: tuple[float, float] | None
    steps: int
    seed: int
    batch_size: int
    lr: float
    dataset: str
    size: int
    crop: int | None
    n_train: int
    schedule: str
    lam: float
    grad_clip: float | None
    init: str | None
    dataset_params: tuple[tuple[str, Any], ...] = ()
    warm_start: str | None = None
    codec_params: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did.

    Args:
        checkpoint: path of the final checkpoint.
        log: path of the metrics CSV.
        steps: total steps of the schedule.
        resumed_from: the step the run resumed from (0 for a fresh run).
        final_loss: mean loss over the last logged window (``nan`` if no step ran).
        seconds: wall time of this call.
    """

    checkpoint: Path
    log: Path
    steps: int
    resumed_from: int
    final_loss: float
    seconds: float


@dataclass(frozen=True)
class TrainingData:
    """Training frames held in memory: ``sharp``, ``blurry`` ``(N, 3, S, S)``, ``events`` ``(N, C, S, S)``."""

    sharp: torch.Tensor
    blurry: torch.Tensor
    events: torch.Tensor | None
    describe: dict[str, Any]
    spikes: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.sharp.shape[0])


def _build_source(dataset: str, *, size: int, n: int, seed: int, split: str, params: dict[str, Any]):
    if dataset not in SOURCES:
        raise SemcomError(SOURCES.unknown_message(dataset))
    kwargs: dict[str, Any] = {"split": split, "size": int(size), "seed": int(seed)}
    if dataset == "skimage":
        kwargs.update(crops_per_picture=max(1, math.ceil(n / 10)), limit=n)
    else:
        kwargs["n"] = int(n)
    kwargs.update(params)
    try:
        return SOURCES.build(dataset, **kwargs)
    except TypeError as exc:
        raise SemcomError(f"cannot build training data {dataset!r}: {exc}") from None


def _samples(args: tuple[str, int, int, int, str, dict[str, Any], list[int]]) -> list[tuple]:
    """Worker: generate samples ``indices`` (the dataset caches them on disk)."""
    dataset, size, n, seed, split, params, indices, spikes = args
    torch.set_num_threads(1)
    import semcom  # noqa: F401  (fill the registries in a fresh process)

    ds = _build_source(dataset, size=size, n=n, seed=seed, split=split, params=params)
    out = []
    for i in indices:
        s = ds[i]
        out.append((s.sharp, s.blurry, s.events, s.spikes if spikes else None))
    return out


def load_training_data(dataset: str, *, size: int, n: int, seed: int, split: str = "train",
                       params: dict[str, Any] | None = None, workers: int = 0,
                       spikes: bool = False) -> TrainingData:
    """Generate (or read from the dataset's disk cache) ``n`` training samples and stack them.

    Args:
        dataset: a registered source; built with ``split``, ``size``, ``n`` (``limit`` for
            ``skimage``), ``seed`` and ``params``.
        workers: generate samples in this many processes (0 or 1: in this one).
        spikes: keep the spike streams too (for codecs with spike side information).
    """
    params = dict(params or {})
    ds = _build_source(dataset, size=size, n=n, seed=seed, split=split, params=params)
    count = min(len(ds), int(n))
    if count == 0:
        raise SemcomError(f"dataset {dataset!r} gave no training samples")
    if workers and workers > 1 and count > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        chunks = [list(range(count))[k::workers] for k in range(workers)]
        jobs = [(dataset, size, n, seed, split, params, c, spikes) for c in chunks if c]
        with ProcessPoolExecutor(len(jobs), mp_context=mp.get_context("spawn")) as pool:
            parts = list(pool.map(_samples, jobs))
        triples: list[tuple | None] = [None] * count
        for chunk, part in zip((j[-1] for j in jobs), parts):
            for i, t in zip(chunk, part):
                triples[i] = t
    else:
        triples = [(s.sharp, s.blurry, s.events, s.spikes if spikes else None) for s in (ds[i] for i in range(count))]
    sharp = torch.stack([t[0] for t in triples]).float()
    blurry = torch.stack([t[1] for t in triples]).float()
    events = None
    if all(t[2] is not None for t in triples):
        events = torch.stack([t[2] for t in triples]).float()
    spike_stack = None
    if spikes:
        if any(t[3] is None for t in triples):
            raise SemcomError(f"training data {dataset!r} has no spike streams (a spike codec needs them)")
        spike_stack = torch.stack([torch.as_tensor(t[3]) for t in triples])
    info = ds.describe() if hasattr(ds, "describe") else {"name": dataset}
    return TrainingData(sharp, blurry, events, {**info, "n": count}, spike_stack)


def _step_seed(seed: int, step: int, stream: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(step), int(stream)]).generate_state(1, dtype=np.uint64)[0]
               & 0x7FFF_FFFF_FFFF_FFFF)


def _make_batch(data: TrainingData, *, step: int, seed: int, batch_size: int, crop: int | None) -> Batch:
    """The batch of step ``step``: random samples, random crop, random flips (all from (seed, step))."""
    g = torch.Generator().manual_seed(_step_seed(seed, step, 0))
    idx = torch.randint(len(data), (batch_size,), generator=g)
    tensors = [data.sharp[idx], data.blurry[idx], None if data.events is None else data.events[idx]]
    spikes = None if data.spikes is None else data.spikes[idx]
    size = data.sharp.shape[-1]
    if crop is not None and crop < size:
        if spikes is not None:  # crop on the spike camera's grid, so both views stay aligned
            scale = size // spikes.shape[-1]
            if crop % scale:
                raise SemcomError(f"crop {crop} is not a multiple of the spike camera's scale {scale}")
            y = scale * int(torch.randint((size - crop) // scale + 1, (1,), generator=g))
            x = scale * int(torch.randint((size - crop) // scale + 1, (1,), generator=g))
            spikes = spikes[..., y // scale:(y + crop) // scale, x // scale:(x + crop) // scale]
        else:
            y = int(torch.randint(size - crop + 1, (1,), generator=g))
            x = int(torch.randint(size - crop + 1, (1,), generator=g))
        tensors = [None if t is None else t[..., y:y + crop, x:x + crop] for t in tensors]
    flips = torch.rand(2, generator=g)
    # flipping the frame flips the events spatially too (their temporal order is unchanged)
    for dim, f in ((-1, flips[0]), (-2, flips[1])):
        if f < 0.5:
            tensors = [None if t is None else t.flip(dim) for t in tensors]
            spikes = None if spikes is None else spikes.flip(dim)
    sharp, blurry, events = (None if t is None else t.contiguous() for t in tensors)
    return Batch(sharp=sharp, blurry=blurry, events=events, spikes=None if spikes is None else spikes.contiguous())


def _snr_for_step(cfg: TrainConfig, *, step: int, batch_size: int) -> torch.Tensor:
    if cfg.snr_range is None:
        return torch.full((batch_size,), float(cfg.snr_db))
    g = torch.Generator().manual_seed(_step_seed(cfg.seed, step, 1))
    lo, hi = cfg.snr_range
    return lo + (hi - lo) * torch.rand(batch_size, generator=g)


def forward_step(link: Link, batch: Batch, *, snr_db: torch.Tensor,
                 generator: torch.Generator | None = None) -> StepOutput:
    """One differentiable pass through the link (no clamping of the output), for the losses.

    Codecs that expose intermediate reconstructions implement ``transmit_train`` returning an
    object with ``transmission``, ``reception`` and ``aux``; others fall back to ``transmit``.
    """
    codec = link.codec
    if hasattr(codec, "transmit_train"):
        res = codec.transmit_train(batch, link.channel, snr_db=snr_db, generator=generator)
        tx, rx, aux = res.transmission, res.reception, dict(res.aux)
    else:
        tx, rx = codec.transmit(batch, link.channel, snr_db=snr_db, generator=generator)
        aux = {}
    output = link.receiver(rx.image, events=rx.events, batch=batch)
    return StepOutput(batch, output, link.target(batch), tx, rx, aux)


def set_trainable(link: torch.nn.Module, prefixes: tuple[str, ...]) -> list[torch.nn.Parameter]:
    """Freeze every parameter of ``link`` except those under ``prefixes``; return the trainable ones.

    Raises:
        SemcomError: a prefix that names no module of the link (a typo in a schedule).
    """
    modules = dict(link.named_modules())
    for p in prefixes:
        if p not in modules:
            raise SemcomError(f"schedule names module {p!r}, which this link does not have "
                              f"(top-level modules: {', '.join(n for n in modules if n and '.' not in n)})")
    params = []
    for name, param in link.named_parameters():
        on = any(name == p or name.startswith(p + ".") for p in prefixes)
        param.requires_grad_(on)
        if on:
            params.append(param)
    return params


def default_out(link: str, cbr: float, snr_db: float | None, snr_range: tuple[float, float] | None) -> Path:
    inv = 1.0 / cbr
    cbr_txt = f"1-{round(inv)}" if abs(inv - round(inv)) < 1e-6 else f"{cbr:.4g}"
    mode = "adaptive" if snr_range is not None else f"snr{snr_db:g}"
    return Path("checkpoints") / f"{link}-cbr{cbr_txt}-{mode}.ckpt"


def _psnr_from_mse(mse: float) -> float:
    return float("inf") if mse <= 0 else -10.0 * math.log10(mse)


class _Log:
    """The metrics CSV; on resume, rows after the resumed step are dropped."""

    def __init__(self, path: Path, *, resume_step: int) -> None:
        self.path = path
        rows: list[dict[str, str]] = []
        if resume_step > 0 and path.exists():
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            w.writeheader()
            w.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=LOG_FIELDS).writerow(row)


def _stage_at(schedule: Schedule, step: int) -> tuple[int, int]:
    """(stage index, step inside the stage) of global step ``step``."""
    start = 0
    for i, st in enumerate(schedule):
        if step < start + st.steps:
            return i, step - start
        start += st.steps
    return len(schedule), 0


def train_schedule(link: Link, data: TrainingData, schedule: Schedule, cfg: TrainConfig, *, out: Path,
                   device: torch.device, checkpoint_every: int, log_every: int, progress: bool,
                   stop_after: int | None = None, meta_extra: dict[str, Any] | None = None,
                   on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """Run (or resume) ``schedule`` on ``link``; see :func:`train` for the arguments."""
    t_start = time.perf_counter()
    total = sum(s.steps for s in schedule)
    key = json.dumps({**asdict(cfg), "schedule_stages": schedule_as_dicts(schedule)}, sort_keys=True)
    step, opt_state, opt_stage, resumed_from = 0, None, -1, 0
    if out.exists():
        ck = load_checkpoint(out)
        if ck.train is None or ck.train.get("config_key") != key:
            raise SemcomError(f"{out} exists and was made by a different training configuration; "
                              "pass --overwrite to start again, or choose another --out")
        link.codec.load_state_dict(ck.codec)
        link.receiver.load_state_dict(ck.receiver)
        step = resumed_from = int(ck.train["step"])
        opt_state = ck.train.get("optimizer")
        opt_stage = int(ck.train.get("stage", -1))
    link.to(device)
    log = _Log(out.with_suffix(".csv"), resume_step=step)
    codec_cfg = link.codec.config() if hasattr(link.codec, "config") else {}

    def save(at: int, optimizer: torch.optim.Optimizer | None, seconds: float) -> None:
        meta = {"link": link.name, "codec": link.spec.codec.name, "cbr": link.cbr, "cbr_label": format_cbr(link.cbr),
                "snr_mode": "adaptive" if cfg.snr_range is not None else "single",
                "snr_db": cfg.snr_db, "snr_range": list(cfg.snr_range) if cfg.snr_range else None,
                "step": at, "config": codec_cfg,
                "training": {**asdict(cfg), "schedule_stages": schedule_as_dicts(schedule), "data": data.describe,
                             "seconds": round(seconds, 1), "device": str(device), **(meta_extra or {})}}
        train_state = {"step": at, "config_key": key, "stage": current_stage,
                       "optimizer": optimizer.state_dict() if optimizer is not None else {}}
        save_checkpoint(out, meta=meta, codec=link.codec.state_dict(), receiver=link.receiver.state_dict(),
                        train=train_state)

    bar = tqdm(total=total, initial=step, desc=f"train {link.name} cbr {format_cbr(link.cbr)}", unit="step",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    window: list[float] = []
    last_loss = float("nan")
    optimizer: torch.optim.Optimizer | None = None
    current_stage = -1
    t_run = time.perf_counter()
    try:
        while step < total:
            si, sstep = _stage_at(schedule, step)
            stage: Stage = schedule[si]
            if si != current_stage:
                params = set_trainable(link, stage.trainable)
                if not params:
                    raise SemcomError(f"stage {stage.name!r} has no trainable parameters in link {link.name!r}")
                optimizer = torch.optim.Adam(params, lr=stage.lr)
                if opt_state and opt_stage == si:  # resuming inside the stage the state belongs to
                    optimizer.load_state_dict(opt_state)
                opt_state = None
                current_stage = si
            assert optimizer is not None
            lr = stage.lr_at(sstep)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = _make_batch(data, step=step, seed=cfg.seed, batch_size=cfg.batch_size, crop=cfg.crop).to(device)
            snr = _snr_for_step(cfg, step=step, batch_size=cfg.batch_size).to(device)
            gen = torch.Generator().manual_seed(_step_seed(cfg.seed, step, 2))  # CPU draws, any device
            link.train()
            out_step = forward_step(link, batch, snr_db=snr, generator=gen)
            loss = compute_loss(stage.loss, out_step, stage.params)
            if not torch.isfinite(loss):
                raise SemcomError(f"training diverged at step {step} (loss {loss.item()}); lower --lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(optimizer.param_groups[0]["params"], cfg.grad_clip)
            optimizer.step()
            step += 1
            value = float(loss.detach())
            window.append(value)
            if on_step is not None:
                on_step(step, value)
            bar.update(1)
            if step % log_every == 0 or step == total:
                with torch.no_grad():
                    mse = float(torch.mean((out_step.output.detach().clamp(0, 1) - out_step.target) ** 2))
                last_loss = float(np.mean(window))
                log.write({"step": step, "stage": stage.name, "loss": f"{last_loss:.6g}",
                           "psnr": f"{_psnr_from_mse(mse):.4f}", "lr": f"{lr:.4g}",
                           "snr_mean": f"{float(snr.mean()):.3f}",
                           "seconds": f"{time.perf_counter() - t_run:.2f}"})
                bar.set_postfix(stage=stage.name, loss=f"{last_loss:.4g}", psnr=f"{_psnr_from_mse(mse):.2f}")
                window = []
            if step % checkpoint_every == 0 or step == total or (stop_after is not None and step >= stop_after):
                save(step, optimizer, time.perf_counter() - t_run)
            if stop_after is not None and step >= stop_after and step < total:
                break
    except KeyboardInterrupt:
        save(step, optimizer, time.perf_counter() - t_run)
        bar.close()
        raise
    bar.close()
    if window:
        last_loss = float(np.mean(window))
    link.eval()
    for p in link.parameters():
        p.requires_grad_(True)
    return TrainResult(out, out.with_suffix(".csv"), total, resumed_from, last_loss, time.perf_counter() - t_start)


def copy_matching(codec: torch.nn.Module, path: str | Path, *, cbr: float) -> list[str]:
    """Copy the tensors of checkpoint ``path`` whose name and shape match into ``codec``.

    Returns the copied names; a checkpoint for another CBR, or one that shares no tensor with
    the codec, is an error.
    """
    ck = load_checkpoint(path)
    if not same_cbr(float(ck.meta.get("cbr", -1)), cbr):
        raise SemcomError(f"--warm-start {path} is for CBR {ck.meta.get('cbr_label', ck.meta.get('cbr'))}, "
                          f"not {format_cbr(cbr)}")
    own = codec.state_dict()
    matched = {k: v for k, v in ck.codec.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    if not matched:
        raise SemcomError(f"--warm-start {path} shares no tensor with codec {type(codec).__name__}")
    codec.load_state_dict({k: v.to(own[k].dtype) for k, v in matched.items()}, strict=False)
    return sorted(matched)


def train(link_name: str, *, cbr: float, snr_db: float | None = None,
          snr_range: tuple[float, float] | None = None, steps: int = 20000, out: str | Path | None = None,
          seed: int = 0, batch_size: int = 8, lr: float = 5e-4, dataset: str = "synth-blur", size: int = 128,
          crop: int | None = None, n_train: int = 512, schedule: str | None = None, lam: float = 1.0,
          grad_clip: float | None = 1.0, init: str | None = None, device: str = "cpu",
          checkpoint_every: int = 500, log_every: int = 10, progress: bool = True, overwrite: bool = False,
          stop_after: int | None = None, data: TrainingData | None = None,
          codec_params: dict[str, Any] | None = None, dataset_params: dict[str, Any] | None = None,
          workers: int = 0, warm_start: str | Path | None = None) -> TrainResult:
    """Train the learned modules of a link and write a resumable checkpoint.

    Args:
        link_name: link name or TOML path (``deepjscc``, ``deepjscc-deblur``, ...).
        cbr: channel bandwidth ratio.
        snr_db: train at this one SNR (the paper's protocol; the codec is built non-adaptive).
        snr_range: ``(lo, hi)`` dB; every sample draws its SNR uniformly (SNR-adaptive codec).
        steps: optimizer steps in total (split among the stages of a multi-stage schedule).
        out: checkpoint path (default ``checkpoints/<link>-cbr<R>-<mode>.ckpt``); the metrics
            log is the same path with suffix ``.csv``.  An existing file of the same
            configuration is resumed; of another configuration is an error unless ``overwrite``.
        seed: seeds initialization and every per-step draw.
        batch_size, lr: Adam batch size and peak learning rate.
        dataset: training source (``synth-blur``), its ``train`` split; ``size`` the frame side,
            ``n_train`` the number of frames kept in memory, ``crop`` an optional random crop.
        schedule: a name in :data:`semcom.train.schedules.SCHEDULES`; ``lam`` its event weight.
            ``None``: the codec class's ``default_schedule`` (``"ev-jscc"`` for EV-JSCC), else ``"single"``.
        grad_clip: clip the gradient norm (``None``: no clipping).
        init: a checkpoint to start from instead of random initialization (same codec and CBR).
        warm_start: a checkpoint of *another* codec (same CBR) whose tensors of the same name and
            shape are copied in before training, e.g. DeepJSCC's encoder and decoder into
            DeepJSCC-Deblur; the rest keeps its initialization.
        device: ``"cpu"`` or ``"cuda"``.
        checkpoint_every, log_every: steps between checkpoints and metric rows.
        stop_after: stop (as if interrupted) after this step, with a checkpoint written.
        data: training frames already in memory (skips ``dataset``).
        codec_params: extra codec constructor arguments (architecture, e.g. ``width``).
        dataset_params: extra source arguments (e.g. ``{"spikes": False}``).
        workers: processes that generate the training frames (first run; later runs read the cache).

    Returns:
        a :class:`TrainResult`.
    """
    if (snr_db is None) == (snr_range is None):
        raise SemcomError("give exactly one of --snr (single-SNR training) or --snr-range A:B (SNR-adaptive)")
    if snr_range is not None:
        lo, hi = float(snr_range[0]), float(snr_range[1])
        if not hi >= lo:
            raise SemcomError(f"--snr-range must be A:B with A <= B, got {snr_range}")
        snr_range = (lo, hi)
    for name, value in (("steps", steps), ("batch_size", batch_size), ("size", size), ("n_train", n_train),
                        ("checkpoint_every", checkpoint_every), ("log_every", log_every)):
        if int(value) != value or value < 1:
            raise SemcomError(f"{name} must be a positive integer, got {value}")
    if crop is not None and (crop < 16 or crop > size):
        raise SemcomError(f"crop must lie in [16, size={size}], got {crop}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SemcomError("--device cuda asked for, but torch sees no CUDA device")
    spec = find_link(link_name)
    if schedule is None:
        schedule = getattr(CODECS.get(spec.codec.name), "default_schedule", "single")
    out = Path(out) if out is not None else default_out(spec.name, cbr, snr_db, snr_range)
    if overwrite:
        out.unlink(missing_ok=True)
        out.with_suffix(".csv").unlink(missing_ok=True)
    cfg = TrainConfig(link=spec.name, cbr=float(cbr), snr_db=None if snr_db is None else float(snr_db),
                      snr_range=snr_range, steps=int(steps), seed=int(seed), batch_size=int(batch_size),
                      lr=float(lr),
                      dataset=dataset if data is None else str(data.describe.get("dataset", data.describe.get("name", "memory"))),
                      size=int(size), crop=crop, n_train=int(n_train), schedule=schedule, lam=float(lam),
                      grad_clip=grad_clip, init=None if init is None else str(init),
                      dataset_params=tuple(sorted((dataset_params or {}).items())),
                      codec_params=tuple(sorted((codec_params or {}).items())),
                      warm_start=None if warm_start is None else str(warm_start))
    sched = get_schedule(schedule, steps=steps, lr=lr, lam=lam)
    overrides: dict[str, Any] = {"checkpoint": str(init) if init else "none", **(codec_params or {})}
    if snr_range is not None:
        overrides["adaptive"] = True
    else:
        overrides["snr_db"] = float(snr_db)
    accepted = inspect.signature(CODECS.get(spec.codec.name).__init__).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        # a codec without learned weights (e.g. softcast in front of a learned back-end) takes no
        # checkpoint or SNR-mode arguments; what the user asked for explicitly still goes through
        overrides = {k: v for k, v in overrides.items() if k in accepted or k in (codec_params or {})}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        link = Link(spec, cbr=float(cbr), codec_overrides=overrides)
    if warm_start is not None:
        copy_matching(link.codec, warm_start, cbr=float(cbr))
    if data is None:
        data = load_training_data(dataset, size=size, n=n_train, seed=seed, params=dataset_params, workers=workers,
                                  spikes=bool(getattr(link.codec, "needs_spikes", False)))
    return train_schedule(link, data, sched, cfg, out=out, device=torch.device(device),
                          checkpoint_every=int(checkpoint_every), log_every=int(log_every), progress=progress,
                          stop_after=stop_after)
