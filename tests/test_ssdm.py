"""S-SDM parts: the blind-spot denoiser never sees the pixel it estimates; the reblur loss."""

import numpy as np
import pytest
import torch

from semcom.receivers.ssdm import BlindSpotNet, reblur_loss


def test_the_blind_spot_excludes_the_centre_pixel_and_only_it():
    torch.manual_seed(0)
    net = BlindSpotNet(width=8, depth=3)
    x = torch.rand(1, 1, 15, 15, requires_grad=True)
    net(x)[0, 0, 7, 7].backward()
    g = x.grad[0, 0]
    assert g[7, 7] == 0  # the estimate of a pixel never depends on that pixel
    for y, xx in ((6, 7), (8, 7), (7, 6), (7, 8), (5, 5), (9, 9)):  # its neighbours on every side do
        assert g[y, xx] != 0, (y, xx)
    assert net(torch.rand(2, 1, 12, 12)).shape == (2, 1, 12, 12)
    with pytest.raises(ValueError, match="square"):
        net(torch.rand(1, 1, 8, 12))


def test_trained_to_copy_its_noisy_input_it_learns_the_clean_value():
    """Self-supervision: the loss MSE(net(noisy), noisy) never sees a clean frame, yet lowers the error to it."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 16), torch.linspace(0, 1, 16), indexing="ij")
    clean = (0.5 + 0.3 * torch.sin(6 * xx + 3 * yy))[None, None].repeat(8, 1, 1, 1)
    net = BlindSpotNet(width=16, depth=4)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(150):
        noisy = clean + 0.2 * torch.randn(clean.shape, generator=g)
        loss = (net(noisy) - noisy).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    noisy = clean + 0.2 * torch.randn(clean.shape, generator=g)
    with torch.no_grad():
        err = (net(noisy) - clean).square().mean()
    assert err < 0.25 * (noisy - clean).square().mean()


def test_reblur_loss_is_zero_for_the_true_latent_frames():
    from semcom.sources.scene import SceneRenderer
    from semcom.sources.camera import CameraConfig
    from semcom.sources.skimage_set import load_skimage_picture

    seq = SceneRenderer(size=32, blur_px=10.0, foreground=0.0).render(load_skimage_picture("coffee"),
                                                                    np.random.default_rng(0))
    cap = CameraConfig(events=False, spikes=False).build().capture(seq, np.random.default_rng(1))
    latent = torch.from_numpy(seq.frames)[None]
    blurry = torch.from_numpy(cap.blurry.astype(np.float32) / 255.0)[None]
    assert float(reblur_loss(latent, blurry)) <= (0.5 / 255) ** 2  # 8-bit quantization only
    still = latent[:, seq.middle:seq.middle + 1]  # the sharp frame alone: no blur
    assert float(reblur_loss(still, blurry)) > 20 * (0.5 / 255) ** 2
    with pytest.raises(ValueError):
        reblur_loss(latent[0], blurry)


@pytest.fixture(scope="module")
def spike_data():
    from semcom.train.ssdm import load_spike_data

    return load_spike_data(split="test", size=32, n=2)


def test_the_self_supervised_trainers_never_read_the_sharp_frame(spike_data):
    """Batches whose sharp frames are NaN train BSN, SR and LDN to finite losses; the supervised trainer,
    which does read them, stops on the NaN loss (so a self-supervised trainer that read them would too)."""
    from dataclasses import replace

    from semcom.errors import SemcomError
    from semcom.receivers.ssdm import Cascade
    from semcom.train.ssdm import train_bsn, train_ldn, train_sr, train_supervised

    class NaNSharp:
        def draw(self, **kw):
            b = spike_data.draw(**kw)
            return replace(b, sharp=torch.full_like(b.sharp, float("nan")))

    data = NaNSharp()
    kw = dict(steps=2, batch_size=2, crop=32, progress=False)
    bsn = train_bsn(data, width=40, **kw)
    sr = train_sr(data, **kw)
    ldn = train_ldn(data, Cascade(bsn=bsn, sr=sr, width=80), **kw)
    assert all(torch.isfinite(p).all() for net in (bsn, sr, ldn) for p in net.parameters())
    with pytest.raises(SemcomError, match="not finite"):
        train_supervised(data, **kw)


def test_spike_frames_do_not_depend_on_the_cameras_scale_and_the_plain_cascade_is_sdm(spike_data):
    from semcom.receivers.sdm import SDM
    from semcom.receivers.ssdm import Cascade, spike_frames

    b = spike_data.batch(slice(0, 2))
    short, long = spike_frames(b.spikes, centre=200, width=64)
    assert short.shape == (2, 1, 8, 8) and torch.allclose(long.mean((1, 2, 3)), torch.ones(2))
    doubled = torch.cat([b.spikes, b.spikes], 1)  # the same rates over twice the ticks
    assert torch.allclose(spike_frames(doubled, centre=400, width=128)[1], long)
    ours = Cascade(width=64)(b.blurry, b.spikes)
    ref = SDM(window=64)(b.blurry, batch=b)
    valid = SDM(window=64).gain(b.spikes, (32, 32))[1].expand_as(ref)
    assert torch.allclose(ours[valid], ref[valid], atol=1e-4)


def test_the_s_sdm_back_end_loads_its_weights_and_needs_spikes(tmp_path, spike_data):
    from semcom.errors import SemcomError
    from semcom.receivers.ssdm import LDN, SSDM
    from semcom.sources.base import Batch
    from semcom.train.ssdm import save_receiver

    torch.manual_seed(0)
    ldn = LDN()
    torch.nn.init.normal_(ldn.out.weight, std=0.01)
    path = save_receiver(tmp_path / "s.ckpt", ldn, width=80, training={"steps": 0})
    rx = SSDM(weights=str(path)).eval()
    b = spike_data.batch(slice(0, 2))
    from semcom.receivers.ssdm import spike_frames

    short, long = spike_frames(b.spikes, centre=200, width=80)
    with torch.no_grad():
        assert torch.allclose(rx(b.blurry, batch=b), ldn(b.blurry, short, long).clamp(0, 1))
    with pytest.raises(SemcomError, match="not those of this LDN"):
        SSDM(net_width=16, weights=str(path))
    with pytest.raises(SemcomError, match="spike stream"):
        rx(b.blurry, batch=Batch(sharp=b.sharp, blurry=b.blurry))


def test_the_training_command_trains_the_chosen_teacher(spike_data, tmp_path, monkeypatch):
    """``--teacher sdm+sr`` (the shipped recipe) trains no BSN; ``sdm+bsn+sr`` does; bad counts exit 2."""
    import semcom.train.ssdm as tr
    from semcom.zoo.store import load_checkpoint

    monkeypatch.setattr(tr, "load_spike_data", lambda **kw: spike_data)
    size = ["--size", str(spike_data.sharp.shape[-1])]
    for teacher, has_bsn in (("sdm+sr", False), ("sdm+bsn+sr", True)):
        out = tmp_path / teacher
        assert tr.main(["--out", str(out), "--teacher", teacher, "--steps", "1", "--ldn-steps", "1", *size]) == 0
        parts = {row.split(",")[0] for row in (out / "log.csv").read_text().splitlines()[1:]}
        assert ("bsn" in parts) == has_bsn and {"sr", "ldn"} <= parts
        assert load_checkpoint(out / "s-sdm.ckpt").meta["training"]["teacher"] == teacher
    assert tr.main(["--out", str(tmp_path / "bad"), "--ldn-steps", "0"]) == 2
    assert not (tmp_path / "bad").exists()


def test_spike_frames_from_rate_windows_match_the_stream():
    """From the windows' rates the whole-exposure frame is exact, and so is the short window when it starts
    and ends on window boundaries (400 ticks in 5 windows: the middle 80 ticks are window 3)."""
    from semcom.codecs.spjscc import spike_windows
    from semcom.receivers.ssdm import spike_frames, window_frames

    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(2, 400, 8, 8, generator=g) < torch.rand(2, 1, 8, 8, generator=g)).to(torch.uint8)
    short, long = spike_frames(spikes, centre=200, width=80)
    rates = spike_windows(spikes, num_windows=5, size=(8, 8))
    s5, l5 = window_frames(rates, ticks=400, centre=200, width=80, factor=1)
    assert torch.allclose(l5, long, atol=1e-5) and torch.allclose(s5, short, atol=1e-5)
    s6, l6 = window_frames(spike_windows(spikes, num_windows=6, size=(8, 8)), ticks=400, centre=200, width=80,
                           factor=1)
    assert torch.allclose(l6, long, atol=1e-5)
    assert not torch.allclose(s6, short, atol=1e-3)  # 6 windows: the middle 80 ticks straddle two of them
    up = spike_windows(spikes, num_windows=5, size=(32, 32))   # at the frame's resolution, as links send it
    s4, l4 = window_frames(up, ticks=400, centre=200, width=80, factor=4)
    assert torch.allclose(l4, long, atol=1e-4) and torch.allclose(s4, short, atol=1e-4)
    with pytest.raises(ValueError, match="cannot come from"):
        window_frames(rates, ticks=3, centre=1, width=2)


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_undo_bilinear_recovers_the_picture_before_upsampling(factor):
    import torch.nn.functional as F

    from semcom.receivers.ssdm import undo_bilinear

    x = torch.rand(2, 1, 10, 6, generator=torch.Generator().manual_seed(factor))
    up = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert (undo_bilinear(up, factor) - x).abs().max() < 1e-4
    assert (F.avg_pool2d(up, factor) - x).abs().max() > 2e-2   # what plain block averages would give


def test_s_sdm_on_decoded_spike_windows(spike_data):
    """source='representation' reads the windows it is given (not the batch's spikes), answers a sample
    whose windows are empty (a lost stream) with the frame unchanged, and refuses missing windows."""
    from semcom.codecs.spjscc import spike_windows
    from semcom.errors import SemcomError
    from semcom.receivers.ssdm import SSDM

    b = spike_data.batch(slice(0, 2))
    torch.manual_seed(0)
    rx = SSDM(source="representation").eval()
    for p in rx.net.out.parameters():  # a non-identity LDN, so that its output depends on the windows
        torch.nn.init.normal_(p, std=0.05)
    wins = spike_windows(b.spikes, num_windows=6, size=tuple(b.blurry.shape[-2:]))
    wins[1] = 0.0
    out = rx(b.blurry, events=wins, batch=b)
    assert torch.equal(out[1], b.blurry[1])
    assert not torch.allclose(out[0], b.blurry[0], atol=1e-3)
    other = rx(b.blurry, events=torch.flip(wins, dims=(-1,)), batch=b)
    assert not torch.allclose(other[0], out[0], atol=1e-4)
    with pytest.raises(SemcomError, match="spike-rate windows"):
        rx(b.blurry, events=None, batch=b)
    # the tick count comes from the camera's description when the stream itself is absent
    from dataclasses import replace

    no_stream = replace(b, spikes=None, info=({"spike_ticks": b.spikes.shape[1]},) * 2)
    assert torch.equal(rx(b.blurry, events=wins, batch=no_stream), out)
    with pytest.raises(SemcomError, match="ticks per exposure"):
        rx(b.blurry, events=wins, batch=replace(b, spikes=None, info=()))
    with pytest.raises(SemcomError, match="spike_scale 2"):
        rx(b.blurry, events=wins, batch=replace(no_stream, info=({"spike_ticks": 400, "spike_scale": 2},) * 2))
    with pytest.raises(SemcomError, match="divisible by 4"):
        rx(b.blurry[..., :30, :30], events=wins[..., :30, :30], batch=b)
    with pytest.raises(ValueError, match="source must be"):
        SSDM(source="spikes")
