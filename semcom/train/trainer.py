"""Train a link's learned modules (codec, receiver) through a differentiable channel.

:func:`train` builds the :class:`~semcom.link.Link` with an untrained codec, keeps the training
samples on the training device in compact dtypes (:class:`~semcom.train.data.TrainingData`),
and runs a :data:`~semcom.train.schedules.Schedule` of stages with Adam under one cosine
learning-rate curve for the whole run.

What a step does, all on the training device: draw the batch (samples, crops, flips, rotations,
time reversal), the per-sample SNRs and the channel noise from generators seeded by
``(seed, step, shard)``; forward (bf16 autocast with ``amp`` on CUDA and on CPUs with native
bf16; power normalization, channel and GDN stay in float32); backward; clip; Adam; update the
exponential moving average (EMA) of the weights.  The host reads numbers back only every ``log_every`` steps.

Batches and shards: the global batch of ``batch_size`` samples is made of ``shards`` equal
sub-batches, shard ``k`` drawn from ``(seed, step, k)``.  One process runs its shards one after
the other and averages their gradients; under ``torchrun`` (DDP) rank ``r`` runs shards
``r, r + W, ...``, so a run's weights do not depend on how many processes share its shards.

Determinism and resuming: model initialization comes from ``seed`` and every per-step draw
from ``(seed, step, shard)``; an interrupted run resumed from its last checkpoint (weights,
EMA, Adam state, step) ends with the same weights as an uninterrupted run.

Outputs (rank 0): the checkpoint ``out`` (a :mod:`semcom.zoo.store` file; its weights are the
EMA weights when ``ema > 0``; rewritten every ``checkpoint_every`` steps and at the end), the
metrics log ``out`` with suffix ``.csv`` (step, stage, loss, training PSNR, validation PSNR,
learning rate, samples seen, seconds) and the learning curve ``out`` with suffix ``.png``.

Example:
    >>> train("deepjscc", cbr=1/48, snr_range=(0, 20), steps=200, out="ckpt/dj.ckpt")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm import tqdm

from semcom.codecs.base import LearnedCodec
from semcom.conventions import format_cbr
from semcom.errors import SemcomError
from semcom.link import Link, find_link, receiver_takes_weights
from semcom.registry import CODECS
from semcom.train import distributed as dist_util
from semcom.seeds import step_seed
from semcom.train.data import AUGMENTATIONS, TrainingData
from semcom.train.schedules import Schedule, Stage, get_schedule, schedule_as_dicts
from semcom.train.step import _TrainPass, forward_step, set_trainable, validate, validation_snrs  # noqa: F401
from semcom.train.setup import bf16_supported, copy_matching, resolve_device
from semcom.train.sources import FreshPool, fresh_source, load_training_data
from semcom.train.state import EMA, MetricsLog, psnr_from_mse, split_state
from semcom.zoo.store import load_checkpoint, save_checkpoint

__all__ = ["TrainConfig", "TrainResult", "TrainingData", "train", "train_schedule", "forward_step",
           "load_training_data", "set_trainable", "default_out", "copy_matching", "REFERENCE_BATCH"]

REFERENCE_BATCH = 8


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
    n_val: int = 0
    ema: float = 0.0
    augment: tuple[str, ...] = AUGMENTATIONS
    shards: int = 1
    amp: bool = False
    lr_curve: str = "run"
    fresh_data: bool = False
    fresh_pool: int = 0
    fresh_renew: int = 0

    @property
    def lr_scale(self) -> float:
        """The batch's factor on every learning rate: ``sqrt(batch_size / 8)`` (Adam's square-root rule)."""
        return math.sqrt(self.batch_size / REFERENCE_BATCH)


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
        val_psnr: the last validation PSNR in dB (``nan`` without a validation split).
    """

    checkpoint: Path
    log: Path
    steps: int
    resumed_from: int
    final_loss: float
    seconds: float
    val_psnr: float = float("nan")


def default_out(link: str, cbr: float, snr_db: float | None, snr_range: tuple[float, float] | None) -> Path:
    inv = 1.0 / cbr
    cbr_txt = f"1-{round(inv)}" if abs(inv - round(inv)) < 1e-6 else f"{cbr:.4g}"
    mode = "adaptive" if snr_range is not None else f"snr{snr_db:g}"
    return Path("checkpoints") / f"{link}-cbr{cbr_txt}-{mode}.ckpt"


