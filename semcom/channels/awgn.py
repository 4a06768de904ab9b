"""Additive white Gaussian noise channel, plus the helpers every channel shares.

Conventions (``docs/conventions.md``): complex baseband, ``Es = 1`` per complex symbol (the
codec normalizes power, the channel does not), ``snr_db = 10 log10(Es / N0)`` with ``N0`` the
complex noise variance, so each real dimension receives noise of variance ``N0 / 2``.
"""

from __future__ import annotations

import torch

from semcom.channels.base import Channel, ChannelOutput
from semcom.conventions import snr_db_to_noise_var
from semcom.registry import CHANNELS

__all__ = ["AWGN", "complex_normal", "check_symbols", "noise_var_per_row"]


def check_symbols(x: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``x`` is a complex tensor ``[B, ...]`` with at least one symbol per row."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"channel input must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_complex(x):
        raise ValueError(f"channel input must be complex symbols (complex64), got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"channel input must have shape [B, n] (or [B, ...]), got shape {tuple(x.shape)}")


def noise_var_per_row(x: torch.Tensor, snr_db: float | torch.Tensor) -> torch.Tensor:
    """Complex noise variance ``N0 = 10^(-snr_db/10)`` of each row, shaped to broadcast against ``x``.

    Args:
        x: channel input ``[B, ...]`` complex.
        snr_db: one SNR in dB for every row (float or 0-d tensor) or one per row (``[B]`` tensor).

    Shape:
        returns ``[B, 1, ..., 1]`` (``x.ndim`` dims) of ``x``'s real dtype on ``x``'s device.
    """
    real = x.real.dtype
    snr = torch.as_tensor(snr_db, dtype=real, device=x.device)
    batch = x.shape[0]
    if snr.ndim == 0:
        snr = snr.expand(batch)
    elif snr.ndim != 1 or snr.shape[0] != batch:
        raise ValueError(f"snr_db must be a number or a [B] tensor with B = {batch}, got shape {tuple(snr.shape)}")
    if torch.isnan(snr).any():
        raise ValueError("snr_db contains NaN")
    n0 = snr_db_to_noise_var(snr)
    return n0.reshape((batch,) + (1,) * (x.ndim - 1))


def complex_normal(shape: tuple[int, ...], *, dtype: torch.dtype, device: torch.device | str,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw i.i.d. circularly symmetric ``CN(0, 1)`` samples (variance 1/2 per real dimension).

    The draw is made on the generator's device (so a CPU generator also seeds a CUDA run, with
    the same numbers) and moved to ``device``.

    Args:
        shape: shape of the complex output.
        dtype: complex dtype of the output (``torch.complex64`` or ``torch.complex128``).
        device: device of the output.
        generator: source of randomness; ``None`` uses the global generator.

    Shape:
        returns ``shape`` of ``dtype``; ``E|z|^2 = 1``.
    """
    real = torch.empty((), dtype=dtype).real.dtype
    draw_device = generator.device if generator is not None else torch.device(device)
    parts = torch.randn(tuple(shape) + (2,), generator=generator, dtype=real, device=draw_device)
    z = torch.view_as_complex(parts * (0.5 ** 0.5))
    return z.to(device)


@CHANNELS.register("awgn", help="additive white Gaussian noise, y = x + n, n ~ CN(0, N0)")
class AWGN(Channel):
    """Additive white Gaussian noise channel ``y = x + n`` with ``n ~ CN(0, N0)``.

    Follows the EV-JSCC paper (Sec. II, AWGN channel) with ``N0 = 10^(-snr_db/10)`` for unit
    symbol energy.  The channel does not normalize the input power: codecs send blocks of
    average power 1 per complex symbol (``semcom.conventions.normalize_power``).

    Args:
        (none) ``AWGN()`` takes no arguments.

    Shape:
        x: ``[B, n]`` (or ``[B, ...]``) complex64, one frame per row.
        snr_db: float or ``[B]`` float tensor (per-frame SNR).
        returns :class:`ChannelOutput` with ``y`` and ``equalized`` of ``x``'s shape and dtype,
        ``h`` ones of ``x``'s shape (a read-only expanded view), ``noise_var`` ``N0`` per symbol
        (``x``'s shape, float32 for complex64).

    Example:
        >>> ch = AWGN()
        >>> x = torch.ones(2, 8, dtype=torch.complex64)
        >>> out = ch(x, snr_db=10.0, generator=torch.Generator().manual_seed(0))
        >>> out.y.shape, float(out.noise_var[0, 0])
        (torch.Size([2, 8]), 0.10000000149011612)
    """

    fades = False

    def forward(self, x: torch.Tensor, *, snr_db: float | torch.Tensor,
                generator: torch.Generator | None = None) -> ChannelOutput:
        check_symbols(x)
        n0 = noise_var_per_row(x, snr_db)
        noise = complex_normal(tuple(x.shape), dtype=x.dtype, device=x.device, generator=generator)
        y = x + noise * torch.sqrt(n0)
        h = torch.ones((), dtype=x.dtype, device=x.device).expand(x.shape)
        return ChannelOutput(y=y, h=h, equalized=y, noise_var=n0.expand(x.shape).clone())
