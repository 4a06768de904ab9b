"""Device-resident training data: compact storage, seeded augmentation, exact time reversal."""

import numpy as np
import pytest
import torch

from semcom.errors import SemcomError
from semcom.sources.base import EVENT_DTYPE
from semcom.sources.representations import event_representation
from semcom.train.data import AUGMENTATIONS, TrainingData, draw_batch, time_reverse


def _coded(n=5, size=32, scale=4, t=6):
    """Frames whose pixel values encode (sample, row, column), events and spikes derived from them,
    so every view of a batch can be checked against the others."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    frames = []
    for i in range(n):
        frames.append(torch.stack([y, x, torch.full_like(y, i)]).float())
    sharp = torch.stack(frames) / 255.0                      # exact in uint8 (values < 256)
    blurry = 1.0 - sharp                                      # also exact
    events = (torch.stack(frames)[:, :2] - 16).repeat(1, 3, 1, 1)[:, :6]   # integers: int8
    blocks = torch.stack([torch.stack([y // scale, x // scale])[:, ::scale, ::scale]] * n)
    spikes = torch.cat([blocks, blocks[:, :1] * 0 + torch.arange(n)[:, None, None, None]], 1)
    spikes = spikes.repeat(1, 2, 1, 1)[:, :t].to(torch.uint8)  # (n, t, size/scale, size/scale)
    return TrainingData.from_float(sharp, blurry, events, describe={"name": "coded"}, spikes=spikes,
                                   representation="scer")


def test_storage_is_compact_and_exact():
    data = _coded()
    assert data.sharp.dtype == torch.uint8 and data.blurry.dtype == torch.uint8
    assert data.events.dtype == torch.int8 and data.spikes.dtype == torch.uint8
    b = data.batch(slice(0, 2))
    assert b.sharp.dtype == torch.float32 and b.events.dtype == torch.float32
    # fractional events fall back to float16
    frac = TrainingData.from_float(b.sharp, b.blurry, b.events + 0.25, describe={})
    assert frac.events.dtype == torch.float16
    big = TrainingData.from_float(b.sharp, b.blurry, b.events * 100, describe={})
    assert big.events.dtype == torch.float16
    # one byte per value: a quarter of float32
    assert data.nbytes() == 2 * (5 * 3 * 32 * 32) + 5 * 6 * 32 * 32 + 5 * 6 * 8 * 8


def test_same_seed_same_batch_other_step_or_shard_another():
    data = _coded()
    a = draw_batch(data, seed=3, step=10, batch_size=4, crop=16)
    b = draw_batch(data, seed=3, step=10, batch_size=4, crop=16)
    for t1, t2 in zip((a.sharp, a.blurry, a.events, a.spikes), (b.sharp, b.blurry, b.events, b.spikes)):
        assert torch.equal(t1, t2)
    for other in (dict(step=11), dict(shard=1), dict(seed=4)):
        c = draw_batch(data, **{**dict(seed=3, step=10, batch_size=4, crop=16), **other})
        assert not torch.equal(a.sharp, c.sharp), other


def test_every_view_gets_the_same_crop_flip_rotation_and_all_eight_occur():
    data = _coded()
    seen = set()
    for step in range(60):
        b = draw_batch(data, seed=0, step=step, batch_size=4, crop=16, augment=("flip", "rot90"))
        assert b.sharp.shape == (4, 3, 16, 16) and b.spikes.shape == (4, 6, 4, 4)
        assert torch.allclose(b.blurry, 1.0 - b.sharp, atol=1e-6)
        rows, cols = (b.sharp[:, 0] * 255).round(), (b.sharp[:, 1] * 255).round()
        assert torch.equal(b.events[:, 0] + 16, rows) and torch.equal(b.events[:, 1] + 16, cols)
        # the spikes sit on the 4x coarser grid of the same crop, transformed alike
        assert torch.equal(b.spikes[:, 0].float(), rows[:, ::4, ::4] // 4)
        assert torch.equal(b.spikes[:, 1].float(), cols[:, ::4, ::4] // 4)
        for k in range(4):
            r, c = rows[k], cols[k]
            transposed = bool(r[1, 0] == r[0, 0])
            dr = (r[0, 1] - r[0, 0]) if transposed else (r[1, 0] - r[0, 0])
            dc = (c[1, 0] - c[0, 0]) if transposed else (c[0, 1] - c[0, 0])
            assert abs(int(dr)) == 1 and abs(int(dc)) == 1
            seen.add((int(dr), int(dc), transposed))
    assert len(seen) == 8  # all elements of the dihedral group of the square


def test_no_augmentation_gives_plain_crops():
    data = _coded()
    b = draw_batch(data, seed=0, step=0, batch_size=4, crop=16, augment=())
    rows = (b.sharp[:, 0] * 255).round()
    cols = (b.sharp[:, 1] * 255).round()
    assert torch.all(torch.diff(rows, dim=1) == 1) and torch.all(torch.diff(cols, dim=2) == 1)
    ev = b.events[:, 0] + 16
    assert torch.equal(ev, rows)  # events were not reversed
    with pytest.raises(SemcomError, match="unknown augmentation"):
        draw_batch(data, seed=0, step=0, batch_size=2, augment=("shear",))
    with pytest.raises(SemcomError, match="multiple"):
        draw_batch(data, seed=0, step=0, batch_size=2, crop=18)


def test_time_reversal_reverses_scer_channels_and_spikes_together():
    data = _coded()
    flips = 0
    for step in range(20):
        b = draw_batch(data, seed=1, step=step, batch_size=4, crop=None, augment=("time",))
        for k in range(4):
            sample = int(round(float(b.sharp[k, 2, 0, 0]) * 255))
            src = data.batch(slice(sample, sample + 1))
            if torch.equal(b.events[k], src.events[0]):
                assert torch.equal(b.spikes[k], src.spikes[0])
            else:
                flips += 1
                assert torch.equal(b.events[k], src.events[0].flip(0))
                assert torch.equal(b.spikes[k], src.spikes[0].flip(0))
    assert 10 < flips < 70


def _random_events(rng, n=4000, t_end=12_000, h=8, w=8):
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(1, t_end, n))
    ev["y"], ev["x"] = rng.integers(0, h, n), rng.integers(0, w, n)
    ev["p"] = rng.choice([-1, 1], n)
    return ev


@pytest.mark.parametrize("kind", ["scer", "voxel", "count"])
def test_time_reversal_matches_the_representation_of_reversed_events(kind):
    """t -> T - t with every polarity negated, computed from the events, equals time_reverse()."""
    rng = np.random.default_rng(0)
    T = 12_000  # divisible by the number of bins: SCER's interval boundaries map onto each other
    ev = _random_events(rng, t_end=T)
    rev = ev.copy()[::-1]
    # integer timestamps: SCER and counts bin [i T/N, (i+1) T/N), whose mirror image is reached by
    # t -> T - 1 - t; the voxel grid interpolates t / T linearly, mirrored by t -> T - t
    rev["t"] = (T - ev["t"][::-1]) - (0 if kind == "voxel" else 1)
    rev["p"] = -ev["p"][::-1]
    bins = 6 if kind != "voxel" else 5
    a = torch.from_numpy(event_representation(kind, ev, height=8, width=8, exposure_us=T, num_bins=bins))
    b = torch.from_numpy(event_representation(kind, rev, height=8, width=8, exposure_us=T, num_bins=bins))
    assert torch.allclose(time_reverse(a[None], kind)[0], b, atol=1e-4)
    assert not torch.allclose(a, b)  # the test has teeth: reversal is not the identity


def test_time_reversal_of_an_unknown_representation_is_refused():
    with pytest.raises(SemcomError, match="not defined"):
        time_reverse(torch.zeros(1, 2, 2, 2), "mystery")


def test_validation_split_is_the_tail_and_never_drawn():
    data = _coded(n=6)
    train, val = data.split(2)
    assert len(train) == 4 and len(val) == 2
    assert torch.equal(val.sharp, data.sharp[4:])
    for step in range(30):
        b = draw_batch(train, seed=0, step=step, batch_size=4, crop=16)
        ids = (b.sharp[:, 2, 0, 0] * 255).round().long()
        assert int(ids.max()) < 4
    with pytest.raises(SemcomError, match="leaves no training"):
        data.split(6)
    assert data.split(0) == (data, None)


def test_augmentations_are_named():
    assert AUGMENTATIONS == ("flip", "rot90", "time")
