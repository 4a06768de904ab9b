"""Channels: measured SNR, uncoded QPSK error rates against closed forms, fading statistics,
reproducibility, gradients and argument validation."""

import math

import pytest
import torch

from semcom.channels import ChannelOutput
from semcom.channels.awgn import AWGN, complex_normal
from semcom.channels.ideal import IdealChannel
from semcom.channels.rayleigh import Rayleigh
from semcom.conventions import normalize_power
from semcom.errors import SemcomError
from semcom.registry import CHANNELS


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def qfunc(x: float) -> float:
    """Gaussian tail probability Q(x) = P(N(0,1) > x)."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def qpsk(bits: torch.Tensor) -> torch.Tensor:
    """Gray QPSK with unit energy: bit pairs (b0, b1) -> ((1 - 2 b0) + j (1 - 2 b1)) / sqrt(2)."""
    s = 1.0 - 2.0 * bits.float()
    return torch.complex(s[..., 0::2], s[..., 1::2]) / math.sqrt(2.0)


def qpsk_hard(symbols: torch.Tensor) -> torch.Tensor:
    """Sign decisions of Gray QPSK, the bits interleaved back as (b0, b1) per symbol."""
    b = torch.stack([symbols.real < 0, symbols.imag < 0], dim=-1)
    return b.reshape(*symbols.shape[:-1], -1).to(torch.uint8)


def qpsk_ber(channel, snr_db: float, n_symbols: int, seed: int) -> float:
    g = gen(seed)
    bits = torch.randint(0, 2, (1, 2 * n_symbols), generator=g, dtype=torch.uint8)
    out = channel(qpsk(bits), snr_db=snr_db, generator=g)
    return (qpsk_hard(out.equalized) != bits).float().mean().item()


# -- AWGN ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("snr_db", [-3.0, 7.0, 20.0])
def test_awgn_measured_snr(snr_db):
    x = normalize_power(complex_normal((1, 1_000_000), dtype=torch.complex64, device="cpu", generator=gen(1)))
    out = AWGN()(x, snr_db=snr_db, generator=gen(2))
    measured = 10 * math.log10(x.abs().square().mean().item() / (out.y - x).abs().square().mean().item())
    assert abs(measured - snr_db) < 0.05, measured
    # the reported noise variance is N0 = 10^(-snr/10) for every symbol
    torch.testing.assert_close(out.noise_var, torch.full_like(out.noise_var, 10 ** (-snr_db / 10)))
    assert out.noise_var.dtype == torch.float32 and out.noise_var.shape == x.shape
    assert out.equalized is out.y and torch.equal(out.h, torch.ones_like(x))


@pytest.mark.parametrize("snr_db", [0.0, 5.0, 10.0])
def test_awgn_qpsk_ber_matches_closed_form(snr_db):
    expected = qfunc(math.sqrt(10 ** (snr_db / 10)))          # Gray QPSK, per bit, Es/N0 = SNR
    n_symbols = math.ceil(8000 / (2 * expected))               # about 8000 expected bit errors
    ber = qpsk_ber(AWGN(), snr_db, n_symbols, seed=int(snr_db) + 10)
    assert abs(ber / expected - 1) < 0.05, (ber, expected)


def test_awgn_error_rate_falls_with_snr():
    bers = [qpsk_ber(AWGN(), s, 100_000, seed=3) for s in (0.0, 3.0, 6.0)]
    assert bers[0] > bers[1] > bers[2] > 0


# -- Rayleigh -----------------------------------------------------------------------------------

@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_rayleigh_fast_qpsk_ber_matches_closed_form(snr_db):
    gamma = 10 ** (snr_db / 10) / 2                            # Eb/N0 with 2 bits per symbol
    expected = 0.5 * (1 - math.sqrt(gamma / (1 + gamma)))
    n_symbols = math.ceil(16000 / (2 * expected))
    ber = qpsk_ber(Rayleigh(fading="fast"), snr_db, n_symbols, seed=int(snr_db) + 20)
    assert abs(ber / expected - 1) < 0.05, (ber, expected)


def test_rayleigh_block_fading_many_blocks_matches_closed_form():
    # 10 dB, 16 symbols per block, 40000 blocks: the average over blocks converges too
    gamma = 10.0 / 2
    expected = 0.5 * (1 - math.sqrt(gamma / (1 + gamma)))
    ber = qpsk_ber(Rayleigh(fading="block", coherence=16), 10.0, 16 * 40_000, seed=5)
    assert abs(ber / expected - 1) < 0.05, (ber, expected)


def test_rayleigh_is_much_worse_than_awgn_at_high_snr():
    awgn = qpsk_ber(AWGN(), 10.0, 200_000, seed=6)
    fading = qpsk_ber(Rayleigh(fading="fast"), 10.0, 200_000, seed=6)
    assert fading > 20 * awgn


def test_block_fading_constant_within_blocks_and_different_across():
    x = torch.ones(3, 10, dtype=torch.complex64)
    out = Rayleigh(fading="block", coherence=4)(x, snr_db=10.0, generator=gen(0))
    h = out.h
    assert h.shape == x.shape
    for start, stop in ((0, 4), (4, 8), (8, 10)):          # the last block is shorter
        assert torch.equal(h[:, start:stop], h[:, start:start + 1].expand(-1, stop - start))
    firsts = h[:, [0, 4, 8]].reshape(-1)
    assert len(set(firsts.tolist())) == firsts.numel()      # 9 independent draws


def test_block_fading_default_is_one_coefficient_per_row():
    x = torch.ones(4, 50, dtype=torch.complex64)
    h = Rayleigh()(x, snr_db=5.0, generator=gen(1)).h
    assert torch.equal(h, h[:, :1].expand_as(h))
    assert len(set(h[:, 0].tolist())) == 4
    # a coherence longer than the row is one block too
    h2 = Rayleigh(coherence=1000)(x, snr_db=5.0, generator=gen(1)).h
    assert torch.equal(h2, h2[:, :1].expand_as(h2))


def test_block_fading_on_multidimensional_rows():
    x = torch.ones(2, 3, 5, dtype=torch.complex64)
    out = Rayleigh(coherence=4)(x, snr_db=0.0, generator=gen(2))
    assert out.y.shape == out.h.shape == out.equalized.shape == out.noise_var.shape == x.shape
    flat = out.h.reshape(2, 15)
    for start in range(0, 15, 4):
        block = flat[:, start:start + 4]
        assert torch.equal(block, block[:, :1].expand_as(block))
    assert not torch.equal(flat[:, 0], flat[:, 4])


def test_fading_coefficients_are_cn01():
    x = torch.ones(1, 1_000_000, dtype=torch.complex64)
    h = Rayleigh(fading="fast")(x, snr_db=10.0, generator=gen(3)).h
    power = h.abs().square()
    assert abs(power.mean().item() - 1) < 0.01
    assert abs(power.var().item() - 1) < 0.02                   # |h|^2 ~ Exp(1): variance 1
    assert abs(h.real.square().mean().item() - 0.5) < 0.01
    assert abs(h.mean().item()) < 0.01
    assert abs((h * h).mean().item()) < 0.01                    # circular symmetry: E[h^2] = 0
    assert bool((h[:, 1:] != h[:, :-1]).all())                   # a new coefficient every symbol
    # block fading: over many blocks the coefficients have the same law
    hb = Rayleigh(coherence=10)(torch.ones(200, 5000, dtype=torch.complex64), snr_db=0.0, generator=gen(4)).h
    assert abs(hb[:, ::10].abs().square().mean().item() - 1) < 0.02


def test_rayleigh_equalization_and_effective_noise():
    g = gen(7)
    x = complex_normal((4, 50_000), dtype=torch.complex64, device="cpu", generator=g)
    snr = torch.tensor([0.0, 5.0, 10.0, 15.0])
    out = Rayleigh(coherence=100)(x, snr_db=snr, generator=g)
    n0 = 10 ** (-snr / 10)
    torch.testing.assert_close(out.equalized * out.h, out.y)
    torch.testing.assert_close(out.noise_var, n0[:, None] / out.h.abs().square())
    # the raw noise y - h x has variance N0 per row; |eq - x|^2 / noise_var averages 1
    raw = (out.y - out.h * x).abs().square().mean(1)
    torch.testing.assert_close(raw, n0, rtol=0.02, atol=0)
    ratio = ((out.equalized - x).abs().square() / out.noise_var).mean(1)
    torch.testing.assert_close(ratio, torch.ones(4), rtol=0.03, atol=0)


# -- all channels -------------------------------------------------------------------------------

CHANNEL_CASES = [
    ("awgn", {}),
    ("rayleigh", {}),
    ("rayleigh", {"fading": "fast"}),
    ("rayleigh", {"fading": "block", "coherence": 3}),
    ("none", {}),
]


@pytest.mark.parametrize("name,params", CHANNEL_CASES)
def test_gradients_flow(name, params):
    ch = CHANNELS.build(name, **params)
    g = gen(8)
    x0 = complex_normal((2, 30), dtype=torch.complex64, device="cpu", generator=g)
    c = complex_normal((2, 30), dtype=torch.complex64, device="cpu", generator=g)
    x = x0.clone().requires_grad_(True)
    out = ch(x, snr_db=torch.tensor([3.0, 12.0]), generator=gen(9))
    # equalized = x + (noise term independent of x), so d Re<eq, c> / dx = c exactly
    loss = (out.equalized * c.conj()).real.sum()
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    torch.testing.assert_close(x.grad, c)
    x.grad = None
    out = ch(x, snr_db=3.0, generator=gen(9))
    out.y.abs().square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name,params", CHANNEL_CASES)
def test_same_seed_same_output(name, params):
    ch = CHANNELS.build(name, **params)
    x = complex_normal((3, 64), dtype=torch.complex64, device="cpu", generator=gen(10))
    a = ch(x, snr_db=5.0, generator=gen(11))
    b = ch(x, snr_db=5.0, generator=gen(11))
    c = ch(x, snr_db=5.0, generator=gen(12))
    assert isinstance(a, ChannelOutput)
    for field in ("y", "h", "equalized", "noise_var"):
        assert torch.equal(getattr(a, field), getattr(b, field))
        assert getattr(a, field).shape == x.shape
    if name == "none":
        assert torch.equal(a.y, c.y)
    else:
        assert not torch.equal(a.y, c.y)


@pytest.mark.parametrize("name", ["awgn", "rayleigh"])
def test_per_frame_snr_gives_per_row_noise_variance(name):
    ch = CHANNELS.build(name, **({"fading": "fast"} if name == "rayleigh" else {}))
    snr = torch.tensor([0.0, 10.0, 20.0])
    x = torch.zeros(3, 200_000, dtype=torch.complex64)
    out = ch(x, snr_db=snr, generator=gen(13))
    n0 = 10 ** (-snr / 10)
    measured = out.y.abs().square().mean(1)              # x = 0: only noise remains
    torch.testing.assert_close(measured, n0, rtol=0.02, atol=0)
    if name == "awgn":
        torch.testing.assert_close(out.noise_var, n0[:, None].expand(3, 200_000))
    # a scalar SNR equals the same value repeated per row
    a = ch(x, snr_db=10.0, generator=gen(14))
    b = ch(x, snr_db=torch.full((3,), 10.0), generator=gen(14))
    assert torch.equal(a.y, b.y)


def test_ideal_channel_is_transparent():
    x = complex_normal((2, 16), dtype=torch.complex64, device="cpu", generator=gen(15))
    out = IdealChannel()(x, snr_db=-10.0)
    assert torch.equal(out.y, x) and torch.equal(out.equalized, x)
    assert torch.equal(out.noise_var, torch.zeros(2, 16)) and out.noise_var.dtype == torch.float32
    assert torch.equal(out.h, torch.ones_like(x))


def test_channels_do_not_normalize_power():
    x = 3.0 * torch.ones(2, 1000, dtype=torch.complex64)
    for ch in (AWGN(), Rayleigh(fading="fast"), IdealChannel()):
        out = ch(x, snr_db=60.0, generator=gen(16))
        assert abs(out.equalized.abs().square().mean().item() - 9.0) < 0.01


def test_complex64_in_complex64_out_and_complex128_supported():
    for dtype, real in ((torch.complex64, torch.float32), (torch.complex128, torch.float64)):
        x = torch.ones(2, 8, dtype=dtype)
        for ch in (AWGN(), Rayleigh(), IdealChannel()):
            out = ch(x, snr_db=5.0, generator=gen(17))
            assert out.y.dtype == out.equalized.dtype == dtype
            assert out.noise_var.dtype == real


# -- registry and validation --------------------------------------------------------------------

def test_registry_names():
    assert {"awgn", "rayleigh", "none"} <= set(CHANNELS.names())
    assert CHANNELS.get("awgn") is AWGN and CHANNELS.get("none") is IdealChannel
    ch = CHANNELS.build("rayleigh", fading="block", coherence=8)
    assert isinstance(ch, Rayleigh) and ch.coherence == 8 and "coherence=8" in repr(ch)
    assert Rayleigh(fading="fast").coherence == 1
    with pytest.raises(SemcomError, match="did you mean 'rayleigh'"):
        CHANNELS.get("raleigh")


@pytest.mark.parametrize("kwargs,message", [
    ({"fading": "slow"}, "fading must be one of block, fast"),
    ({"coherence": 0}, "coherence must be >= 1"),
    ({"coherence": -4}, "coherence must be >= 1"),
    ({"coherence": 2.5}, "positive integer"),
    ({"coherence": True}, "positive integer"),
    ({"fading": "fast", "coherence": 4}, "contradicts"),
])
def test_rayleigh_rejects_bad_arguments(kwargs, message):
    with pytest.raises(SemcomError, match=message):      # a ValueError the CLI reports in one line
        Rayleigh(**kwargs)


def test_constructor_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        Rayleigh("fast")


@pytest.mark.parametrize("ch", [AWGN(), Rayleigh(), IdealChannel()], ids=["awgn", "rayleigh", "none"])
def test_forward_rejects_bad_inputs(ch):
    x = torch.ones(3, 4, dtype=torch.complex64)
    with pytest.raises(ValueError, match="complex"):
        ch(torch.ones(3, 4), snr_db=0.0)
    with pytest.raises(ValueError, match=r"shape \[B, n\]"):
        ch(torch.ones(4, dtype=torch.complex64), snr_db=0.0)
    with pytest.raises(ValueError, match="snr_db must be a number or a \\[B\\] tensor with B = 3"):
        ch(x, snr_db=torch.zeros(2))
    with pytest.raises(ValueError, match="NaN"):
        ch(x, snr_db=float("nan"))
