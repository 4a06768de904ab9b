"""Training losses; each takes a :class:`StepOutput` (one differentiable pass through a link).

Registered names (used by :class:`~semcom.train.schedules.Stage`):

* ``"mse"`` — ``MSE(output, target)``, target = the link's ``target`` frame (sharp by default).
* ``"mse-sharp"`` — ``MSE(output, sharp)`` whatever the link's target.
* ``"transmission"`` — EV-JSCC's stage-1 loss ``MSE(B, B^) + lam * MSE(E, E^)``: the
  reconstruction of the transmitted blurry frame (``aux["image"]``, else ``reception.image``)
  and of the events (``aux["events"]``, else ``reception.events``), before any deblurring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch.nn import functional as F

from semcom.codecs.base import Reception, Transmission
from semcom.errors import SemcomError
from semcom.registry import Registry
from semcom.sources.base import Batch

__all__ = ["StepOutput", "LOSSES", "register_loss", "compute_loss"]


@dataclass(frozen=True)
class StepOutput:
    """Everything a loss may look at after one training pass.

    Args:
        batch: the source batch (on the training device).
        output: the link's output (receiver back-end applied, not clamped) ``(B, 3, H, W)``.
        target: the frame the link is judged against (``link.target(batch)``).
        transmission, reception: from the codec.
        aux: intermediate tensors the codec exposes (``"image"``: the JSCC reconstruction of the
            transmitted frame; ``"events"``: of the events).
    """

    batch: Batch
    output: torch.Tensor
    target: torch.Tensor
    transmission: Transmission
    reception: Reception
    aux: dict[str, torch.Tensor] = field(default_factory=dict)


LossFn = Callable[..., torch.Tensor]
#: loss name -> ``fn(out: StepOutput, **params) -> (loss, parts)``
LOSSES = Registry("loss")


def register_loss(name: str) -> Callable[[LossFn], LossFn]:
    """Decorator: make a loss function available to schedules under ``name``."""
    return LOSSES.register(name)


@register_loss("mse")
def mse(out: StepOutput) -> torch.Tensor:
    return F.mse_loss(out.output, out.target)


@register_loss("mse-sharp")
def mse_sharp(out: StepOutput) -> torch.Tensor:
    return F.mse_loss(out.output, out.batch.sharp)


@register_loss("transmission")
def transmission(out: StepOutput, lam: float = 0.0) -> torch.Tensor:
    """Stage-1 loss of EV-JSCC: ``MSE(B, B^) + lam * NMSE(E, E^)``, NMSE = MSE / mean(E^2)."""
    image = out.aux.get("image", out.reception.image)
    loss = F.mse_loss(image, out.batch.blurry)
    if lam:
        events = out.aux.get("events", out.reception.events)
        # the side information the codec sent (a spike codec sends a representation of batch.spikes)
        target = out.aux.get("events_target", out.batch.events)
        if events is None or target is None:
            raise SemcomError("the 'transmission' loss with lam > 0 needs decoded events and source events")
        # events are counts (SCER values reach tens), images lie in [0, 1]: compare the events by
        # their normalized MSE, so that lam weighs two quantities of comparable scale
        nmse = F.mse_loss(events, target) / target.detach().square().mean().clamp_min(1e-8)
        loss = loss + lam * nmse
    return loss


def compute_loss(name: str, out: StepOutput, params: dict[str, float] | None = None) -> torch.Tensor:
    """Evaluate the loss ``name`` with its stage parameters."""
    return LOSSES.get(name)(out, **(params or {}))
