"""The torch hybrid camera: agreement with the numpy simulator, determinism, fresh-data training."""

import numpy as np
import pytest
import torch

from semcom.errors import SemcomError
from semcom.sources import torchsim
from semcom.sources.events import log_crossings, luminance, to_structured
from semcom.sources.representations import event_count, scer
from semcom.sources.scene import SceneRenderer, dead_leaves as dead_leaves_np


@pytest.fixture(scope="module")
def common_scene():
    """Latent frames of one scene from the numpy renderer, with per-pixel thresholds and references."""
    rng = np.random.default_rng(3)
    seq = SceneRenderer(size=64).render(dead_leaves_np(160, rng), rng)
    log = np.log(np.maximum(luminance(seq.frames), 0) + np.float32(1e-3)).astype(np.float32)
    n = 64 * 64
    cp = np.maximum(0.2 + 0.03 * rng.normal(size=n), 0.01).astype(np.float32)
    cn = np.maximum(0.2 + 0.03 * rng.normal(size=n), 0.01).astype(np.float32)
    ref = (log[0].ravel() + rng.uniform(size=n).astype(np.float32) * (cp + cn) - cp).astype(np.float32)
    return seq, log, cp, cn, ref


def _numpy_events(seq, log, cp, cn, ref):
    ev = log_crossings(log, seq.times_us, c_pos=cp, c_neg=cn, reference=ref, resolution=1.0)
    t_us = np.clip(np.rint(ev.t), 0, seq.exposure_us - 1).astype(np.int64)
    return to_structured(t_us, ev.index, ev.p, width=64)


def test_closed_form_crossings_agree_with_the_event_list(common_scene):
    seq, log, cp, cn, ref = common_scene
    events = _numpy_events(seq, log, cp, cn, ref)
    assert len(events) > 10_000
    view = lambda a: torch.from_numpy(a).view(1, 64, 64)  # noqa: E731
    cross = torchsim.crossings_to_bins(torch.from_numpy(log)[None], torch.from_numpy(seq.times_us), c_pos=view(cp),
                                       c_neg=view(cn), reference=view(ref), exposure_us=int(seq.exposure_us),
                                       num_bins=6)
    assert abs(float(cross.total[0]) - len(events)) <= 0.005 * len(events)
    a = scer(events, height=64, width=64, exposure_us=int(seq.exposure_us), num_bins=6)
    b = torchsim.bins_to_representation(cross, "scer")[0].numpy()
    assert np.mean(np.all(a == b, axis=0)) >= 0.99
    c = event_count(events, height=64, width=64, exposure_us=int(seq.exposure_us))
    d = torchsim.bins_to_representation(cross, "count")[0].numpy()
    assert np.mean(np.all(c == d, axis=0)) >= 0.99
    # a different threshold gives different events: the comparison has teeth
    other = torchsim.crossings_to_bins(torch.from_numpy(log)[None], torch.from_numpy(seq.times_us),
                                       c_pos=view(cp) * 1.1, c_neg=view(cn), reference=view(ref),
                                       exposure_us=int(seq.exposure_us), num_bins=6)
    assert np.mean(np.all(a == torchsim.bins_to_representation(other, "scer")[0].numpy(), axis=0)) < 0.9


def test_voxels_are_refused_with_a_clear_message():
    cross = torchsim.Crossings(torch.zeros(1, 6, 2, 2), torch.zeros(1, 6, 2, 2), torch.zeros(1))
    with pytest.raises(SemcomError, match="scer"):
        torchsim.bins_to_representation(cross, "voxel")


def test_dead_leaves_cover_the_canvas_with_discs():
    g = torch.Generator().manual_seed(0)
    pics = torchsim.dead_leaves(3, 64, g)
    assert pics.shape == (3, 3, 64, 64) and 0 <= float(pics.min()) and float(pics.max()) <= 1
    assert torch.equal(pics, torchsim.dead_leaves(3, 64, torch.Generator().manual_seed(0)))
    # many distinct colours (discs), not a flat fill
    assert all(len(torch.unique((p * 255).round().flatten(1), dim=1).T) > 50 for p in pics)


def test_render_without_motion_returns_the_window():
    g = torch.Generator().manual_seed(0)
    pic = torchsim.dead_leaves(1, 80, g)
    frames, times, s = torchsim.render(pic, g, size=64, blur_px=(0.0, 0.0), rotation=0.0, zoom=0.0)
    assert frames.shape[:2] == (1, 3) and torch.allclose(times, torch.tensor([1, 3, 5]) / 6)
    window = torchsim.srgb_to_linear(pic[:, :, 8:72, 8:72])
    assert torch.allclose(frames[0, 1], window[0], atol=1e-4)


