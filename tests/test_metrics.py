"""Metrics: PSNR / SSIM / MS-SSIM against scikit-image, DISTS against the authors' reference code."""

from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from semcom.errors import SemcomError
from semcom.metrics import DISTS, MSSSIM, PSNR, SSIM, MetricUnavailable, dists, ms_ssim, psnr, ssim
from semcom.metrics.functional import MS_SSIM_WEIGHTS
from semcom.metrics.modules import dists_alpha_beta_path
from semcom.metrics.vgg import VGG16_CONV_INDICES, VGG16_FILENAME, VGG16Features, find_vgg16_weights
from semcom.registry import METRICS

# --------------------------------------------------------------------------------------------
# test images


def _to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """HWC float arrays in [0, 1] -> (B, 3, H, W) float32."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous().to(torch.float32)


def _natural_pairs(rng: np.random.Generator, size: tuple[int, int], count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops of scikit-image photos (targets) and noisy / blurred versions of them (predictions)."""
    photos = [skdata.astronaut(), skdata.chelsea(), skdata.coffee()]
    h, w = size
    targets, preds = [], []
    for i in range(count):
        img = photos[i % len(photos)].astype(np.float64) / 255.0
        top = rng.integers(0, img.shape[0] - h + 1)
        left = rng.integers(0, img.shape[1] - w + 1)
        crop = img[top:top + h, left:left + w]
        blur = ndimage.gaussian_filter(crop, sigma=(rng.uniform(0.3, 2.0),) * 2 + (0,))
        noisy = np.clip(blur + rng.normal(0.0, rng.uniform(0.0, 0.1), crop.shape), 0.0, 1.0)
        targets.append(crop)
        preds.append(noisy)
    return _to_tensor(preds), _to_tensor(targets)


def _random_pairs(rng: np.random.Generator, size: tuple[int, int], count: int) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = size
    target = rng.random((count, h, w, 3))
    pred = np.clip(target + rng.normal(0.0, 0.2, target.shape), 0.0, 1.0)
    return _to_tensor(list(pred)), _to_tensor(list(target))


def _np(img: torch.Tensor) -> np.ndarray:
    """(3, H, W) tensor -> HWC float64 array (what scikit-image gets)."""
    return img.permute(1, 2, 0).to(torch.float64).numpy()


BATCHES = [
    ("random", (32, 32), 0),
    ("random", (40, 57), 1),
    ("natural", (64, 64), 2),
    ("natural", (48, 96), 3),
    ("natural", (77, 50), 4),
]


def _batch(kind: str, size: tuple[int, int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    maker = _random_pairs if kind == "random" else _natural_pairs
    return maker(rng, size, 3)


# --------------------------------------------------------------------------------------------
# PSNR / SSIM against scikit-image


@pytest.mark.parametrize("kind,size,seed", BATCHES)
def test_psnr_matches_skimage(kind, size, seed):
    pred, target = _batch(kind, size, seed)
    ours = psnr(pred, target)
    assert ours.shape == (pred.shape[0],)
    ref = [peak_signal_noise_ratio(_np(t), _np(p), data_range=1.0) for p, t in zip(pred, target)]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-3)
    np.testing.assert_allclose(PSNR()(pred, target).numpy(), ref, rtol=0, atol=1e-3)


@pytest.mark.parametrize("kind,size,seed", BATCHES)
def test_ssim_matches_skimage(kind, size, seed):
    pred, target = _batch(kind, size, seed)
    ours = ssim(pred, target)
    assert ours.shape == (pred.shape[0],)
    ref = [structural_similarity(_np(t), _np(p), gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=1.0, channel_axis=-1) for p, t in zip(pred, target)]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-3)
    np.testing.assert_allclose(SSIM()(pred, target).numpy(), ref, rtol=0, atol=1e-3)


def test_ssim_data_range_matches_skimage():
    pred, target = _batch("natural", (40, 40), 7)
    pred, target = pred * 255.0, target * 255.0
    ref = [structural_similarity(_np(t), _np(p), gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=255.0, channel_axis=-1) for p, t in zip(pred, target)]
    np.testing.assert_allclose(ssim(pred, target, data_range=255.0).numpy(), ref, rtol=0, atol=1e-3)


def test_psnr_known_values_and_identical_images():
    target = torch.full((2, 3, 8, 8), 0.5)
    pred = target + torch.tensor([0.1, 0.01]).view(2, 1, 1, 1)  # MSE 1e-2 and 1e-4 -> 20 dB and 40 dB
    np.testing.assert_allclose(psnr(pred, target).numpy(), [20.0, 40.0], atol=1e-4)
    same = psnr(target, target)
    assert torch.isinf(same).all() and (same > 0).all()