def _stage_at(schedule: Schedule, step: int) -> tuple[int, int]:
    """(stage index, step inside the stage) of global step ``step``."""
    start = 0
    for i, st in enumerate(schedule):
        if step < start + st.steps:
            return i, step - start
        start += st.steps
    return len(schedule), 0


def run_lr(cfg: TrainConfig, stage: Stage, *, step: int, stage_step: int, total: int) -> float:
    """Learning rate of ``step``: the stage's peak (relative to ``cfg.lr``) scaled to the batch,
    its warm-up, and one cosine from the first to the last step of the run (to 1 % of the peak).

    With ``cfg.lr_curve == "stage"`` each stage follows its own shape instead (:meth:`Stage.lr_at`).
    """
    scale = cfg.lr_scale
    if cfg.lr_curve == "stage":
        return stage.lr_at(stage_step) * scale
    warm = (stage_step + 1) / stage.warmup if stage.warmup and stage_step < stage.warmup else 1.0
    t = min(1.0, step / max(1, total - 1))
    floor = stage.lr_floor
    return stage.lr * scale * warm * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


def train_schedule(link: Link, data: TrainingData, schedule: Schedule, cfg: TrainConfig, *, out: Path,
                   device: torch.device, checkpoint_every: int, log_every: int, progress: bool,
                   stop_after: int | None = None, meta_extra: dict[str, Any] | None = None,
                   on_step: Callable[[int, float], None] | None = None, val: TrainingData | None = None,
                   val_every: int | None = None, compile: bool = False) -> TrainResult:
    """Run (or resume) ``schedule`` on ``link``; see :func:`train` for the arguments."""
    t_start = time.perf_counter()
    rank, world = dist_util.rank(), dist_util.world_size()
    if cfg.batch_size % cfg.shards:
        raise SemcomError(f"batch size {cfg.batch_size} is not a multiple of the {cfg.shards} shards")
    if cfg.shards % world:
        raise SemcomError(f"{cfg.shards} shards cannot be shared equally by {world} processes")
    my_shards = [k for k in range(cfg.shards) if k % world == rank]
    shard_batch = cfg.batch_size // cfg.shards
    total = sum(s.steps for s in schedule)
    key = json.dumps({**asdict(cfg), "schedule_stages": schedule_as_dicts(schedule)}, sort_keys=True)
    step, opt_state, opt_stage, resumed_from, ema_state = 0, None, -1, 0, None
    window_state = [0.0, 0]
    seconds_before = 0.0
    if out.exists():
        ck = load_checkpoint(out)
        if ck.train is None or ck.train.get("config_key") != key:
            raise SemcomError(f"{out} exists and was made by a different training configuration; "
                              "pass --overwrite to start again, or choose another --out")
        raw = ck.train.get("raw")
        link.codec.load_state_dict(raw["codec"] if raw else ck.codec)
        link.receiver.load_state_dict(raw["receiver"] if raw else ck.receiver)
        if raw:
            ema_state = {**{f"codec.{k}": v for k, v in ck.codec.items()},
                         **{f"receiver.{k}": v for k, v in ck.receiver.items()}}
        step = resumed_from = int(ck.train["step"])
        opt_state = ck.train.get("optimizer")
        opt_stage = int(ck.train.get("stage", -1))
        window_state = ck.train.get("window", [0.0, 0])
        seconds_before = float(ck.meta.get("training", {}).get("seconds", 0.0))
    link.to(device)
    link.to(memory_format=torch.channels_last)  # faster convolutions on CPU and GPU
    if compile:
        for module in (*link.codec.children(), *link.receiver.children()):
            module.compile()
    ema = EMA(link, cfg.ema) if cfg.ema > 0 else None
    if ema is not None and ema_state is not None:
        ema.load({k: v.to(device) for k, v in ema_state.items()})
    lead = rank == 0
    log = MetricsLog(out.with_suffix(".csv"), resume_step=step) if lead else None
    codec_cfg = link.codec.config() if isinstance(link.codec, LearnedCodec) else {}

    def save(at: int, optimizer: torch.optim.Optimizer | None, seconds: float) -> None:
        if not lead:
            return
        meta = {"link": link.name, "codec": link.spec.codec.name, "cbr": link.cbr, "cbr_label": format_cbr(link.cbr),
                "snr_mode": "adaptive" if cfg.snr_range is not None else "single",
                "snr_db": cfg.snr_db, "snr_range": list(cfg.snr_range) if cfg.snr_range else None,
                "step": at, "config": codec_cfg,
                "training": {**asdict(cfg), "schedule_stages": schedule_as_dicts(schedule), "data": data.describe,
                             "seconds": round(seconds, 1), "device": str(device), "world_size": world,
                             "samples": at * cfg.batch_size, "val_psnr": last_val,
                             "weights": "ema" if ema is not None else "last", **(meta_extra or {})}}
        live_codec, live_receiver = link.codec.state_dict(), link.receiver.state_dict()
        train_state = {"step": at, "config_key": key, "stage": current_stage,
                       "optimizer": optimizer.state_dict() if optimizer is not None else {},
                       "window": [float(loss_sum), window]}  # the log row in progress, for an exact CSV
        codec_sd, receiver_sd = live_codec, live_receiver
        if ema is not None:
            avg_codec, avg_receiver = split_state(ema.state())
            codec_sd = {**live_codec, **avg_codec}
            receiver_sd = {**live_receiver, **avg_receiver}
            train_state["raw"] = {"codec": live_codec, "receiver": live_receiver}
        save_checkpoint(out, meta=meta, codec=codec_sd, receiver=receiver_sd, train=train_state)

    def run_validation() -> float:
        if val is None or not lead:
            return float("nan")
        with ema.swapped_in() if ema is not None else contextlib.nullcontext():
            return validate(link, val, cfg)

    bar = tqdm(total=total, initial=step, desc=f"train {link.name} cbr {format_cbr(link.cbr)}", unit="step",
               disable=not (progress and lead), file=sys.stderr, dynamic_ncols=True)
    loss_sum = torch.full((), float(window_state[0]), device=device)
    window = int(window_state[1])
    last_loss, last_val = float("nan"), float("nan")
    optimizer: torch.optim.Optimizer | None = None
    model: torch.nn.Module = _TrainPass(link)
    current_stage = -1
    params: list[torch.nn.Parameter] = []
    t_run = time.perf_counter()
    amp = bool(cfg.amp)
    try:
        while step < total:
            si, sstep = _stage_at(schedule, step)
            stage: Stage = schedule[si]
            if si != current_stage:
                params = set_trainable(link, stage.trainable)
                if not params:
                    raise SemcomError(f"stage {stage.name!r} has no trainable parameters in link {link.name!r}")
                optimizer = torch.optim.Adam(params, lr=stage.lr, **({"fused": True} if device.type == "cuda" else {}))
                if opt_state and opt_stage == si:  # resuming inside the stage the state belongs to
                    optimizer.load_state_dict(opt_state)
                opt_state = None
                current_stage = si
                model = dist_util.wrap(_TrainPass(link), device)  # the trainable set changed: wrap anew
            assert optimizer is not None
            lr = run_lr(cfg, stage, step=step, stage_step=sstep, total=total)
            for group in optimizer.param_groups:
                group["lr"] = lr
            link.train()
            optimizer.zero_grad(set_to_none=True)
            for i, shard in enumerate(my_shards):
                batch = data.draw(seed=cfg.seed, step=step, batch_size=shard_batch, crop=cfg.crop, shard=shard,
                                  augment=cfg.augment)
                gs = torch.Generator(device=device).manual_seed(step_seed(cfg.seed, step, 1, shard))
                n = batch.size  # frames: shard_batch, or shard_batch * T for sequences
                if cfg.snr_range is None:
                    snr = torch.full((n,), float(cfg.snr_db), device=device)
                else:
                    lo, hi = cfg.snr_range
                    snr = lo + (hi - lo) * torch.rand(n, generator=gs, device=device)
                gen = torch.Generator(device=device).manual_seed(step_seed(cfg.seed, step, 2, shard))
                with dist_util.accumulating(model, i < len(my_shards) - 1):
                    loss, output, target = model(batch, snr, gen, stage, amp)
                    (loss / len(my_shards)).backward()
                loss_sum += loss.detach() / len(my_shards)
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip, foreach=True)
            optimizer.step()
            step += 1
            if ema is not None:
                ema.update(step)
            window += 1
            if on_step is not None:
                on_step(step, float(loss.detach()))
            bar.update(1)
            if step % log_every == 0 or step == total:
                last_loss = float(dist_util.mean(loss_sum)) / window  # all processes' shards
                if not math.isfinite(last_loss):
                    raise SemcomError(f"training diverged by step {step} (loss {last_loss}); lower --lr")
                loss_sum.zero_()
                window = 0
                mse = float(torch.mean((output.float().clamp(0, 1) - target) ** 2))
                val_txt = ""
                if val is not None and (step % (val_every or 50 * log_every) == 0 or step == total):
                    last_val = run_validation()
                    val_txt = f"{last_val:.4f}" if lead else ""
                if lead:
                    log.write({"step": step, "stage": stage.name, "loss": f"{last_loss:.6g}",
                               "psnr": f"{psnr_from_mse(mse):.4f}", "val_psnr": val_txt, "lr": f"{lr:.4g}",
                               "snr_mean": f"{float(snr.mean()):.3f}", "samples": step * cfg.batch_size,
                               "seconds": f"{seconds_before + time.perf_counter() - t_run:.2f}"})
                bar.set_postfix(stage=stage.name, loss=f"{last_loss:.4g}", psnr=f"{psnr_from_mse(mse):.2f}",
                                **({"val": f"{last_val:.2f}"} if val is not None else {}))
            stopping = stop_after is not None and step >= stop_after
            if step % checkpoint_every == 0 or step == total or stopping:
                save(step, optimizer, seconds_before + time.perf_counter() - t_run)
            if stopping and step < total:
                break
    except KeyboardInterrupt:
        save(step, optimizer, seconds_before + time.perf_counter() - t_run)
        bar.close()
        raise
    bar.close()
    if window:
        last_loss = float(loss_sum) / window
    if lead and step == total:
        from semcom.train.curves import plot_training_log
        from semcom.zoo.publish import run_lineage

        try:  # the title names the runs this one was initialised / warm-started from, while their files exist
            lineage = run_lineage(out)
        except (SemcomError, OSError):
            lineage = None
        plot_training_log(out.with_suffix(".csv"), out.with_suffix(".png"), title=out.stem, lineage=lineage)
    dist_util.barrier()
    link.eval()
    for p in link.parameters():
        p.requires_grad_(True)
    return TrainResult(out, out.with_suffix(".csv"), total, resumed_from, last_loss, time.perf_counter() - t_start,
                       last_val)


