"""Gray-labelled QAM (and BPSK) mapping and APP demapping through Sionna 2.x.

Follows the 3GPP TS 38.211 (Sec. 5.1) Gray-labelled constellations that
``sionna.phy.mapping`` builds, normalized to unit average energy (``Es = 1``).  Sionna's
demapper takes ``no``, the *complex* noise variance ``N0`` (its APP metric is
``exp(-|y - c|^2 / N0)``), which is exactly our convention (``snr_db = 10 log10(1 / N0)``),
so the per-symbol ``noise_var`` a channel reports after equalization is passed unchanged.

Sionna's LLRs are logits, ``ln P(b=1|y) / P(b=0|y)``, the sign convention its LDPC decoder
expects.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MODULATIONS", "Modem", "bits_per_symbol"]

#: modulation name -> (Sionna constellation type, bits per symbol)
MODULATIONS: dict[str, tuple[str, int]] = {
    "bpsk": ("pam", 1),
    "qpsk": ("qam", 2),
    "16qam": ("qam", 4),
    "64qam": ("qam", 6),
    "256qam": ("qam", 8),
}

#: smallest noise variance handed to the demapper (a noiseless channel reports 0)
MIN_NOISE_VAR = 1e-10
#: LLR magnitude clip: keeps a noiseless channel finite for the decoder
LLR_CLIP = 1e3


def bits_per_symbol(modulation: str) -> int:
    """Bits per complex symbol of a modulation name (``"16qam"`` -> 4)."""
    try:
        return MODULATIONS[modulation][1]
    except KeyError:
        raise ValueError(f"unknown modulation {modulation!r}; expected one of {', '.join(MODULATIONS)}") from None


class Modem(nn.Module):
    """Bits to unit-energy constellation points and back to bit LLRs (APP demapping).

    Args:
        modulation: ``"bpsk"``, ``"qpsk"``, ``"16qam"``, ``"64qam"`` or ``"256qam"``.
        device: torch device of the Sionna blocks (``"cpu"``, ``"cuda:0"``).

    Shape:
        map: bits ``[..., n * num_bits_per_symbol]`` float32 in {0, 1} -> ``[..., n]`` complex64.
        demap: y ``[..., n]`` complex64, noise_var ``[..., n]`` (or broadcastable) float32
        -> LLRs ``[..., n * num_bits_per_symbol]`` float32 (logits of bit = 1).

    Example:
        >>> modem = Modem(modulation="16qam")
        >>> x = modem.map(torch.zeros(1, 8))
        >>> x.shape
        torch.Size([1, 2])
    """

    def __init__(self, *, modulation: str, device: str | torch.device = "cpu") -> None:
        super().__init__()
        from sionna.phy.mapping import Demapper, Mapper

        kind, m = MODULATIONS.get(modulation, (None, None))
        if kind is None:
            raise ValueError(f"unknown modulation {modulation!r}; expected one of {', '.join(MODULATIONS)}")
        self.modulation = modulation
        self.num_bits_per_symbol = int(m)
        dev = str(device)
        self.mapper = Mapper(kind, self.num_bits_per_symbol, device=dev)
        self.demapper = Demapper("app", kind, self.num_bits_per_symbol, device=dev)

    def map(self, bits: torch.Tensor) -> torch.Tensor:
        return self.mapper(bits).to(torch.complex64)

    def demap(self, y: torch.Tensor, noise_var: torch.Tensor | float) -> torch.Tensor:
        nv = torch.as_tensor(noise_var, dtype=torch.float32, device=y.device)
        nv = torch.broadcast_to(nv, y.shape).clamp_min(MIN_NOISE_VAR)
        llr = self.demapper(y.to(torch.complex64), nv)
        return torch.nan_to_num(llr, nan=0.0).clamp(-LLR_CLIP, LLR_CLIP)
