"""DISTS checked against the authors' reference code without the ImageNet VGG16 weights.

The reference is ``DISTS_pytorch/DISTS_pt.py`` from the ``dists-pytorch`` package (a dependency
of semcom).  It builds its trunk with ``torchvision.models.vgg16(pretrained=True)``, and
torchvision cannot be imported beside the CPU build of torch used here, so the reference source
file is executed with a stand-in ``torchvision`` module whose ``models.vgg16`` returns a model
laid out like torchvision's (``features``: configuration "D", written out below independently of
``semcom.metrics.vgg``) and, like torchvision with ``pretrained=True``, loads its weights from
``$TORCH_HOME/hub/checkpoints/vgg16-397923af.pth``.

That file is written here with seeded random weights (He-normal, so the activations keep their
scale through all 13 layers), and ``semcom.metrics.DISTS()`` finds the same file through its own
lookup (the path a user with torchvision's cache takes).  Both get the authors' alpha/beta
(``weights.pt`` in the package).  The scores must agree to 1e-5 on every image pair.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import data as skdata
from torch import nn

from semcom.metrics import DISTS, dists
from semcom.metrics.modules import dists_alpha_beta_path
from semcom.metrics.vgg import find_vgg16_weights

TOL = 1e-5

# torchvision.models.vgg.cfgs["D"]: output channels of the convolutions, "M" a 2x2 max pooling.
_CFG_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
# state-dict entries of torchvision's vgg16().features, as listed in vgg16-397923af.pth
_CONV_SHAPES = {
    0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128), 12: (256, 256), 14: (256, 256),
    17: (512, 256), 19: (512, 512), 21: (512, 512), 24: (512, 512), 26: (512, 512), 28: (512, 512),
}


def _vgg16_features() -> nn.Sequential:
    """torchvision.models.vgg.make_layers(cfgs["D"], batch_norm=False)."""
    layers: list[nn.Module] = []
    in_ch = 3
    for v in _CFG_D:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_ch, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_ch = int(v)
    return nn.Sequential(*layers)


class _StandInVGG(nn.Module):
    """What ``torchvision.models.vgg16()`` returns, as far as DISTS uses it (``.features``)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _vgg16_features()


def _seeded_vgg16_state(seed: int) -> dict[str, torch.Tensor]:
    """A torchvision-style VGG16 state dict with seeded random weights (not semcom's initializer)."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for idx, (out_ch, in_ch) in _CONV_SHAPES.items():
        fan_in = in_ch * 9
        state[f"features.{idx}.weight"] = torch.randn(out_ch, in_ch, 3, 3, generator=gen) * (2.0 / fan_in) ** 0.5
        state[f"features.{idx}.bias"] = torch.randn(out_ch, generator=gen) * 0.05
    # torchvision's file also holds the classifier; small stand-ins keep the file light, and
    # semcom must ignore them as it ignores the real ones
    state["classifier.0.weight"] = torch.randn(16, 8, generator=gen)
    state["classifier.0.bias"] = torch.randn(16, generator=gen)
    state["classifier.6.bias"] = torch.randn(1000, generator=gen)
    return state


def _reference_package_dir() -> Path:
    spec = importlib.util.find_spec("DISTS_pytorch")
    assert spec is not None and spec.submodule_search_locations, \
        "dists-pytorch (module DISTS_pytorch) is a dependency of semcom and must be installed"
    return Path(next(iter(spec.submodule_search_locations)))


def _reference_dists(vgg_file: Path, alpha_beta: dict[str, torch.Tensor]) -> nn.Module:
    """The authors' DISTS module, its VGG16 read from ``vgg_file`` as torchvision would."""

    def vgg16(pretrained: bool = False, weights=None, **kwargs):
        model = _StandInVGG()
        if pretrained or weights is not None:
            state = torch.load(vgg_file, map_location="cpu", weights_only=True)
            model.load_state_dict({k: v for k, v in state.items() if k.startswith("features.")}, strict=True)
        return model

    fake_tv = types.ModuleType("torchvision")
    fake_tv.models = types.ModuleType("torchvision.models")
    fake_tv.models.vgg16 = vgg16
    fake_tv.transforms = types.ModuleType("torchvision.transforms")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "torchvision", fake_tv)
        mp.setitem(sys.modules, "torchvision.models", fake_tv.models)
        mp.setitem(sys.modules, "torchvision.transforms", fake_tv.transforms)
        path = _reference_package_dir() / "DISTS_pt.py"
        spec = importlib.util.spec_from_file_location("_dists_pt_reference", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        # load_weights=True would read sys.prefix/weights.pt, which only some installs have
        ref = module.DISTS(load_weights=False)
    ref.alpha.data = alpha_beta["alpha"].clone()
    ref.beta.data = alpha_beta["beta"].clone()
    return ref.eval()


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory) -> tuple[Path, Path, dict[str, torch.Tensor]]:
    """``(TORCH_HOME, cached VGG16 file, its state)`` laid out as torchvision's hub cache."""
    home = tmp_path_factory.mktemp("torch_home")
    path = home / "hub" / "checkpoints" / "vgg16-397923af.pth"
    path.parent.mkdir(parents=True)
    state = _seeded_vgg16_state(2024)
    torch.save(state, path)
    return home, path, state


