"""One stage of a multi-network trainer (DiffEvent's, S-SDM's): Adam on a cosine learning-rate curve,
a loss read every ``log_every`` steps into a CSV log (``stage,step,loss,seconds``) and onto stderr."""

from __future__ import annotations

import csv
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from semcom.errors import SemcomError

__all__ = ["run_stage", "cosine_step"]


def cosine_step(name: str, opt: torch.optim.Optimizer, loss_fn: Callable[[int], torch.Tensor], *, step: int,
                steps: int, lr: float, params: list[torch.nn.Parameter] | None = None,
                clip_grad: float | None = None) -> float:
    """One optimizer step ``step`` (1-based) of ``steps`` on a cosine from ``lr`` (no floor): sets the rate,
    draws the loss, stops with a :class:`SemcomError` on a non-finite one, steps (gradient norm of ``params``
    capped at ``clip_grad`` if given); the loss as a float."""
    for g in opt.param_groups:
        g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / steps))
    loss = loss_fn(step)
    if not torch.isfinite(loss):
        raise SemcomError(f"{name}: the loss is not finite at step {step} ({float(loss.detach())})")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip_grad is not None:
        torch.nn.utils.clip_grad_norm_(params, clip_grad)
    opt.step()
    return float(loss.detach())


def run_stage(name: str, params: list[torch.nn.Parameter], loss_fn: Callable[[int], torch.Tensor], *,
              steps: int, lr: float, log: Path | None = None, log_every: int = 50, progress: bool = True,
              clip_grad: float | None = None) -> list[dict[str, Any]]:
    """Train ``params`` for ``steps`` steps; ``loss_fn(step)`` draws its batch and returns the loss.

    Each logged row is appended to ``log`` as soon as it is measured (an interrupted run keeps its
    curve). A non-finite loss stops the stage with a :class:`SemcomError` naming it and the step.
    ``clip_grad`` caps the gradient norm (none by default). Returns the logged rows.
    """
    opt = torch.optim.Adam(params, lr=lr)
    rows: list[dict[str, Any]] = []
    window: list[float] = []
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        window.append(cosine_step(name, opt, loss_fn, step=step, steps=steps, lr=lr, params=params,
                                  clip_grad=clip_grad))
        if step % log_every == 0 or step == steps:
            row = {"stage": name, "step": step, "loss": sum(window) / len(window),
                   "seconds": round(time.perf_counter() - t0, 1)}
            window = []
            rows.append(row)
            if log is not None:
                new = not Path(log).exists()
                with open(log, "a", newline="") as fh:
                    w = csv.DictWriter(fh, fieldnames=list(row))
                    if new:
                        w.writeheader()
                    w.writerow(row)
            if progress:
                print(f"{name}: step {step}/{steps} loss {row['loss']:.5g} ({row['seconds']:.0f} s)",
                      file=sys.stderr, flush=True)
    return rows
