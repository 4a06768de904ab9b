"""SoftCast: linear analog transmission of DCT chunks (Jakubczak & Katabi, MobiCom 2011).

The frame is converted to centred YCbCr and transformed with a full-frame 2-D DCT per
channel.  The coefficients are cut into ``chunk x chunk`` frequency chunks; the transmitter
keeps the chunks with the largest energy ``lambda_i`` (mean square) that fit the channel-use
budget, scales chunk ``i`` by ``g_i ∝ lambda_i^(-1/4)`` (the power allocation that minimizes
the reconstruction MSE of a linear code, power ∝ lambda_i^(-1/2)), and sends two real
coefficients per complex channel use.  The receiver inverts with the linear least-squares
estimator (LLSE) ``x_hat = g lambda / (g^2 lambda + sigma^2) * y`` per coefficient, using the
per-symbol noise variance that the channel reports (so it also works after Rayleigh
equalization), and zeros for the chunks that were not sent.

Metadata that SoftCast sends digitally — for each kept chunk its index and an 8-bit
log-quantized energy, plus one 16-bit power-scale word per frame — is charged against the
budget at 1 bit per complex channel use (a robust rate-1/2 QPSK code) and assumed to arrive
intact, as in the paper.

Example:
    >>> codec = SoftCast(cbr=1/48)   # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from semcom.channels.base import ChannelOutput
from semcom.codecs.base import Codec, Reception, Transmission
from semcom.conventions import channel_uses_budget
from semcom.registry import CODECS
from semcom.sources.base import Batch

# RGB -> YCbCr (ITU-R BT.601, full range), centred so that grey maps to (0.5, 0, 0) - 0.5
_RGB2YCC = torch.tensor([[0.299, 0.587, 0.114],
                         [-0.168736, -0.331264, 0.5],
                         [0.5, -0.418688, -0.081312]])
_YCC2RGB = torch.linalg.inv(_RGB2YCC)

_ENERGY_BITS = 8           # log-quantized chunk energy
_ENERGY_RANGE_DB = (-80.0, 40.0)
_SCALE_BITS = 16           # one power-scale word per frame
_META_BITS_PER_USE = 1.0   # rate-1/2 QPSK for the metadata


def dct_matrix(n: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``D`` (``D @ x`` transforms a column vector of length ``n``)."""
    k = torch.arange(n, dtype=dtype)[:, None]
    i = torch.arange(n, dtype=dtype)[None, :]
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d


def _quantize_energy(energy: torch.Tensor) -> torch.Tensor:
    """Round energies to the 8-bit log grid the metadata carries (what the receiver knows)."""
    lo, hi = _ENERGY_RANGE_DB
    levels = 2 ** _ENERGY_BITS - 1
    db = 10 * torch.log10(energy.clamp_min(1e-12)).clamp(lo, hi)
    q = torch.round((db - lo) / (hi - lo) * levels)
    return torch.pow(10.0, (q / levels * (hi - lo) + lo) / 10.0)


@dataclass(frozen=True)
class SoftCastState:
    """Metadata the receiver gets (charged in ``channel_uses``)."""

    kept: torch.Tensor      # [B, k] chunk indices, long
    energy: torch.Tensor    # [B, k] quantized chunk energies
    gain: torch.Tensor      # [B, k] per-chunk amplitude gain actually applied
    padded_hw: tuple[int, int]
    frame_hw: tuple[int, int]