@pytest.fixture(scope="module")
def pair(vgg_file) -> tuple[DISTS, nn.Module]:
    """semcom's DISTS (found through TORCH_HOME, as a user's cache is) and the reference, same weights."""
    home, path, state = vgg_file
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(home))
        mp.delenv("SEMCOM_VGG16_WEIGHTS", raising=False)
        assert find_vgg16_weights()[0] == path
        ours = DISTS()
    for key, value in ours.vgg.state_dict().items():
        assert torch.equal(value, state[key]), key
    weights_pt = _reference_package_dir() / "weights.pt"
    assert dists_alpha_beta_path() == weights_pt
    ref = _reference_dists(path, torch.load(weights_pt, map_location="cpu", weights_only=True))
    return ours, ref


def _compare(pair, pred: torch.Tensor, target: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Both scores, ``[B]`` float64 each; asserts they agree to TOL (module and functional form)."""
    ours, ref = pair
    with torch.no_grad():
        expected = ref(pred.to(torch.float32), target.to(torch.float32)).to(torch.float64).reshape(-1)
        got = ours(pred, target)
        func = dists(pred, target, model=ours)
    assert got.dtype == torch.float64 and got.shape == (pred.shape[0],)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(func.numpy(), expected.numpy(), rtol=0, atol=TOL)
    return got.numpy(), expected.numpy()


def _photo(name: str, size: tuple[int, int], top: int = 0, left: int = 0) -> torch.Tensor:
    """A ``(3, H, W)`` float32 crop of a scikit-image photo, in [0, 1]."""
    img = getattr(skdata, name)().astype(np.float64) / 255.0
    h, w = size
    return torch.from_numpy(img[top:top + h, left:left + w]).permute(2, 0, 1).to(torch.float32).contiguous()


def _blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    return torch.from_numpy(ndimage.gaussian_filter(img.numpy(), sigma=(0, sigma, sigma))).to(torch.float32)


# --------------------------------------------------------------------------------------------


def test_identical_images_score_zero(pair):
    gen = torch.Generator().manual_seed(1)
    x = torch.stack([_photo("astronaut", (64, 64), 40, 200), torch.rand(3, 64, 64, generator=gen)])
    got, expected = _compare(pair, x, x.clone())
    assert np.abs(got).max() < 1e-6 and np.abs(expected).max() < 1e-5


def test_random_pairs(pair):
    gen = torch.Generator().manual_seed(2)
    for batch, size in ((1, (64, 64)), (3, (48, 80))):
        pred = torch.rand(batch, 3, *size, generator=gen)
        target = torch.rand(batch, 3, *size, generator=gen)
        got, _ = _compare(pair, pred, target)
        assert (got > 1e-2).all()  # far from zero: the comparison is not between two zeros


def test_batch_of_different_pairs_scores_each_pair(pair):
    """Five pairs of different content in one batch; each score equals the pair scored alone."""
    gen = torch.Generator().manual_seed(3)
    size = (48, 64)
    sharp = [_photo("astronaut", size, 10, 150), _photo("chelsea", size, 60, 120), _photo("coffee", size, 100, 200),
             _photo("rocket", size, 150, 250), _photo("astronaut", size, 300, 300)]
    pred = torch.stack([
        _blur(sharp[0], 1.5),                                                       # blurred
        (sharp[1] + 0.1 * torch.randn(3, *size, generator=gen)).clamp(0, 1),       # noisy
        sharp[2].roll(shifts=(3, -2), dims=(1, 2)),                                 # shifted
        sharp[3],                                                                   # identical
        1.0 - sharp[4],                                                             # negative
    ])
    target = torch.stack(sharp)
    got, expected = _compare(pair, pred, target)
    assert got[3] < 1e-6 and (np.delete(got, 3) > 1e-3).all()
    assert len(np.unique(np.round(expected, 4))) == 5  # five different values, not one broadcast
    ours, _ = pair
    with torch.no_grad():
        alone = torch.cat([ours(pred[i:i + 1], target[i:i + 1]) for i in range(len(pred))])
    np.testing.assert_allclose(alone.numpy(), got, rtol=0, atol=1e-6)
    # the order of the batch does not matter
    perm = torch.tensor([4, 2, 0, 3, 1])
    with torch.no_grad():
        np.testing.assert_allclose(ours(pred[perm], target[perm]).numpy(), got[perm.numpy()], rtol=0, atol=1e-6)


def test_value_range_edges(pair):
    """Images at exactly 0 and 1: constant black / white, binary patterns, saturated photos."""
    size = (48, 48)
    zeros, ones = torch.zeros(3, *size), torch.ones(3, *size)
    gen = torch.Generator().manual_seed(4)
    binary = (torch.rand(3, *size, generator=gen) > 0.5).to(torch.float32)
    yy, xx = torch.meshgrid(torch.arange(size[0]), torch.arange(size[1]), indexing="ij")
    checker = ((yy // 8 + xx // 8) % 2).to(torch.float32).expand(3, -1, -1)
    photo = _photo("coffee", size, 120, 260)
    saturated = (photo * 3.0 - 1.0).clamp(0, 1)  # large areas at exactly 0 and 1
    assert (saturated == 0).any() and (saturated == 1).any()
    pred = torch.stack([zeros, ones, zeros, ones, binary, 1.0 - checker, saturated, zeros])
    target = torch.stack([zeros, ones, ones, zeros, checker, checker, photo, photo])
    got, _ = _compare(pair, pred, target)
    assert abs(got[0]) < 1e-6 and abs(got[1]) < 1e-6
    assert (got[2:] > 1e-3).all()


@pytest.mark.parametrize("size", [(64, 64), (48, 96), (96, 40), (37, 53), (17, 31)])
def test_sizes(pair, size):
    """Small, non-square and odd sizes (17 x 31 leaves a 2 x 2 map at relu5_3)."""
    gen = torch.Generator().manual_seed(size[0] * 1000 + size[1])
    target = _photo("chelsea", size, 30, 50).unsqueeze(0).repeat(2, 1, 1, 1)
    target[1] = torch.rand(3, *size, generator=gen)
    pred = (target + 0.15 * torch.randn(target.shape, generator=gen)).clamp(0, 1)
    got, _ = _compare(pair, pred, target)
    assert (got > 1e-3).all()


def test_float64_and_strided_inputs(pair):
    """float64 images (the reference gets the same values in float32) and non-contiguous views."""
    gen = torch.Generator().manual_seed(5)
    base = torch.rand(2, 3, 48, 64, generator=gen)
    noisy = (base + 0.1 * torch.randn(base.shape, generator=gen)).clamp(0, 1)
    _compare(pair, noisy.to(torch.float64), base.to(torch.float64))
    _compare(pair, noisy.transpose(2, 3), base.transpose(2, 3))  # (2, 3, 64, 48) views
    _compare(pair, noisy[:, :, ::2, ::2], base[:, :, ::2, ::2])


def test_random_alpha_beta(pair, vgg_file, tmp_path):
    """Seeded random alpha/beta (every channel weighted differently) in both implementations."""
    gen = torch.Generator().manual_seed(6)
    learned = {"alpha": torch.rand(1, 1475, 1, 1, generator=gen), "beta": torch.rand(1, 1475, 1, 1, generator=gen)}
    torch.save(learned, tmp_path / "alpha_beta.pt")
    _, path, _ = vgg_file
    both = (DISTS(weights=path, dists_weights=tmp_path / "alpha_beta.pt"), _reference_dists(path, learned))
    pred = torch.stack([_blur(_photo("rocket", (64, 64), 200, 200), 2.0), torch.rand(3, 64, 64, generator=gen)])
    target = torch.stack([_photo("rocket", (64, 64), 200, 200), torch.rand(3, 64, 64, generator=gen)])
    got, _ = _compare(both, pred, target)
    assert (got > 1e-3).all()


def test_stand_in_matches_torchvision_layout():
    """The stand-in's VGG16 features equal torchvision's, where torchvision can be imported."""
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # noqa: BLE001  (absent, or broken beside a CPU-only torch)
        pytest.skip(f"torchvision not importable: {type(exc).__name__}")
    real = torchvision.models.vgg16(weights=None).features
    assert repr(real) == repr(_vgg16_features())
    assert {k: tuple(v.shape) for k, v in real.state_dict().items()} == \
        {k.removeprefix("features."): tuple(v.shape) for k, v in _seeded_vgg16_state(0).items()
         if k.startswith("features.")}
