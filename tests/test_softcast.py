import torch

from semcom.codecs.softcast import SoftCast, dct_matrix
from semcom.conventions import channel_uses_budget
from semcom.link import Link, find_link
from semcom.metrics.functional import psnr


def test_dct_matrix_is_orthonormal():
    d = dct_matrix(24)
    assert torch.allclose(d @ d.T, torch.eye(24, dtype=d.dtype), atol=1e-12)


def test_budget_and_power(small_batch):
    for cbr in (1 / 12, 1 / 48):
        codec = SoftCast(cbr=cbr, chunk=8)
        tx = codec.encode(small_batch, snr_db=torch.zeros(small_batch.size))
        assert tx.channel_uses <= channel_uses_budget(cbr, 64, 64)
        assert tx.channel_uses > 0.9 * channel_uses_budget(cbr, 64, 64)  # SoftCast fills the budget
        power = tx.symbols.abs().square().mean(1)
        assert torch.allclose(power, torch.ones_like(power), atol=1e-5)


def test_psnr_rises_with_snr(small_batch):
    link = Link(find_link("softcast"), cbr=1 / 12)
    link.codec.chunk = 8
    scores = []
    for snr in (0.0, 10.0, 20.0):
        gen = torch.Generator().manual_seed(0)
        out = link(small_batch, snr_db=snr, generator=gen)
        scores.append(psnr(out.output, small_batch.sharp).mean().item())
    assert scores[0] < scores[1] < scores[2]


def test_ideal_channel_keeps_the_sent_chunks_exactly(small_batch):
    # with no noise the LLSE inverts the scaling; at CBR 1 every chunk fits and the frame comes back
    from semcom.channels.base import ChannelOutput

    codec = SoftCast(cbr=1.0, chunk=8)
    tx = codec.encode(small_batch, snr_db=torch.zeros(small_batch.size))
    x = tx.symbols
    zeros = torch.zeros(x.shape)
    rx = codec.decode(ChannelOutput(x, torch.ones_like(x), x, zeros), tx, snr_db=None)
    assert torch.allclose(rx.image, small_batch.blurry, atol=2e-5)
