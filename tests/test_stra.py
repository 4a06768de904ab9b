"""The STRA network: shapes, the memory reads the neighbours' events, the ablations' switches."""

import pytest
import torch

from semcom.receivers.stra import STRA


def _net(**kw):
    """A STRA whose output head is not the identity it starts as (so that the output depends on the rest)."""
    net = STRA(**kw)
    torch.nn.init.normal_(net.head.weight, std=0.05)
    return net


def _inputs(seed=0, b=2, h=16, w=24):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, 3, h, w, generator=g), torch.randn(b, 3, 6, h, w, generator=g)


def test_output_is_a_frame_and_gradients_reach_every_part():
    torch.manual_seed(0)
    net = _net(width=8)
    frames, events = _inputs()
    out = net(frames, events)
    assert out.shape == (2, 3, 16, 24) and torch.isfinite(out).all()
    out.square().mean().backward()
    for name in ("enc1", "event_encoder", "tmb", "sfb", "head"):
        grads = [p.grad for n, p in net.named_parameters() if n.startswith(name)]
        assert grads and all(gr is not None and torch.isfinite(gr).all() for gr in grads), name


def test_the_memory_reads_the_previous_and_next_event_sequences_in_order():
    torch.manual_seed(0)
    net = _net(width=8).eval()
    frames, events = _inputs()
    with torch.no_grad():
        out = net(frames, events)
        swapped = net(frames, events[:, [2, 1, 0]])  # T-1 and T+1 exchanged
        zeroed = events.clone()
        zeroed[:, [0, 2]] = 0
        without = net(frames, zeroed)
    assert not torch.equal(out, swapped) and not torch.equal(out, without)  # (exactly equal without memory)
    # the block itself: each direction has its own keys and values, so the order matters
    cur, prev, nxt = (torch.randn(2, 32, 2, 3, generator=torch.Generator().manual_seed(k)) for k in range(3))
    with torch.no_grad():
        a, b = net.tmb(cur, prev, nxt), net.tmb(cur, nxt, prev)
    assert (a - b).abs().max() > 1e-2 * (a - cur).abs().max()


def test_without_memory_the_neighbours_events_are_not_read():
    torch.manual_seed(0)
    net = _net(width=8, memory=False).eval()
    frames, events = _inputs()
    zeroed = events.clone()
    zeroed[:, [0, 2]] = 0
    with torch.no_grad():
        assert torch.equal(net(frames, events), net(frames, zeroed))
        assert not torch.equal(net(frames, events), net(frames, events * 2))  # the current sequence is
    assert net.tmb is None


def test_frame_only_stra_takes_no_events_and_bad_shapes_are_refused():
    net = STRA(width=8, events=False)
    frames, _ = _inputs()
    assert net(frames).shape == (2, 3, 16, 24)
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.rand(1, 3, 3, 10, 12))
    with pytest.raises(ValueError, match="three event sequences"):
        STRA(width=8)(frames)
    sizes = {m: sum(p.numel() for p in STRA(width=16, memory=m[0], events=m[1]).parameters())
             for m in ((True, True), (False, True), (False, False))}
    assert sizes[(True, True)] > sizes[(False, True)] > sizes[(False, False)]


def test_event_skips_bring_the_current_events_to_the_finer_scales():
    torch.manual_seed(0)
    frames, events = _inputs()
    plain, skips = _net(width=8).eval(), _net(width=8, event_skips=True).eval()
    assert not hasattr(plain, "skip1") and STRA(width=8, events=False, event_skips=True).event_skips is False
    # a change of the current events inside one 8x8 cell: with the skips the output changes at that scale
    local = events.clone()
    local[:, 1, :, 4:6, 4:6] += 3.0
    with torch.no_grad():
        torch.nn.init.normal_(skips.skip1.weight, std=0.5)
        d_skips = (skips(frames, events) - skips(frames, local)).abs()
        d_plain = (plain(frames, events) - plain(frames, local)).abs()
    # without skips the change reaches the decoder only through the coarse fusion: spread thin over the frame
    assert d_skips[..., 2:8, 2:8].mean() > 2 * d_skips[..., 8:, 16:].mean()
    assert d_plain.max() > 0
