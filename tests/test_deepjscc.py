import pytest
import torch

from semcom.channels.base import ChannelOutput
from semcom.codecs.deepjscc import DeepJSCC, DeepJSCCDeblur
from semcom.codecs.layers import GDN, reals_to_symbols, symbols_to_reals
from semcom.conventions import channel_uses_budget
from semcom.errors import SemcomError
from semcom.link import Link, find_link
from semcom.registry import CHANNELS, CODECS
from semcom.sources.base import Batch

SIZES = [(64, 64), (128, 128), (256, 256), (96, 160), (77, 123), (33, 50)]


def _batch(h, w, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, h, w, generator=g)
    return Batch(sharp=x, blurry=x.flip(-1))


def _noiseless(tx):
    s = tx.symbols
    return ChannelOutput(s, torch.ones_like(s), s, torch.zeros(s.shape))


@pytest.mark.parametrize("cbr", [1 / 48, 1 / 96, 0.03])
def test_symbol_count_equals_the_budget(cbr):
    codec = DeepJSCC(cbr=cbr, width=16).eval()
    with torch.no_grad():
        for h, w in SIZES:
            tx = codec.encode(_batch(h, w), snr_db=torch.zeros(2))
            budget = channel_uses_budget(cbr, h, w)
            assert tx.symbols.shape == (2, budget), (h, w)
            assert tx.channel_uses == budget == codec.channel_uses(h, w)
            assert tx.symbols.dtype == torch.complex64
            power = tx.symbols.abs().square().mean(1)
            assert torch.allclose(power, torch.ones(2), atol=1e-5)


def test_padding_that_exceeds_the_budget_is_not_sent():
    # 77x123 pads to 80x128: the latent holds 16*5*8 = 640 symbols, the budget is 591
    codec = DeepJSCC(cbr=1 / 48, width=16)
    assert codec.latent_shape(77, 123) == (32, 5, 8)
    assert codec.channel_uses(77, 123) == 591 < 16 * 5 * 8
    z = torch.randn(1, 32, 5, 8)
    back = symbols_to_reals(reals_to_symbols(z, 591), (32, 5, 8))
    flat_re, flat_back = z[:, :16].reshape(-1), back[:, :16].reshape(-1)
    assert torch.equal(flat_back[:591], flat_re[:591]) and torch.all(flat_back[591:] == 0)
    assert torch.equal(back[:, 16:].reshape(-1)[:591], z[:, 16:].reshape(-1)[:591])


def test_too_small_a_frame_is_a_clear_error():
    codec = DeepJSCC(cbr=1 / 96, width=16)
    with pytest.raises(ValueError, match="no channel use"):
        codec.encode(_batch(4, 4), snr_db=torch.zeros(2))


@pytest.mark.parametrize("cls", [DeepJSCC, DeepJSCCDeblur])
def test_output_shape_and_range(cls):
    codec = cls(cbr=1 / 48).eval()
    awgn = CHANNELS.build("awgn")
    for h, w in [(64, 64), (77, 123)]:
        batch = _batch(h, w)
        with torch.no_grad():
            tx, rx = codec.transmit(batch, awgn, snr_db=torch.tensor([0.0, 20.0]),
                                    generator=torch.Generator().manual_seed(0))
        assert rx.image.shape == (2, 3, h, w) and rx.image.dtype == torch.float32
        assert rx.image.min() >= 0 and rx.image.max() <= 1
        assert rx.events is None


def test_rayleigh_fast_fading_keeps_outputs_finite():
    codec = DeepJSCC(cbr=1 / 48, width=16).eval()
    ray = CHANNELS.build("rayleigh", fading="fast")
    with torch.no_grad():
        _, rx = codec.transmit(_batch(64, 64), ray, snr_db=torch.zeros(2), generator=torch.Generator().manual_seed(1))
    assert torch.isfinite(rx.image).all()


def test_only_the_adaptive_model_reads_the_snr():
    batch = _batch(64, 64)
    torch.manual_seed(0)
    adaptive = DeepJSCC(cbr=1 / 48, width=16, adaptive=True).eval()
    single = DeepJSCC(cbr=1 / 48, width=16, snr_db=10.0).eval()
    assert adaptive.encoder.af is not None and single.encoder.af is None
    assert single.snr_mode == "single" and single.snr_db == 10.0 and adaptive.snr_db is None
    with torch.no_grad():
        a0, a1 = (adaptive.encode(batch, snr_db=torch.full((2,), s)).symbols for s in (0.0, 20.0))
        s0, s1 = (single.encode(batch, snr_db=torch.full((2,), s)).symbols for s in (0.0, 20.0))
        assert not torch.allclose(a0, a1)
        assert torch.equal(s0, s1)
        tx = adaptive.encode(batch, snr_db=torch.zeros(2))
        d0, d1 = (adaptive.decode(_noiseless(tx), tx, snr_db=torch.full((2,), s)).image for s in (0.0, 20.0))
        assert not torch.allclose(d0, d1)


def test_the_blurry_frame_is_what_is_sent():
    codec = DeepJSCC(cbr=1 / 48, width=16).eval()
    b = _batch(64, 64)
    same_blurry = Batch(sharp=torch.zeros_like(b.sharp), blurry=b.blurry)
    with torch.no_grad():
        assert torch.equal(codec.encode(b, snr_db=torch.zeros(2)).symbols,
                           codec.encode(same_blurry, snr_db=torch.zeros(2)).symbols)


def test_constructor_validation():
    with pytest.raises(ValueError, match="cbr"):
        DeepJSCC(cbr=0)
    with pytest.raises(ValueError, match="cannot be combined"):
        DeepJSCC(cbr=1 / 48, snr_db=10.0, adaptive=True)
    with pytest.raises(ValueError, match="width"):
        DeepJSCC(cbr=1 / 48, width=7)
    with pytest.raises(ValueError, match="source"):
        DeepJSCC(cbr=1 / 48, source="events")
    with pytest.raises(TypeError, match=r"takes no argument .chunk. \(valid: adaptive, snr_db, width\)"):
        DeepJSCC(cbr=1 / 48, chunk=4)


def test_links_build_and_respect_the_budget():
    for name in ("deepjscc", "deepjscc-deblur"):
        link = Link(find_link(name), cbr=1 / 96, codec_overrides={"checkpoint": "none"}).eval()
        assert link.spec.target == "sharp"
        with torch.no_grad():
            out = link(_batch(64, 64), snr_db=5.0, generator=torch.Generator().manual_seed(0))
        assert out.transmission.channel_uses == channel_uses_budget(1 / 96, 64, 64)
        assert out.output.shape == (2, 3, 64, 64)
    assert {"deepjscc", "deepjscc-deblur"} <= set(CODECS.names())


def test_unknown_link_parameter_is_a_semcom_error():
    from semcom.link import LinkSpec

    spec = LinkSpec.from_dict({"name": "x", "codec": {"name": "deepjscc", "bogus": 1}})
    with pytest.raises(SemcomError, match="bogus"):
        Link(spec, cbr=1 / 48, codec_overrides={"checkpoint": "none"})


def test_gdn_and_its_inverse():
    g, ig = GDN(4), GDN(4, inverse=True)
    x = torch.randn(2, 4, 5, 5)
    beta = 1.0 + 1e-6
    expected = x / torch.sqrt(beta + 0.1 * x.square())  # initial gamma = 0.1 I, beta = 1
    assert torch.allclose(g(x), expected, atol=1e-6)
    assert torch.allclose(ig(x), x * torch.sqrt(beta + 0.1 * x.square()), atol=1e-6)
