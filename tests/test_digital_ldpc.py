"""QAM mapping/demapping conventions and the segmented 5G LDPC coder (through Sionna)."""

import math
from fractions import Fraction

import pytest
import torch

from semcom.codecs.digital.ldpc import BlockCoder, BlockPlan
from semcom.codecs.digital.qam import LLR_CLIP, Modem


def awgn(x, noise_var, gen):
    n = torch.complex(torch.randn(x.shape, generator=gen), torch.randn(x.shape, generator=gen))
    return x + n * math.sqrt(noise_var / 2)


@pytest.mark.parametrize("mod,m", [("bpsk", 1), ("qpsk", 2), ("16qam", 4), ("64qam", 6), ("256qam", 8)])
def test_constellation_unit_energy_and_app_llrs(mod, m):
    modem = Modem(modulation=mod)
    labels = torch.tensor([[(i >> (m - 1 - j)) & 1 for j in range(m)] for i in range(2 ** m)], dtype=torch.float32)
    points = modem.map(labels.reshape(1, -1))[0]                       # [2^m]
    assert points.abs().square().mean().item() == pytest.approx(1.0, abs=1e-5)
    # independent APP LLR with the complex noise variance N0: exp(-|y - c|^2 / N0)
    gen = torch.Generator().manual_seed(m)
    y = torch.complex(torch.randn(50, generator=gen), torch.randn(50, generator=gen)) * 0.8
    n0 = 0.3
    metric = -(y[:, None] - points[None]).abs().square() / n0           # [50, 2^m]
    ref = torch.stack([torch.logsumexp(metric[:, labels[:, j] == 1], 1) - torch.logsumexp(metric[:, labels[:, j] == 0], 1)
                       for j in range(m)], 1).reshape(-1)
    got = modem.demap(y[None], torch.full((1, 50), n0))[0]
    assert torch.allclose(got, ref, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("mod", ["qpsk", "16qam", "64qam", "256qam"])
def test_square_qam_is_demapped_per_dimension_like_sionnas_full_app_rule(mod):
    modem = Modem(modulation=mod)
    assert modem._dims is not None                       # the product structure was found
    gen = torch.Generator().manual_seed(3)
    bits = torch.randint(0, 2, (2, 600 * modem.num_bits_per_symbol), generator=gen).float()
    x = modem.map(bits)
    for n0 in (1.0, 0.05, 1e-4):
        y = awgn(x, n0, gen)
        nv = torch.full(y.shape, n0)
        ref = modem.demapper(y, nv).clamp(-LLR_CLIP, LLR_CLIP)   # Sionna: sum over all 2^m points
        assert torch.allclose(modem.demap(y, nv), ref, rtol=1e-4, atol=1e-3)


def test_uncoded_qpsk_ber_matches_theory():
    # Es/N0 = 6 dB with Es = 1 and N0 the complex noise variance: BER = Q(sqrt(Es/N0))
    gen = torch.Generator().manual_seed(0)
    modem = Modem(modulation="qpsk")
    bits = torch.randint(0, 2, (1, 200_000), generator=gen).float()
    snr = 10 ** 0.6
    y = awgn(modem.map(bits), 1 / snr, gen)
    ber = ((modem.demap(y, 1 / snr) > 0).float() != bits).float().mean().item()
    theory = 0.5 * math.erfc(math.sqrt(snr) / math.sqrt(2))
    assert ber == pytest.approx(theory, rel=0.06)


@pytest.mark.parametrize("mod,m,rate", [("bpsk", 1, Fraction(1, 3)), ("16qam", 4, Fraction(2, 3)),
                                        ("256qam", 8, Fraction(5, 6))])
def test_block_coder_noiseless_round_trip(mod, m, rate):
    plan = BlockPlan.for_budget(channel_uses=1600, num_bits_per_symbol=m, code_rate=rate)
    coder, modem = BlockCoder(plan=plan), Modem(modulation=mod)
    gen = torch.Generator().manual_seed(1)
    u = torch.randint(0, 2, (2, plan.payload_bits), generator=gen).float()
    x = modem.map(coder.encode(u))
    assert x.shape == (2, plan.num_symbols)
    assert x.abs().square().mean().item() == pytest.approx(1.0, abs=0.05)   # scrambled: no corner bias
    bits, ok = coder.decode(modem.demap(x, torch.zeros(x.shape)))         # noiseless: noise_var 0
    assert ok.all() and torch.equal(bits, u)


def test_scrambler_spreads_all_zero_payload():
    plan = BlockPlan.for_budget(channel_uses=1024, num_bits_per_symbol=8, code_rate=Fraction(1, 2))
    coded = BlockCoder(plan=plan).encode(torch.zeros(1, plan.payload_bits))
    assert 0.4 < coded.mean().item() < 0.6
    x = Modem(modulation="256qam").map(coded)
    assert x.abs().square().mean().item() == pytest.approx(1.0, abs=0.1)


def test_bler_falls_with_snr_and_crc_flags_errors():
    plan = BlockPlan.for_budget(channel_uses=512, num_bits_per_symbol=2, code_rate=Fraction(1, 2))
    coder, modem = BlockCoder(plan=plan), Modem(modulation="qpsk")
    gen = torch.Generator().manual_seed(2)
    u = torch.randint(0, 2, (40, plan.payload_bits), generator=gen).float()
    x = modem.map(coder.encode(u))
    blers = []
    for snr_db in (-1.0, 1.5, 4.0):
        nv = 10 ** (-snr_db / 10)
        bits, ok = coder.decode(modem.demap(awgn(x, nv, gen), nv))
        wrong = (bits != u).any(1)
        assert torch.equal(~ok[:, 0], wrong)       # the CRC flags exactly the wrong blocks here
        blers.append(1 - ok.float().mean().item())
    assert blers[0] >= blers[1] >= blers[2]
    assert blers[0] > 0.9 and blers[2] == 0.0


@pytest.mark.parametrize("snr_db", [1.0, 3.0])
def test_crc_early_termination_decides_like_the_full_iteration_count(snr_db):
    # near the threshold some blocks pass, some fail: same outcome and bits with and without early stop
    plan = BlockPlan.for_budget(channel_uses=2048, num_bits_per_symbol=2, code_rate=Fraction(1, 2))
    early, full = BlockCoder(plan=plan), BlockCoder(plan=plan, early_stop=False)
    modem = Modem(modulation="qpsk")
    gen = torch.Generator().manual_seed(4)
    u = torch.randint(0, 2, (12, plan.payload_bits), generator=gen).float()
    nv = 10 ** (-snr_db / 10)
    llr = modem.demap(awgn(modem.map(early.encode(u)), nv, gen), nv)
    (b1, ok1), (b2, ok2) = early.decode(llr), full.decode(llr)
    assert torch.equal(ok1, ok2)
    assert torch.equal(b1, b2)
    if snr_db > 2.5:
        assert ok1.all()
    else:
        assert 0 < ok1.float().mean() < 1                  # a mixed batch: both paths exercised


def test_block_coder_validates():
    plan = BlockPlan.for_budget(channel_uses=512, num_bits_per_symbol=2, code_rate=Fraction(1, 2))
    with pytest.raises(ValueError, match="unknown CRC"):
        BlockCoder(plan=plan, crc="CRC32")
    with pytest.raises(ValueError, match="CRC bits"):
        BlockCoder(plan=plan, crc="CRC16")
    with pytest.raises(ValueError, match="payload bits"):
        BlockCoder(plan=plan).encode(torch.zeros(1, 10))
    with pytest.raises(ValueError, match="unknown modulation"):
        Modem(modulation="8psk")
