"""Segmented 5G NR LDPC coding with a CRC per block, through Sionna 2.x.

Follows 3GPP TS 38.212: the payload is cut into code blocks (Sec. 5.2.2, here of equal
size), each block gets a CRC (CRC24B, the code-block CRC of Sec. 5.1) so the receiver can
tell a failed block, and each block is LDPC-encoded with the rate-matched 5G code
(Sec. 5.3.2 and 5.4.2, ``sionna.phy.fec.ldpc.LDPC5GEncoder`` including its bit interleaver
for higher-order modulation) and decoded by belief propagation (``LDPC5GDecoder``, 20
flooding iterations by default).  The coded bits are then scrambled with a fixed,
protocol-known pseudo-random sequence (as 38.211 Sec. 7.3.1.1 scrambles the PDSCH) so that
padding zeros do not map onto one corner of a QAM constellation; the constellation keeps
its unit average energy.

All blocks of all frames in a batch have the same length, so one decoder call handles the
whole batch.

Early termination (``early_stop``, on by default): as practical 5G receivers do, the
decoder stops a block once its CRC passes.  BP runs in rounds of a few iterations (1, 1, 2,
4, 4, 8 ... up to ``num_iter``), the decoder state (the variable-to-check messages) carried
from round to round, which for the flooding schedule is exactly the same computation as one
uninterrupted run; after each round the blocks whose CRC passes keep that round's bits and
leave the batch.  A block that never passes gets all ``num_iter`` iterations, as before, so
failures are unchanged; a block whose CRC passes early may differ from the fixed-iteration
output only where BP would have drifted off a valid codeword later.  Each CRC24 check passes
wrong bits with probability about 2^-24 = 6e-8, and a block is checked up to 6 times instead
of once, so a false pass stays below 4e-7 per block.  ``early_stop=False`` always runs
``num_iter`` iterations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import torch
from torch import nn

from semcom.profiling import phase

__all__ = ["BlockPlan", "BlockCoder", "parse_code_rate", "CRC_BITS", "MAX_BLOCK_BITS"]

#: length of each supported CRC, bits (TS 38.212 Sec. 5.1)
CRC_BITS = {"CRC24A": 24, "CRC24B": 24, "CRC24C": 24, "CRC16": 16, "CRC11": 11, "CRC6": 6}
#: default longest codeword per block, coded bits
MAX_BLOCK_BITS = 6144
#: smallest information length (CRC included) the 5G encoder accepts
MIN_LDPC_K = 12
#: seed of the scrambling sequence (a protocol constant, not a random draw of the run)
SCRAMBLER_SEED = 0x5EED


def parse_code_rate(rate: str | float | Fraction) -> Fraction:
    """``"1/2"``, ``0.5`` or ``Fraction(1, 2)`` -> ``Fraction(1, 2)``; must lie in (0, 0.95]."""
    try:
        value = Fraction(str(rate).strip()) if not isinstance(rate, Fraction) else rate
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"malformed code rate {rate!r}: expected a fraction like 1/2") from None
    if not 0 < value <= Fraction(95, 100):
        raise ValueError(f"code rate must lie in (0, 0.95] (5G LDPC), got {rate!r}")
    return value


@dataclass(frozen=True)
class BlockPlan:
    """How a budget of channel uses is filled with LDPC code blocks.

    Args:
        num_blocks: code blocks per frame.
        n: coded bits per block (a multiple of ``num_bits_per_symbol``).
        k: information bits per block, CRC included (``floor(n * code_rate)``).
        crc_bits: CRC bits per block.
        num_bits_per_symbol: bits per complex symbol of the modulation.
    """

    num_blocks: int
    n: int
    k: int
    crc_bits: int
    num_bits_per_symbol: int

    @property
    def payload_bits(self) -> int:
        """Information bits per frame, CRCs excluded (header and source payload)."""
        return self.num_blocks * (self.k - self.crc_bits)

    @property
    def coded_bits(self) -> int:
        return self.num_blocks * self.n

    @property
    def num_symbols(self) -> int:
        """Complex channel uses actually sent per frame."""
        return self.coded_bits // self.num_bits_per_symbol

    @classmethod
    def for_budget(cls, *, channel_uses: int, num_bits_per_symbol: int, code_rate: Fraction,
                   crc_bits: int = 24, max_block_bits: int = MAX_BLOCK_BITS) -> "BlockPlan | None":
        """The plan for ``channel_uses`` symbols, or ``None`` if not even one block fits.

        ``ceil(uses * m / max_block_bits)`` blocks of equal length ``n`` (rounded down to a
        whole number of symbols); unused channel uses (fewer than one symbol per block) are
        not sent.
        """
        m = int(num_bits_per_symbol)
        if channel_uses < 1:
            return None
        total = channel_uses * m
        nb = max(1, math.ceil(total / max_block_bits))
        n = (total // nb) // m * m
        k = math.floor(n * code_rate)
        if n < m or k < max(MIN_LDPC_K, crc_bits + 1):
            return None
        return cls(num_blocks=nb, n=n, k=k, crc_bits=crc_bits, num_bits_per_symbol=m)


def _rounds(num_iter: int) -> list[int]:
    """Iterations per early-termination round: 1, 1, 2, 4, 4, 8, 8, ... summing to ``num_iter``."""
    out, done, step = [], 0, (1, 1, 2, 4, 4)
    while done < num_iter:
        r = min(step[len(out)] if len(out) < len(step) else 8, num_iter - done)
        out.append(r)
        done += r
    return out


class BlockCoder(nn.Module):
    """CRC + 5G LDPC + scrambling for one :class:`BlockPlan`.

    Args:
        plan: block layout.
        crc: CRC polynomial name (``"CRC24B"``: 38.212's code-block CRC).
        num_iter: BP iterations of the decoder (at most, with ``early_stop``).
        device: torch device of the Sionna blocks.
        early_stop: stop each block once its CRC passes (see the module notes).

    Shape:
        encode: bits ``[B, plan.payload_bits]`` float32 in {0, 1} -> coded bits
        ``[B, plan.coded_bits]`` float32 (block after block).
        decode: LLRs ``[B, plan.coded_bits]`` float32 (logits of bit = 1) -> bits
        ``[B, plan.payload_bits]`` float32 and ``block_ok`` ``[B, plan.num_blocks]`` bool.
    """

    def __init__(self, *, plan: BlockPlan, crc: str = "CRC24B", num_iter: int = 20,
                 device: str | torch.device = "cpu", early_stop: bool = True) -> None:
        super().__init__()
        from sionna.phy.fec.crc import CRCDecoder, CRCEncoder
        from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

        if crc not in CRC_BITS:
            raise ValueError(f"unknown CRC {crc!r}; expected one of {', '.join(CRC_BITS)}")
        if CRC_BITS[crc] != plan.crc_bits:
            raise ValueError(f"plan reserves {plan.crc_bits} CRC bits but {crc} has {CRC_BITS[crc]}")
        if int(num_iter) != num_iter or num_iter < 1:
            raise ValueError(f"num_iter must be a positive integer, got {num_iter}")
        self.plan = plan
        self.num_iter = int(num_iter)
        self.early_stop = bool(early_stop)
        dev = str(device)
        m = plan.num_bits_per_symbol
        self.crc_encoder = CRCEncoder(crc, k=plan.k - plan.crc_bits, device=dev)
        self.crc_decoder = CRCDecoder(self.crc_encoder, device=dev)
        self.encoder = LDPC5GEncoder(plan.k, plan.n, num_bits_per_symbol=m if m > 1 else None, device=dev)
        self.decoder = LDPC5GDecoder(self.encoder, num_iter=int(num_iter), hard_out=True,
                                     return_infobits=True, return_state=True, device=dev)
        gen = torch.Generator().manual_seed(SCRAMBLER_SEED)
        seq = torch.randint(0, 2, (plan.coded_bits,), generator=gen).to(device=dev, dtype=torch.float32)
        self.register_buffer("scrambler", seq, persistent=False)

    def encode(self, bits: torch.Tensor) -> torch.Tensor:
        p = self.plan
        b = bits.shape[0]
        if bits.shape[-1] != p.payload_bits:
            raise ValueError(f"expected {p.payload_bits} payload bits per frame, got {bits.shape[-1]}")
        with phase("ldpc_encode"):
            blocks = bits.to(torch.float32).reshape(b * p.num_blocks, p.k - p.crc_bits)
            cw = self.encoder(self.crc_encoder(blocks)).reshape(b, p.coded_bits)
            return torch.remainder(cw + self.scrambler, 2.0)

    def descramble(self, llr: torch.Tensor) -> torch.Tensor:
        """Undo the scrambling on LLRs: flip the sign where the sequence is 1."""
        return llr * (1.0 - 2.0 * self.scrambler)

    def decode_blocks(self, llr_blocks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Descrambled LLRs ``[N, n]`` -> info bits ``[N, k - crc]`` and CRC pass ``[N]``."""
        if not self.early_stop:
            bits, ok = self.crc_decoder(self.decoder(llr_blocks)[0])
            return bits, ok[..., 0]
        n_blocks = llr_blocks.shape[0]
        k = self.plan.k - self.plan.crc_bits
        bits = torch.zeros(n_blocks, k, dtype=torch.float32, device=llr_blocks.device)
        ok = torch.zeros(n_blocks, dtype=torch.bool, device=llr_blocks.device)
        active = torch.arange(n_blocks, device=llr_blocks.device)
        llr, state = llr_blocks, None
        schedule = _rounds(self.num_iter)
        for i, iters in enumerate(schedule):
            u_hat, state = self.decoder(llr, num_iter=iters, msg_v2c=state)
            b, passed = self.crc_decoder(u_hat)
            passed = passed[..., 0]
            last = i == len(schedule) - 1 or bool(passed.all())
            keep = torch.ones_like(passed) if last else passed
            bits[active[keep]] = b[keep].to(torch.float32)
            ok[active[keep]] = passed[keep]
            if last:
                break
            active, llr, state = active[~passed], llr[~passed], state[~passed]
        return bits, ok

    def decode(self, llr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.plan
        b = llr.shape[0]
        if llr.shape[-1] != p.coded_bits:
            raise ValueError(f"expected {p.coded_bits} LLRs per frame, got {llr.shape[-1]}")
        with phase("ldpc_decode"):
            blocks = self.descramble(llr.to(torch.float32)).reshape(b * p.num_blocks, p.n)
            bits, ok = self.decode_blocks(blocks)
        return bits.reshape(b, p.payload_bits), ok.reshape(b, p.num_blocks)
