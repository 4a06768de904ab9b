"""Event, spike and RGB camera models (semcom.sources.events / spikes / rgb)."""

import numpy as np
import pytest

from semcom.sources.base import EVENT_DTYPE
from semcom.sources.events import EventCamera, log_crossings, luminance
from semcom.sources.rgb import RGBCamera
from semcom.sources.scene import SceneRenderer, linear_to_srgb_np, srgb_to_linear_np
from semcom.sources.spikes import SpikeCamera

IDEAL = dict(contrast_sigma=0.0, reference="first", log_eps=0.0)


def _ramp(num_frames: int, rise: float, span_us: float) -> tuple[np.ndarray, np.ndarray]:
    """One pixel whose log luminance rises linearly by ``rise`` over ``span_us``."""
    times = np.linspace(0.0, span_us, num_frames)
    lum = np.exp(np.linspace(0.0, rise, num_frames) - 3.0)[:, None, None]  # (K, 1, 1), log from -3
    return lum.astype(np.float64), times


# --------------------------------------------------------------------------- events


@pytest.mark.parametrize("num_frames", [2, 7])
def test_log_ramp_fires_five_events_at_the_crossings(num_frames):
    times = np.linspace(0.0, 1.1, num_frames)
    logs = np.linspace(0.0, 1.1, num_frames)[:, None]
    ev = log_crossings(logs, times, c_pos=0.2, c_neg=0.2)
    assert len(ev) == 5
    assert np.all(ev.p == 1) and np.all(ev.index == 0)
    np.testing.assert_allclose(ev.t, [0.2, 0.4, 0.6, 0.8, 1.0], atol=1e-6)


def test_event_camera_ramp_timestamps_in_microseconds():
    lum, times = _ramp(2, 1.1, 1_100_000.0)
    ev = EventCamera(contrast=0.2, **IDEAL).simulate(lum.astype(np.float32), times, exposure_us=1_100_001,
                                                     rng=np.random.default_rng(0))
    assert ev.dtype == EVENT_DTYPE
    assert ev["t"].tolist() == [200_000, 400_000, 600_000, 800_000, 1_000_000]
    assert ev["p"].tolist() == [1] * 5


def test_falling_ramp_fires_negative_events():
    lum, times = _ramp(3, -0.9, 900.0)
    ev = EventCamera(contrast=0.2, **IDEAL).simulate(lum.astype(np.float32), times, exposure_us=1000,
                                                     rng=np.random.default_rng(0))
    assert ev["p"].tolist() == [-1] * 4
    np.testing.assert_allclose(ev["t"], [200, 400, 600, 800], atol=1)


def _moving_sequence(seed=0, size=48, blur=12.0):
    rng = np.random.default_rng(seed)
    pic = (rng.uniform(size=(24, 24, 3)) * 255).astype(np.uint8)
    pic = np.kron(pic, np.ones((6, 6, 1), np.uint8))  # blocky picture with strong edges
    r = SceneRenderer(size=size, blur_px=blur, foreground=0.0, rotation=0.0, zoom=0.0)
    return r.render(pic, np.random.default_rng(seed + 1))


def test_static_scene_fires_no_events():
    frames = np.repeat(np.random.default_rng(0).uniform(0.05, 1, size=(1, 3, 16, 16)).astype(np.float32), 9, 0)
    times = (np.arange(9) + 0.5) * 100.0
    ev = EventCamera().simulate(frames, times, exposure_us=900, rng=np.random.default_rng(0))
    assert len(ev) == 0


def test_reversing_the_motion_flips_polarities():
    seq = _moving_sequence()
    cam = EventCamera(contrast=0.2, contrast_sigma=0.0, reference="first")
    fwd = cam.simulate(seq.frames, seq.times_us, exposure_us=seq.exposure_us, rng=np.random.default_rng(0))
    bwd = cam.simulate(seq.frames[::-1].copy(), seq.times_us, exposure_us=seq.exposure_us,
                       rng=np.random.default_rng(0))
    assert len(fwd) > 1000
    pos_f, neg_f = int((fwd["p"] > 0).sum()), int((fwd["p"] < 0).sum())
    pos_b, neg_b = int((bwd["p"] > 0).sum()), int((bwd["p"] < 0).sum())
    assert abs(pos_f - neg_b) <= 0.05 * pos_f and abs(neg_f - pos_b) <= 0.05 * neg_f
    h, w = seq.frames.shape[-2:]
    net = lambda e: np.bincount(e["y"].astype(int) * w + e["x"], weights=e["p"], minlength=h * w)  # noqa: E731
    # per pixel the net count is the log change over the exposure in units of C, up to one step
    assert np.abs(net(fwd) + net(bwd)).max() <= 1


