"""BLER of the 5G LDPC + QAM configurations on AWGN, and their gap to capacity (``results/ldpc-bler/``).

For each (modulation, code rate) of the ``bpg-ldpc`` table, with the block layout the link uses for a
``size`` x ``size`` frame at ``cbr``, the SNR is scanned upwards in ``step`` dB from the Shannon threshold of
the configuration's spectral efficiency ``eta = m * r`` (``10 log10(2^eta - 1)``: complex AWGN, Gaussian
inputs); at each point the block error rate is measured (a block is in error when its CRC fails) until it
is at most ``target``.  The SNR at the target is interpolated linearly in log10(BLER) between the two
points around it (a point without errors counts 0.5).  Tables: ``ldpc_bler.csv`` (one row per
configuration) and ``ldpc_bler_curves.csv`` (every point).  The full run takes about 4 minutes on one core.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from semcom.codecs.digital.ldpc import BlockCoder, BlockPlan, parse_code_rate
from semcom.codecs.digital.qam import Modem, bits_per_symbol
from semcom.conventions import channel_uses_budget, parse_cbr
from semcom.experiments.base import Results, experiment


@dataclass(frozen=True)
class LdpcBlerConfig:
    """Args: ``size`` frame side (sets the block layout); ``cbr`` as text; ``target`` the BLER target;
    ``step`` the SNR step in dB; ``max_blocks`` per point at most; ``batch`` blocks per decoder call;
    ``enough_errors`` ends a point early; ``num_iter`` BP iterations (fixed); ``threads`` torch threads."""

    size: int = 128
    cbr: str = "1/48"
    modulations: tuple[str, ...] = ("qpsk", "16qam", "64qam", "256qam")
    rates: tuple[str, ...] = ("1/3", "1/2", "2/3", "3/4", "5/6")
    target: float = 1e-2
    step: float = 0.5
    max_blocks: int = 128
    batch: int = 32
    enough_errors: int = 24
    num_iter: int = 20
    threads: int = 1
    seed: int = 0


TINY = LdpcBlerConfig(size=64, modulations=("qpsk",), rates=("1/2",), step=1.0, max_blocks=8, batch=8,
                      enough_errors=4, num_iter=5)


def shannon_snr_db(eta: float) -> float:
    """The least SNR (dB) at which complex AWGN carries ``eta`` bits per channel use."""
    return 10 * math.log10(2.0 ** eta - 1.0)


def block_errors(coder: BlockCoder, modem: Modem, snr_db: float, *, max_blocks: int, batch: int,
                 enough_errors: int, generator: torch.Generator) -> tuple[int, int]:
    """(block errors, blocks) at one SNR, stopping once ``enough_errors`` errors are seen."""
    plan = coder.plan
    noise_var = 10.0 ** (-snr_db / 10.0)
    errors = blocks = 0
    frames = max(1, batch // plan.num_blocks)
    while blocks < max_blocks and errors < enough_errors:
        u = torch.randint(0, 2, (frames, plan.payload_bits), generator=generator).float()
        x = modem.map(coder.encode(u))
        noise = torch.complex(torch.randn(x.shape, generator=generator), torch.randn(x.shape, generator=generator))
        y = x + noise * math.sqrt(noise_var / 2)
        _, ok = coder.decode(modem.demap(y, torch.full(y.shape, noise_var)))
        errors += int((~ok).sum())
        blocks += ok.numel()
    return errors, blocks


def snr_at_target(points: list[tuple[float, int, int, float]], target: float) -> float:
    """The SNR where the BLER crosses ``target``, interpolated in log10(BLER) between the last two points
    (``(snr, errors, blocks, bler)``); NaN when the scan never reached the target."""
    if len(points) >= 2 and points[-1][3] <= target:
        (s0, e0, n0, _), (s1, e1, n1, _) = points[-2], points[-1]
        l0 = math.log10(max(e0, 0.5) / n0)
        l1 = math.log10(max(e1, 0.5) / n1)
        lt = math.log10(target)
        at = s1 if l0 == l1 else s0 + (l0 - lt) / (l0 - l1) * (s1 - s0)
        return min(max(at, s0), s1)
    if len(points) == 1 and points[0][3] <= target:
        return points[0][0]
    return float("nan")


@experiment("ldpc-bler", config=LdpcBlerConfig, tiny=TINY, out="results/ldpc-bler")
def run(cfg: LdpcBlerConfig, results: Results) -> None:
    """BLER of every LDPC + QAM configuration of bpg-ldpc on AWGN and its SNR gap to capacity."""
    torch.set_num_threads(cfg.threads)
    uses = channel_uses_budget(parse_cbr(cfg.cbr), cfg.size, cfg.size)
    gen = torch.Generator().manual_seed(cfg.seed)
    rows, curves = [], []
    results.say(f"# {cfg.size}x{cfg.size} frame, CBR {cfg.cbr}: {uses} channel uses; BP {cfg.num_iter} iterations; "
                f"BLER target {cfg.target:g}, <= {cfg.max_blocks} blocks per point")
    for mod in cfg.modulations:
        m = bits_per_symbol(mod)
        modem = Modem(modulation=mod)
        for rate_text in cfg.rates:
            rate = parse_code_rate(rate_text)
            plan = BlockPlan.for_budget(channel_uses=uses, num_bits_per_symbol=m, code_rate=rate)
            coder = BlockCoder(plan=plan, num_iter=cfg.num_iter, early_stop=False)  # fixed iterations
            eta = m * float(rate)
            shannon = shannon_snr_db(eta)
            start = math.floor(shannon / cfg.step) * cfg.step
            t = time.perf_counter()
            points = []
            snr = start
            while True:
                err, n = block_errors(coder, modem, snr, max_blocks=cfg.max_blocks, batch=cfg.batch,
                                      enough_errors=cfg.enough_errors, generator=gen)
                points.append((snr, err, n, err / n))
                curves.append({"config": f"{mod}-{rate_text}", "snr_db": snr, "block_errors": err, "blocks": n,
                               "bler": err / n})
                if err / n <= cfg.target or snr > start + 12:
                    break
                snr = round(snr + cfg.step, 6)
            at = snr_at_target(points, cfg.target)
            rows.append({"config": f"{mod}-{rate_text}", "num_bits_per_symbol": m, "code_rate": rate_text,
                         "num_blocks": plan.num_blocks, "n": plan.n, "k": plan.k, "spectral_efficiency": round(eta, 4),
                         "shannon_snr_db": round(shannon, 3), "snr_at_target_db": round(at, 3),
                         "gap_db": round(at - shannon, 3), "points": len(points),
                         "blocks_simulated": sum(p[2] for p in points), "seconds": round(time.perf_counter() - t, 1)})
            results.say(f"{mod}-{rate_text}: {plan.num_blocks} x {plan.n}, eta {eta:.2f}, Shannon {shannon:.2f} dB, "
                        f"BLER {cfg.target:g} at {at:.2f} dB (gap {at - shannon:.2f} dB)")
    results.table("ldpc_bler.csv", rows)
    results.table("ldpc_bler_curves.csv", curves)
