"""``bpg-ldpc``: the separation baseline, BPG (HEVC intra) + 5G LDPC + QAM.

The classical digital chain that the EV-JSCC paper (and DeepJSCC before it) compares with:
the blurry frame is source-coded by BPG at the largest quality whose payload fits the bits
the channel code can carry, protected by 5G NR LDPC code blocks with a CRC each, and sent on
a Gray-labelled QAM constellation.  The receiver demaps with the exact APP rule given the
per-symbol noise variance the channel reports (after zero-forcing equalization with perfect
CSI on Rayleigh), runs up to 20 BP iterations per block (stopping a block once its CRC
passes), and checks every CRC.  If any block fails, or the payload does not decode, the frame
is lost and the receiver outputs a fixed fallback picture (it cannot know the transmitted
one): by default mid-grey, or a per-dataset mean colour given as ``fallback``.  Such frames
are counted in ``decode_failed``.

Budget (per frame): ``U = floor(cbr * 3 * H * W)`` channel uses carry ``U * m`` coded bits
(``m`` bits per symbol); they are cut into ``ceil(U * m / 6144)`` equal LDPC blocks of ``n``
bits (a whole number of symbols) with ``k = floor(n * rate)`` information bits each, of
which 24 are the block's CRC.  The payload is ``num_blocks * (k - 24)`` bits, less a fixed
``header_bytes`` (22 by default) that is actually transmitted: it carries the frame size,
the source format, the quality and the payload length.  The rest of the payload is padding.
Channel uses left over by the rounding are not sent; ``Transmission.channel_uses`` counts
the symbols actually sent.

Adaptive modulation and coding is left to the sweep: :meth:`BpgLdpc.variants` lists the
(modulation, code rate) table and the sweep keeps the best configuration at each SNR.

Example:
    >>> codec = BpgLdpc(cbr=1/48, config="16qam-1/2")   # doctest: +SKIP
    >>> codec.variants()[:3]                            # doctest: +SKIP
    ['qpsk-1/3', 'qpsk-1/2', 'qpsk-2/3']
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence

import numpy as np
import torch

from semcom.profiling import phase
from semcom.channels.base import ChannelOutput
from semcom.codecs.base import Codec, Reception, Transmission
from semcom.codecs.digital.ldpc import CRC_BITS, MAX_BLOCK_BITS, BlockCoder, BlockPlan, parse_code_rate
from semcom.codecs.digital.qam import MODULATIONS, Modem
from semcom.codecs.digital.sourcecoders import SourceCoder, build_source_coder, to_uint8
from semcom.conventions import channel_uses_budget
from semcom.errors import SemcomError
from semcom.registry import CODECS
from semcom.sources.base import Batch

__all__ = ["BpgLdpc", "FrameHeader", "DigitalState", "DEFAULT_MODULATIONS", "DEFAULT_CODE_RATES",
           "config_name", "parse_config", "validate_fallback", "fallback_images", "decode_frames"]

DEFAULT_MODULATIONS = ("qpsk", "16qam", "64qam", "256qam")
DEFAULT_CODE_RATES = ("1/3", "1/2", "2/3", "3/4", "5/6")
#: the header fields below take this many bytes; the rest of ``header_bytes`` is reserved (zeros)
HEADER_FIELDS_BYTES = 10
#: block coders shared by every codec of this process (they hold no per-frame state)
_BLOCK_CODERS: dict[tuple, BlockCoder] = {}

_HEADER = struct.Struct(">HHBBI")  # width, height, format, quality, payload length (bytes)


def config_name(modulation: str, rate: Fraction) -> str:
    """``("16qam", Fraction(3, 4))`` -> ``"16qam-3/4"``."""
    return f"{modulation}-{rate.numerator}/{rate.denominator}"


def parse_config(name: str) -> tuple[str, Fraction]:
    """``"16qam-3/4"`` -> ``("16qam", Fraction(3, 4))``."""
    mod, sep, rate = str(name).partition("-")
    if not sep or mod not in MODULATIONS:
        raise ValueError(f"malformed configuration {name!r}: expected MODULATION-RATE like 'qpsk-1/2' "
                         f"(modulations: {', '.join(MODULATIONS)})")
    return mod, parse_code_rate(rate)


def validate_fallback(fallback: Sequence[float]) -> tuple[float, float, float]:
    vals = tuple(float(v) for v in fallback)
    if len(vals) != 3 or not all(0.0 <= v <= 1.0 for v in vals):
        raise ValueError(f"fallback must be an RGB triple in [0, 1], got {fallback!r}")
    return vals  # type: ignore[return-value]


def fallback_images(fallback: tuple[float, float, float], b: int, h: int, w: int) -> torch.Tensor:
    return torch.tensor(fallback, dtype=torch.float32).view(1, 3, 1, 1).expand(b, 3, h, w).clone()


@dataclass(frozen=True)
class FrameHeader:
    """The per-frame header that precedes the source payload (charged, transmitted).

    Args:
        width, height: frame size in pixels.
        fmt: source format byte (the chroma format for ``bpg``: 0 = 4:2:0, 1 = 4:4:4).
        quality: the coder's quality setting (informative).
        length: payload bytes that follow (0: nothing fitted, the frame is lost).
    """

    width: int
    height: int
    fmt: int
    quality: int
    length: int

    def pack(self, size: int) -> bytes:
        return _HEADER.pack(self.width, self.height, self.fmt, self.quality, self.length).ljust(size, b"\0")

    @classmethod
    def unpack(cls, data: bytes) -> "FrameHeader":
        return cls(*_HEADER.unpack(data[:_HEADER.size]))


def _bytes_to_bits(data: bytes, nbits: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(data, np.uint8))
    out = np.zeros(nbits, np.float32)
    out[:min(nbits, bits.size)] = bits[:nbits]
    return out


def _bits_to_bytes(bits: np.ndarray) -> bytes:
    usable = bits.size // 8 * 8
    return np.packbits(bits[:usable].astype(np.uint8)).tobytes()


def decode_frames(coder: SourceCoder, payloads: list[bytes | None], *, height: int, width: int,
                  fallback: tuple[float, float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Source-decode each payload (``None``: lost) -> images ``[B, 3, H, W]`` and failures ``[B]``."""
    b = len(payloads)
    images = fallback_images(fallback, b, height, width)
    failed = torch.ones(b, dtype=torch.float32)
    for i, payload in enumerate(payloads):
        if payload is None:
            continue
        rgb = coder.decode(payload, height=height, width=width)
        if rgb is None:
            continue
        images[i] = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
        failed[i] = 0.0
    return images, failed


