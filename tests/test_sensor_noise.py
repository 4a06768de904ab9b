"""Sensor noise of the hybrid camera (issue 37): each noise source alone against its closed form, the
numpy and torch simulators against each other, and the presets."""

import math

import numpy as np
import pytest
import torch

from semcom.errors import SemcomError
from semcom.sources import torchsim
from semcom.sources.camera import PRESETS, CameraConfig
from semcom.sources.events import INTENSITY_OFFSET, SHOT_NOISE_WHITE, EventCamera, intensity01
from semcom.sources.spikes import SpikeCamera

SECOND = 1_000_000  # µs
QUIET = dict(contrast_sigma=0.0, reference="first")


def _static(level: float, side: int = 64, span_us: int = SECOND) -> tuple[np.ndarray, np.ndarray]:
    return np.full((2, side, side), level, np.float32), np.array([0.0, float(span_us)])


def _events(cam: EventCamera, frames, times, span_us, seed=0):
    return cam.simulate(frames, times, exposure_us=span_us, rng=np.random.default_rng(seed))


def _shot_rate(rate_hz: float, lum: float) -> float:
    """v2e's shot-noise rate (ON + OFF) per pixel at linear luminance ``lum``, nominal thresholds."""
    i01 = (lum + INTENSITY_OFFSET) / (1 + INTENSITY_OFFSET)
    return rate_hz * (1 + (SHOT_NOISE_WHITE - 1) * i01)


# --------------------------------------------------------------------------- event camera, numpy


@pytest.mark.parametrize("lum", [0.0, 0.25, 1.0])
def test_shot_noise_rate_per_pixel_and_second(lum):
    frames, times = _static(lum)
    ev = _events(EventCamera(shot_noise_hz=20.0, **QUIET), frames, times, SECOND)
    measured = len(ev) / frames[0].size / 1.0
    assert measured == pytest.approx(_shot_rate(20.0, lum), rel=0.05)
    assert abs(np.mean(ev["p"] == 1) - 0.5) < 0.02  # both polarities alike


def test_shot_noise_resets_the_pixel_and_fires_nothing_else():
    # a shot-noise event moves the reference to the present level: a static scene fires no follow-up crossing
    frames, times = _static(0.4, side=32)
    cam = EventCamera(shot_noise_hz=50.0, contrast_sigma=0.03, reference="random")
    ev = _events(cam, frames, times, SECOND)
    assert len(ev) / frames[0].size == pytest.approx(_shot_rate(50.0, 0.4) * 1.0225, rel=0.05)  # E[C/C_i]


@pytest.mark.parametrize("leak_hz", [40.0, 200.0])
def test_leak_event_rate_per_pixel_and_second(leak_hz):
    frames, times = _static(0.3)
    ev = _events(EventCamera(leak_hz=leak_hz, leak_jitter=0.1, **QUIET), frames, np.linspace(0, SECOND, 11)[[0, -1]],
                 SECOND)
    assert np.all(ev["p"] == 1)  # the reference leaks down: ON events
    # rate from the spacing of each pixel's events (no boundary effect): (n - 1) / (last - first)
    idx = ev["y"].astype(np.int64) * 64 + ev["x"]
    order = np.lexsort((ev["t"], idx))
    idx, t = idx[order], ev["t"][order].astype(np.float64)
    n = np.bincount(idx, minlength=64 * 64)
    first = t[np.searchsorted(idx, np.arange(64 * 64))]
    last = t[np.searchsorted(idx, np.arange(64 * 64), side="right") - 1]
    rates = (n - 1) / ((last - first) * 1e-6)
    assert np.mean(rates) == pytest.approx(leak_hz, rel=0.05)


def test_noise_rate_spread_is_log_normal_with_the_configured_decades():
    cam = EventCamera(noise_spread_decades=0.1, mismatch="sensor", sensor_seed=3)
    spread = cam.rate_spread(128, 128, None)
    assert np.std(np.log10(spread)) == pytest.approx(0.1, rel=0.05)
    assert np.median(spread) == pytest.approx(1.0, abs=0.01)
    # and it shows in the per-pixel leak rates (a long static exposure, no jitter)
    frames, times = _static(0.3, side=32, span_us=2 * SECOND)
    cam = EventCamera(leak_hz=100.0, leak_jitter=0.0, noise_spread_decades=0.1, mismatch="sensor", sensor_seed=3,
                      **QUIET)
    ev = _events(cam, frames, times, 2 * SECOND)
    counts = np.bincount(ev["y"].astype(np.int64) * 32 + ev["x"], minlength=32 * 32) / 2.0
    expected = 100.0 * cam.rate_spread(32, 32, None)
    np.testing.assert_allclose(counts, expected, atol=1.0)