def train(link_name: str, *, cbr: float, snr_db: float | None = None,
          snr_range: tuple[float, float] | None = None, steps: int = 20000, out: str | Path | None = None,
          seed: int = 0, batch_size: int = 8, lr: float = 5e-4, dataset: str | None = None, size: int = 128,
          crop: int | None = None, n_train: int = 512, schedule: str | None = None, lam: float = 1.0,
          grad_clip: float | None = 1.0, init: str | None = None, device: str = "cpu",
          checkpoint_every: int = 500, log_every: int = 10, progress: bool = True, overwrite: bool = False,
          stop_after: int | None = None, data: TrainingData | None = None,
          codec_params: dict[str, Any] | None = None, dataset_params: dict[str, Any] | None = None,
          workers: int = 0, warm_start: str | Path | None = None, n_val: int = 0, val_every: int | None = None,
          ema: float = 0.0, augment: tuple[str, ...] = AUGMENTATIONS, shards: int | None = None,
          amp: bool = True, compile: bool = False, lr_curve: str = "run", fresh_data: bool = False,
          fresh_pool: int = 0, fresh_renew: int = 100) -> TrainResult:
    """Train the learned modules of a link and write a resumable checkpoint.

    Args:
        link_name: link name or TOML path (``deepjscc``, ``deepjscc-deblur``, ...).
        cbr: channel bandwidth ratio.
        snr_db: train at this one SNR (the paper's protocol; the codec is built non-adaptive).
        snr_range: ``(lo, hi)`` dB; every sample draws its SNR uniformly (SNR-adaptive codec).
        steps: optimizer steps in total (split among the stages of a multi-stage schedule).
        out: checkpoint path (default ``checkpoints/<link>-cbr<R>-<mode>.ckpt``); the metrics
            log is the same path with suffix ``.csv``, the learning curve with ``.png``.  An
            existing file of the same configuration is resumed; of another configuration is an
            error unless ``overwrite``.
        seed: seeds initialization and every per-step draw.
        batch_size: the global batch (all shards and processes together).
        lr: peak learning rate at batch 8; another batch scales it by ``sqrt(batch_size / 8)``.
        dataset: training source, its ``train`` split (``None``: the link's ``[source]`` with its
            parameters, under ``dataset_params``); ``size`` the frame side,
            ``n_train`` the number of samples kept on the device, ``crop`` a random crop per sample.
        schedule: a name in :data:`semcom.train.schedules.SCHEDULES`; ``lam`` its event weight.
            ``None``: the codec's ``default_schedule`` (``"ev-jscc"`` for EV-JSCC), else ``"single"``.
        grad_clip: clip the gradient norm (``None``: no clipping).
        init: a checkpoint to start from instead of random initialization (same codec and CBR).
        warm_start: a checkpoint whose tensors of the same name and shape are copied in before
            training: another codec at the same CBR (DeepJSCC's encoder and decoder into
            DeepJSCC-Deblur) or the same codec at another CBR; the rest keeps its initialization.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (under torchrun: the rank's local GPU).
        checkpoint_every, log_every: steps between checkpoints and metric rows.
        stop_after: stop (as if interrupted) after this step, with a checkpoint written.
        data: training samples already loaded (skips ``dataset``).
        codec_params: extra codec constructor arguments (architecture, e.g. ``width``).
        dataset_params: extra source arguments (e.g. ``{"spikes": False}``).
        workers: processes that generate the training frames (first run; later runs read the cache).
        n_val: the last ``n_val`` of the ``n_train`` samples are never trained on; validation PSNR
            on them is logged every ``val_every`` steps (a multiple of ``log_every``; default: every
            50th log row) and at the end.
        ema: decay of the exponential moving average of the weights (0: off); the checkpoint's
            weights are the average.
        augment: a subset of ``("flip", "rot90", "time")``.
        shards: sub-batches of the global batch, each with its own draws (default: one per
            process); a run's weights depend on ``shards``, not on the number of processes.
        amp: bf16 autocast where it runs natively (CUDA; CPUs with AMX or AVX512-BF16); ignored elsewhere.
        compile: ``torch.compile`` the codec's and receiver's submodules.
        lr_curve: ``"run"`` (one cosine over the whole run) or ``"stage"`` (each stage's own).
        fresh_data: simulate every training batch anew on the device
            (:class:`semcom.sources.torchsim.FreshSource`: dead leaves, plus the photos corpus
            when ``dataset`` is ``photos``); ``n_val`` samples drawn once from a separate seed
            stream are the validation set.  ``size`` is the frame side; no crop.
        fresh_pool: instead, draw batches (crops, augmentation) from this many fresh samples held on
            the device (:class:`semcom.train.sources.FreshPool`), simulated anew every ``fresh_renew`` steps.

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
    if not (math.isfinite(lr) and lr > 0):
        raise SemcomError(f"--lr must be a positive number, got {lr}")
    if not 0 <= ema < 1:
        raise SemcomError(f"--ema must lie in [0, 1), got {ema}")
    if int(n_val) != n_val or n_val < 0:
        raise SemcomError(f"--val must be a non-negative integer, got {n_val}")
    if val_every is not None and (int(val_every) != val_every or val_every < 1):
        raise SemcomError(f"--val-every must be a positive integer, got {val_every}")
    if val_every is not None and val_every % log_every:
        raise SemcomError(f"--val-every {val_every} must be a multiple of --log-every {log_every} "
                          "(validation PSNR goes into the log rows)")
    if lr_curve not in ("run", "stage"):
        raise SemcomError(f"lr_curve must be 'run' or 'stage', got {lr_curve!r}")
    unknown = set(augment) - set(AUGMENTATIONS)
    if unknown:
        raise SemcomError(f"unknown augmentation(s) {sorted(unknown)} (known: {', '.join(AUGMENTATIONS)})")
    dev = resolve_device(device)
    dist_util.init(dev)
    if shards is not None and (int(shards) != shards or shards < 1):
        raise SemcomError(f"--shards must be a positive integer, got {shards}")
    shards = int(shards) if shards is not None else dist_util.world_size()
    spec = find_link(link_name)
    codec_cls = CODECS.get(spec.codec.name)
    learned = isinstance(codec_cls, type) and issubclass(codec_cls, LearnedCodec)
    if schedule is None:
        schedule = codec_cls.default_schedule if learned else "single"
    if dataset is None and data is None:  # the link's own source, its table's parameters under the given ones
        dataset = spec.source.name
        dataset_params = {**spec.source.params, **(dataset_params or {})}
    out = Path(out) if out is not None else default_out(spec.name, cbr, snr_db, snr_range)
    if overwrite and dist_util.rank() == 0:
        for path in (out, out.with_suffix(".csv"), out.with_suffix(".png")):
            path.unlink(missing_ok=True)
    dist_util.barrier()
    describe_name = dataset if data is None else str(data.describe.get("dataset", data.describe.get("name", "memory")))
    cfg = TrainConfig(link=spec.name, cbr=float(cbr), snr_db=None if snr_db is None else float(snr_db),
                      snr_range=snr_range, steps=int(steps), seed=int(seed), batch_size=int(batch_size),
                      lr=float(lr), dataset=describe_name, size=int(size), crop=crop, n_train=int(n_train),
                      schedule=schedule, lam=float(lam), grad_clip=grad_clip, init=None if init is None else str(init),
                      dataset_params=tuple(sorted((dataset_params or {}).items())),
                      codec_params=tuple(sorted((codec_params or {}).items())),
                      warm_start=None if warm_start is None else str(warm_start), n_val=int(n_val), ema=float(ema),
                      augment=tuple(a for a in AUGMENTATIONS if a in augment), shards=shards,
                      amp=bool(amp and bf16_supported(dev)), lr_curve=lr_curve,
                      fresh_data=bool(fresh_data or fresh_pool), fresh_pool=int(fresh_pool),
                      fresh_renew=int(fresh_renew) if fresh_pool else 0)
    sched = get_schedule(schedule, steps=steps, lr=lr, lam=lam)
    overrides: dict[str, Any] = dict(codec_params or {})
    if learned:  # a codec without weights (softcast in front of a learned back-end) takes no SNR mode
        overrides["checkpoint"] = str(init) if init else "none"
        if snr_range is not None:
            overrides["adaptive"] = True
        else:
            overrides["snr_db"] = float(snr_db)
    # a learned back-end behind a codec without weights (stra) starts untrained, or from --init
    receiver_overrides = {"weights": init} if not learned and receiver_takes_weights(spec) else {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        link = Link(spec, cbr=float(cbr), codec_overrides=overrides, receiver_overrides=receiver_overrides)
    if not any(True for _ in link.parameters()):
        raise SemcomError(f"link {spec.name!r} has no learned weights to train (its codec and receiver are "
                          "model-based)")
    if warm_start is not None:
        copy_matching(link.codec, warm_start, cbr=float(cbr))
    if cfg.fresh_data:
        if (crop is not None and not fresh_pool) or data is not None:
            raise SemcomError("--fresh-data simulates frames of --size directly: no --crop (but with --fresh-pool), "
                              "no data given")
        data, val = fresh_source(dataset, size=size, seed=seed, n_val=int(n_val), device=dev,
                                 params=dataset_params or {}, spikes=learned and codec_cls.needs_spikes)
        if fresh_pool:
            data = FreshPool(data, size=int(fresh_pool), renew=int(fresh_renew))
    else:
        if data is None:
            data = load_training_data(dataset, size=size, n=n_train, seed=seed, params=dataset_params,
                                      workers=workers, spikes=learned and codec_cls.needs_spikes, device=dev)
        data, val = data.to(dev).split(int(n_val))
    return train_schedule(link, data, sched, cfg, out=out, device=dev,
                          checkpoint_every=int(checkpoint_every), log_every=int(log_every), progress=progress,
                          stop_after=stop_after, val=val, val_every=val_every, compile=compile)
