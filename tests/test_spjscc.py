import pytest
import torch

from semcom.channels.base import ChannelOutput
from semcom.codecs.spjscc import SPJSCC, spike_windows
from semcom.conventions import channel_uses_budget
from semcom.link import Link, find_link
from semcom.receivers.sdm import SDM
from semcom.sources.base import Batch
from semcom.train import train
from semcom.train.trainer import TrainingData

TINY = {"width": 8, "unet_width": 8}


def _batch(h=64, w=64, b=2, ticks=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    sharp = torch.rand(b, 3, h, w, generator=g)
    blurry = 0.5 * (sharp + sharp.roll(3, dims=-1))
    spikes = (torch.rand(b, ticks, h // 4, w // 4, generator=g) < 0.3).to(torch.uint8)
    return Batch(sharp=sharp, blurry=blurry, spikes=spikes)


def _codec(**kw):
    torch.manual_seed(0)
    return SPJSCC(**{"cbr": 1 / 48, **TINY, **kw}).eval()


def test_spike_windows_are_rates_per_window():
    spikes = torch.zeros(1, 12, 2, 2, dtype=torch.uint8)
    spikes[0, :4, 0, 0] = 1        # fires in the first third only
    spikes[0, 8:, 1, 1] = 1        # fires in the last third only
    rates = spike_windows(spikes, num_windows=3, size=(2, 2))
    assert rates.shape == (1, 3, 2, 2)
    assert rates[0, :, 0, 0].tolist() == [1.0, 0.0, 0.0] and rates[0, :, 1, 1].tolist() == [0.0, 0.0, 1.0]
    assert spike_windows(spikes, num_windows=3, size=(8, 8)).shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="windows"):
        spike_windows(spikes, num_windows=20, size=(2, 2))


@pytest.mark.parametrize("hw", [(64, 64), (96, 160)])
def test_streams_add_up_to_the_budget_and_outputs_have_the_frame_shape(hw):
    codec = _codec()
    b = _batch(*hw)
    with torch.no_grad():
        tx = codec.encode(b, snr_db=torch.tensor(10.0))
        assert tx.symbols.shape == (2, channel_uses_budget(1 / 48, *hw)) == (2, sum(codec.stream_uses(*hw)))
        assert abs(float(tx.symbols.abs().square().mean()) - 1) < 1e-4
        s = tx.symbols
        rx = codec.decode(ChannelOutput(s, torch.ones_like(s), s, torch.zeros(s.shape)), tx,
                          snr_db=torch.tensor(10.0))
    assert rx.image.shape == (2, 3, *hw) and 0 <= float(rx.image.min()) and float(rx.image.max()) <= 1
    assert rx.events.shape == (2, 6, *hw)


def test_the_shared_stream_reads_the_sdm_estimate_and_the_spikes():
    codec = _codec()
    assert codec.prior == "sdm" and codec.encoder.prior_stem is not None
    b = _batch()
    img, rep = codec._inputs(b)
    prior = codec._prior_image(img, rep, b)
    ratio, valid = SDM(window=64).gain(b.spikes, (64, 64))
    assert prior.shape == img.shape and bool(valid.any())
    with torch.no_grad():
        z0 = codec.encode(b, snr_db=torch.tensor(10.0)).symbols
        other = Batch(sharp=b.sharp, blurry=b.blurry, spikes=1 - b.spikes)
        z1 = codec.encode(other, snr_db=torch.tensor(10.0)).symbols
    ni, ns, ne = codec.stream_uses(64, 64)
    # the image stream ignores the spikes (up to the joint power normalization); the others do not
    zi0, zi1 = z0[:, :ni], z1[:, :ni]
    assert torch.allclose(zi0 / zi0.abs().square().mean(), zi1 / zi1.abs().square().mean(), atol=1e-4) \
        or torch.allclose(zi0 / zi0.norm(dim=1, keepdim=True), zi1 / zi1.norm(dim=1, keepdim=True), atol=1e-4)
    assert not torch.allclose(z0[:, ni:], z1[:, ni:])
    assert _codec(prior="none").encoder.prior_stem is None
    with pytest.raises(ValueError, match="prior"):
        _codec(prior="edi")


def test_missing_spikes_is_a_clear_error():
    codec = _codec()
    b = _batch()
    with pytest.raises(ValueError, match="spike"):
        codec.encode(Batch(sharp=b.sharp, blurry=b.blurry), snr_db=torch.tensor(10.0))


def test_three_stage_training_runs_and_the_link_loads_its_checkpoint(tmp_path):
    b = _batch(b=4)
    data = TrainingData.from_float(b.sharp, b.blurry, None, describe={"name": "synthetic"}, spikes=b.spikes)
    res = train("sp-jscc", cbr=1 / 48, snr_range=(0.0, 20.0), steps=4, batch_size=2, data=data,
                out=tmp_path / "sp.ckpt", progress=False, log_every=1, codec_params=TINY)
    link = Link(find_link("sp-jscc"), cbr=1 / 48, codec_overrides={"checkpoint": str(res.checkpoint)})
    assert link.codec.checkpoint_meta["codec"] == "sp-jscc" and link.codec.prior == "sdm"


@pytest.mark.parametrize("backbone,ds", [("conv", 16), ("swin", 8)])
def test_on_a_backbone_the_spike_streams_fill_the_budget_and_the_link_file_can_ask_for_it(backbone, ds):
    from semcom.registry import CODECS, keywords

    assert {"backbone", "depth", "downsample"} <= set(keywords(CODECS.get("sp-jscc")))  # what link files may set
    link = Link(find_link("sp-jscc"), cbr=1 / 48,
                codec_overrides={"checkpoint": "none", "backbone": backbone, "downsample": ds, **TINY})
    codec = link.codec.eval()
    assert (codec.backbone, codec.downsample, codec.config()["backbone"]) == (backbone, ds, backbone)
    # the shared encoder reads the frame, the spike windows and the SDM estimate
    first = codec.encoder.shared.layers[0].conv if backbone == "conv" else codec.encoder.shared.embed
    assert first.in_channels == 3 + 6 + 3
    b = _batch(48, 80)
    with torch.no_grad():
        tx = codec.encode(b, snr_db=torch.tensor(10.0))
        s = tx.symbols
        rx = codec.decode(ChannelOutput(s, torch.ones_like(s), s, torch.zeros(s.shape)), tx, snr_db=torch.tensor(10.0))
    assert s.shape == (2, channel_uses_budget(1 / 48, 48, 80)) and tx.channel_uses == sum(codec.stream_uses(48, 80))
    assert torch.allclose(s.abs().square().mean(1), torch.ones(2), atol=1e-5)
    assert rx.image.shape == (2, 3, 48, 80) and rx.events.shape == (2, 6, 48, 80)
