"""What a training run keeps besides the model: its metrics log (CSV) and the moving average of
its weights (EMA), both restored on resume."""

from __future__ import annotations

import contextlib
import csv
import math
from pathlib import Path
from typing import Any

import torch

__all__ = ["LOG_FIELDS", "MetricsLog", "EMA", "psnr_from_mse", "split_state"]


LOG_FIELDS = ("step", "stage", "loss", "psnr", "val_psnr", "lr", "snr_mean", "samples", "seconds")


def psnr_from_mse(mse: float) -> float:
    return float("inf") if mse <= 0 else -10.0 * math.log10(mse)


class MetricsLog:
    """The metrics CSV; on resume, rows after the resumed step are dropped."""

    def __init__(self, path: Path, *, resume_step: int) -> None:
        self.path = path
        rows: list[dict[str, str]] = []
        if resume_step > 0 and path.exists():
            with open(path, newline="") as f:
                rows = [{k: r.get(k, "") for k in LOG_FIELDS} for r in csv.DictReader(f)
                        if int(r["step"]) <= resume_step]
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            w.writeheader()
            w.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=LOG_FIELDS).writerow(row)


class EMA:
    """Exponential moving average of a module's floating-point state (parameters and buffers).

    The decay ramps up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so early
    averages are not dominated by the initialization.
    """

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        self.decay = float(decay)
        state = module.state_dict()
        self.names = [k for k, v in state.items() if v.is_floating_point() and k.startswith(("codec.", "receiver."))]
        self.live = [state[k] for k in self.names]
        self.avg = [t.detach().clone() for t in self.live]

    def update(self, n: int) -> None:
        d = min(self.decay, (1.0 + n) / (10.0 + n))
        with torch.no_grad():
            torch._foreach_lerp_(self.avg, [t.detach() for t in self.live], 1.0 - d)

    def state(self) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self.avg))

    def load(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for a, k in zip(self.avg, self.names):
                a.copy_(state[k])

    @contextlib.contextmanager
    def swapped_in(self):
        """Inside: the module holds the averaged weights; after: its own again."""
        saved = [t.detach().clone() for t in self.live]
        with torch.no_grad():
            torch._foreach_copy_(self.live, self.avg)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self.live, saved)


def split_state(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    codec = {k[len("codec."):]: v for k, v in state.items() if k.startswith("codec.")}
    receiver = {k[len("receiver."):]: v for k, v in state.items() if k.startswith("receiver.")}
    return codec, receiver
