"""SNR / CBR / power conventions: parsing, budgets, noise-variance round trips, normalization."""

import math

import pytest
import torch

from semcom.conventions import (
    cbr_of,
    channel_uses_budget,
    format_cbr,
    noise_var_to_snr_db,
    normalize_power,
    parse_cbr,
    parse_snr,
    snr_db_to_noise_var,
)
from semcom.errors import SemcomError


# -- CBR ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,value", [
    ("1/48", 1 / 48),
    (" 1 / 48 ", 1 / 48),
    ("0.0208", 0.0208),
    ("1/12", 1 / 12),
    ("1", 1.0),
    (0.05, 0.05),
    ("2/96", 1 / 48),
])
def test_parse_cbr_accepts(text, value):
    assert parse_cbr(text) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("text,message", [
    ("abc", "malformed CBR"),
    ("", "malformed CBR"),
    ("1/48/2", "malformed CBR"),
    ("1/0", "malformed CBR"),
    ("0", r"must lie in \(0, 1\]"),
    ("1.5", r"must lie in \(0, 1\]"),
    ("-1/48", r"must lie in \(0, 1\]"),
    ("nan", r"must lie in \(0, 1\]"),
    ("inf", r"must lie in \(0, 1\]"),
    (2.0, r"must lie in \(0, 1\]"),
])
def test_parse_cbr_rejects(text, message):
    with pytest.raises(SemcomError, match=message):
        parse_cbr(text)


def test_semcom_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_cbr("abc")


def test_channel_uses_budget_and_cbr_of():
    assert channel_uses_budget(1 / 48, 256, 256) == 4096
    assert channel_uses_budget(parse_cbr("1/48"), 256, 256) == 4096
    assert channel_uses_budget(1 / 12, 256, 256) == 16384
    assert channel_uses_budget(1 / 48, 720, 1280) == 57600
    assert channel_uses_budget(0.0208, 256, 256) == math.floor(0.0208 * 3 * 256 * 256)   # 4089
    assert channel_uses_budget(1 / 48, 64, 64, channels=1) == 85                        # floor(85.33)
    assert cbr_of(4096, 256, 256) == pytest.approx(1 / 48)
    # the budget spent at the CBR it defines round-trips
    for cbr in (1 / 6, 1 / 12, 1 / 24, 1 / 48, 1 / 96):
        assert cbr_of(channel_uses_budget(cbr, 128, 96), 128, 96) == pytest.approx(cbr)


def test_format_cbr():
    assert format_cbr(1 / 48) == "1/48"
    assert format_cbr(parse_cbr("0.0625")) == "1/16"
    assert format_cbr(0.0208) == "0.0208"


# -- SNR ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("0:20", [float(i) for i in range(21)]),
    ("0:20:2", [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0]),
    ("7", [7.0]),
    ("-2.5", [-2.5]),
    ("0,5,10", [0.0, 5.0, 10.0]),
    (" 0 , 5 ", [0.0, 5.0]),
    ("20:0:-5", [20.0, 15.0, 10.0, 5.0, 0.0]),
    ("0:0.3:0.1", [0.0, 0.1, 0.2, 0.3]),
    ("0:5:2", [0.0, 2.0, 4.0]),          # the end point is kept only when the step lands on it
    ("-5:5:2.5", [-5.0, -2.5, 0.0, 2.5, 5.0]),
    ("3:3", [3.0]),
    (12, [12.0]),
])
def test_parse_snr_accepts(text, expected):
    assert parse_snr(text) == pytest.approx(expected, abs=1e-12)


def test_parse_snr_range_is_inclusive():
    points = parse_snr("0:20")
    assert len(points) == 21 and points[0] == 0.0 and points[-1] == 20.0


