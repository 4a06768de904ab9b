"""``bpg-capacity``: BPG at the channel's capacity, the ideal separation bound.

Shannon's separation bound for the ``bpg-ldpc`` chain: an ideal channel code of rate
``R = log2(1 + SNR / margin)`` bits per channel use (``margin = 1``, i.e. 0 dB, on AWGN)
carries ``floor(U * R)`` bits per frame over ``U = floor(cbr * 3 * H * W)`` channel uses
without error whenever the channel supports that rate, and BPG codes the frame into those
bits less the same fixed header as ``bpg-ldpc`` (``header_bytes``, 22 by default).  No CRC
is charged: an ideal code needs none.

Decoding succeeds iff the codeword's bits fit the mutual information of this frame's
channel draw, ``floor(U * R) <= sum_i log2(1 + 1 / noise_var_i)`` (Gaussian inputs,
``Es = 1``), which on AWGN always holds, on block Rayleigh fading is the outage rule
``R <= log2(1 + |h|^2 SNR)``, and on fast fading compares with the frame's accumulated
mutual information.  To get the draw, the codec sends ``U`` unit symbols through the link's
channel, so the same channel models and seeds apply as for ``bpg-ldpc``.  A frame in outage
(or whose budget fits no BPG payload) is lost: the receiver shows the ``fallback`` picture
and counts it in ``decode_failed``.

The transmitter knows only the mean SNR (no CSI), so on fading channels a rate back-off
(``margin``) trades payload for outage probability; ``margins_db`` lists the back-offs the
sweep may choose among (as its adaptive envelope), the bound's analogue of ``bpg-ldpc``'s
(modulation, code rate) table.  A single margin means a fixed codec.

``rates`` adds fixed rates (bits per channel use) to choose among; ``rates = "mcs"`` takes the
spectral efficiencies ``bits per symbol x code rate`` of ``bpg-ldpc``'s default table.  With
them the bound tries, at every SNR, every rate ``bpg-ldpc`` tries (the same pruning) on the same
frames and channel draws, and an ideal code at a rate delivers whenever a real one at that rate
does, with more payload (no CRC, every channel use carries information): so the envelope of the
bound is at least ``bpg-ldpc``'s.  Margins alone (a coarse grid relative to the mean SNR) were
measured below ``bpg-ldpc`` on block Rayleigh fading at 4 of 11 SNR points.

Example:
    >>> codec = BpgCapacity(cbr=1/48)            # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from semcom.channels.base import ChannelOutput
from semcom.codecs.base import Codec, Reception, Transmission
from semcom.codecs.digital.separate import HEADER_FIELDS_BYTES, decode_frames, validate_fallback
from semcom.codecs.digital.sourcecoders import build_source_coder, to_uint8
from semcom.conventions import channel_uses_budget
from semcom.registry import CODECS
from semcom.sources.base import Batch

__all__ = ["BpgCapacity", "CapacityState", "capacity_bits", "margin_name", "rate_name", "mcs_rates"]

#: relative slack of the outage comparison (float rounding of the channel's noise variance)
RATE_TOLERANCE = 1e-6


def capacity_bits(channel_uses: int, snr_db: float, margin_db: float = 0.0) -> int:
    """``floor(U * log2(1 + SNR / margin))``: bits an ideal code carries in ``U`` uses."""
    snr = 10.0 ** ((float(snr_db) - float(margin_db)) / 10.0)
    return int(math.floor(channel_uses * math.log2(1.0 + snr) + 1e-9))


def margin_name(margin_db: float) -> str:
    """``3.0`` -> ``"margin-3dB"``."""
    return f"margin-{float(margin_db):g}dB"


def rate_name(rate: float) -> str:
    """``4/3`` -> ``"rate-1.3333b"`` (bits per channel use)."""
    return f"rate-{float(rate):.5g}b"


def mcs_rates() -> tuple[float, ...]:
    """The spectral efficiencies of ``bpg-ldpc``'s default (modulation, code rate) table, distinct, ascending."""
    from semcom.codecs.digital.qam import MODULATIONS
    from semcom.codecs.digital.separate import DEFAULT_CODE_RATES, DEFAULT_MODULATIONS, parse_code_rate

    effs: dict[float, float] = {}  # rounded -> exact (16-QAM 1/3 and QPSK 2/3 are the same rate)
    for m in DEFAULT_MODULATIONS:
        for r in DEFAULT_CODE_RATES:
            eff = MODULATIONS[m][1] * float(parse_code_rate(r))
            effs.setdefault(round(eff, 9), eff)
    return tuple(sorted(effs.values()))


