"""S-SDM parts: the blind-spot denoiser never sees the pixel it estimates; the reblur loss."""

import numpy as np
import pytest
import torch

from semcom.receivers.ssdm import BlindSpotNet, reblur_loss
from semcom.zoo.build import build_receiver


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
    rx = build_receiver("s-sdm", weights=str(path)).eval()
    b = spike_data.batch(slice(0, 2))
    from semcom.receivers.ssdm import spike_frames

    short, long = spike_frames(b.spikes, centre=200, width=80)
    with torch.no_grad():
        assert torch.allclose(rx(b.blurry, batch=b), ldn(b.blurry, short, long).clamp(0, 1))
    with pytest.raises(SemcomError, match="not those of this LDN"):
        build_receiver("s-sdm", net_width=16, weights=str(path))
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


# --------------------------------------------------------------------------- S-SDM as published (s-sdm-paper)

def _tiny_recipe(**kw):
    from semcom.train.ssdm import PaperRecipe

    base = dict(bsn_steps=2, sr_steps=2, ldn_steps=3, batch_size=2, crop=32, bsn_width=8, bsn_dec_width=8,
                sr_width=8, sr_blocks=1, ldn_width=8)
    return PaperRecipe(**{**base, **kw})


@pytest.mark.parametrize("pixel", [(7, 7), (0, 0), (0, 9), (15, 3), (12, 15)])
def test_the_blind_spot_unet_never_sees_the_pixel_it_estimates(pixel):
    """Autograd on a random input: the output at a pixel does not depend on that pixel's input, and it does
    depend on every other pixel (the receptive field of four rotated upward-looking U-Nets)."""
    from semcom.receivers.ssdm import BlindSpotUNet

    torch.manual_seed(1)
    net = BlindSpotUNet(width=8, dec_width=12)
    x = torch.rand(1, 1, 16, 16, requires_grad=True)
    y, xx = pixel
    net(x)[0, 0, y, xx].backward()
    g = x.grad[0, 0]
    assert g[y, xx] == 0
    assert int((g == 0).sum()) == 1, (g == 0).nonzero().tolist()  # only the centre is blind


def test_the_blind_spot_unet_has_the_papers_shape_and_checks_its_input():
    from semcom.receivers.ssdm import BlindSpotUNet

    net = BlindSpotUNet()  # 48 / 96 channels, two poolings, three shifted convolutions a level
    assert [m.out_channels for m in net.enc[0] if isinstance(m, torch.nn.Conv2d)] == [48, 48, 48]
    assert len(net.enc) == 2 and net.dec[-1][0].out_channels == 96 and net.merge[0].in_channels == 384
    assert net(torch.rand(2, 1, 32, 32)).shape == (2, 1, 32, 32)
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.rand(1, 1, 18, 18))
    with pytest.raises(ValueError, match="square"):
        net(torch.rand(1, 1, 16, 32))
    with pytest.raises(ValueError, match="width"):
        BlindSpotUNet(width=0)


def test_paper_windows_scale_the_authors_tick_counts():
    from semcom.receivers.ssdm import paper_ticks

    assert paper_ticks(97) == (21, 9)        # the authors' exposure
    assert paper_ticks(400) == (87, 37)      # ours: about 22 % and 9 % of the exposure
    with pytest.raises(ValueError):
        paper_ticks(0)


def test_the_paper_ldn_reads_the_raw_short_spike_stream(spike_data):
    """The published LDN's spike input is the binary spike frames of the 87 ticks around mid-exposure, as
    the camera gives them (no rate, no normalization); ticks outside that window do not move the output."""
    from semcom.receivers.ssdm import SSDM, PaperLDN, window_bounds_at

    b = spike_data.batch(slice(0, 2))
    torch.manual_seed(0)
    rx = SSDM(variant="paper").eval()
    assert isinstance(rx.net, PaperLDN) and rx.width == 87 and rx.shipped_link == "s-sdm-paper"
    for p in rx.net.out.parameters():   # a non-identity output layer, so that the spikes matter
        torch.nn.init.normal_(p, std=0.05)
    seen = []
    hook = rx.net.spk[0].register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach().clone()))
    with torch.no_grad():
        out = rx(b.blurry, batch=b)
    hook.remove()
    a, e = window_bounds_at(400, 200, 87)
    assert seen[0].shape == (2, 87, 8, 8)
    assert torch.equal(seen[0], b.spikes[:, a:e].float())          # the raw binary ticks themselves
    assert out.shape == b.blurry.shape and 0 <= float(out.min()) and float(out.max()) <= 1
    from dataclasses import replace

    outside = b.spikes.clone()
    outside[:, :a] = 1 - outside[:, :a]
    outside[:, e:] = 1 - outside[:, e:]
    inside = b.spikes.clone()
    inside[:, a + 40] = 1 - inside[:, a + 40]
    with torch.no_grad():
        assert torch.equal(rx(b.blurry, batch=replace(b, spikes=outside)), out)
        assert not torch.allclose(rx(b.blurry, batch=replace(b, spikes=inside)), out, atol=1e-6)