def test_fresh_batches_are_seeded_and_physically_plausible():
    src = torchsim.FreshSource(size=48)
    a = src.draw(seed=0, step=5, batch_size=2)
    b = src.draw(seed=0, step=5, batch_size=2)
    c = src.draw(seed=0, step=6, batch_size=2)
    assert torch.equal(a.events, b.events) and not torch.equal(a.sharp, c.sharp)
    assert a.sharp.shape == (2, 3, 48, 48) and a.events.shape == (2, 6, 48, 48)
    assert torch.equal(a.events, a.events.round())  # SCER: integer counts
    # motion blur: the blurry frame is smoother than the sharp one
    grad = lambda x: (x[..., 1:] - x[..., :-1]).abs().mean()  # noqa: E731
    assert grad(a.blurry) < grad(a.sharp)
    assert float(a.events.abs().mean()) > 0.1


def test_fresh_data_trains_event_and_spike_codecs(tmp_path):
    from semcom.train import train

    res = train("ev-jscc", cbr=1 / 48, snr_range=(0.0, 20.0), steps=2, batch_size=2, size=32, fresh_data=True,
                n_val=2, out=tmp_path / "f.ckpt", progress=False, log_every=1, dataset="synth-blur",
                codec_params={"width": 8, "unet_width": 8})
    assert res.steps == 2 and np.isfinite(res.val_psnr)
    from semcom.zoo.store import read_meta

    assert read_meta(res.checkpoint)["training"]["data"]["name"] == "fresh"
    res = train("sp-jscc", cbr=1 / 48, snr_range=(0.0, 20.0), steps=1, batch_size=2, size=32, fresh_data=True,
                out=tmp_path / "s.ckpt", progress=False, codec_params={"width": 8, "unet_width": 8})
    assert read_meta(res.checkpoint)["training"]["data"]["spikes"] is True


def test_spike_camera_matches_the_numpy_camera(common_scene):
    from semcom.sources.spikes import SpikeCamera

    seq = common_scene[0]
    cam = SpikeCamera(random_init=False)
    want = cam.simulate(seq.frames, seq.times_us, exposure_us=seq.exposure_us, rng=np.random.default_rng(0))
    lum = torch.from_numpy(luminance(seq.frames))[None]
    got = torchsim.spikes(lum, torch.from_numpy(seq.times_us), exposure_us=seq.exposure_us)[0].numpy()
    assert got.shape == want.shape == (400, 16, 16) and want.sum() > 1000
    assert np.mean(got == want) > 0.999


def test_fresh_pool_holds_one_pool_per_renewal_period_drawn_from_seed_and_period():
    from semcom.train.sources import FreshPool

    src = torchsim.FreshSource(size=32)
    pool = FreshPool(src, size=5, renew=3, chunk=2)
    first = pool.pool(seed=0, step=0).sharp.clone()
    for step in (1, 2):
        pool.draw(seed=0, step=step, batch_size=2)
    assert pool.built == 1 and len(pool.data) == 5
    pool.draw(seed=0, step=3, batch_size=2, crop=16, augment=("flip",))  # the next period: a new pool
    assert pool.built == 2 and not torch.equal(pool.data.sharp, first)
    # a new process (or a resumed run) rebuilds the same pool for the same period
    again = FreshPool(torchsim.FreshSource(size=32), size=5, renew=3, chunk=2)
    assert torch.equal(again.pool(seed=0, step=2).sharp, first)
    b = again.draw(seed=0, step=1, batch_size=4, crop=16)
    assert b.sharp.shape == (4, 3, 16, 16) and b.events.shape == (4, 6, 16, 16)


def test_fresh_pool_training_resumes_to_the_same_weights(tmp_path):
    from semcom.train import train
    from semcom.zoo.store import load_checkpoint

    kw = dict(cbr=1 / 48, snr_range=(0.0, 20.0), steps=5, batch_size=2, size=32, crop=24, fresh_pool=4,
              fresh_renew=2, progress=False, log_every=1, dataset="synth-blur", codec_params={"width": 8})
    full = train("deepjscc", out=tmp_path / "full.ckpt", **kw)
    train("deepjscc", out=tmp_path / "part.ckpt", stop_after=3, **kw)  # stops inside the second pool's period
    part = train("deepjscc", out=tmp_path / "part.ckpt", **kw)
    assert part.resumed_from == 3
    a, b = load_checkpoint(full.checkpoint), load_checkpoint(part.checkpoint)
    assert all(torch.equal(a.codec[k], b.codec[k]) for k in a.codec)
    assert a.meta["training"]["fresh_pool"] == 4 and a.meta["training"]["data"]["pool"] == 4