def test_ssim_identical_is_one_and_falls_with_noise():
    _, target = _batch("natural", (64, 64), 11)
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(target.shape, generator=gen)
    assert torch.allclose(ssim(target, target), torch.ones(3, dtype=torch.float64))
    values = [ssim((target + s * noise).clamp(0, 1), target) for s in (0.02, 0.05, 0.1, 0.2)]
    for lo, hi in zip(values[1:], values[:-1]):
        assert (lo < hi).all()


# --------------------------------------------------------------------------------------------
# MS-SSIM


def _ms_ssim_reference(pred: np.ndarray, target: np.ndarray) -> float:
    """MS-SSIM of two HWC images built from scipy filtering and scikit-image's SSIM."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    scores = []
    for ch in range(3):
        x, y = pred[..., ch], target[..., ch]
        score = 1.0
        for level, weight in enumerate(MS_SSIM_WEIGHTS):
            if level == len(MS_SSIM_WEIGHTS) - 1:
                term = structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                             data_range=1.0)
            else:
                blur = lambda a: ndimage.gaussian_filter(a, 1.5, truncate=3.5, mode="reflect")[5:-5, 5:-5]  # noqa: E731
                mx, my = blur(x), blur(y)
                vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
                term = float(np.mean((2 * cxy + c2) / (vx + vy + c2)))
                h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
                x = x[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
                y = y[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
            score *= max(term, 0.0) ** weight
        scores.append(score)
    return float(np.mean(scores))


def test_ms_ssim_matches_independent_reference():
    rng = np.random.default_rng(5)
    pred, target = _natural_pairs(rng, (181, 190), 2)
    ours = ms_ssim(pred, target)
    ref = [_ms_ssim_reference(_np(p), _np(t)) for p, t in zip(pred, target)]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-4)
    np.testing.assert_allclose(MSSSIM()(pred, target).numpy(), ref, rtol=0, atol=1e-4)


def test_ms_ssim_single_scale_is_ssim_and_identity_is_one():
    pred, target = _batch("natural", (48, 96), 3)
    np.testing.assert_allclose(ms_ssim(pred, target, weights=(1.0,)).numpy(), ssim(pred.double(), target.double()).numpy(), atol=1e-12)
    big = torch.rand(1, 3, 176, 176, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(ms_ssim(big, big), torch.ones(1, dtype=torch.float64))
    with pytest.raises(ValueError, match="too small for 5 scales"):
        ms_ssim(big[..., :175, :], big[..., :175, :])


# --------------------------------------------------------------------------------------------
# modules, registry and input validation


def test_registry_and_metric_attributes():
    assert {"psnr", "ssim", "ms-ssim", "dists"} <= set(METRICS.names())
    expected = {"psnr": (PSNR, True, "dB"), "ssim": (SSIM, True, ""), "ms-ssim": (MSSSIM, True, ""),
                "dists": (DISTS, False, "")}
    for name, (cls, higher, unit) in expected.items():
        assert METRICS.get(name) is cls
        assert (cls.name, cls.higher_is_better, cls.unit) == (name, higher, unit)
        assert issubclass(cls, torch.nn.Module)


def test_constructor_and_input_validation():
    with pytest.raises(TypeError):
        PSNR(1.0)  # keyword-only
    with pytest.raises(ValueError, match="data_range"):
        PSNR(data_range=0)
    with pytest.raises(ValueError, match="win_size"):
        SSIM(win_size=10)
    with pytest.raises(ValueError, match="backbone"):
        DISTS(backbone="resnet")
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(x, x[..., :15])
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        ssim(x[0], x[0])
    with pytest.raises(ValueError, match="smaller than win_size"):
        ssim(x[..., :9, :], x[..., :9, :])


# --------------------------------------------------------------------------------------------
# DISTS


def _reference_dists_module(monkeypatch, seed: int):
    """Load DISTS_pytorch/DISTS_pt.py with a stand-in torchvision whose vgg16 is our seeded trunk."""
    fake_tv = types.ModuleType("torchvision")
    fake_models = types.ModuleType("torchvision.models")
    fake_models.vgg16 = lambda pretrained=False, **kwargs: VGG16Features(seed=seed)
    fake_tv.models = fake_models
    fake_tv.transforms = types.ModuleType("torchvision.transforms")
    monkeypatch.setitem(sys.modules, "torchvision", fake_tv)
    monkeypatch.setitem(sys.modules, "torchvision.models", fake_models)
    monkeypatch.setitem(sys.modules, "torchvision.transforms", fake_tv.transforms)
    path = dists_alpha_beta_path().parent / "DISTS_pt.py"
    spec = importlib.util.spec_from_file_location("_dists_reference_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def random_dists() -> DISTS:
    return DISTS(backbone="random", seed=3)


def test_dists_matches_reference_implementation(monkeypatch, random_dists):
    ref_mod = _reference_dists_module(monkeypatch, seed=3)
    ref = ref_mod.DISTS(load_weights=False)  # its own loader looks in sys.prefix, not the package
    learned = torch.load(dists_alpha_beta_path(), weights_only=True)
    ref.alpha.data = learned["alpha"].clone()
    ref.beta.data = learned["beta"].clone()
    ref.eval()
    gen = torch.Generator().manual_seed(0)
    cases = [_batch("natural", (64, 64), 21), _batch("natural", (48, 80), 22),
             (torch.rand(2, 3, 40, 40, generator=gen), torch.rand(2, 3, 40, 40, generator=gen))]
    for pred, target in cases:
        with torch.no_grad():
            expected = ref(pred, target).to(torch.float64)
            ours = random_dists(pred, target)
            func = dists(pred, target, model=random_dists)
        assert ours.shape == (pred.shape[0],)
        assert (expected.abs() > 1e-3).all()  # the comparison is not between two zeros
        np.testing.assert_allclose(ours.numpy(), expected.numpy(), rtol=0, atol=1e-5)
        np.testing.assert_allclose(func.numpy(), expected.numpy(), rtol=0, atol=1e-5)


def test_dists_zero_for_identical_and_grows_with_noise(random_dists):
    _, target = _batch("natural", (64, 64), 31)
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(target.shape, generator=gen)
    with torch.no_grad():
        assert random_dists(target, target).abs().max() < 1e-6
        values = [random_dists((target + s * noise).clamp(0, 1), target) for s in (0.02, 0.05, 0.1, 0.2, 0.4)]
    for lo, hi in zip(values[:-1], values[1:]):
        assert (lo < hi).all()


def test_dists_without_weights_is_unavailable(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("SEMCOM_VGG16_WEIGHTS", raising=False)
    with pytest.raises(MetricUnavailable) as info:
        DISTS()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("DISTS unavailable")
    assert VGG16_FILENAME in message and "SEMCOM_VGG16_WEIGHTS" in message and str(tmp_path) in message
    assert isinstance(info.value, SemcomError)
    with pytest.raises(MetricUnavailable):
        METRICS.build("dists")
    with pytest.raises(MetricUnavailable, match="not found"):
        DISTS(weights=tmp_path / "missing.pth")
    monkeypatch.setenv("SEMCOM_VGG16_WEIGHTS", str(tmp_path / "typo.pth"))
    with pytest.raises(MetricUnavailable, match=r"typo\.pth is not a file"):
        DISTS()


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """A torchvision-style VGG16 state dict (features from seed 7, plus classifier entries)."""
    state = {k: v.clone() for k, v in VGG16Features(seed=7).state_dict().items()}
    assert set(state) == {f"features.{i}.{p}" for i in VGG16_CONV_INDICES for p in ("weight", "bias")}
    state["classifier.0.bias"] = torch.randn(4096)
    state["classifier.3.bias"] = torch.randn(4096)
    state["classifier.6.weight"] = torch.randn(1000, 64)
    home = tmp_path_factory.mktemp("torch_home")
    path = home / "hub" / "checkpoints" / VGG16_FILENAME
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return home, path, state


def test_vgg16_state_dict_loads_through_lookup(monkeypatch, tmp_path, vgg_file, random_dists):
    home, path, state = vgg_file
    monkeypatch.delenv("SEMCOM_VGG16_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(home))
    assert find_vgg16_weights()[0] == path
    metric = DISTS()
    for key, value in metric.vgg.state_dict().items():
        assert torch.equal(value, state[key]), key
    # an identical trunk gives identical scores; a different seed gives different ones
    pred, target = _batch("natural", (32, 32), 41)
    with torch.no_grad():
        same = DISTS(backbone="random", seed=7)(pred, target)
        assert torch.allclose(metric(pred, target), same, atol=1e-12)
        assert not torch.allclose(random_dists(pred, target), same, atol=1e-6)
    # the environment variable wins over the cache; an explicit path wins over both
    other = tmp_path / "other.pth"
    torch.save({k: (v * 0.5 if k.startswith("features.") else v) for k, v in state.items()}, other)
    monkeypatch.setenv("SEMCOM_VGG16_WEIGHTS", str(other))
    assert find_vgg16_weights()[0] == other
    assert torch.equal(DISTS().vgg.features[0].weight, state["features.0.weight"] * 0.5)
    assert torch.equal(DISTS(weights=path).vgg.features[0].weight, state["features.0.weight"])


def test_malformed_vgg16_file_is_rejected(tmp_path, vgg_file):
    _, _, state = vgg_file
    missing = {k: v for k, v in state.items() if k != "features.28.bias"}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(SemcomError, match="features.28.bias"):
        DISTS(weights=tmp_path / "missing.pth")
    bad = dict(state)
    bad["features.0.weight"] = torch.zeros(64, 3, 5, 5)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(SemcomError, match=r"features.0.weight has shape \(64, 3, 5, 5\)"):
        DISTS(weights=tmp_path / "bad.pth")
