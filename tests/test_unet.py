import pytest
import torch
from torch.nn import functional as F

from semcom.receivers.unet_xattn import HEADS, ChannelCrossAttention, UNetXAttn
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


@pytest.mark.parametrize("head", list(HEADS))
def test_shapes_range_and_identity_at_initialization(head):
    net = UNetXAttn(event_channels=6, head=head).eval()
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
    with pytest.raises(ValueError, match="head must be one of 'gain-offset', 'rgb-residual'"):
        UNetXAttn(head="rgb")
    with pytest.raises(ValueError, match="head must be one of"):
        UNetXAttn(head=["rgb-residual"])
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


def test_heads_default_state_keys_and_shapes():
    """Today's head stays the default with the same state keys and shapes (checkpoints made before the
    option load unchanged); the RGB residual has three maps per pixel instead of two, under the same key."""
    default, gain = UNetXAttn(width=8), UNetXAttn(width=8, head="gain-offset")
    rgb = UNetXAttn(width=8, head="rgb-residual")
    assert default.head_kind == "gain-offset" and rgb.head_kind == "rgb-residual"
    assert {k: v.shape for k, v in default.state_dict().items()} == {k: v.shape for k, v in gain.state_dict().items()}
    assert default.head.weight.shape[0] == 8 and rgb.head.weight.shape[0] == 12
    assert set(rgb.state_dict()) == set(gain.state_dict())
    with pytest.raises(RuntimeError, match="head.weight"):
        rgb.load_state_dict(gain.state_dict())  # one head's weights never pass for the other's


def _fit(head, image, target, steps=15):
    torch.manual_seed(0)
    net = UNetXAttn(event_channels=2, width=4, head=head).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    events = torch.zeros(1, 2, *image.shape[-2:])
    for _ in range(steps):
        loss = (net(image, events=events) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return net(image, events=events)


def test_the_rgb_residual_head_changes_chroma_the_gain_offset_head_cannot():
    """A grey frame whose target is the same frame with a colour cast: the gain-offset head maps a grey
    pixel to a grey pixel (gain and offset are shared by R, G and B), so its error is at least the
    cast's deviation from its own mean; the RGB residual fits it after a few steps."""
    g = torch.Generator().manual_seed(0)
    grey = (0.2 + 0.6 * torch.rand(1, 1, 16, 16, generator=g)).expand(1, 3, 16, 16).contiguous()
    cast = torch.tensor([0.12, -0.08, -0.04]).view(1, 3, 1, 1)
    target = grey + cast
    floor = float((cast - cast.mean()).square().mean())  # the best any grey output can do
    gain = _fit("gain-offset", grey, target)
    rgb = _fit("rgb-residual", grey, target)
    assert torch.allclose(gain, gain.mean(1, keepdim=True).expand_as(gain), atol=1e-6)  # still grey
    gain_mse, rgb_mse = (float((o - target).square().mean()) for o in (gain, rgb))
    assert gain_mse >= floor - 1e-6
    assert rgb_mse < 0.1 * floor and rgb_mse < 0.1 * gain_mse
    # and it does change the chroma: the output's channels differ as the target's do
    assert float((rgb[:, 0] - rgb[:, 1]).mean()) > 0.15
