"""Budget arithmetic of the digital baseline: LDPC block plans, configurations, capacity bits."""

import math
from fractions import Fraction

import pytest

from semcom.codecs.digital.capacity import BpgCapacity, capacity_bits, margin_name
from semcom.codecs.digital.ldpc import BlockPlan, parse_code_rate
from semcom.codecs.digital.separate import BpgLdpc, parse_config
from semcom.conventions import channel_uses_budget

MODS = {"bpsk": 1, "qpsk": 2, "16qam": 4, "64qam": 6, "256qam": 8}
RATES = [Fraction(1, 3), Fraction(1, 2), Fraction(2, 3), Fraction(3, 4), Fraction(5, 6)]


def test_plan_known_values():
    # 128x128 at CBR 1/48: 1024 uses; QPSK rate 1/2 -> one block of 2048 coded bits
    uses = channel_uses_budget(1 / 48, 128, 128)
    assert uses == 1024
    p = BlockPlan.for_budget(channel_uses=uses, num_bits_per_symbol=2, code_rate=Fraction(1, 2))
    assert (p.num_blocks, p.n, p.k, p.crc_bits) == (1, 2048, 1024, 24)
    assert p.payload_bits == 1000 and p.num_symbols == 1024
    # 256x256 at 1/48, 256QAM 5/6: 32768 coded bits -> 6 blocks of 5456 bits (682 symbols)
    p = BlockPlan.for_budget(channel_uses=4096, num_bits_per_symbol=8, code_rate=Fraction(5, 6))
    assert (p.num_blocks, p.n, p.k) == (6, 5456, 4546)
    assert p.payload_bits == 6 * (4546 - 24) and p.num_symbols == 4092


@pytest.mark.parametrize("uses", [300, 1024, 4096, 12288])
@pytest.mark.parametrize("mod", list(MODS))
def test_plan_invariants(uses, mod):
    m = MODS[mod]
    for r in RATES:
        p = BlockPlan.for_budget(channel_uses=uses, num_bits_per_symbol=m, code_rate=r)
        assert p.num_symbols <= uses and p.n <= 6144 and p.n % m == 0
        assert p.k == math.floor(p.n * r)
        ideal = math.floor(uses * m * r)
        # what rounding costs: the CRCs plus under one symbol and one bit per block
        assert ideal - p.num_blocks * (24 + m + 1) <= p.payload_bits <= ideal - 24 * p.num_blocks


def test_plan_too_small_is_none():
    assert BlockPlan.for_budget(channel_uses=10, num_bits_per_symbol=2, code_rate=Fraction(1, 3)) is None
    assert BlockPlan.for_budget(channel_uses=0, num_bits_per_symbol=2, code_rate=Fraction(1, 2)) is None


def test_code_rate_and_config_parsing():
    assert parse_code_rate("3/4") == Fraction(3, 4)
    assert parse_config("16qam-3/4") == ("16qam", Fraction(3, 4))
    with pytest.raises(ValueError, match="code rate must lie"):
        parse_code_rate("1")
    with pytest.raises(ValueError, match="malformed configuration"):
        parse_config("qam16-1/2")


def test_codec_table_and_validation():
    codec = BpgLdpc(cbr=1 / 48)
    table = codec.variants()
    assert len(table) == 20 and table[0] == "qpsk-1/3" and "256qam-5/6" in table
    codec.set_variant("64qam-2/3")
    assert (codec.modulation, codec.code_rate, codec.num_bits_per_symbol) == ("64qam", Fraction(2, 3), 6)
    # source budget = LDPC payload less the 22-byte header
    assert codec.source_budget_bits(128, 128) == codec.plan(128, 128).payload_bits - 176
    with pytest.raises(ValueError, match="not in this codec's table"):
        codec.set_variant("bpsk-1/2")
    assert "bpsk-1/2" in BpgLdpc(cbr=1 / 48, modulations=["bpsk", "qpsk"]).variants()
    with pytest.raises(ValueError, match="header_bytes"):
        BpgLdpc(cbr=1 / 48, header_bytes=4)
    with pytest.raises(ValueError, match="fallback"):
        BpgLdpc(cbr=1 / 48, fallback=(0.5, 2.0, 0.5))
    with pytest.raises(ValueError, match="unknown modulation"):
        BpgLdpc(cbr=1 / 48, modulations=["8psk"])
    with pytest.raises(ValueError, match="chroma"):
        BpgLdpc(cbr=1 / 48, coder_options={"chroma": 422})
    with pytest.raises(ValueError, match="unknown source coder"):
        BpgLdpc(cbr=1 / 48, coder="webp2")


def test_capacity_bits_arithmetic():
    # log2(1 + 10^(10/10)) = log2(11) bits per use
    assert capacity_bits(1024, 10.0) == math.floor(1024 * math.log2(11.0))
    assert capacity_bits(1024, 0.0) == 1024                       # log2(2) = 1
    assert capacity_bits(4096, 20.0, 3.0) == math.floor(4096 * math.log2(1 + 10 ** 1.7))
    assert capacity_bits(1000, -100.0) == 0
    cap = BpgCapacity(cbr=1 / 48, margins_db=[0, 3])
    assert cap.variants() == [margin_name(0), margin_name(3)] == ["margin-0dB", "margin-3dB"]
    cap.set_variant("margin-3dB")
    assert cap.margin_db == 3.0
    assert BpgCapacity(cbr=1 / 48).variants() == []
    with pytest.raises(ValueError, match="margins_db"):
        BpgCapacity(cbr=1 / 48, margins_db=[-1.0])


def test_capacity_fixed_rates_follow_bpg_ldpcs_table_and_pruning():
    from semcom.codecs.digital.capacity import mcs_rates, rate_name
    from semcom.codecs.digital.separate import BpgLdpc

    ldpc = BpgLdpc(cbr=1 / 48)
    cap = BpgCapacity(cbr=1 / 48, margins_db=[0, 3], rates="mcs")
    assert {round(r, 6) for r in mcs_rates()} == {round(ldpc_eff(v), 6) for v in ldpc.variants()}
    cap.set_variant(rate_name(4 / 3))
    assert cap.rate == pytest.approx(4 / 3) and cap.margin_db is None
    assert cap.code_bits(3000, 20.0) == 4000
    cap.set_variant("margin-3dB")
    assert cap.code_bits(4096, 20.0) == capacity_bits(4096, 20.0, 3.0)
    for snr_db in (-5.0, 0.0, 7.0, 13.0, 20.0):  # every rate bpg-ldpc tries, the bound tries too
        for fading in (False, True):
            tried = {round(r, 6) for r in (ldpc_eff(v) for v in ldpc.candidate_variants(snr_db, fading=fading))}
            mine = cap.candidate_variants(snr_db, fading=fading)
            assert {"margin-0dB", "margin-3dB"} <= set(mine)
            assert tried <= {round(cap._table[v][1], 6) for v in mine if v.startswith("rate")}, (snr_db, fading)
    with pytest.raises(ValueError, match="rates"):
        BpgCapacity(cbr=1 / 48, rates=[0.0])
    with pytest.raises(ValueError, match="rates"):
        BpgCapacity(cbr=1 / 48, rates="all")


def ldpc_eff(config: str) -> float:
    from semcom.codecs.digital.qam import MODULATIONS
    from semcom.codecs.digital.separate import parse_config

    mod, rate = parse_config(config)
    return MODULATIONS[mod][1] * float(rate)
