"""One pass of a link for training (through the losses, wrapped for DDP) and for validation,
and the freezing of what a stage does not train."""

from __future__ import annotations

import torch

from semcom.errors import SemcomError
from semcom.link import Link
from semcom.seeds import step_seed
from semcom.sources.base import Batch
from semcom.train.config import TrainConfig
from semcom.train.data import TrainingData
from semcom.train.losses import StepOutput, compute_loss
from semcom.train.schedules import Stage

__all__ = ["forward_step", "set_trainable", "validate", "validation_snrs"]


def forward_step(link: Link, batch: Batch, *, snr_db: torch.Tensor,
                 generator: torch.Generator | None = None) -> StepOutput:
    """One differentiable pass through the link (no clamping of the output), for the losses."""
    sent = link.at_sensor(batch)  # a transmitter stage's output in place of the blurry frame
    res = link.codec.transmit_train(sent, link.channel, snr_db=snr_db, generator=generator)
    output = link.receiver(res.reception.image, events=res.reception.events, batch=sent)
    return StepOutput(sent, output, link.target(batch), res.transmission, res.reception, dict(res.aux))


class _TrainPass(torch.nn.Module):
    """The link's training pass and loss as one module (what DDP wraps); returns tensors only."""

    def __init__(self, link: Link) -> None:
        super().__init__()
        self.link = link

    def forward(self, batch: Batch, snr_db: torch.Tensor, generator: torch.Generator, stage: Stage,
                amp: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        dev = snr_db.device.type
        with torch.autocast(device_type=dev, dtype=torch.bfloat16, enabled=amp):
            out = forward_step(self.link, batch, snr_db=snr_db, generator=generator)
            loss = compute_loss(stage.loss, out, stage.params)
        return loss.float(), out.output.detach(), out.target


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


def validation_snrs(cfg: TrainConfig) -> list[float]:
    """SNRs of the validation pass: the training SNR, or the ends and middle of the range."""
    if cfg.snr_range is None:
        return [float(cfg.snr_db)]
    lo, hi = cfg.snr_range
    return sorted({lo, 0.5 * (lo + hi), hi})


@torch.no_grad()
def validate(link: Link, val: TrainingData, cfg: TrainConfig) -> float:
    """Mean per-frame PSNR (dB) of the link's output against its training target on ``val``,
    over :func:`validation_snrs`, with channel noise from a fixed seed (comparable across steps)."""
    was = link.training
    link.eval()
    total, count = torch.zeros((), device=val.device, dtype=torch.float64), 0
    bs = max(1, cfg.batch_size)
    for k, snr in enumerate(validation_snrs(cfg)):
        g = torch.Generator(device=val.device).manual_seed(step_seed(cfg.seed, k, 3))
        for start in range(0, len(val), bs):
            batch = val.batch(slice(start, start + bs))
            out = link(batch, snr_db=torch.full((batch.size,), snr, device=val.device), generator=g).output
            mse = (out.float() - link.target(batch)).square().flatten(1).mean(1).clamp_min(1e-12)
            total += (-10.0 * torch.log10(mse)).sum().double()
            count += batch.size
    link.train(was)
    return float(total) / max(1, count)
