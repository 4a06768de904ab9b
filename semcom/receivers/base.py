"""Receiver back-end interface: turn the decoded frame (plus side information) into the output."""

from __future__ import annotations

import torch
from torch import nn

from semcom.registry import RECEIVERS
from semcom.sources.base import Batch


class Receiver(nn.Module):
    """Base class of registered receiver back-ends (deblurring and the like).

    ``forward(image, events=..., batch=...)``: ``image`` is the decoded frame
    ``[B, 3, H, W]``; ``events`` the decoded side information ``[B, C, H, W]`` if the codec
    transmitted any, else ``None``; ``batch`` is the source batch, from which a back-end may
    read side information that the link treats as available at the receiver (for example
    with ``--channel none``).  Returns ``[B, 3, H, W]`` in [0, 1].
    """

    #: for back-ends with learned weights: the link whose shipped checkpoint holds them (``weights="shipped"``),
    #: and the command that trains them (``None``: ``semcom train --link`` that link)
    shipped_link: str | None = None
    train_command: str | None = None

    def load_weights(self, weights: str, *, name: str, architecture: str) -> None:
        """Load learned weights: ``"shipped"``, ``"shipped:LINK"`` or a checkpoint path
        (:func:`semcom.zoo.store.receiver_weights`); ``architecture`` describes this instance for the
        message when they do not fit it."""
        from semcom.errors import SemcomError
        from semcom.zoo.store import receiver_weights

        state = receiver_weights(weights, link=str(self.shipped_link), receiver=name, train_command=self.train_command)
        try:
            self.load_state_dict({k: v.float() for k, v in state.items()})
        except RuntimeError:
            raise SemcomError(f"{weights}: its weights are not those of this {architecture}") from None

    def forward(self, image: torch.Tensor, *, events: torch.Tensor | None = None,
                batch: Batch | None = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


@RECEIVERS.register("identity", help="no back-end: the decoded frame is the output")
class Identity(Receiver):
    def forward(self, image: torch.Tensor, *, events: torch.Tensor | None = None,
                batch: Batch | None = None) -> torch.Tensor:
        return image