def test_events_sorted_in_range_and_aer_payload():
    seq = _moving_sequence(seed=3)
    cam = EventCamera(bytes_per_event=6, noise_rate_hz=50.0)
    ev = cam.simulate(seq.frames, seq.times_us, exposure_us=seq.exposure_us, rng=np.random.default_rng(1))
    assert np.all(np.diff(ev["t"]) >= 0)
    assert ev["t"].min() >= 0 and ev["t"].max() < seq.exposure_us
    assert set(np.unique(ev["p"]).tolist()) == {-1, 1}
    assert cam.payload_bytes(ev) == 6 * len(ev)


def test_events_deterministic_by_seed():
    seq = _moving_sequence(seed=4)
    cam = EventCamera()
    a = cam.simulate(seq.frames, seq.times_us, exposure_us=seq.exposure_us, rng=np.random.default_rng(5))
    b = cam.simulate(seq.frames, seq.times_us, exposure_us=seq.exposure_us, rng=np.random.default_rng(5))
    c = cam.simulate(seq.frames, seq.times_us, exposure_us=seq.exposure_us, rng=np.random.default_rng(6))
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()


def test_threshold_mismatch_statistics():
    cp, cn = EventCamera(contrast=0.25, contrast_sigma=0.03).thresholds((200_000,), np.random.default_rng(0))
    assert abs(cp.mean() - 0.25) < 1e-3 and abs(cp.std() - 0.03) < 1e-3
    assert abs(np.corrcoef(cp, cn)[0, 1]) < 0.01


def test_refractory_period_spaces_events_of_a_pixel():
    seq = _moving_sequence(seed=2, blur=20.0)
    free = EventCamera(contrast=0.1).simulate(seq.frames, seq.times_us, exposure_us=seq.exposure_us,
                                              rng=np.random.default_rng(0))
    refr = EventCamera(contrast=0.1, refractory_us=800.0).simulate(seq.frames, seq.times_us,
                                                                   exposure_us=seq.exposure_us,
                                                                   rng=np.random.default_rng(0))
    assert len(refr) < len(free)
    w = seq.frames.shape[-1]
    pix = refr["y"].astype(np.int64) * w + refr["x"]
    order = np.lexsort((refr["t"], pix))
    same = pix[order][1:] == pix[order][:-1]
    gaps = np.diff(refr["t"][order])[same]
    assert gaps.min() >= 799  # rounding to whole microseconds


def test_background_activity_rate():
    frames = np.full((3, 3, 40, 50), 0.3, np.float32)
    ev = EventCamera(noise_rate_hz=100.0).simulate(frames, np.array([1e4, 5e4, 9e4]), exposure_us=100_000,
                                                   rng=np.random.default_rng(0))
    expected = 100.0 * 40 * 50 * 0.1
    assert abs(len(ev) - expected) < 5 * np.sqrt(expected)
    assert abs((ev["p"] > 0).mean() - 0.5) < 0.05


def test_event_camera_validation():
    with pytest.raises(ValueError, match="contrast"):
        EventCamera(contrast=0.0)
    with pytest.raises(ValueError, match="reference"):
        EventCamera(reference="middle")
    with pytest.raises(ValueError, match="bytes_per_event"):
        EventCamera(bytes_per_event=0)
    with pytest.raises(ValueError, match="one time per frame"):
        EventCamera().simulate(np.ones((3, 4, 4), np.float32), np.arange(2.0), exposure_us=10,
                               rng=np.random.default_rng(0))


def test_luminance_weights_sum_to_one():
    np.testing.assert_allclose(luminance(np.ones((2, 3, 4, 4), np.float32)), 1.0, rtol=1e-6)


# --------------------------------------------------------------------------- spikes


@pytest.mark.parametrize("level", [0.05, 0.2, 0.45, 0.9])
def test_constant_pixel_fires_at_gain_times_light_over_theta(level):
    ticks = 4000
    cam = SpikeCamera(rate_hz=1e6, theta=2.0, gain=1.5, scale=1)
    frames = np.full((2, 1, 1), level, np.float32)
    spikes = cam.simulate(frames, np.array([0.0, ticks - 1.0]), exposure_us=ticks, rng=np.random.default_rng(0))
    assert spikes.shape == (ticks, 1, 1) and spikes.dtype == np.uint8
    rate = spikes.sum() / ticks
    assert abs(rate - 1.5 * level / 2.0) <= 0.01 * (1.5 * level / 2.0)