def test_the_paper_ldn_fuses_by_concatenation_and_checks_shapes():
    from semcom.errors import SemcomError
    from semcom.receivers.ssdm import SSDM, PaperLDN

    net = PaperLDN(ticks=21)
    assert net.att.mlp[0].in_channels == 64 and net.body[0].body[0].in_channels == 64  # 32 image + 32 spike
    assert 0.2e6 < sum(p.numel() for p in net.parameters()) < 0.3e6                   # the paper's 0.23 M
    y = torch.rand(2, 3, 32, 32)
    assert torch.allclose(net(y, torch.rand(2, 21, 8, 8)), y, atol=1e-6)  # starts as the identity
    with pytest.raises(ValueError, match="21 spike frames"):
        net(y, torch.rand(2, 20, 8, 8))
    with pytest.raises(ValueError, match="source='raw'"):
        SSDM(variant="paper", source="representation")
    with pytest.raises(ValueError, match="variant"):
        SSDM(variant="published")
    with pytest.raises(SemcomError, match="spike stream"):
        SSDM(variant="paper")(y)


def test_the_teachers_moments_match_its_single_moment_outputs(spike_data):
    from semcom.receivers.ssdm import BlindSpotUNet, Cascade, SpikeSR

    torch.manual_seed(0)
    sr = SpikeSR(width=8, blocks=1)
    torch.nn.init.normal_(sr.up[-1].weight, std=0.01)
    t = Cascade(bsn=BlindSpotUNet(width=8, dec_width=8), sr=sr, width=37).eval()
    b = spike_data.batch(slice(0, 2))
    with torch.no_grad():
        many = t.at_moments(b.blurry, b.spikes, [40.0, 200.0, 360.0])
        assert many.shape == (2, 3, 3, 32, 32)
        for i, c in enumerate((40.0, 200.0, 360.0)):
            assert torch.allclose(many[:, i], t(b.blurry, b.spikes, centre=c), atol=1e-5)