@pytest.mark.parametrize("mismatch", ["sample", "sensor"])
def test_threshold_spread_measured_from_event_spacing(mismatch):
    # log luminance rising linearly: each pixel fires every C_i / slope; the spacing measures C_i
    side, span, rise = 48, 100_000, 4.0
    lum = np.exp(np.linspace(-5.0, -5.0 + rise, 2))[:, None, None] * np.ones((2, side, side))
    times = np.array([0.0, float(span)])
    cam = EventCamera(contrast=0.2, contrast_sigma=0.03, log_eps=0.0, reference="first", mismatch=mismatch,
                      sensor_seed=7)
    ev = _events(cam, lum.astype(np.float32), times, span + 1)
    idx = ev["y"].astype(np.int64) * side + ev["x"]
    order = np.lexsort((ev["t"], idx))
    idx, t = idx[order], ev["t"][order].astype(np.float64)
    n = np.bincount(idx, minlength=side * side)
    first = t[np.searchsorted(idx, np.arange(side * side))]
    last = t[np.searchsorted(idx, np.arange(side * side), side="right") - 1]
    measured = (last - first) / (n - 1) * rise / span
    assert np.mean(measured) == pytest.approx(0.2, rel=0.01)
    assert np.std(measured) == pytest.approx(0.03, rel=0.05)
    if mismatch == "sensor":  # a fixed pattern: every sample sees the same thresholds
        again = _events(cam, lum.astype(np.float32), times, span + 1, seed=99)
        assert np.array_equal(again, ev)
        other = EventCamera(contrast_sigma=0.03, mismatch="sensor", sensor_seed=8)
        assert not np.array_equal(other.pixel_thresholds(side, side, None)[0], cam.pixel_thresholds(side, side, None)[0])


def test_no_two_events_of_a_pixel_closer_than_the_refractory_period():
    rng = np.random.default_rng(0)
    k, side = 60, 24
    lum = np.exp(np.cumsum(rng.normal(0, 0.4, size=(k, side, side)), axis=0)).clip(1e-3, 1).astype(np.float32)
    times = np.linspace(0, 10_000, k)
    free = _events(EventCamera(contrast_sigma=0.03, leak_hz=50.0), lum, times, 10_001)
    cam = EventCamera(contrast_sigma=0.03, leak_hz=50.0, refractory_us=500.0)
    ev = _events(cam, lum, times, 10_001)
    assert 0 < len(ev) < len(free)
    idx = ev["y"].astype(np.int64) * side + ev["x"]
    order = np.lexsort((ev["t"], idx))
    idx, t = idx[order], ev["t"][order].astype(np.int64)
    same = idx[1:] == idx[:-1]
    assert np.diff(t)[same].min() >= 500 - 1  # times are rounded to the µs


@pytest.mark.parametrize("level", [1.0, 0.2])
def test_low_pass_step_response_time_constant(level):
    # a step from 1 % grey to `level`: the filtered log approaches the new level as 1 - exp(-t / tau), with
    # tau = 1 / (2 pi f_c I(level)); the j-th ON event is where it has covered j thresholds
    cam = EventCamera(cutoff_hz=300.0, **QUIET)
    lum = np.array([0.01, 0.01, level, level], np.float32)[:, None, None] * np.ones((4, 1, 1), np.float32)
    times = np.array([0.0, 1000.0, 1000.001, 60_000.0])
    ev = _events(cam, lum, times, 60_001)
    step = math.log(level + 1e-3) - math.log(0.01 + 1e-3)
    j = np.arange(1, len(ev) + 1)
    assert len(ev) == int(step / 0.2)
    tau = (ev["t"] - 1000.0) / -np.log(1 - 0.2 * j / step)
    expected = 1e6 / (2 * math.pi * 300.0 * float(intensity01(np.float64(level))))
    assert np.median(tau[2:]) == pytest.approx(expected, rel=0.05)


def test_noise_free_events_unchanged_by_the_new_settings_at_their_defaults():
    rng = np.random.default_rng(1)
    lum = rng.uniform(0.05, 1, size=(9, 16, 16)).astype(np.float32)
    times = np.linspace(0, 10_000, 9)
    a = _events(EventCamera(), lum, times, 10_001, seed=5)
    b = _events(EventCamera(mismatch="sample", cutoff_hz=0.0, shot_noise_hz=0.0, leak_hz=0.0), lum, times, 10_001, seed=5)
    assert np.array_equal(a, b)
    assert set(EventCamera().describe()) == {"contrast", "contrast_neg", "contrast_sigma", "min_contrast",
                                             "refractory_us", "noise_rate_hz", "log_eps", "reference",
                                             "bytes_per_event"}


# --------------------------------------------------------------------------- spike camera