@pytest.mark.parametrize("text,message", [
    ("", "empty SNR"),
    ("   ", "empty SNR"),
    ("a:b", "malformed SNR range"),
    ("0:20:1:2", "malformed SNR range"),
    ("0:", "malformed SNR range"),
    ("0:20:0", "must not be 0"),
    ("10:0", r"lies below the start 10 dB; give the lower end first \(0:10\) or a negative step \(10:0:-1\)"),
    ("0:10:-1", "a step of -1 dB never reaches the end point 10 dB"),
    ("1,,2", "malformed SNR"),
    ("ten", "malformed SNR"),
    ("nan", "malformed SNR"),
])
def test_parse_snr_rejects(text, message):
    with pytest.raises(SemcomError, match=message):
        parse_snr(text)


# -- noise variance -----------------------------------------------------------------------------

def test_snr_noise_var_known_values_and_round_trip():
    assert snr_db_to_noise_var(0.0) == pytest.approx(1.0)
    assert snr_db_to_noise_var(10.0) == pytest.approx(0.1)
    assert snr_db_to_noise_var(-3.0) == pytest.approx(1.9952623149688795)
    for snr in (-10.0, -1.5, 0.0, 3.0, 7.25, 20.0, 40.0):
        assert noise_var_to_snr_db(snr_db_to_noise_var(snr)) == pytest.approx(snr, abs=1e-9)
    for nv in (1e-4, 0.3, 1.0, 5.0):
        assert snr_db_to_noise_var(noise_var_to_snr_db(nv)) == pytest.approx(nv, rel=1e-12)
    assert noise_var_to_snr_db(0.0) == math.inf
    with pytest.raises(ValueError, match=">= 0"):
        noise_var_to_snr_db(-1.0)


def test_snr_noise_var_tensors():
    snr = torch.tensor([-5.0, 0.0, 10.0, 20.0], dtype=torch.float64)
    nv = snr_db_to_noise_var(snr)
    torch.testing.assert_close(nv, torch.tensor([10 ** 0.5, 1.0, 0.1, 0.01], dtype=torch.float64))
    torch.testing.assert_close(noise_var_to_snr_db(nv), snr)
    # tensors and floats agree
    assert float(snr_db_to_noise_var(torch.tensor(7.0))) == pytest.approx(snr_db_to_noise_var(7.0), rel=1e-6)


# -- power normalization ------------------------------------------------------------------------

def test_normalize_power_per_block():
    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([0.01, 1.0, 3.0, 100.0])[:, None]
    x = torch.complex(torch.randn(4, 1000, generator=g), torch.randn(4, 1000, generator=g)) * scales
    y = normalize_power(x)
    power = y.abs().square().mean(1)
    assert torch.allclose(power, torch.ones(4), atol=1e-5, rtol=0)
    # the shape of each block is kept: y is a positive multiple of x row by row
    ratio = y / x
    torch.testing.assert_close(ratio.imag, torch.zeros_like(ratio.imag), atol=1e-5, rtol=0)
    torch.testing.assert_close(ratio.real, ratio.real[:, :1].expand_as(ratio.real))


def test_normalize_power_over_several_dims_and_gradients():
    g = torch.Generator().manual_seed(1)
    x = torch.complex(torch.randn(3, 4, 50, generator=g), torch.randn(3, 4, 50, generator=g)) * 7
    x.requires_grad_(True)
    y = normalize_power(x, dim=(1, 2))
    assert torch.allclose(y.abs().square().mean((1, 2)), torch.ones(3), atol=1e-5, rtol=0)
    # blocks of one row would differ from blocks over (1, 2)
    assert not torch.allclose(y.abs().square().mean(2), torch.ones(3, 4), atol=1e-3)
    y.real[:, 0, 0].sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_normalize_power_rejects_real_input():
    with pytest.raises(ValueError, match="complex"):
        normalize_power(torch.ones(2, 4))


def test_normalize_power_of_zero_block_is_finite():
    y = normalize_power(torch.zeros(2, 8, dtype=torch.complex64))
    assert torch.isfinite(torch.view_as_real(y)).all()
