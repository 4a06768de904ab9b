"""Flat Rayleigh fading channel with perfect CSI at the receiver (block or fast fading)."""

from __future__ import annotations

import math

import torch

from semcom.channels.awgn import check_symbols, complex_normal, noise_var_per_row
from semcom.channels.base import Channel, ChannelOutput
from semcom.errors import SemcomError
from semcom.registry import CHANNELS

__all__ = ["Rayleigh", "FADING_MODES"]

FADING_MODES = ("block", "fast")


@CHANNELS.register("rayleigh", help="flat Rayleigh fading y = h x + n, h ~ CN(0, 1), perfect CSI")
class Rayleigh(Channel):
    """Flat Rayleigh fading ``y = h * x + n``, ``h ~ CN(0, 1)``, ``n ~ CN(0, N0)``, perfect CSI.

    The usual fading model of the DeepJSCC line of work (Bourtsoulatze et al., 2019), with the
    receiver knowing ``h`` exactly.  It returns the zero-forcing estimate ``y / h`` (for one
    antenna, the unbiased LMMSE estimate) and its per-symbol noise variance ``N0 / |h|^2``.
    The channel does not normalize the input power (the codec does).

    Coefficients are independent across rows (frames) and across coherence blocks.  A row is
    cut into consecutive blocks of ``coherence`` symbols (all dimensions but the first,
    flattened in C order); the last block may be shorter.

    Bad arguments raise :class:`~semcom.errors.SemcomError` (a ``ValueError``), since they
    come from link files and ``--channel-param``.

    Args:
        fading: ``"block"`` (one coefficient per coherence block) or ``"fast"`` (one per symbol).
        coherence: symbols per coefficient in block fading; ``None`` (default) means one
            coefficient per row, i.e. per image.  With ``"fast"`` it must be ``None`` or 1.

    Shape:
        x: ``[B, n]`` (or ``[B, ...]``) complex64, one frame per row.
        snr_db: float or ``[B]`` float tensor (per-frame SNR).
        returns :class:`ChannelOutput` whose ``y``, ``h``, ``equalized`` have ``x``'s shape and
        dtype and ``noise_var`` (``N0 / |h|^2``) ``x``'s shape in the real dtype (float32).

    Example:
        >>> ch = Rayleigh(fading="block", coherence=4)
        >>> x = torch.ones(1, 10, dtype=torch.complex64)
        >>> out = ch(x, snr_db=20.0, generator=torch.Generator().manual_seed(0))
        >>> bool((out.h[0, :4] == out.h[0, 0]).all()), out.noise_var.shape
        (True, torch.Size([1, 10]))
    """

    def __init__(self, *, fading: str = "block", coherence: int | None = None) -> None:
        super().__init__()
        if fading not in FADING_MODES:
            raise SemcomError(f"fading must be one of {', '.join(FADING_MODES)}, got {fading!r}")
        if coherence is not None:
            if isinstance(coherence, bool) or not isinstance(coherence, int):
                raise SemcomError(f"coherence must be a positive integer (symbols) or None, got {coherence!r}")
            if coherence < 1:
                raise SemcomError(f"coherence must be >= 1 symbol, got {coherence}")
            if fading == "fast" and coherence != 1:
                raise SemcomError(f"fast fading draws one coefficient per symbol; coherence={coherence} "
                                  "contradicts it (use fading='block')")
        self.fading = fading
        self.coherence = 1 if fading == "fast" else coherence

    def extra_repr(self) -> str:
        return f"fading={self.fading!r}, coherence={self.coherence}"

    def draw_fading(self, shape: tuple[int, ...], *, dtype: torch.dtype, device: torch.device | str,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw the coefficients for a batch of rows of ``shape`` (``[B, ...]``).

        Shape:
            returns ``shape`` of complex ``dtype``; constant within each coherence block.
        """
        batch = shape[0]
        n = math.prod(shape[1:])
        size = n if self.coherence is None else self.coherence
        blocks = max(1, math.ceil(n / size))
        coeff = complex_normal((batch, blocks), dtype=dtype, device=device, generator=generator)
        if blocks == 1:
            return coeff.expand(batch, n).reshape(shape)
        h = coeff.repeat_interleave(size, dim=1)[:, :n] if size > 1 else coeff
        return h.reshape(shape)

    def forward(self, x: torch.Tensor, *, snr_db: float | torch.Tensor,
                generator: torch.Generator | None = None) -> ChannelOutput:
        check_symbols(x)
        n0 = noise_var_per_row(x, snr_db)
        # fading first, then noise: a fixed order keeps runs reproducible from one seed
        h = self.draw_fading(tuple(x.shape), dtype=x.dtype, device=x.device, generator=generator)
        noise = complex_normal(tuple(x.shape), dtype=x.dtype, device=x.device, generator=generator)
        y = h * x + noise * torch.sqrt(n0)
        equalized = y / h
        noise_var = n0 / h.abs().square()
        return ChannelOutput(y=y, h=h, equalized=equalized, noise_var=noise_var)