def test_dark_spike_rate_on_a_black_scene():
    cam = SpikeCamera(scale=1, dark_current=0.01, read_noise=0.02, theta_sigma=0.045, mismatch="sensor")
    s = cam.simulate(np.zeros((2, 32, 32)), np.array([0.0, 100_000.0]), exposure_us=100_000,
                     rng=np.random.default_rng(0))
    theta, _, _ = cam.pixel_pattern(32, 32, None)
    expected = float(np.mean(0.01 / theta)) * cam.rate_hz  # spikes per pixel and second
    assert s.mean() * cam.rate_hz == pytest.approx(expected, rel=0.05)


def test_spike_threshold_and_gain_mismatch_set_each_pixels_rate():
    cam = SpikeCamera(scale=1, theta_sigma=0.045, gain_sigma=0.058, mismatch="sensor", sensor_seed=1)
    s = cam.simulate(np.full((2, 48, 48), 0.3), np.array([0.0, 100_000.0]), exposure_us=100_000,
                     rng=np.random.default_rng(0))
    theta, gain, _ = cam.pixel_pattern(48, 48, None)
    assert np.std(theta) == pytest.approx(0.045, rel=0.05) and np.std(gain) == pytest.approx(0.058, rel=0.05)
    np.testing.assert_allclose(s.mean(0), 0.3 * gain / theta, atol=2.0 / s.shape[0])


def test_photon_shot_noise_keeps_the_mean_rate():
    cam = SpikeCamera(scale=1, photons=20.0)
    s = cam.simulate(np.full((2, 32, 32), 0.4), np.array([0.0, 50_000.0]), exposure_us=50_000,
                     rng=np.random.default_rng(0))
    assert s.mean() == pytest.approx(0.4, rel=0.02)


# --------------------------------------------------------------------------- numpy and torch agree


def _torch_counts(cfg: CameraConfig, log_np: np.ndarray, times: np.ndarray, span: int, reference=None, seed=0):
    log = torch.from_numpy(log_np)[None].float()
    g = torch.Generator().manual_seed(seed)
    _, _, h, w = log.shape
    pat = torchsim.sensor_pattern(cfg, 1, h, w, g, "cpu")
    ref = log[:, 0].clone() if reference is None else torch.from_numpy(reference).float()[None]
    return torchsim.noisy_crossings(log, torch.from_numpy(times), cfg=cfg, cp=pat["cp"], cn=pat["cn"],
                                    spread=pat["spread"], reference=ref, exposure_us=span, num_bins=6, g=g)


@pytest.mark.parametrize("settings,lum", [
    ({"shot_noise_hz": 20.0}, 0.0),
    ({"shot_noise_hz": 20.0}, 1.0),
    ({"leak_hz": 60.0, "noise_spread_decades": 0.1}, 0.3),
    ({"leak_hz": 60.0, "refractory_us": 30_000.0}, 0.3),
    ({"noise_rate_hz": 30.0}, 0.5),
])
def test_numpy_and_torch_give_the_same_noise_rates(settings, lum):
    cfg = CameraConfig.from_settings({"contrast_sigma": 0.0, "mismatch": "sensor", **settings})
    frames, times = _static(lum, side=48)
    cam = cfg.event_camera()
    cam.reference = "first"
    n_np = len(_events(cam, frames, times, SECOND)) / frames[0].size
    log = np.log(frames + np.float32(1e-3))
    n_t = float(_torch_counts(cfg, log, times, SECOND).total[0]) / frames[0].size
    assert n_t == pytest.approx(n_np, rel=0.05)


def test_numpy_and_torch_low_pass_and_refractory_agree_on_a_step():
    # deterministic (no mismatch, no random draws): the same crossings in both simulators
    cfg = CameraConfig.from_settings({"contrast_sigma": 0.0, "cutoff_hz": 300.0, "refractory_us": 400.0})
    levels = np.linspace(0.01, 1.0, 64, dtype=np.float32)
    lum = np.stack([np.tile(levels, (8, 1))] * 2 + [np.tile(levels[::-1], (8, 1))] * 2)  # (4, 8, 64)
    times = np.array([0.0, 1000.0, 1000.001, 10_000.0])
    cam = cfg.event_camera()
    cam.reference = "first"
    ev = _events(cam, lum, times, 10_001)
    cross = _torch_counts(cfg, np.log(lum + np.float32(1e-3)), times, 10_001)
    pos_np = np.bincount((ev["y"].astype(np.int64) * 64 + ev["x"])[ev["p"] == 1], minlength=8 * 64)
    pos_t = cross.positive[0].sum(0).flatten().numpy()
    assert len(ev) > 500
    assert np.abs(pos_np - pos_t).max() <= 1
    assert float(cross.total[0]) == pytest.approx(len(ev), rel=0.01)


