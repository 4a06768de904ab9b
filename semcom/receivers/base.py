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

    Learned weights: a back-end never reads a checkpoint itself.  One with learned weights names
    ``shipped_link`` (and may set ``train_command`` and ``architecture``, per instance where they depend
    on its arguments); the zoo (:func:`semcom.zoo.build.build_receiver`) builds it untrained and loads
    the receiver weights of that link's checkpoint, or of a file, into it with ``load_state_dict``.
    """

    #: learned back-ends: the link whose shipped checkpoint holds their weights (``weights = "shipped"``);
    #: ``None``: the back-end has no learned weights
    shipped_link: str | None = None
    #: how the weights are trained, for the messages (``None``: ``semcom train --link`` the shipped link)
    train_command: str | None = None
    #: this instance's network as a message names it when a checkpoint's weights do not fit
    #: (for example ``"DiffEvent (width 32, enhancer width 32)"``; empty: the class name)
    architecture: str = ""

    def forward(self, image: torch.Tensor, *, events: torch.Tensor | None = None,
                batch: Batch | None = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


@RECEIVERS.register("identity", help="no back-end: the decoded frame is the output")
class Identity(Receiver):
    def forward(self, image: torch.Tensor, *, events: torch.Tensor | None = None,
                batch: Batch | None = None) -> torch.Tensor:
        return image