@CODECS.register("softcast", help="SoftCast linear analog transmission of DCT chunks (Jakubczak & Katabi 2011)")
class SoftCast(Codec):
    """SoftCast analog codec.

    Args:
        cbr: requested channel bandwidth ratio.
        chunk: side of a square DCT chunk, in coefficients (default 16).
        source: which frame to send, ``"blurry"`` (default) or ``"sharp"``.

    Shape:
        encode: batch frames ``(B, 3, H, W)`` -> symbols ``(B, n)`` complex64, n <= floor(cbr*3*H*W).
    """

    def __init__(self, *, cbr: float, chunk: int = 16, source: str = "blurry") -> None:
        super().__init__()
        if not 0 < cbr <= 1:
            raise ValueError(f"cbr must lie in (0, 1], got {cbr}")
        if int(chunk) != chunk or chunk < 1:
            raise ValueError(f"chunk must be a positive integer, got {chunk}")
        if source not in ("blurry", "sharp"):
            raise ValueError(f"source must be 'blurry' or 'sharp', got {source!r}")
        self.cbr, self.chunk, self.source = float(cbr), int(chunk), source

    # -- layout ---------------------------------------------------------------------------
    def _layout(self, h: int, w: int) -> tuple[int, int, int, int]:
        """Padded size, number of chunks, and chunks kept for an ``h x w`` frame."""
        c = self.chunk
        hp, wp = -(-h // c) * c, -(-w // c) * c
        n_chunks = 3 * (hp // c) * (wp // c)
        budget = channel_uses_budget(self.cbr, h, w)
        index_bits = max(1, math.ceil(math.log2(n_chunks)))
        uses_per_chunk = c * c / 2 + (index_bits + _ENERGY_BITS) / _META_BITS_PER_USE
        k = int((budget - _SCALE_BITS / _META_BITS_PER_USE) // uses_per_chunk)
        k = max(0, min(k, n_chunks))
        return hp, wp, n_chunks, k

    def channel_uses(self, h: int, w: int) -> int:
        hp, wp, n_chunks, k = self._layout(h, w)
        index_bits = max(1, math.ceil(math.log2(n_chunks)))
        meta = math.ceil((k * (index_bits + _ENERGY_BITS) + _SCALE_BITS) / _META_BITS_PER_USE)
        return k * self.chunk * self.chunk // 2 + meta

    def _chunks(self, coeffs: torch.Tensor) -> torch.Tensor:
        """``(B, 3, Hp, Wp)`` -> ``(B, N, c*c)`` chunk-major view."""
        b, ch, hp, wp = coeffs.shape
        c = self.chunk
        x = coeffs.reshape(b, ch, hp // c, c, wp // c, c).permute(0, 1, 2, 4, 3, 5)
        return x.reshape(b, ch * (hp // c) * (wp // c), c * c)

    def _unchunk(self, chunks: torch.Tensor, hp: int, wp: int) -> torch.Tensor:
        b = chunks.shape[0]
        c = self.chunk
        x = chunks.reshape(b, 3, hp // c, wp // c, c, c).permute(0, 1, 2, 4, 3, 5)
        return x.reshape(b, 3, hp, wp)

    # -- transmitter ------------------------------------------------------------------------
    def encode(self, batch: Batch, *, snr_db: torch.Tensor) -> Transmission:
        img = (batch.blurry if self.source == "blurry" else batch.sharp).double()
        b, _, h, w = img.shape
        hp, wp, n_chunks, k = self._layout(h, w)
        if k == 0:
            raise ValueError(f"CBR {self.cbr:.4g} is too small for one {self.chunk}x{self.chunk} chunk at {h}x{w}")
        ycc = torch.einsum("ij,bjhw->bihw", _RGB2YCC.double(), img)
        ycc[:, 0] -= 0.5
        ycc = torch.nn.functional.pad(ycc, (0, wp - w, 0, hp - h), mode="replicate")
        dh, dw = dct_matrix(hp), dct_matrix(wp)
        coeffs = dh @ ycc @ dw.T
        chunks = self._chunks(coeffs)                       # [B, N, c*c]
        energy = chunks.square().mean(-1)                   # lambda_i
        kept = torch.topk(energy, k, dim=1).indices.sort(dim=1).values
        lam = _quantize_energy(torch.gather(energy, 1, kept))
        # power ∝ lambda^(-1/2): g_i = lambda_i^(-1/4) * const, expected power 1 per real coefficient pair
        g = lam.pow(-0.25)
        g = g * torch.sqrt(1.0 / (g.square() * lam).mean(1, keepdim=True))
        sel = torch.gather(chunks, 1, kept[..., None].expand(-1, -1, chunks.shape[-1]))
        reals = (sel * g[..., None]).reshape(b, -1)         # expected mean square 1 per real
        # exact normalization to Es = 1 per complex symbol; the scale word is sent as metadata
        power = reals.square().mean(1, keepdim=True) * 2.0
        scale = torch.rsqrt(power)
        analog = torch.complex(reals[:, 0::2], reals[:, 1::2]) * scale
        g_sent = g * scale
        meta_uses = self.channel_uses(h, w) - analog.shape[1]
        meta = torch.ones(b, meta_uses, dtype=analog.dtype)  # unit-power metadata symbols
        symbols = torch.cat([analog, meta], dim=1).to(torch.complex64)
        state = SoftCastState(kept, lam, g_sent, (hp, wp), (h, w))
        return Transmission(symbols, symbols.shape[1], (3, h, w), state)

    # -- receiver ---------------------------------------------------------------------------
    def decode(self, received: ChannelOutput, tx: Transmission, *, snr_db: torch.Tensor) -> Reception:
        st: SoftCastState = tx.state
        b, k = st.kept.shape
        hp, wp = st.padded_hw
        h, w = st.frame_hw
        cc = self.chunk * self.chunk
        n_analog = k * cc // 2
        y = received.equalized[:, :n_analog].to(torch.complex128)
        nv = received.noise_var[:, :n_analog].double() / 2.0   # per real dimension
        y_re = torch.stack([y.real, y.imag], dim=-1).reshape(b, k, cc)
        nv_re = torch.stack([nv, nv], dim=-1).reshape(b, k, cc)
        g = st.gain[..., None]
        lam = st.energy[..., None]
        est = g * lam / (g.square() * lam + nv_re) * y_re     # LLSE
        chunks = torch.zeros(b, 3 * (hp // self.chunk) * (wp // self.chunk), cc, dtype=torch.float64)
        chunks.scatter_(1, st.kept[..., None].expand(-1, -1, cc), est)
        coeffs = self._unchunk(chunks, hp, wp)
        dh, dw = dct_matrix(hp), dct_matrix(wp)
        ycc = (dh.T @ coeffs @ dw)[:, :, :h, :w]
        ycc[:, 0] += 0.5
        rgb = torch.einsum("ij,bjhw->bihw", _YCC2RGB.double(), ycc)
        return Reception(rgb.clamp(0, 1).float())