def test_the_ssim_teacher_loss_and_dists_without_its_weights(tmp_path, monkeypatch):
    from semcom.errors import SemcomError
    from semcom.train.ssdm import teacher_loss

    f = teacher_loss("ssim")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64, generator=g)
    assert float(f(x, x)) < 1e-6
    noisy = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert float(f(noisy, x)) > 0.05
    assert float(f(x + 0.02, x)) < 0.2 * float(f(noisy, x))  # a shift in value costs far less than lost structure
    monkeypatch.setenv("SEMCOM_VGG16_WEIGHTS", str(tmp_path / "missing.pth"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(SemcomError, match="dists"):
        teacher_loss("dists")
    with pytest.raises(ValueError, match="teacher loss"):
        teacher_loss("lpips")


def test_the_paper_recipe_resumes_where_it_stopped(spike_data, tmp_path):
    """Stopped after 3 steps, then after 3 more, then run to the end: the same networks and log as one
    uninterrupted run; the log has a validation PSNR; another recipe in the same folder is refused."""
    from semcom.errors import SemcomError
    from semcom.receivers.ssdm import SSDM
    from semcom.train.ssdm import train_paper
    from semcom.zoo.store import load_checkpoint

    data, val = spike_data.split(1)
    recipe = _tiny_recipe()
    kw = dict(recipe=recipe, log_every=1, val_every=2, save_every=100, progress=False)
    whole = train_paper(data, val, tmp_path / "whole", **kw)
    assert train_paper(data, val, tmp_path / "cut", stop_after=3, **kw) is None
    assert (tmp_path / "cut" / "state.pt").exists() and not (tmp_path / "cut" / "s-sdm-paper.ckpt").exists()
    assert train_paper(data, val, tmp_path / "cut", stop_after=3, **kw) is None
    cut = train_paper(data, val, tmp_path / "cut", **kw)
    a, b = load_checkpoint(whole), load_checkpoint(cut)
    assert a.meta["link"] == "s-sdm-paper" and a.meta["receiver"]["variant"] == "paper"
    assert set(a.receiver) == set(b.receiver)
    assert all(torch.equal(a.receiver[k], b.receiver[k]) for k in a.receiver)
    teach_a, teach_b = (torch.load(p / "teacher.pt") for p in (tmp_path / "whole", tmp_path / "cut"))
    assert all(torch.equal(teach_a["bsn"][k], teach_b["bsn"][k]) for k in teach_a["bsn"])

    def rows(folder):
        lines = (folder / "log.csv").read_text().splitlines()
        return [line.rsplit(",", 1)[0] for line in lines]   # all but the seconds
    assert rows(tmp_path / "whole") == rows(tmp_path / "cut")
    header, *body = (tmp_path / "whole" / "log.csv").read_text().splitlines()
    assert header == "stage,step,loss,val_psnr,seconds"
    assert [r.split(",")[0] for r in body] == ["sdm", "bsn", "bsn", "sr", "sr", "ldn", "ldn", "ldn"]
    assert all(float(r.split(",")[3]) > 5 for r in body if r.split(",")[3])
    rx = build_receiver("s-sdm", variant="paper", net_width=8, weights=str(cut)).eval()
    with torch.no_grad():
        assert rx(val.batch(slice(0, 1)).blurry, batch=val.batch(slice(0, 1))).shape == (1, 3, 32, 32)
    with pytest.raises(SemcomError, match="not those of this LDN"):
        build_receiver("s-sdm", weights=str(cut))        # our LDN cannot take the published one's weights
    with pytest.raises(SemcomError, match="other settings"):
        train_paper(data, val, tmp_path / "cut", **{**kw, "recipe": _tiny_recipe(lam=10.0)})


def test_the_paper_training_command_stops_and_resumes(spike_data, tmp_path, monkeypatch):
    import semcom.train.ssdm as tr

    monkeypatch.setattr(tr, "load_spike_data", lambda **kw: spike_data)
    real = tr.PaperRecipe
    small = _tiny_recipe()
    monkeypatch.setattr(tr, "PaperRecipe", lambda **kw: real(**{**small.__dict__, **kw}))  # small networks
    out = tmp_path / "paper"
    cmd = ["--recipe", "paper", "--out", str(out), "--steps", "1", "--ldn-steps", "1", "--size", "32",
           "--n-val", "1", "--batch-size", "2"]
    assert tr.main([*cmd, "--stop-after", "2"]) == 0
    assert not (out / "s-sdm-paper.ckpt").exists()
    assert tr.main(cmd) == 0
    from semcom.zoo.store import load_checkpoint

    meta = load_checkpoint(out / "s-sdm-paper.ckpt").meta
    assert meta["training"]["lam"] == 100.0 and meta["training"]["teacher_loss"] == "ssim"
    assert meta["training"]["short"] == 37 and meta["receiver"]["width"] == 87
    assert tr.main([*cmd, "--lam", "10"]) == 2                                    # another recipe: refused
    assert tr.main(["--recipe", "paper", "--out", str(tmp_path / "x"), "--n-val", "2", "--n-train", "2"]) == 2


def test_the_s_sdm_paper_link_builds_the_published_receiver(spike_data, tmp_path):
    """The link builds the published LDN (untrained until its weights ship), loads a trained checkpoint
    through --checkpoint, and its shipped weights are looked up under its own name, not s-sdm's."""
    from semcom.errors import SemcomError
    from semcom.link import Link
    from semcom.linkspec import find_link
    from semcom.receivers.ssdm import PaperLDN
    from semcom.train.ssdm import save_receiver

    spec = find_link("s-sdm-paper")
    link = Link(spec, cbr=1.0)
    assert isinstance(link.receiver.net, PaperLDN) and link.receiver.width == 87
    with pytest.raises(SemcomError, match="no shipped weights.*s-sdm-paper.*--recipe paper"):
        Link(spec, cbr=1.0, receiver_overrides={"weights": "shipped"})
    torch.manual_seed(3)
    net = PaperLDN()
    torch.nn.init.normal_(net.out.weight, std=0.05)
    path = save_receiver(tmp_path / "p.ckpt", net, width=87, training={"steps": 0}, link="s-sdm-paper",
                         variant="paper")
    trained = Link(spec, cbr=1.0, codec_overrides={"checkpoint": str(path)}).eval()
    assert all(torch.equal(a, b) for a, b in zip(trained.receiver.net.state_dict().values(),
                                                 net.state_dict().values()))
    b = spike_data.batch(slice(0, 2))
    with torch.no_grad():
        out = trained(b, snr_db=0.0, generator=torch.Generator().manual_seed(0)).output
    assert out.shape == b.sharp.shape and not torch.allclose(out, b.blurry, atol=1e-3)


def test_the_default_s_sdm_keeps_its_network():
    """The default back-end is still our LDN (two rate maps, 80 ticks) with the shipped layer shapes."""
    from semcom.receivers.ssdm import LDN, SSDM

    rx = SSDM()
    assert rx.variant == "ours" and rx.width == 80 and type(rx.net) is LDN and rx.shipped_link == "s-sdm"
    ref = LDN()
    assert {k: v.shape for k, v in rx.net.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