@dataclass(frozen=True)
class DigitalState:
    """What the receiver knows besides the symbols: the protocol's configuration.

    ``payload_bits`` and ``quality`` are the transmitter's numbers, kept for the results
    only (``extras``); decoding reads the received header instead.
    """

    config: str
    plan: BlockPlan
    frame_hw: tuple[int, int]
    payload_bits: torch.Tensor   # [B] source payload bits sent (0: nothing fitted)
    quality: torch.Tensor        # [B] quality setting (-1: nothing fitted)


@CODECS.register("bpg-ldpc", help="separation baseline: BPG (HEVC intra) + 5G LDPC + QAM, adaptive table")
class BpgLdpc(Codec):
    """BPG + 5G NR LDPC + QAM separation baseline with a (modulation, code rate) table.

    Args:
        cbr: requested channel bandwidth ratio.
        config: the active configuration, ``"MODULATION-RATE"`` (``"qpsk-1/2"``).
        modulations: modulations of the table (``bpsk``, ``qpsk``, ``16qam``, ``64qam``, ``256qam``).
        code_rates: LDPC code rates of the table (fractions as strings, in (0, 0.95]).
        coder: source coder name (``bpg``, ``jpeg2000``, ``jpeg``, ``jpegxl``, ``avif``).
        coder_options: keyword arguments of the source coder (``{chroma = 444}`` for ``bpg``).
        source: frame to send: ``"blurry"`` (the paper's baseline) or ``"sharp"``.
        header_bytes: fixed per-frame header, charged and transmitted (at least 10).
        crc: per-block CRC (``"CRC24B"``).
        num_iter: LDPC belief-propagation iterations (at most, with ``early_stop``).
        early_stop: stop decoding a block once its CRC passes (``False``: always ``num_iter``).
        max_block_bits: longest LDPC codeword, coded bits.
        fallback: RGB in [0, 1] shown for a lost frame (a per-dataset constant).

    Shape:
        encode: frames ``[B, 3, H, W]`` -> symbols ``[B, n]`` complex64 with
        ``n = plan.num_symbols <= floor(cbr * 3 * H * W)``.
        decode: ``Reception.image`` ``[B, 3, H, W]``; ``extras`` ``[B]`` float32 tensors
        ``decode_failed``, ``no_fit``, ``block_errors``, ``bler``, ``payload_bits``, ``bpp``, ``quality``.
    """

    def __init__(self, *, cbr: float, config: str = "qpsk-1/2",
                 modulations: Sequence[str] = DEFAULT_MODULATIONS,
                 code_rates: Sequence[str] = DEFAULT_CODE_RATES,
                 coder: str = "bpg", coder_options: dict[str, Any] | None = None,
                 source: str = "blurry", header_bytes: int = 22, crc: str = "CRC24B",
                 num_iter: int = 20, early_stop: bool = True, max_block_bits: int = MAX_BLOCK_BITS,
                 fallback: Sequence[float] = (0.5, 0.5, 0.5)) -> None:
        super().__init__()
        if not 0 < cbr <= 1:
            raise ValueError(f"cbr must lie in (0, 1], got {cbr}")
        if source not in ("blurry", "sharp"):
            raise ValueError(f"source must be 'blurry' or 'sharp', got {source!r}")
        if int(header_bytes) != header_bytes or header_bytes < HEADER_FIELDS_BYTES:
            raise ValueError(f"header_bytes must be an integer >= {HEADER_FIELDS_BYTES}, got {header_bytes}")
        if crc not in CRC_BITS:
            raise ValueError(f"unknown CRC {crc!r}; expected one of {', '.join(CRC_BITS)}")
        if int(num_iter) != num_iter or num_iter < 1:
            raise ValueError(f"num_iter must be a positive integer, got {num_iter}")
        if int(max_block_bits) != max_block_bits or not 64 <= max_block_bits <= 25344:
            raise ValueError(f"max_block_bits must be an integer in [64, 25344], got {max_block_bits}")
        if isinstance(modulations, str) or not modulations:
            raise ValueError("modulations must be a non-empty list of names")
        for m in modulations:
            if m not in MODULATIONS:
                raise ValueError(f"unknown modulation {m!r}; expected one of {', '.join(MODULATIONS)}")
        if isinstance(code_rates, str) or not code_rates:
            raise ValueError("code_rates must be a non-empty list of fractions like '1/2'")
        rates = [parse_code_rate(r) for r in code_rates]
        self.cbr = float(cbr)
        self.source = source
        self.header_bytes = int(header_bytes)
        self.crc = crc
        self.num_iter = int(num_iter)
        self.early_stop = bool(early_stop)
        self.max_block_bits = int(max_block_bits)
        self.fallback = validate_fallback(fallback)
        self.coder = build_source_coder(coder, coder_options)
        self.coder_name = coder
        self._fmt = {420: 0, 444: 1}.get(getattr(self.coder, "chroma", 420), 0)
        self._table = [config_name(m, r) for m in modulations for r in sorted(set(rates))]
        self._coders: dict[tuple, BlockCoder] = {}
        self._modems: dict[tuple, Modem] = {}
        self.config = ""
        self.set_variant(str(config))

    def __getstate__(self) -> dict:
        """Picklable (sent to other processes, e.g. Ray workers): the block coders and modems, built
        on first use, are built again there."""
        state = dict(self.__dict__)
        state["_coders"], state["_modems"] = {}, {}
        return state

    # -- configuration table ---------------------------------------------------------------
    def variants(self) -> list[str]:
        return list(self._table)

    def candidate_variants(self, snr_db: float, *, fading: bool, keep: int = 4) -> list[str]:
        """The configurations an envelope sweep needs to try at ``snr_db`` (a pruned :meth:`variants`).

        A configuration whose spectral efficiency ``m * rate`` exceeds the capacity
        ``log2(1 + SNR)`` cannot decode reliably (5G LDPC needs 1.7-3.1 dB above its Shannon
        threshold here, ``semcom experiment ldpc-bler``), so it loses every frame and is never the
        best.  On a non-fading channel the best is then among the ``keep`` most efficient that
        remain (more source bits win once the code decodes); on a fading channel, where outage
        favours lower rates, all that remain are kept.  If none remains, the least efficient is
        tried.  ``--all-configs`` evaluates the whole table instead.
        """
        cap = math.log2(1.0 + 10.0 ** (float(snr_db) / 10.0))
        eff = {v: MODULATIONS[parse_config(v)[0]][1] * float(parse_config(v)[1]) for v in self._table}
        feasible = sorted((v for v in self._table if eff[v] <= cap + 1e-9), key=lambda v: -eff[v])
        if not feasible:
            return [min(self._table, key=lambda v: eff[v])]
        return feasible if fading else feasible[:keep]

    def set_variant(self, name: str) -> None:
        if name not in self._table:
            parse_config(name)  # a malformed name gets the format message
            raise ValueError(f"configuration {name!r} is not in this codec's table ({', '.join(self._table)})")
        self.config = name
        self.modulation, self.code_rate = parse_config(name)
        self.num_bits_per_symbol = MODULATIONS[self.modulation][1]

    def plan(self, height: int, width: int) -> BlockPlan:
        """The LDPC block layout of the active configuration for an ``height x width`` frame."""
        uses = channel_uses_budget(self.cbr, height, width)
        plan = BlockPlan.for_budget(channel_uses=uses, num_bits_per_symbol=self.num_bits_per_symbol,
                                    code_rate=self.code_rate, crc_bits=CRC_BITS[self.crc],
                                    max_block_bits=self.max_block_bits)
        if plan is None:
            raise SemcomError(f"CBR {self.cbr:.4g} gives {uses} channel uses at {height}x{width}: too few for "
                              f"one LDPC block with {self.config}")
        return plan

    def source_budget_bits(self, height: int, width: int) -> int:
        """Bits available to the source payload (after CRCs and the header)."""
        return max(0, self.plan(height, width).payload_bits - 8 * self.header_bytes)

    def _block_coder(self, plan: BlockPlan, device: torch.device) -> BlockCoder:
        key = (plan, str(device))
        bc = self._coders.get(key)
        if bc is None:
            shared = (plan, self.crc, self.num_iter, self.early_stop, str(device))
            bc = _BLOCK_CODERS.get(shared)
            if bc is None:  # building one costs 0.1-0.2 s (5 s for the first: sionna's set-up)
                if len(_BLOCK_CODERS) >= 256:
                    _BLOCK_CODERS.clear()
                with phase("ldpc_setup"):
                    bc = _BLOCK_CODERS[shared] = BlockCoder(plan=plan, crc=self.crc, num_iter=self.num_iter,
                                                            early_stop=self.early_stop, device=device)
            self._coders[key] = bc
        return bc

    def _modem(self, device: torch.device) -> Modem:
        key = (self.modulation, str(device))
        md = self._modems.get(key)
        if md is None:
            md = self._modems[key] = Modem(modulation=self.modulation, device=device)
        return md

    # -- transmitter -----------------------------------------------------------------------
    def encode(self, batch: Batch, *, snr_db: torch.Tensor) -> Transmission:
        frames = batch.blurry if self.source == "blurry" else batch.sharp
        b, _, h, w = frames.shape
        device = frames.device
        plan = self.plan(h, w)
        budget = max(0, plan.payload_bits - 8 * self.header_bytes)
        bits = np.zeros((b, plan.payload_bits), np.float32)
        payload_bits = torch.zeros(b)
        quality = torch.full((b,), -1.0)
        for i in range(b):
            code = self.coder.fit(to_uint8(frames[i]), budget)
            payload = b"" if code is None else code.payload
            header = FrameHeader(w, h, self._fmt, 0 if code is None else code.quality, len(payload))
            bits[i] = _bytes_to_bits(header.pack(self.header_bytes) + payload, plan.payload_bits)
            if code is not None:
                payload_bits[i] = 8 * len(payload)
                quality[i] = code.quality
        coded = self._block_coder(plan, device).encode(torch.from_numpy(bits).to(device))
        symbols = self._modem(device).map(coded)
        state = DigitalState(self.config, plan, (h, w), payload_bits, quality)
        return Transmission(symbols, plan.num_symbols, (3, h, w), state)

    def reachable_images(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The only two images the receiver can show for each frame under the active configuration,
        whatever the channel does: the source decode of the payload :meth:`encode` would send (every
        block's CRC passed) and the fallback (a block lost, or nothing fitted) -> two ``[B, 3, H, W]``.

        A sweep's envelope uses them to skip a configuration that cannot beat one already decoded
        (its best case is no better): the receiver decodes exactly these payload bytes.
        """
        frames = batch.blurry if self.source == "blurry" else batch.sharp
        b, _, h, w = frames.shape
        budget = max(0, self.plan(h, w).payload_bits - 8 * self.header_bytes)
        payloads: list[bytes | None] = []
        for i in range(b):
            code = self.coder.fit(to_uint8(frames[i]), budget)
            payloads.append(None if code is None else code.payload)
        images, _ = decode_frames(self.coder, payloads, height=h, width=w, fallback=self.fallback)
        return images.to(frames.device), fallback_images(self.fallback, b, h, w).to(frames.device)

    # -- receiver --------------------------------------------------------------------------
    def decode(self, received: ChannelOutput, tx: Transmission, *, snr_db: torch.Tensor) -> Reception:
        st: DigitalState = tx.state
        if st.config != self.config:
            raise ValueError(f"transmission was made with {st.config}, the codec is set to {self.config}")
        plan = st.plan
        h, w = st.frame_hw
        y = received.equalized[:, :plan.num_symbols]
        nv = torch.broadcast_to(torch.as_tensor(received.noise_var, device=y.device), received.equalized.shape)
        llr = self._modem(y.device).demap(y, nv[:, :plan.num_symbols])
        bits, block_ok = self._block_coder(plan, y.device).decode(llr)
        bits_np = bits.detach().cpu().numpy().astype(np.uint8)
        block_ok = block_ok.cpu()
        payloads: list[bytes | None] = []
        for i in range(bits_np.shape[0]):
            payloads.append(self._parse_frame(bits_np[i], h, w) if bool(block_ok[i].all()) else None)
        images, failed = decode_frames(self.coder, payloads, height=h, width=w, fallback=self.fallback)
        errors = (~block_ok).sum(1).float()
        no_fit = (st.payload_bits == 0).float()
        extras = {
            "decode_failed": failed,
            "no_fit": no_fit,
            "block_errors": errors,
            "bler": errors / plan.num_blocks,
            "payload_bits": st.payload_bits.float(),
            "bpp": st.payload_bits.float() / (h * w),
            "quality": st.quality.float(),
        }
        return Reception(images.to(received.equalized.device), extras=extras)

    def _parse_frame(self, bits: np.ndarray, h: int, w: int) -> bytes | None:
        """Header + payload bytes of a frame whose blocks all passed their CRC (``None``: unusable)."""
        data = _bits_to_bytes(bits)
        if len(data) < max(self.header_bytes, _HEADER.size):  # a budget too small for the header carries nothing
            return None
        head = FrameHeader.unpack(data)
        body = data[self.header_bytes:]
        if (head.width, head.height) != (w, h) or head.fmt != self._fmt or head.length == 0 \
                or head.length > len(body):
            return None
        return body[:head.length]
