"""Event and spike representations (semcom.sources.representations)."""

import numpy as np
import pytest
import torch

from semcom.errors import SemcomError
from semcom.sources.base import EVENT_DTYPE
from semcom.sources.representations import (event_count, event_representation, long_exposure, scer, scer_levels,
                                            short_window, tfp, voxel_grid, window_bounds)

H, W, T = 5, 7, 12_000


def _random_events(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    ev = np.empty(n, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, T, size=n))
    ev["x"] = rng.integers(0, W, size=n)
    ev["y"] = rng.integers(0, H, size=n)
    ev["p"] = rng.choice([-1, 1], size=n)
    return ev


def _scer_loop(ev, n):
    """Independent reference: the oriented integral from f = T/2 to each boundary, event by event."""
    bounds = [i * T / n for i in range(n + 1)]
    f = T / 2
    out = np.zeros((n, H, W))
    for e in ev:
        for c in range(n):
            b = bounds[c] if c < n // 2 else bounds[c + 1]
            if b < f and b <= e["t"] < f:
                out[c, e["y"], e["x"]] -= e["p"]
            if b > f and f <= e["t"] < b:
                out[c, e["y"], e["x"]] += e["p"]
    return out


def test_scer_of_empty_stream_is_zero():
    rep = scer(np.empty(0, EVENT_DTYPE), height=H, width=W, exposure_us=T)
    assert rep.shape == (6, H, W) and rep.dtype == np.float32 and not rep.any()


@pytest.mark.parametrize("n", [2, 6, 8])
def test_scer_matches_event_by_event_reference(n):
    ev = _random_events(400)
    np.testing.assert_array_equal(scer(ev, height=H, width=W, exposure_us=T, num_bins=n), _scer_loop(ev, n))


def test_scer_sums_are_consistent_with_counts():
    ev = _random_events()
    rep = scer(ev, height=H, width=W, exposure_us=T, num_bins=6)
    net = np.zeros((H, W))
    np.add.at(net, (ev["y"], ev["x"]), ev["p"])
    # the outermost channels span the whole exposure: -SCER_0 + SCER_5 is the net count
    np.testing.assert_array_equal(-rep[0] + rep[5], net)
    # over all pixels: net polarity of the events after the middle
    late = ev["t"] >= T // 2
    assert rep[5].sum() == ev["p"][late].sum() and -rep[0].sum() == ev["p"][~late].sum()
    # the integral grows outwards: channels nest
    counts = np.abs(scer(ev[ev["p"] > 0], height=H, width=W, exposure_us=T))
    assert np.all(counts[0] >= counts[1]) and np.all(counts[1] >= counts[2]) and np.all(counts[5] >= counts[3])


def test_scer_sign_follows_log_intensity():
    # one brightening pixel: positive events before and after the middle
    ev = np.array([(1000, 0, 0, 1), (11_000, 0, 0, 1)], dtype=EVENT_DTYPE)
    rep = scer(ev, height=1, width=1, exposure_us=T, num_bins=6)[:, 0, 0]
    assert rep.tolist() == [-1, 0, 0, 0, 0, 1]  # darker at the start, brighter at the end than at f
    lv = scer_levels(rep[:, None, None])[:, 0, 0]
    assert lv.tolist() == [-1, 0, 0, 0, 0, 0, 1]
    assert scer_levels(torch.from_numpy(rep[:, None, None])).shape == (7, 1, 1)


def test_scer_ignores_events_outside_and_rejects_odd_bins():
    ev = np.array([(-5, 0, 0, 1), (T, 0, 0, 1), (10, W, 0, 1), (10, 0, 0, 1)], dtype=EVENT_DTYPE)
    assert scer(ev, height=H, width=W, exposure_us=T).sum() == -1  # only the last event, in channel 0
    with pytest.raises(SemcomError, match="even"):
        scer(ev, height=H, width=W, exposure_us=T, num_bins=5)


def test_voxel_grid_and_counts():
    ev = _random_events()
    vox = voxel_grid(ev, height=H, width=W, exposure_us=T, num_bins=5)
    net = np.zeros((H, W))
    np.add.at(net, (ev["y"], ev["x"]), ev["p"])
    np.testing.assert_allclose(vox.sum(0), net, atol=1e-4)
    one = np.array([(int(T * 0.3), 1, 2, 1)], dtype=EVENT_DTYPE)
    v1 = voxel_grid(one, height=H, width=W, exposure_us=T, num_bins=5)[:, 2, 1]
    np.testing.assert_allclose(v1, [0, 0.8, 0.2, 0, 0], atol=1e-6)  # tau = 1.2
    cnt = event_count(ev, height=H, width=W, exposure_us=T)
    assert cnt.shape == (2, H, W)
    assert cnt[0].sum() == (ev["p"] > 0).sum() and cnt[1].sum() == (ev["p"] < 0).sum()
    assert event_representation("count", ev, height=H, width=W, exposure_us=T).shape == (2, H, W)
    with pytest.raises(SemcomError, match="unknown event representation"):
        event_representation("frames", ev, height=H, width=W, exposure_us=T)


def test_spike_representations():
    s = np.zeros((100, 2, 3), np.uint8)
    s[::4, 0, 0] = 1           # rate 1/4
    s[40:60, 1, 2] = 1         # only around the middle
    assert window_bounds(100, 8) == (46, 54)
    assert window_bounds(100, 8, center=2) == (0, 8)
    np.testing.assert_allclose(tfp(s, window=20)[0, 0], 0.25)
    assert float(tfp(s, window=20, scale=4.0)[0, 0]) == pytest.approx(1.0)
    assert long_exposure(s)[1, 2] == 20 and long_exposure(s)[0, 0] == 25
    assert short_window(s, window=8)[1, 2] == 8
    batched = torch.from_numpy(np.stack([s, s]))
    assert tfp(batched, window=10).shape == (2, 2, 3)
    with pytest.raises(ValueError, match="window"):
        tfp(s, window=0)
