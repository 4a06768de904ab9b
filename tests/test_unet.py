import pytest
import torch
from torch.nn import functional as F

from semcom.receivers.unet_xattn import ChannelCrossAttention, UNetXAttn
from semcom.registry import RECEIVERS
from semcom.sources.base import Batch


def _reference_attention(mod: ChannelCrossAttention, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """Straightforward channel cross attention with 1x1 convolutions (no algebraic folding)."""
    b, c, h, w = x.shape
    heads, d = mod.heads, c // mod.heads
    conv = lambda t, lin: F.conv2d(t, lin.weight[:, :, None, None], lin.bias)  # noqa: E731
    q = conv(x, mod.q).reshape(b, heads, d, h * w)
    kv = conv(e, mod.kv)
    k, v = kv[:, :c].reshape(b, heads, d, h * w), kv[:, c:].reshape(b, heads, d, h * w)
    q, k = F.normalize(q, dim=-1, eps=1e-6), F.normalize(k, dim=-1, eps=1e-6)
    attn = torch.softmax(q @ k.transpose(-1, -2) * mod.temperature, dim=-1)
    return x + conv((attn @ v).reshape(b, c, h, w), mod.out)


def test_cross_attention_matches_a_direct_implementation():
    torch.manual_seed(0)
    mod = ChannelCrossAttention(12, 5, heads=3)
    with torch.no_grad():
        mod.temperature.copy_(torch.tensor([0.5, 2.0, 4.0]).reshape(3, 1, 1))
    x, e = torch.randn(2, 12, 7, 9), torch.randn(2, 5, 7, 9)
    assert torch.allclose(mod(x, e), _reference_attention(mod, x, e), atol=1e-5)
    # channels-last inputs give the same result
    xc, ec = x.contiguous(memory_format=torch.channels_last), e.contiguous(memory_format=torch.channels_last)
    assert torch.allclose(mod(xc, ec), mod(x, e), atol=1e-6)


def test_shapes_range_and_identity_at_initialization():
    net = UNetXAttn(event_channels=6).eval()
    assert "unet-xattn" in RECEIVERS.names()
    for h, w in [(64, 64), (45, 70), (256, 256)]:
        img = torch.rand(1, 3, h, w)
        out = net(img, events=torch.randn(1, 6, h, w))
        assert out.shape == (1, 3, h, w)
        # the residual head starts at zero: the untrained network returns its input
        assert torch.allclose(out, img, atol=1e-6)


def _perturbed(seed=0):
    torch.manual_seed(seed)
    net = UNetXAttn(event_channels=4, width=8)
    with torch.no_grad():
        net.head.weight.normal_(0, 0.3)
    return net


def test_events_are_fused_and_the_output_is_clamped_in_eval_only():
    net = _perturbed()
    img = torch.rand(2, 3, 32, 32)
    e1, e2 = torch.randn(2, 4, 32, 32), torch.randn(2, 4, 32, 32)
    net.eval()
    with torch.no_grad():
        o1, o2 = net(img, events=e1), net(img, events=e2)
        assert not torch.allclose(o1, o2)
        assert o1.min() >= 0 and o1.max() <= 1
        net.train()
        raw = net(img, events=e1)
    assert raw.min() < 0 or raw.max() > 1  # training output is not clamped


def test_missing_events_mean_zeros_or_the_batch_events():
    net = _perturbed(1).eval()
    img = torch.rand(1, 3, 32, 32)
    ev = torch.randn(1, 4, 32, 32)
    batch = Batch(sharp=img, blurry=img, events=ev)
    with torch.no_grad():
        assert torch.equal(net(img), net(img, events=torch.zeros(1, 4, 32, 32)))
        assert torch.equal(net(img, batch=batch), net(img))  # default: ignore batch side information
        net.use_batch_events = True
        assert torch.equal(net(img, batch=batch), net(img, events=ev))


def test_validation():
    with pytest.raises(ValueError, match="event_channels"):
        UNetXAttn(event_channels=0)
    with pytest.raises(ValueError, match="width"):
        UNetXAttn(width=5)
    net = UNetXAttn(event_channels=6)
    with pytest.raises(ValueError, match="6 event channels"):
        net(torch.rand(1, 3, 32, 32), events=torch.rand(1, 7, 32, 32))


def test_parameter_budget():
    n = sum(p.numel() for p in UNetXAttn().parameters())
    assert 200_000 <= n <= 500_000


def test_event_scale_divides_the_events_first():
    import pytest as _pytest

    torch.manual_seed(0)
    a = UNetXAttn(event_channels=6, width=8, event_scale=2.0)
    b = UNetXAttn(event_channels=6, width=8)
    b.load_state_dict(a.state_dict())
    torch.nn.init.normal_(a.head.weight, std=0.05)  # leave the identity start, so events matter
    b.head.weight.data.copy_(a.head.weight.data)
    img, ev = torch.rand(1, 3, 32, 32), torch.randn(1, 6, 32, 32)
    a.eval(), b.eval()
    assert torch.allclose(a(img, events=2 * ev), b(img, events=ev), atol=1e-6)
    with _pytest.raises(ValueError, match="event_scale"):
        UNetXAttn(event_scale=0)
