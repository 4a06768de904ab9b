"""Model-based deblurring back-ends: EDI (events) and SDM (spikes)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semcom.errors import SemcomError
from semcom.receivers.edi import (EDI, RawEventIntegral, edi_denominator_from_samples, edge_agreement,
                                  linear_to_srgb, raw_event_edges, srgb_to_linear)
from semcom.receivers.sdm import SDM
from semcom.registry import RECEIVERS
from semcom.sources.base import EVENT_DTYPE, Batch
from semcom.sources.representations import scer

H, W = 6, 7
T_US = 1000
F_US = T_US // 2
C_TRUE = 0.25


def _events(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    ev = np.array(rows, dtype=EVENT_DTYPE) if rows else np.zeros(0, dtype=EVENT_DTYPE)
    return ev[np.argsort(ev["t"], kind="stable")]


def _hand_events() -> np.ndarray:
    """A few pixels firing at chosen times (t µs, x, y, p), one of them exactly at the middle."""
    return _events([
        (100, 1, 0, +1), (250, 1, 0, +1), (700, 1, 0, -1),
        (20, 3, 2, -1), (480, 3, 2, -1), (500, 3, 2, -1), (999, 3, 2, +1),
        (600, 0, 5, +1), (610, 0, 5, +1), (620, 0, 5, +1), (900, 0, 5, +1),
        (10, 6, 4, +1), (30, 6, 4, -1), (400, 6, 4, +1), (450, 6, 4, -1), (800, 6, 4, +1),
        (300, 2, 3, -1), (301, 2, 3, -1), (302, 2, 3, -1), (303, 2, 3, -1), (304, 2, 3, -1),
    ])


def _level(ev: np.ndarray, x: int, y: int, t: int, f: int, sign: int = 0) -> int:
    """E(f, t) of one pixel on [t, t + 1) by brute force: events in [f, t] count +p, in (t, f)
    count -p (an event at f counts as after f, as in SCER).  ``sign``: only that polarity."""
    sel = (ev["x"] == x) & (ev["y"] == y)
    if sign:
        sel &= ev["p"] == sign
    ts, ps = ev["t"][sel], ev["p"][sel].astype(int)
    if t >= f:
        return int(ps[(ts >= f) & (ts <= t)].sum())
    return -int(ps[(ts > t) & (ts < f)].sum())


def _blur_by_forward_model(latent_f: np.ndarray, ev: np.ndarray, c: float) -> np.ndarray:
    """Average of L(f)·exp(c·E(f, t)) over every microsecond of the exposure (float64)."""
    acc = np.zeros_like(latent_f)
    for y in range(H):
        for x in range(W):
            levels = np.array([_level(ev, x, y, t, F_US) for t in range(T_US)])
            acc[:, y, x] = latent_f[:, y, x] * np.exp(c * levels).mean()
    return acc


def _batch(blurry: torch.Tensor, ev: np.ndarray | None = None, spikes: torch.Tensor | None = None,
           events: torch.Tensor | None = None, info: dict | None = None) -> Batch:
    b = blurry.shape[0]
    return Batch(sharp=blurry.clone(), blurry=blurry, events=events, spikes=spikes,
                 raw_events=tuple([ev] * b), names=tuple(str(i) for i in range(b)),
                 info=tuple([dict(info or {"exposure_us": T_US, "contrast_threshold": C_TRUE})] * b))


@pytest.fixture(scope="module")
def edi_scene():
    rng = np.random.default_rng(3)
    latent = rng.uniform(0.05, 0.6, size=(3, H, W))
    ev = _hand_events()
    blurry = _blur_by_forward_model(latent, ev, C_TRUE)
    return latent, ev, blurry


# ---------------------------------------------------------------------------- EDI


def test_registered():
    assert RECEIVERS.get("edi") is EDI and RECEIVERS.get("sdm") is SDM


def test_edi_inverts_its_forward_model_linear(edi_scene):
    latent, ev, blurry = edi_scene
    assert np.abs(blurry - latent).max() > 0.05  # the events really blurred something
    edi = EDI(source="raw", contrast="source", log_eps=0.0, linear_input=True)
    out = edi(torch.from_numpy(blurry)[None].float(), batch=_batch(torch.from_numpy(blurry)[None].float(), ev))
    assert out.shape == (1, 3, H, W)
    np.testing.assert_allclose(out[0].double().numpy(), latent, atol=1e-3)
    assert edi.last_contrast == [C_TRUE]


def test_edi_inverts_its_forward_model_srgb(edi_scene):
    """sRGB in and out, with the log offset of the simulator: log(L + eps) drives the events."""
    latent, ev, _ = edi_scene
    eps = 1e-3
    blurry = _blur_by_forward_model(latent + eps, ev, C_TRUE) - eps
    blurry_srgb = linear_to_srgb(torch.from_numpy(blurry))[None].float()
    out = EDI(source="raw", contrast=C_TRUE)(blurry_srgb, batch=_batch(blurry_srgb, ev, info={"exposure_us": T_US}))
    expect = linear_to_srgb(torch.from_numpy(latent)).numpy()
    np.testing.assert_allclose(out[0].double().numpy(), expect, atol=1e-3)


def test_edi_wrong_contrast_does_not_invert(edi_scene):
    latent, ev, blurry = edi_scene
    x = torch.from_numpy(blurry)[None].float()
    out = EDI(source="raw", contrast=0.1, log_eps=0.0, linear_input=True)(x, batch=_batch(x, ev))
    assert np.abs(out[0].double().numpy() - latent).max() > 0.01


def test_raw_integral_matches_brute_force():
    ev = _hand_events()
    integ = RawEventIntegral(ev, height=H, width=W, exposure_us=T_US)
    d = integ(0.3)
    d_asym = integ(0.3, 0.5)
    for (y, x) in [(0, 1), (2, 3), (5, 0), (4, 6), (3, 2), (1, 1)]:
        levels = np.array([_level(ev, x, y, t, F_US) for t in range(T_US)])
        assert d[y, x] == pytest.approx(np.exp(0.3 * levels).mean(), rel=1e-12)
        pos = np.array([_level(ev, x, y, t, F_US, +1) for t in range(T_US)])
        neg = -np.array([_level(ev, x, y, t, F_US, -1) for t in range(T_US)])
        assert d_asym[y, x] == pytest.approx(np.exp(0.3 * pos - 0.5 * neg).mean(), rel=1e-12)
    assert integ.has_events.sum() == 5


def test_edi_pixels_without_events_keep_blurry_value():
    rng = np.random.default_rng(0)
    blurry = torch.from_numpy(rng.uniform(0, 1, size=(2, 3, H, W))).float()
    ev = _events([(100, 2, 2, +1), (200, 2, 2, +1), (900, 2, 2, -1)] + [(t, 4, 1, +1) for t in range(0, 1000, 7)])
    out = EDI(source="raw")(blurry, batch=_batch(blurry, ev))
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    mask = torch.ones(H, W, dtype=torch.bool)
    mask[2, 2] = mask[1, 4] = False
    assert torch.equal(out[:, :, mask], blurry[:, :, mask])
    assert not torch.allclose(out[:, :, 2, 2], blurry[:, :, 2, 2])
    # no event at all: the output is the input
    empty = _events([])
    out = EDI(source="raw", contrast="estimate")(blurry, batch=_batch(blurry, empty))
    assert torch.equal(out, blurry)


def test_edi_extreme_event_counts_stay_finite():
    blurry = torch.full((1, 3, H, W), 0.5)
    ev = _events([(t, 0, 0, +1) for t in range(0, 1000, 2)] + [(t, 1, 0, -1) for t in range(1, 1000, 2)])
    out = EDI(source="raw", contrast=1.0)(blurry, batch=_batch(blurry, ev))
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_edi_representation_approaches_raw_with_fine_boundaries():
    rng = np.random.default_rng(1)
    rows = [(int(t), int(rng.integers(0, W)), int(rng.integers(0, H)), int(rng.choice([-1, 1])))
            for t in rng.uniform(0, T_US, size=400)]
    rows += [(F_US, 0, 0, +1), (F_US, 1, 1, -1)]  # events exactly at f: the same convention on both paths
    ev = _events(rows)
    blurry = torch.from_numpy(rng.uniform(0.05, 0.5, size=(1, 3, H, W))).float()
    raw = EDI(source="raw", contrast=C_TRUE, linear_input=True)(blurry, batch=_batch(blurry, ev))
    errs = []
    for n in (4, 16, 128):
        rep = torch.from_numpy(scer(ev, height=H, width=W, exposure_us=T_US, num_bins=n))[None]
        out = EDI(source="representation", contrast=C_TRUE, linear_input=True)(blurry, events=rep)
        errs.append(float((out - raw).abs().max()))
    assert errs[2] < 5e-3
    assert errs[0] > errs[2]


def test_sampled_integral_rules():
    levels = torch.tensor([[-1.0], [0.0], [2.0]]).view(3, 1, 1)
    times = torch.tensor([0.0, 0.5, 1.0])
    e = [math.exp(-0.5), 1.0, math.exp(1.0)]
    trap = edi_denominator_from_samples(levels, times, contrast=0.5, rule="trapezoid")
    step = edi_denominator_from_samples(levels, times, contrast=0.5, rule="step")
    assert float(trap) == pytest.approx(0.25 * (e[0] + e[1]) + 0.25 * (e[1] + e[2]), rel=1e-6)
    assert float(step) == pytest.approx(0.25 * e[0] + 0.5 * e[1] + 0.25 * e[2], rel=1e-6)
    with pytest.raises(ValueError, match="increasing"):
        edi_denominator_from_samples(levels, torch.tensor([0.0, 0.0, 1.0]), contrast=0.5)


def test_edi_estimate_contrast_on_edge_scene():
    """A bright bar sweeping a dark line; the grid search should land near the true contrast."""
    w, h, c = 48, 4, 0.2
    ticks = 480  # one latent per 2 µs over a 960 µs exposure
    lo, hi = 0.05, 0.6
    xs = np.arange(w)
    rows, frames = [], []
    ref = np.log(np.full(w, lo))
    for k in range(ticks):
        pos = 12 + 20 * k / ticks  # the bar's left edge moves 20 pixels during the exposure
        frame = np.where((xs >= pos) & (xs < pos + 8), hi, lo)
        frames.append(frame)
        diff = np.log(frame) - ref
        n = np.trunc(diff / c).astype(int)
        for x in np.nonzero(n)[0]:
            for y in range(h):
                rows += [(2 * k, x, y, int(np.sign(n[x])))] * abs(int(n[x]))
        ref = ref + n * c
    ev = _events(rows)
    blur_lin = np.mean(frames, axis=0)
    blur = torch.from_numpy(np.broadcast_to(blur_lin, (1, 3, h, w)).copy()).float()
    b = Batch(sharp=blur, blurry=blur, raw_events=(ev,), info=({"exposure_us": 2 * ticks},))
    edi = EDI(source="raw", contrast="estimate", linear_input=True,
              contrast_grid=[0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5])
    out = edi(blur, batch=b)
    assert edi.last_contrast[0] in (0.15, 0.2, 0.25)
    sharp = torch.from_numpy(frames[ticks // 2]).float()
    assert float((out[0, 0, 0] - sharp).abs().mean()) < float((blur[0, 0, 0] - sharp).abs().mean())
    edges = torch.from_numpy(raw_event_edges(ev, height=h, width=w, exposure_us=2 * ticks))
    assert edges[0, 20:24].sum() > 0 and edges[0, :16].sum() == 0  # the edges near x = 22 and 30 at f
    assert edge_agreement(out[0, 0], edges) > edge_agreement(blur[0, 0], edges)


def test_edi_argument_errors():
    with pytest.raises(ValueError, match="source must be"):
        EDI(source="voxel")
    with pytest.raises(ValueError, match="contrast must be"):
        EDI(contrast="auto")
    with pytest.raises(ValueError, match="positive"):
        EDI(contrast=-0.2)
    with pytest.raises(ValueError, match="integration"):
        EDI(integration="simpson")
    x = torch.rand(1, 3, H, W)
    with pytest.raises(SemcomError, match="raw events"):
        EDI(source="raw")(x)
    with pytest.raises(SemcomError, match="representation"):
        EDI(source="representation")(x)
    with pytest.raises(SemcomError, match="contrast_threshold"):
        EDI(source="raw")(x, batch=_batch(x, _hand_events(), info={"exposure_us": T_US}))


def test_srgb_round_trip():
    x = torch.linspace(0, 1, 101)
    assert torch.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-6)
    assert float(srgb_to_linear(torch.tensor(0.5))) == pytest.approx(0.21404, abs=1e-4)


# ---------------------------------------------------------------------------- SDM


def _constant_spikes(b: int, ticks: int, h: int, w: int, period: int) -> torch.Tensor:
    s = torch.zeros(b, ticks, h, w, dtype=torch.uint8)
    s[:, ::period] = 1
    return s


def test_sdm_static_scene_unchanged():
    rng = np.random.default_rng(2)
    sharp = torch.from_numpy(np.round(rng.uniform(0, 1, size=(2, 3, 16, 20)) * 255) / 255).float()
    spikes = _constant_spikes(2, 64, 4, 5, period=4)
    out = SDM(window=8)(sharp, batch=_batch(sharp, spikes=spikes))
    assert out.shape == sharp.shape
    assert float((out - sharp).abs().max()) < 1e-5


def test_sdm_recovers_brightening_pixel():
    """Dark (0.1) for 24 ticks, then bright (0.4): the middle window sees only the bright phase."""
    ticks = 64
    spikes = torch.zeros(1, ticks, 1, 1, dtype=torch.uint8)
    spikes[0, 0:24:8] = 1         # rate 1/8 while dark
    spikes[0, 24::2] = 1          # rate 1/2 while bright
    lin_blur = (24 * 0.1 + 40 * 0.4) / ticks
    blurry = torch.full((1, 3, 1, 1), lin_blur)
    out = SDM(window=8, upsample="nearest", linear_input=True)(blurry, batch=_batch(blurry, spikes=spikes))
    assert float(out[0, 0, 0, 0]) == pytest.approx(0.4, rel=1e-5)
    # a window that reaches into the dark phase under-corrects
    out = SDM(window=32, upsample="nearest", linear_input=True)(blurry, batch=_batch(blurry, spikes=spikes))
    assert lin_blur < float(out[0, 0, 0, 0]) < 0.39


def test_sdm_pixels_without_spikes_keep_blurry_value():
    rng = np.random.default_rng(5)
    blurry = torch.from_numpy(rng.uniform(0, 1, size=(1, 3, 16, 16))).float()
    spikes = _constant_spikes(1, 32, 4, 4, period=3)
    spikes[:, :, :2, :] = 0          # top half of the spike sensor never fires
    spikes[:, 12:20, 3, 3] = 0       # a pixel silent in the window only
    for mode in ("bilinear", "nearest"):
        out = SDM(window=8, upsample=mode)(blurry, batch=_batch(blurry, spikes=spikes))
        assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
        # rows 0..5 of the RGB frame see no spike even after bilinear blending (rows < 2 * 4 - 2)
        assert torch.equal(out[:, :, :6], blurry[:, :, :6])
    out = SDM(window=8, upsample="nearest")(blurry, batch=_batch(blurry, spikes=spikes))
    assert float(out[0, :, 12:, 12:].max()) == 0.0   # the model's answer where the window saw nothing


def test_sdm_argument_errors():
    with pytest.raises(ValueError, match="window"):
        SDM(window=0)
    with pytest.raises(ValueError, match="upsample"):
        SDM(upsample="bicubic")
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(SemcomError, match="spike"):
        SDM()(x, batch=_batch(x))


# ---------------------------------------------------------------------------- synth-blur


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float((a.double() - b.double()).square().mean())
    return 10 * math.log10(1.0 / max(mse, 1e-12))


@pytest.fixture(scope="module")
def synth_batch():
    pytest.importorskip("semcom.sources.datasets",
                        reason="semcom/sources/datasets.py (the synth-blur source) does not exist yet")
    from semcom.registry import SOURCES
    from semcom.sources.base import collate

    if "synth-blur" not in SOURCES:
        pytest.skip("the 'synth-blur' source is not registered")
    ds = SOURCES.build("synth-blur", split="test", size=64, limit=3, seed=0, cache=False)
    return collate([ds[i] for i in range(len(ds))])


def _mean_psnr(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float(np.mean([_psnr(out[i], ref[i]) for i in range(out.shape[0])]))


def test_edi_raises_psnr_on_synth_blur(synth_batch):
    b = synth_batch
    assert all(e is not None for e in b.raw_events) and b.events is not None
    blur = _mean_psnr(b.blurry, b.sharp)
    raw = _mean_psnr(EDI(source="raw", contrast="source")(b.blurry, batch=b), b.sharp)
    rep = _mean_psnr(EDI(source="representation", contrast="source")(b.blurry, events=b.events, batch=b), b.sharp)
    est = _mean_psnr(EDI(source="raw", contrast="estimate")(b.blurry, batch=b), b.sharp)
    assert raw > blur + 2.0
    assert rep > blur + 2.0
    assert est > blur + 1.0


def test_sdm_raises_psnr_on_synth_blur(synth_batch):
    b = synth_batch
    assert b.spikes is not None
    blur = _mean_psnr(b.blurry, b.sharp)
    assert _mean_psnr(SDM()(b.blurry, batch=b), b.sharp) > blur + 0.5


@pytest.mark.parametrize("integration", ["trapezoid", "step"])
@pytest.mark.parametrize("contrast", ["source", 0.15])
def test_edi_batched_representation_equals_one_sample_at_a_time(synth_batch, integration, contrast):
    """The whole-batch pass gives bit for bit what each sample alone gives (per-sample contrasts included)."""
    b = synth_batch
    events = b.events.clone()
    events[0] = 0                                         # a lost event stream
    info = tuple({**dict(inf), "contrast_threshold": 0.1 + 0.05 * i} for i, inf in enumerate(b.info))
    b = Batch(sharp=b.sharp, blurry=b.blurry, events=events, spikes=b.spikes, raw_events=b.raw_events,
              names=b.names, info=info)
    edi = EDI(source="representation", contrast=contrast, integration=integration)
    whole = edi(b.blurry, events=events, batch=b)
    used = list(edi.last_contrast)
    for i in range(b.size):
        one = Batch(sharp=b.sharp[i:i + 1], blurry=b.blurry[i:i + 1], events=events[i:i + 1], spikes=None,
                    raw_events=b.raw_events[i:i + 1], names=b.names[i:i + 1], info=info[i:i + 1])
        alone = edi(b.blurry[i:i + 1], events=events[i:i + 1], batch=one)
        assert torch.equal(whole[i:i + 1], alone)
        assert edi.last_contrast == used[i:i + 1]
    assert torch.equal(whole[0], b.blurry[0].clamp(0, 1))  # no events: the frame as decoded