@dataclass(frozen=True)
class CapacityState:
    """Per-frame facts of a capacity-bound transmission.

    ``payloads`` are the source payloads that an ideal code delivers error-free when the
    channel is not in outage; the receiver uses them only then (an analytical bound).
    """

    frame_hw: tuple[int, int]
    channel_uses: int
    code_bits: torch.Tensor          # [B] floor(U * R): the ideal codeword's information bits
    payloads: tuple[bytes | None, ...]
    payload_bits: torch.Tensor       # [B]
    quality: torch.Tensor            # [B]


@CODECS.register("bpg-capacity", help="BPG at the channel capacity log2(1+SNR): the ideal separation bound")
class BpgCapacity(Codec):
    """BPG source coding at the Shannon capacity, with outage on fading channels.

    Args:
        cbr: requested channel bandwidth ratio.
        margins_db: rate back-offs (dB) the sweep chooses among; ``[0]`` is the plain bound.
        margin_db: the active back-off (default: the first of ``margins_db``).
        rates: fixed rates (bits per channel use) to choose among as well, or ``"mcs"``: those of
            ``bpg-ldpc``'s default table.
        coder: source coder name (``bpg`` by default).
        coder_options: keyword arguments of the source coder.
        source: frame to send, ``"blurry"`` or ``"sharp"``.
        header_bytes: fixed per-frame header charged on top of the payload.
        fallback: RGB in [0, 1] shown for a lost frame.

    Shape:
        encode: frames ``[B, 3, H, W]`` -> ``U`` unit symbols ``[B, U]`` complex64.
        decode: ``Reception.image`` ``[B, 3, H, W]``; ``extras`` ``[B]`` float32 tensors
        ``decode_failed``, ``outage``, ``no_fit``, ``payload_bits``, ``bpp``, ``rate``, ``quality``.
    """

    def __init__(self, *, cbr: float, margins_db: Sequence[float] = (0.0,), margin_db: float | None = None,
                 rates: Sequence[float] | str = (), coder: str = "bpg", coder_options: dict[str, Any] | None = None,
                 source: str = "blurry", header_bytes: int = 22,
                 fallback: Sequence[float] = (0.5, 0.5, 0.5)) -> None:
        super().__init__()
        if not 0 < cbr <= 1:
            raise ValueError(f"cbr must lie in (0, 1], got {cbr}")
        if source not in ("blurry", "sharp"):
            raise ValueError(f"source must be 'blurry' or 'sharp', got {source!r}")
        if int(header_bytes) != header_bytes or header_bytes < HEADER_FIELDS_BYTES:
            raise ValueError(f"header_bytes must be an integer >= {HEADER_FIELDS_BYTES}, got {header_bytes}")
        if isinstance(margins_db, (str, int, float)) or not margins_db:
            raise ValueError("margins_db must be a non-empty list of back-offs in dB")
        margins = [float(m) for m in margins_db]
        if any(not math.isfinite(m) or m < 0 for m in margins):
            raise ValueError(f"margins_db must be finite and >= 0 dB, got {list(margins_db)}")
        self.cbr = float(cbr)
        self.source = source
        self.header_bytes = int(header_bytes)
        self.fallback = validate_fallback(fallback)
        self.coder = build_source_coder(coder, coder_options)
        if rates == "mcs":
            rate_list = list(mcs_rates())
        elif isinstance(rates, (str, int, float)):
            raise ValueError(f"rates must be a list of bits per channel use or \"mcs\", got {rates!r}")
        else:
            rate_list = [float(r) for r in rates]
        if any(not math.isfinite(r) or r <= 0 for r in rate_list):
            raise ValueError(f"rates must be finite and > 0 bits per channel use, got {rates!r}")
        self.margins_db = tuple(dict.fromkeys(margins))
        self.rates = tuple(dict.fromkeys(rate_list))
        #: variant name -> ("margin", dB) or ("rate", bits per use)
        self._table = {**{margin_name(m): ("margin", m) for m in self.margins_db},
                       **{rate_name(r): ("rate", r) for r in self.rates}}
        self.margin_db: float | None = self.margins_db[0]
        self.rate: float | None = None
        if margin_db is not None:
            self.set_variant(margin_name(margin_db))

    def variants(self) -> list[str]:
        return list(self._table) if len(self._table) > 1 else []

    def candidate_variants(self, snr_db: float, *, fading: bool, keep: int = 4) -> list[str]:
        """What an envelope sweep tries at ``snr_db``: every margin, and the fixed rates below the
        capacity ``log2(1 + SNR)`` (on a non-fading channel the ``keep`` highest), the rule by which
        ``bpg-ldpc`` prunes its table, so that the bound tries whatever ``bpg-ldpc`` tries."""
        cap = math.log2(1.0 + 10.0 ** (float(snr_db) / 10.0))
        feasible = sorted((r for r in self.rates if r <= cap + 1e-9), reverse=True)
        if not feasible and self.rates:  # bpg-ldpc then tries its least efficient configuration
            feasible = [min(self.rates)]
        if not fading:
            feasible = feasible[:keep]
        return [margin_name(m) for m in self.margins_db] + [rate_name(r) for r in feasible]

    def set_variant(self, name: str) -> None:
        if name not in self._table:
            raise ValueError(f"unknown variant {name!r}; expected one of {', '.join(self._table)}")
        kind, value = self._table[name]
        self.margin_db, self.rate = (value, None) if kind == "margin" else (None, value)

    def code_bits(self, channel_uses: int, snr_db: float) -> int:
        """Information bits of the ideal codeword: at the active margin below capacity, or the active rate."""
        if self.rate is not None:
            return int(math.floor(channel_uses * self.rate + 1e-9))
        return capacity_bits(channel_uses, snr_db, self.margin_db or 0.0)

    # -- transmitter -----------------------------------------------------------------------
    def encode(self, batch: Batch, *, snr_db: torch.Tensor) -> Transmission:
        frames = batch.blurry if self.source == "blurry" else batch.sharp
        b, _, h, w = frames.shape
        uses = channel_uses_budget(self.cbr, h, w)
        snr = torch.as_tensor(snr_db, dtype=torch.float64).expand(b)
        code_bits = torch.zeros(b, dtype=torch.float64)
        payload_bits = torch.zeros(b)
        quality = torch.full((b,), -1.0)
        payloads: list[bytes | None] = []
        for i in range(b):
            code_bits[i] = self.code_bits(uses, float(snr[i]))
            code = self.coder.fit(to_uint8(frames[i]), int(code_bits[i]) - 8 * self.header_bytes)
            payloads.append(None if code is None else code.payload)
            if code is not None:
                payload_bits[i] = code.bits
                quality[i] = code.quality
        symbols = torch.ones(b, uses, dtype=torch.complex64, device=frames.device)
        state = CapacityState((h, w), uses, code_bits, tuple(payloads), payload_bits, quality)
        return Transmission(symbols, uses, (3, h, w), state)

    # -- receiver --------------------------------------------------------------------------
    def decode(self, received: ChannelOutput, tx: Transmission, *, snr_db: torch.Tensor) -> Reception:
        st: CapacityState = tx.state
        h, w = st.frame_hw
        nv = torch.broadcast_to(torch.as_tensor(received.noise_var), received.equalized.shape)
        nv = nv.detach().to("cpu", torch.float64)
        info = torch.log2(1.0 + 1.0 / nv.clamp_min(1e-30)).sum(1)      # [B] bits the draw supports
        outage = st.code_bits > info * (1.0 + RATE_TOLERANCE)
        payloads = [None if outage[i] else p for i, p in enumerate(st.payloads)]
        images, failed = decode_frames(self.coder, payloads, height=h, width=w, fallback=self.fallback)
        extras = {
            "decode_failed": failed,
            "outage": outage.float(),
            "no_fit": (st.payload_bits == 0).float(),
            "payload_bits": st.payload_bits.float(),
            "bpp": st.payload_bits.float() / (h * w),
            "rate": (st.code_bits / st.channel_uses).float(),
            "quality": st.quality.float(),
        }
        return Reception(images.to(received.equalized.device), extras=extras)
