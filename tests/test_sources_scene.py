"""Latent scene rendering (semcom.sources.scene)."""

import numpy as np
import pytest

from semcom.sources.scene import (SceneRenderer, Trajectory, _path_stats, dead_leaves, frame_times_us,
                                  linear_to_srgb_np)


def _picture(seed=0, side=120):
    rng = np.random.default_rng(seed)
    return (rng.uniform(size=(side, side, 3)) * 255).astype(np.uint8)


def test_middle_frame_is_the_source_crop():
    pic = _picture()
    seq = SceneRenderer(size=48, blur_px=15.0, foreground=0.0).render(pic, np.random.default_rng(3))
    assert seq.num_latent % 2 == 1
    assert seq.times_us[seq.middle] == pytest.approx(seq.exposure_us / 2)
    y, x = seq.origin
    sharp = np.rint(linear_to_srgb_np(seq.sharp) * 255).astype(np.uint8)
    assert np.array_equal(sharp, pic[y:y + 48, x:x + 48].transpose(2, 0, 1))
    # the other frames did move
    assert np.abs(seq.frames[0] - seq.frames[seq.middle]).mean() > 0.01


def test_frame_count_keeps_steps_below_one_pixel():
    r = SceneRenderer(size=64, blur_px=30.0, foreground=0.0, max_step_px=1.0)
    seq = r.render(_picture(1, 160), np.random.default_rng(0))
    assert seq.blur_px == pytest.approx(30.0, rel=0.02)
    assert seq.num_latent >= 31
    finer = SceneRenderer(size=64, blur_px=30.0, foreground=0.0, max_step_px=0.5)
    assert finer.render(_picture(1, 160), np.random.default_rng(0)).num_latent >= 2 * seq.num_latent - 3
    # path length and peak speed of a straight constant-speed motion
    length, speed, disp = _path_stats(Trajectory(np.array([[40.0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]])),
                                      np.zeros((1, 2)))
    assert (length, speed, disp) == pytest.approx((40.0, 40.0, 20.0))


def test_times_are_midpoints():
    np.testing.assert_allclose(frame_times_us(5, 1000), [100, 300, 500, 700, 900])


def test_translation_of_a_ramp_has_no_border_effects():
    # a picture that is linear in linear light: bicubic resampling reproduces it exactly, so under a
    # pure translation every latent frame is the middle one plus a constant, up to the edges;
    # padding or wrap-around would break this next to the borders
    xs = np.linspace(0.05, 0.95, 200, dtype=np.float32)
    pic = np.broadcast_to(linear_to_srgb_np(xs)[None, :, None], (150, 200, 3)).copy()
    seq = SceneRenderer(size=64, blur_px=20.0, foreground=0.0, rotation=0.0, zoom=0.0, curvature=0.0).render(
        pic, np.random.default_rng(0))
    for k in (0, seq.num_latent - 1):
        d = seq.frames[k] - seq.frames[seq.middle]
        assert np.abs(d).max() > 1e-3  # it moved (the direction is random; the ramp runs along x)
        assert np.abs(d - d.mean()).max() < 2e-4


def test_small_pictures_are_upscaled():
    seq = SceneRenderer(size=64, blur_px=25.0, foreground=0.0).render(_picture(0, 50), np.random.default_rng(0))
    assert seq.upscale > 1.0 and seq.frames.shape[-2:] == (64, 64)


def test_deterministic_by_seed():
    r = SceneRenderer(size=32, foreground=1.0)
    a = r.render(_picture(2), np.random.default_rng(7))
    b = r.render(_picture(2), np.random.default_rng(7))
    c = r.render(_picture(2), np.random.default_rng(8))
    assert np.array_equal(a.frames, b.frames)
    assert a.frames.shape != c.frames.shape or not np.array_equal(a.frames, c.frames)


def test_foreground_moves_independently():
    pic = np.full((120, 120, 3), 128, np.uint8)
    pic[:, :, 0] = np.linspace(0, 255, 120).astype(np.uint8)[None, :]
    r = SceneRenderer(size=64, blur_px=0.0, foreground=1.0, foreground_blur_px=12.0)
    seq = r.render(pic, np.random.default_rng(1))
    assert seq.foreground
    # the camera is still, so only the patch's sweep changes between first and last frame
    changed = np.abs(seq.frames[0] - seq.frames[-1]).max(0) > 1e-3
    assert 0.01 < changed.mean() < 0.7


def test_renderer_validation():
    with pytest.raises(ValueError, match="blur_px"):
        SceneRenderer(blur_px=(5.0, 2.0))
    with pytest.raises(ValueError, match="size"):
        SceneRenderer(size=4)
    with pytest.raises(ValueError, match="foreground"):
        SceneRenderer(foreground=1.5)


def test_dead_leaves():
    a = dead_leaves(64, np.random.default_rng(0))
    b = dead_leaves(64, np.random.default_rng(0))
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, dead_leaves(64, np.random.default_rng(1)))
    assert len(np.unique(a.reshape(-1, 3), axis=0)) > 50  # many discs, anti-aliased edges
    # scale invariance: a power-law spectrum, energy falls with frequency
    g = a.mean(-1) - a.mean()
    spec = np.abs(np.fft.fft2(g)) ** 2
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(64), np.fft.fftfreq(64)))
    low, high = spec[(f > 0.02) & (f < 0.08)].mean(), spec[(f > 0.25) & (f < 0.5)].mean()
    assert low > 10 * high
    with pytest.raises(ValueError, match="r_max"):
        dead_leaves(64, np.random.default_rng(0), r_min=5.0, r_max=4.0)
