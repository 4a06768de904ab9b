"""The noiseless channel: back-ends and codecs evaluated without any channel impairment."""

from __future__ import annotations

import torch

from semcom.channels.awgn import check_symbols, noise_var_per_row
from semcom.channels.base import Channel, ChannelOutput
from semcom.registry import CHANNELS

__all__ = ["IdealChannel"]


@CHANNELS.register("none", help="ideal channel: y = x, no noise (evaluates codecs and back-ends alone)")
class IdealChannel(Channel):
    """Ideal channel ``y = x``: no fading and no noise, whatever the SNR.

    Not a model from the papers: it lets a codec or a receiver back-end be evaluated on its own
    (``--channel none``).  ``snr_db`` is still checked (shape) and passed on to SNR-adaptive
    codecs by the link, but it does not change the output.

    Args:
        (none) ``IdealChannel()`` takes no arguments.

    Shape:
        x: ``[B, n]`` (or ``[B, ...]``) complex64.
        returns :class:`ChannelOutput` with ``y`` and ``equalized`` equal to ``x`` (the same
        tensor, so gradients pass unchanged), ``h`` ones and ``noise_var`` zeros of ``x``'s shape.

    Example:
        >>> x = torch.ones(2, 4, dtype=torch.complex64)
        >>> out = IdealChannel()(x, snr_db=0.0)
        >>> bool(torch.equal(out.y, x)), float(out.noise_var.sum())
        (True, 0.0)
    """

    fades = False

    def forward(self, x: torch.Tensor, *, snr_db: float | torch.Tensor,
                generator: torch.Generator | None = None) -> ChannelOutput:
        check_symbols(x)
        noise_var_per_row(x, snr_db)  # validates the SNR argument like the other channels
        h = torch.ones((), dtype=x.dtype, device=x.device).expand(x.shape)
        noise_var = torch.zeros(x.shape, dtype=x.real.dtype, device=x.device)
        return ChannelOutput(y=x, h=h, equalized=x, noise_var=noise_var)
