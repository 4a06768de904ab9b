"""Channel interface: complex symbols in, received symbols plus what a receiver with CSI knows out."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ChannelOutput:
    """What the receiver gets from one use of the channel.

    Args:
        y: raw received symbols ``h * x + n``, ``[B, n]`` complex64.
        h: channel coefficients known to the receiver, broadcastable to ``y`` (ones on AWGN).
        equalized: ``y / h`` (zero forcing, which for one antenna is the unbiased LMMSE
            estimate), ``[B, n]`` complex64.
        noise_var: per-symbol complex noise variance of ``equalized``, ``N0 / |h|^2``,
            ``[B, n]`` float32.
    """

    y: torch.Tensor
    h: torch.Tensor
    equalized: torch.Tensor
    noise_var: torch.Tensor


class Channel(nn.Module):
    """Base class of registered channels.

    ``forward(x, snr_db=..., generator=...)`` takes symbols ``x`` ``[B, n]`` complex64 that
    already have average power 1 per block, an SNR in dB (a float or a ``[B]`` tensor, one
    per frame) and an optional ``torch.Generator`` for every random draw, and returns a
    :class:`ChannelOutput`.  Channels are differentiable with respect to ``x``.

    ``fades`` tells whether the channel gain varies from draw to draw (an SNR in dB is then only
    its mean); envelope sweeps of digital codecs prune their MCS table less on such channels.
    It is ``True`` unless a channel says otherwise, the cautious choice for a new channel.
    """

    #: whether the channel gain varies between draws (see the class docstring)
    fades: bool = True

    def forward(self, x: torch.Tensor, *, snr_db: float | torch.Tensor,
                generator: torch.Generator | None = None) -> ChannelOutput:  # pragma: no cover
        raise NotImplementedError