def test_spike_count_is_linear_in_light():
    cam = SpikeCamera(rate_hz=40_000.0, scale=1, gain=0.8)
    levels = np.linspace(0.05, 1.0, 12, dtype=np.float32)
    frames = np.broadcast_to(levels[None, None, :], (2, 1, 12)).copy()
    counts = cam.simulate(frames, np.array([0.0, 50_000.0]), exposure_us=50_000,
                          rng=np.random.default_rng(0)).sum(0)[0]
    slope, intercept = np.polyfit(levels, counts, 1)
    assert abs(slope - 0.8 * 2000) < 0.01 * 0.8 * 2000
    assert np.abs(counts - (slope * levels + intercept)).max() <= 1.0


def test_spike_stream_shape_and_binary_saturation():
    cam = SpikeCamera(gain=3.0)  # saturates: at most one spike per tick
    frames = np.full((5, 3, 32, 24), 1.0, np.float32)
    s = cam.simulate(frames, np.linspace(500, 9500, 5), exposure_us=10_000, rng=np.random.default_rng(0))
    assert s.shape == (400, 8, 6)
    assert s.max() == 1 and s.sum() == s.size


def test_spikes_follow_the_light_between_latent_frames():
    cam = SpikeCamera(rate_hz=1e6, scale=1, random_init=False)
    frames = np.array([0.0, 1.0], np.float32)[:, None, None]  # dark -> bright over the exposure
    s = cam.simulate(frames, np.array([0.0, 1000.0]), exposure_us=1000, rng=np.random.default_rng(0))[:, 0, 0]
    first, second = int(s[:500].sum()), int(s[500:].sum())
    assert abs(first - 125) <= 2 and abs(second - 375) <= 2  # ∫ t dt over each half


def test_dark_current_adds_spikes_in_darkness():
    frames = np.zeros((2, 8, 8), np.float32)
    times = np.array([0.0, 10_000.0])
    clean = SpikeCamera(scale=1).simulate(frames, times, exposure_us=10_000, rng=np.random.default_rng(0))
    dark = SpikeCamera(scale=1, dark_current=0.01).simulate(frames, times, exposure_us=10_000,
                                                            rng=np.random.default_rng(0))
    assert clean.sum() == 0
    assert abs(dark.sum() / 64 - 4.0) < 1.0  # 400 ticks x 0.01 / theta


def test_spike_camera_validation():
    with pytest.raises(ValueError, match="theta"):
        SpikeCamera(theta=0.0)
    with pytest.raises(ValueError, match="scale"):
        SpikeCamera(scale=0)


# --------------------------------------------------------------------------- RGB


def test_static_scene_blurry_equals_sharp():
    pic = np.random.default_rng(0).integers(0, 256, size=(60, 60, 3), dtype=np.uint8)
    seq = SceneRenderer(size=40, blur_px=0.0, foreground=0.0).render(pic, np.random.default_rng(1))
    cam = RGBCamera()
    blurry = cam.expose(seq.frames, np.random.default_rng(2))
    sharp = cam.sharp(seq.sharp)
    assert np.abs(blurry.astype(int) - sharp.astype(int)).max() <= 1
    y, x = seq.origin
    assert np.array_equal(sharp, pic[y:y + 40, x:x + 40].transpose(2, 0, 1))


def test_blur_averages_in_linear_light():
    frames = np.stack([np.zeros((3, 2, 2)), np.ones((3, 2, 2))]).astype(np.float32)
    blurry = RGBCamera().expose(frames, np.random.default_rng(0))
    assert np.all(blurry == round(float(linear_to_srgb_np(np.float32(0.5))) * 255))  # 188, not 128


def test_rgb_noise_is_seeded():
    frames = np.full((3, 3, 16, 16), 0.3, np.float32)
    cam = RGBCamera(full_well=500.0, read_noise=0.01)
    a, b = cam.expose(frames, np.random.default_rng(0)), cam.expose(frames, np.random.default_rng(0))
    assert np.array_equal(a, b) and a.std() > 1.0
    with pytest.raises(ValueError, match="full_well"):
        RGBCamera(full_well=-1.0)


def test_srgb_round_trip():
    x = np.linspace(0, 1, 256, dtype=np.float32)
    np.testing.assert_allclose(linear_to_srgb_np(srgb_to_linear_np(x)), x, atol=1e-5)