def test_numpy_and_torch_dark_spikes_agree():
    cfg = CameraConfig.from_settings({"dark_current": 0.01, "spike_theta_sigma": 0.045, "mismatch": "sensor"})
    noise = torchsim.spike_noise(cfg, 1, 16, 16, torch.Generator().manual_seed(0), "cpu")
    lum = torch.zeros(1, 2, 64, 64)
    s_t = torchsim.spikes(lum, torch.tensor([0.0, 100_000.0]), exposure_us=100_000, noise=noise,
                          potential=torch.zeros(1, 16, 16))
    s_np = cfg.spike_camera().simulate(np.zeros((2, 64, 64)), np.array([0.0, 100_000.0]), exposure_us=100_000,
                                       rng=np.random.default_rng(0))
    assert float(s_t.float().mean()) == pytest.approx(float(s_np.mean()), rel=0.05)


def test_fresh_source_default_is_unchanged_and_noisy_preset_adds_events():
    plain = torchsim.FreshSource(size=32)
    same = torchsim.FreshSource(size=32, camera="default")
    a = plain.batch(2, torch.Generator().manual_seed(0))
    b = same.batch(2, torch.Generator().manual_seed(0))
    assert torch.equal(a.events, b.events) and torch.equal(a.blurry, b.blurry)
    assert "camera" not in plain.describe
    noisy = torchsim.FreshSource(size=32, camera="noisy", spikes=True)
    c = noisy.batch(2, torch.Generator().manual_seed(0))
    assert noisy.describe["camera"]["shot_noise_hz"] == 5.0
    assert c.events.shape == a.events.shape and c.spikes is not None
    assert not torch.equal(c.blurry, a.blurry)  # the RGB sensor's noise


# --------------------------------------------------------------------------- presets and settings


def test_default_preset_is_todays_camera_and_ideal_has_no_noise():
    assert CameraConfig.preset("default") == CameraConfig() == CameraConfig.from_settings(None)
    ideal = CameraConfig.preset("ideal")
    assert ideal.contrast_sigma == 0 and ideal.full_well is None and ideal.dark_current == 0
    assert not ideal.event_camera().dynamic_noise and not ideal.spike_camera().pixel_noise


def test_presets_carry_the_v2e_and_scsim_numbers():
    v2e = CameraConfig.preset("v2e")
    assert (v2e.contrast_sigma, v2e.cutoff_hz, v2e.shot_noise_hz, v2e.leak_hz, v2e.refractory_us,
            v2e.noise_spread_decades, v2e.mismatch) == (0.03, 300.0, 0.001, 0.01, 500.0, 0.1, "sensor")
    assert (v2e.dark_current, v2e.spike_theta_sigma, v2e.spike_gain_sigma) == (0.005, 0.045, 0.058)
    noisy = CameraConfig.preset("noisy")
    assert (noisy.contrast_sigma, noisy.cutoff_hz, noisy.shot_noise_hz, noisy.leak_hz) == (0.05, 30.0, 5.0, 0.1)
    for name in PRESETS:
        CameraConfig.preset(name).build()  # every preset builds


def test_preset_settable_as_a_table_a_name_or_with_keywords():
    assert CameraConfig.from_settings("noisy") == CameraConfig.preset("noisy")
    cfg = CameraConfig.from_settings({"preset": "v2e", "leak_hz": 0.05}, spikes=False)
    assert cfg.leak_hz == 0.05 and cfg.cutoff_hz == 300.0 and cfg.spikes is False
    with pytest.raises(SemcomError, match="unknown camera preset 'noisey'.*noisy"):
        CameraConfig.from_settings({"preset": "noisey"})
    with pytest.raises(SemcomError, match="takes no setting 'shot_noise'"):
        CameraConfig.from_settings({"preset": "v2e", "shot_noise": 1.0})


def test_camera_preset_enters_the_dataset_identity(tmp_path):
    from semcom.registry import SOURCES
    from semcom.sources.datasets import SynthBlur

    SynthBlur.check_settings({"camera": {"preset": "v2e", "leak_hz": 0.05}})  # what a link file is checked by
    build = lambda **kw: SOURCES.build("synth-blur", split="test", size=32, n=1, cache=False, **kw)  # noqa: E731
    default, v2e, noisy = build(), build(camera={"preset": "v2e"}), build(camera="noisy")
    leakier = build(camera={"preset": "v2e"}, leak_hz=0.05)
    keys = {default.key, v2e.key, noisy.key, leakier.key}
    assert len(keys) == 4  # every preset and parameter is its own cache folder and sweep identity
    assert default.key == build(camera="default").key == build(camera={}).key
    assert set(default.describe()["camera"]["events"]) == set(EventCamera().describe())
    assert v2e.describe()["camera"]["events"]["cutoff_hz"] == 300.0
    s0, s1 = default[0], noisy[0]
    assert int(s1.info["num_events"]) != int(s0.info["num_events"])
