"""One contract per kind of component, checked over everything registered (no hand-written name list):
channels, receivers, sources and metrics.  Codecs and link files have theirs in test_contract.py."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from semcom.errors import SemcomError
from semcom.registry import CHANNELS, METRICS, RECEIVERS, SOURCES
from semcom.sources.base import Batch, Sample, collate


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_every_kind_has_its_built_in_components():
    assert {"awgn", "rayleigh", "none"} <= set(CHANNELS.names())
    assert {"identity", "edi", "sdm", "unet-xattn"} <= set(RECEIVERS.names())
    assert {"synth-blur", "folder", "gopro", "skimage", "photos"} <= set(SOURCES.names())
    assert {"psnr", "ssim", "ms-ssim", "dists"} <= set(METRICS.names())


def _refuses_an_unknown_argument(registry, name, **params):
    with pytest.raises(SemcomError, match=f"{registry.kind} {name!r} takes no argument 'no_such_option'|"
                                          f"{name} takes no argument 'no_such_option'") as info:
        registry.build(name, **params, no_such_option=1)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("registry", [CHANNELS, RECEIVERS, SOURCES, METRICS], ids=lambda r: r.kind)
def test_every_component_knows_its_name_and_refuses_an_unknown_argument_in_one_line(registry):
    for name, factory in registry.items():
        assert factory.registry_name == name
        assert registry.help(name), f"{registry.kind} {name} has no help line"
        if registry is not SOURCES:  # sources need their data first: test_source_contract
            _refuses_an_unknown_argument(registry, name)


# --------------------------------------------------------------------------- channels

@pytest.mark.parametrize("name", CHANNELS.names())
def test_channel_contract(name):
    """Symbols of power 1 in; the receiver's view out: shapes and dtypes, its stated noise variance
    matching the noise it actually gets, the same draw for the same seed, gradients through x."""
    channel = CHANNELS.build(name)
    n, b = 20_000, 4
    g = _gen(0)
    x = torch.complex(torch.randn(b, n, generator=g), torch.randn(b, n, generator=g)) / math.sqrt(2)
    x.requires_grad_(False)
    snr = torch.tensor([0.0, 5.0, 10.0, 20.0])
    out = channel(x, snr_db=snr, generator=_gen(1))
    assert out.y.shape == out.equalized.shape == (b, n)
    assert out.y.dtype == out.equalized.dtype == torch.complex64
    noise_var = torch.broadcast_to(out.noise_var, (b, n))
    assert noise_var.dtype == torch.float32 and bool((noise_var >= 0).all())
    torch.broadcast_to(out.h, (b, n))
    err = (out.equalized - x).abs() ** 2
    if bool((noise_var == 0).all()):  # a noiseless channel delivers the symbols themselves
        assert torch.allclose(out.equalized, x)
    else:
        ratio = (err / noise_var).mean(dim=1)  # E|n|^2 / N0 = 1 frame by frame, whatever the fading
        assert torch.allclose(ratio, torch.ones(b), atol=0.05), ratio
        # the mean SNR of the frame is the one asked for (power 1 in, N0 = 10^(-SNR/10))
        n0 = (err * (out.h.abs() ** 2 if out.h.numel() > 1 else 1.0)).mean(dim=1)
        assert torch.allclose(10 * torch.log10(1 / n0), snr, atol=0.25), n0
    again = channel(x, snr_db=snr, generator=_gen(1))
    assert torch.equal(again.y, out.y)
    scalar = channel(x[:1], snr_db=10.0, generator=_gen(1))  # a float SNR applies to every frame
    assert scalar.y.shape == (1, n)
    xg = x[:, :64].clone().requires_grad_(True)
    channel(xg, snr_db=10.0, generator=_gen(2)).equalized.abs().sum().backward()
    assert xg.grad is not None and bool(torch.isfinite(xg.grad).all())
    assert isinstance(type(channel).fades, bool)


# --------------------------------------------------------------------------- receivers

@pytest.fixture(scope="module")
def hybrid_batch():
    """Two 64 x 64 samples with every stream a back-end may read: events, raw events, spikes."""
    ds = SOURCES.build("synth-blur", split="test", size=64, limit=2)
    return collate([ds[i] for i in range(2)])


@pytest.mark.parametrize("name", RECEIVERS.names())
def test_receiver_contract(name, hybrid_batch):
    """The decoded frame (+ side information) in; a frame of the same shape out, finite, float32,
    the same twice; without the side information it needs, one clear error, not a crash."""
    torch.manual_seed(0)
    receiver = RECEIVERS.build(name).eval()
    image = hybrid_batch.blurry
    with torch.no_grad():
        y = receiver(image, events=hybrid_batch.events, batch=hybrid_batch)
        y2 = receiver(image, events=hybrid_batch.events, batch=hybrid_batch)
    assert y.shape == image.shape and y.dtype == torch.float32
    assert bool(torch.isfinite(y).all())
    assert torch.equal(y, y2)
    bare = Batch(sharp=hybrid_batch.sharp, blurry=hybrid_batch.blurry)
    try:
        with torch.no_grad():
            z = receiver(image, events=None, batch=bare)
    except SemcomError as exc:
        assert "\n" not in str(exc) and name in str(exc)
    else:
        assert z.shape == image.shape and bool(torch.isfinite(z).all())


# --------------------------------------------------------------------------- sources

def _pictures(folder, n=2):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray((rng.uniform(size=(96, 112, 3)) * 255).astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


def _source_params(name, tmp_path):
    """Small arguments that build each source here (photos only where the corpus is installed)."""
    small = {"size": 32, "limit": 2, "cache": False}
    if name == "folder":
        return {**small, "data_root": str(_pictures(tmp_path / "pics")), "blur_px": (4.0, 6.0)}
    if name in ("gopro", "gopro-video"):
        from test_sources_datasets import _fake_gopro

        # the fake tree holds 2 blurry frames: sequences of one exposure each for the video loader
        return {**small, "data_root": str(_fake_gopro(tmp_path)[0]), **({"exposures": 1} if "video" in name else {})}
    if name == "photos":
        from semcom.sources.photos import installed_photos

        try:
            installed_photos()
        except SemcomError:
            pytest.skip("the photos corpus is not installed (semcom data photos)")
        return {**small, "split": "train", "n": 2, "blur_px": (4.0, 6.0), "spikes": False}
    if name == "photos-image":
        from semcom.sources.photos import installed_photos

        try:
            installed_photos(split="test")
        except SemcomError:
            pytest.skip("the photos corpus is not installed (semcom data photos)")
        return {"size": 32, "limit": 2}
    if name == "skimage":
        return {"size": 32, "limit": 2}
    return {**small, "blur_px": (4.0, 6.0)}


@pytest.mark.parametrize("name", SOURCES.names())
def test_source_contract(name, tmp_path):
    """Samples of float32 frames in [0, 1] with side information shaped like the frame, the same
    samples for the same seed, a JSON description, and stable names."""
    params = _source_params(name, tmp_path)
    _refuses_an_unknown_argument(SOURCES, name, **params)
    ds = SOURCES.build(name, **params)
    assert len(ds) == 2
    from semcom.sources.base import SequenceSample

    first, again = ds[0], SOURCES.build(name, **params)[0]
    # what a source delivers is declared on the class: sequences, and how many exposures each holds
    assert ds.sequences == isinstance(first, SequenceSample)
    assert ds.exposures == (len(first) if ds.sequences else 1)
    if ds.sequences:  # every exposure of a sequence is a sample
        assert len(first) >= 1 and again.name == first.name
        pairs, second = list(zip(first.frames, again.frames)), ds[1].frames[0]
    else:
        pairs, second = [(first, again)], ds[1]
    for s, same in pairs:
        assert isinstance(s, Sample)
        for frame in (s.sharp, s.blurry):
            assert frame.dtype == torch.float32 and frame.ndim == 3 and frame.shape[0] == 3
            assert float(frame.min()) >= 0.0 and float(frame.max()) <= 1.0
        assert s.sharp.shape == s.blurry.shape
        if s.events is not None:
            assert s.events.dtype == torch.float32 and s.events.shape[1:] == s.sharp.shape[1:]
        if s.spikes is not None:
            assert s.spikes.dtype == torch.uint8 and s.spikes.ndim == 3
        assert torch.equal(same.sharp, s.sharp) and torch.equal(same.blurry, s.blurry) and same.name == s.name
        if s.events is not None:
            assert torch.equal(same.events, s.events)
    json.dumps(ds.describe(), default=str)
    batch = collate([pairs[0][0], second])
    assert batch.sharp.shape[0] == 2


# --------------------------------------------------------------------------- metrics

@pytest.mark.parametrize("name", METRICS.names())
def test_metric_contract(name):
    """One value per frame; a perfect copy scores best, more noise scores worse in the declared
    direction; a metric that cannot run says so with MetricUnavailable, never a made-up number."""
    from semcom.metrics.modules import MetricUnavailable

    try:
        metric = METRICS.build(name)
    except MetricUnavailable as exc:
        assert "\n" not in str(exc) and name.upper() in str(exc).upper()
        pytest.skip(f"{name} unavailable here: {exc}")
    assert isinstance(metric.higher_is_better, bool) and isinstance(metric.unit, str)
    g = _gen(0)
    target = torch.rand(2, 3, 176, 176, generator=g)  # MS-SSIM needs more than 160 pixels
    little = (target + 0.02 * torch.randn(target.shape, generator=g)).clamp(0, 1)
    much = (target + 0.2 * torch.randn(target.shape, generator=g)).clamp(0, 1)
    with torch.no_grad():
        values = [metric(p, target) for p in (little, much)]
        same = metric(target, target)
    for v in (*values, same):
        assert v.shape == (2,) and v.dtype.is_floating_point
    sign = 1 if metric.higher_is_better else -1
    assert bool((sign * values[0] > sign * values[1]).all()), values
    assert bool((sign * same >= sign * values[0]).all())
