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
from dataclasses import dataclass, replace
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
from semcom.train.config import REFERENCE_BATCH, TrainConfig, default_out
from semcom.train.data import TrainingData
from semcom.train.schedules import Schedule, Stage, get_schedule, schedule_as_dicts
from semcom.train.step import _TrainPass, forward_step, set_trainable, validate, validation_snrs  # noqa: F401
from semcom.train.setup import bf16_supported, copy_matching, resolve_device
from semcom.train.sources import FreshPool, fresh_source, load_training_data
from semcom.train.state import EMA, MetricsLog, psnr_from_mse, split_state
from semcom.zoo.store import load_checkpoint, save_checkpoint

__all__ = ["TrainConfig", "TrainResult", "TrainingData", "train", "train_schedule", "forward_step",
           "load_training_data", "set_trainable", "default_out", "copy_matching", "REFERENCE_BATCH"]


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
                   device: torch.device, progress: bool = True, stop_after: int | None = None,
                   meta_extra: dict[str, Any] | None = None, on_step: Callable[[int, float], None] | None = None,
                   val: TrainingData | None = None, checkpoint_every: int | None = None,
                   log_every: int | None = None, val_every: int | None = None,
                   compile: bool | None = None) -> TrainResult:
    """Run (or resume) ``schedule`` on ``link``; see :func:`train` for the arguments.

    ``checkpoint_every``, ``log_every``, ``val_every`` and ``compile`` default to ``cfg``'s; ``cfg.shards``
    (``None``: one per process) and ``cfg.amp`` (only where bf16 runs natively) are resolved here, before the
    configuration is recorded.
    """
    t_start = time.perf_counter()
    rank, world = dist_util.rank(), dist_util.world_size()
    checkpoint_every = cfg.checkpoint_every if checkpoint_every is None else int(checkpoint_every)
    log_every = cfg.log_every if log_every is None else int(log_every)
    val_every = cfg.val_every if val_every is None else val_every
    compile = cfg.compile if compile is None else compile
    cfg = replace(cfg, shards=world if cfg.shards is None else cfg.shards, amp=cfg.amp and bf16_supported(device))
    if cfg.batch_size % cfg.shards:
        raise SemcomError(f"batch size {cfg.batch_size} is not a multiple of the {cfg.shards} shards")
    if cfg.shards % world:
        raise SemcomError(f"{cfg.shards} shards cannot be shared equally by {world} processes")
    my_shards = [k for k in range(cfg.shards) if k % world == rank]
    shard_batch = cfg.batch_size // cfg.shards
    total = sum(s.steps for s in schedule)
    key = json.dumps({**cfg.identity(), "schedule_stages": schedule_as_dicts(schedule)}, sort_keys=True)
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
                "training": {**cfg.identity(), "schedule_stages": schedule_as_dicts(schedule), "data": data.describe,
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


def train(config: TrainConfig | str | Path | None = None, /, *, data: TrainingData | None = None,
          stop_after: int | None = None, progress: bool = True, **settings: Any) -> TrainResult:
    """Train the learned modules of a link and write a resumable checkpoint.

    ``config`` is a :class:`~semcom.train.config.TrainConfig` (its fields are documented there, each once),
    or the link's name, the other fields following as keywords: ``train("deepjscc", cbr=1/48,
    snr_range=(0, 20), steps=200)`` is ``train(TrainConfig(link="deepjscc", cbr=1/48, ...))``.  Keywords
    given with a config replace its fields.

    The checkpoint ``out`` (default ``checkpoints/<link>-cbr<R>-<mode>.ckpt``) is resumed when it was
    written by the same configuration (:meth:`TrainConfig.identity`), refused when by another unless
    ``overwrite``; the metrics log is ``out`` with suffix ``.csv``, the learning curve ``.png``.

    Args:
        config: the run's settings, or the link name (then ``settings`` are the other fields).
        data: training samples already loaded (in place of ``dataset``).
        stop_after: stop (as if interrupted) after this step, with a checkpoint written.
        progress: show a progress bar.

    Returns:
        a :class:`TrainResult`.
    """
    if isinstance(config, TrainConfig):
        cfg = replace(config, **settings) if settings else config
    else:
        cfg = TrainConfig(**({} if config is None else {"link": config}), **settings)
    dev = resolve_device(cfg.device)
    dist_util.init(dev)
    spec = find_link(cfg.link)
    codec_cls = CODECS.get(spec.codec.name)
    learned = isinstance(codec_cls, type) and issubclass(codec_cls, LearnedCodec)
    schedule = cfg.schedule
    if schedule is None:
        schedule = codec_cls.default_schedule if learned else "single"
    dataset, dataset_params = cfg.dataset, dict(cfg.dataset_params)
    if dataset is None and data is None:  # the link's own source, its table's parameters under the given ones
        dataset = spec.source.name
        dataset_params = {**spec.source.params, **dataset_params}
    out = Path(cfg.out) if cfg.out is not None else default_out(spec.name, cfg.cbr, cfg.snr_db, cfg.snr_range)
    if cfg.overwrite and dist_util.rank() == 0:
        for path in (out, out.with_suffix(".csv"), out.with_suffix(".png")):
            path.unlink(missing_ok=True)
    dist_util.barrier()
    describe_name = dataset if data is None else str(data.describe.get("dataset", data.describe.get("name", "memory")))
    # what the run resolved (the link's own name, schedule and source) is what the checkpoint records
    cfg = replace(cfg, link=spec.name, schedule=schedule, dataset=describe_name, dataset_params=dataset_params)
    sched = get_schedule(schedule, steps=cfg.steps, lr=cfg.lr, lam=cfg.lam)
    overrides: dict[str, Any] = dict(cfg.codec_params)
    if learned:  # a codec without weights (softcast in front of a learned back-end) takes no SNR mode
        overrides["checkpoint"] = cfg.init or "none"
        if cfg.snr_range is not None:
            overrides["adaptive"] = True
        else:
            overrides["snr_db"] = cfg.snr_db
    # a learned back-end behind a codec without weights (stra) starts untrained, or from --init
    receiver_overrides = {"weights": cfg.init} if not learned and receiver_takes_weights(spec) else {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        link = Link(spec, cbr=cfg.cbr, codec_overrides=overrides, receiver_overrides=receiver_overrides)
    if not any(True for _ in link.parameters()):
        raise SemcomError(f"link {spec.name!r} has no learned weights to train (its codec and receiver are "
                          "model-based)")
    if cfg.warm_start is not None:
        copy_matching(link.codec, cfg.warm_start, cbr=cfg.cbr, prefix_map=dict(cfg.warm_start_map))
    if cfg.fresh_data:
        if (cfg.crop is not None and not cfg.fresh_pool) or data is not None:
            raise SemcomError("--fresh-data simulates frames of --size directly: no --crop (but with --fresh-pool), "
                              "no data given")
        data, val = fresh_source(dataset, size=cfg.size, seed=cfg.seed, n_val=cfg.n_val, device=dev,
                                 params=dataset_params, spikes=learned and codec_cls.needs_spikes)
        if cfg.fresh_pool:
            data = FreshPool(data, size=cfg.fresh_pool, renew=cfg.fresh_renew)
    else:
        if data is None:
            data = load_training_data(dataset, size=cfg.size, n=cfg.n_train, seed=cfg.seed, params=dataset_params,
                                      workers=cfg.workers, spikes=learned and codec_cls.needs_spikes, device=dev)
        data, val = data.to(dev).split(cfg.n_val)
    return train_schedule(link, data, sched, cfg, out=out, device=dev, progress=progress, stop_after=stop_after,
                          val=val)
