"""Training schedules declared as data: a schedule is a tuple of :class:`Stage`.

Each stage names the parameters it trains (module-name prefixes inside the :class:`~semcom.link.Link`,
for example ``"codec.encoder"`` or ``"receiver"``; everything else is frozen), the loss (a name
in :data:`semcom.train.losses.LOSSES`), its number of steps and its peak learning rate.

EV-JSCC's multi-stage strategy (Sec. III-D) is three stages: (1) the transmission modules with
``MSE(B, B^) + lambda MSE(E, E^)`` while the deblurring decoder is frozen, (2) the deblurring
decoder alone with ``MSE(S, D(B^, E^))``, (3) the whole model with the same loss.

Example:
    >>> sched = SCHEDULES["single"](steps=100, lr=1e-4)
    >>> [(s.name, s.steps) for s in sched]
    [('all', 100)]
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable

from semcom.registry import Registry

__all__ = ["Stage", "Schedule", "SCHEDULES", "get_schedule", "schedule_as_dicts", "split_steps"]

LR_SHAPES = ("cosine", "step", "constant")


@dataclass(frozen=True)
class Stage:
    """One stage of training.

    Args:
        name: a label (logged in the metrics CSV).
        trainable: module-name prefixes (relative to the link: ``"codec"``, ``"codec.deblur"``,
            ``"receiver"`` ...) whose parameters this stage updates; all others are frozen.
        loss: a loss name from :data:`semcom.train.losses.LOSSES`.
        steps: optimizer steps in this stage.
        lr: peak learning rate (Adam).
        loss_params: extra loss arguments as ``(name, value)`` pairs, e.g. ``(("lam", 1.0),)``.
        lr_shape: ``"cosine"`` (decay to ``lr * lr_floor``), ``"step"`` (x0.1 at 60% and 85%
            of the stage) or ``"constant"``.
        lr_floor: final fraction of ``lr`` for the cosine shape.
        warmup: linear warm-up steps at the start of the stage.
    """

    name: str
    trainable: tuple[str, ...]
    loss: str
    steps: int
    lr: float
    loss_params: tuple[tuple[str, float], ...] = ()
    lr_shape: str = "cosine"
    lr_floor: float = 0.01
    warmup: int = 0

    def __post_init__(self) -> None:
        if not self.trainable or not all(isinstance(p, str) and p for p in self.trainable):
            raise ValueError(f"stage {self.name!r}: trainable must be a non-empty tuple of module prefixes")
        if int(self.steps) != self.steps or self.steps < 0:
            raise ValueError(f"stage {self.name!r}: steps must be a non-negative integer, got {self.steps}")
        if not self.lr > 0:
            raise ValueError(f"stage {self.name!r}: lr must be positive, got {self.lr}")
        if self.lr_shape not in LR_SHAPES:
            raise ValueError(f"stage {self.name!r}: lr_shape must be one of {LR_SHAPES}, got {self.lr_shape!r}")
        if not 0 <= self.lr_floor <= 1 or self.warmup < 0:
            raise ValueError(f"stage {self.name!r}: lr_floor must lie in [0, 1] and warmup be >= 0")

    def lr_at(self, step: int) -> float:
        """Learning rate at ``step`` (0-based) inside this stage."""
        if self.warmup and step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        span = max(1, self.steps - self.warmup)
        t = min(1.0, max(0.0, (step - self.warmup) / span))
        if self.lr_shape == "constant":
            return self.lr
        if self.lr_shape == "step":
            return self.lr * (0.1 ** ((t >= 0.6) + (t >= 0.85)))
        return self.lr * (self.lr_floor + (1 - self.lr_floor) * 0.5 * (1 + math.cos(math.pi * t)))

    @property
    def params(self) -> dict[str, float]:
        return dict(self.loss_params)


Schedule = tuple[Stage, ...]


def split_steps(steps: int, fractions: tuple[float, ...]) -> list[int]:
    """Split ``steps`` by ``fractions`` (rounded; the last part takes the remainder)."""
    parts = [int(round(steps * f)) for f in fractions[:-1]]
    parts.append(max(0, steps - sum(parts)))
    return parts


def _single(*, steps: int, lr: float, lam: float = 0.0) -> Schedule:
    """Everything trainable, one loss against the link's target (DeepJSCC, DeepJSCC-Deblur end to end)."""
    return (Stage("all", ("codec", "receiver"), "mse", steps, lr, warmup=min(100, steps // 20)),)


def _jscc_then_deblur(*, steps: int, lr: float, lam: float = 0.0) -> Schedule:
    """DeepJSCC-Deblur in EV-JSCC's manner: JSCC on the blurry frame, then the U-Net, then all."""
    s1, s2, s3 = split_steps(steps, (0.4, 0.3, 0.3))
    return (
        Stage("transmission", ("codec.encoder", "codec.decoder"), "transmission", s1, lr,
              warmup=min(100, s1 // 20)),
        Stage("deblur", ("codec.deblur",), "mse", s2, lr),
        Stage("finetune", ("codec",), "mse", s3, lr * 0.2),
    )


def _deblur_then_all(*, steps: int, lr: float, lam: float = 0.0) -> Schedule:
    """For a JSCC warm-started from a trained DeepJSCC (``--warm-start``): the U-Net alone, then all.

    30 % ``codec.deblur`` on ``mse`` (the JSCC stays as trained), 70 % everything at ``lr / 2``.
    """
    s1, s2 = split_steps(steps, (0.3, 0.7))
    return (
        Stage("deblur", ("codec.deblur",), "mse", s1, lr, warmup=min(100, s1 // 20)),
        Stage("finetune", ("codec",), "mse", s2, lr * 0.5),
    )


def _codec_then_receiver(*, steps: int, lr: float, lam: float = 1.0) -> Schedule:
    """EV-JSCC's three stages (Sec. III-D) for a link whose deblurring decoder is its ``receiver``.

    (The ``ev-jscc`` codec owns its U-Net; its own schedule is ``ev-jscc``.)
    """
    s1, s2, s3 = split_steps(steps, (0.4, 0.3, 0.3))
    return (
        Stage("transmission", ("codec",), "transmission", s1, lr, loss_params=(("lam", lam),),
              warmup=min(100, s1 // 20)),
        Stage("deblur", ("receiver",), "mse", s2, lr),
        Stage("finetune", ("codec", "receiver"), "mse", s3, lr * 0.2),
    )


def _ev_jscc(*, steps: int, lr: float, lam: float = 1.0,
             fractions: tuple[float, float, float] = (0.35, 0.15, 0.5), finetune_lr: float = 0.5) -> Schedule:
    """EV-JSCC's three training stages (Sec. III-D, Algorithm 1) for the codec-owned U-Net.

    1. ``transmission``: ``codec.encoder`` and ``codec.decoder`` (all transmission modules) on
       ``MSE(B, B^) + lam MSE(E, E^)``; the U-Net ``codec.deblur`` is frozen.
    2. ``deblur``: ``codec.deblur`` alone on ``MSE(S, D(B^, E^))``.
    3. ``finetune``: the whole codec on the stage-2 loss at ``finetune_lr * lr``.

    The paper does not give the stages' lengths; ``fractions`` of ``steps`` default to
    35 / 15 / 50 %: at short budgets the end-to-end stage is where the transmitter learns to
    send what the deblurring decoder needs, so it gets the largest share.
    """
    s1, s2, s3 = split_steps(steps, tuple(fractions))
    return (
        Stage("transmission", ("codec.encoder", "codec.decoder"), "transmission", s1, lr,
              loss_params=(("lam", lam),), warmup=min(100, s1 // 20)),
        Stage("deblur", ("codec.deblur",), "mse-sharp", s2, lr),
        Stage("finetune", ("codec",), "mse-sharp", s3, lr * finetune_lr),
    )


#: schedule name -> builder ``(steps=..., lr=..., lam=...) -> Schedule``
SCHEDULES = Registry("schedule")
for _name, _builder in (("single", _single), ("jscc-then-deblur", _jscc_then_deblur),
                        ("deblur-then-all", _deblur_then_all), ("codec-then-receiver", _codec_then_receiver),
                        ("ev-jscc", _ev_jscc)):
    SCHEDULES.add(_name, _builder)
del _name, _builder


def get_schedule(name: str, *, steps: int, lr: float, lam: float = 1.0) -> Schedule:
    """Build a named schedule of ``steps`` optimizer steps in total."""
    return SCHEDULES.get(name)(steps=int(steps), lr=float(lr), lam=float(lam))


def schedule_as_dicts(schedule: Schedule) -> list[dict[str, Any]]:
    """JSON-friendly form (stored in checkpoints and compared on resume)."""
    return [{**asdict(s), "trainable": list(s.trainable), "loss_params": [list(p) for p in s.loss_params]}
            for s in schedule]
