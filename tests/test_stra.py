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


# --------------------------------------------------------------------------- STRA as published (variant "paper")

from semcom.receivers.stra import STRAPaper, STRAReceiver  # noqa: E402
from semcom.sources.base import Batch  # noqa: E402


def _paper(**kw):
    """A small STRAPaper whose output head is not the identity it starts as."""
    torch.manual_seed(0)
    net = STRAPaper(**{"width": 8, "res_units": 1, **kw})
    torch.nn.init.normal_(net.head.weight, std=0.05)
    return net.eval()


def _sequences(n_seq=2, t=5, h=16, w=24, c=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(n_seq * t, 3, h, w, generator=g)
    ev = torch.randn(n_seq * t, c, h, w, generator=g) * 4
    info = tuple({"sequence": i, "exposure_index": k, "exposures": t} for i in range(n_seq) for k in range(t))
    return Batch(sharp=img, blurry=img, events=ev, info=info)


def _lively_receiver(**kw):
    torch.manual_seed(0)
    rx = STRAReceiver(variant="paper", **{"width": 8, "res_units": 1, **kw})
    torch.nn.init.normal_(rx.net.head.weight, std=0.05)
    # an untrained network's default initialization shrinks what passes through it; make the memory's path and
    # the fusion pass changes on at full strength (He initialization)
    for part in ("ev1", "ev3", "tmb", "sfb"):
        for m in getattr(rx.net, part, torch.nn.Identity()).modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, a=0.1)
    return rx.eval()


def test_paper_variant_shapes_size_and_gradients():
    net = _paper()
    frames, events = _inputs()
    out, state = net(frames, events)
    assert out.shape == (2, 3, 16, 24) and state.shape == (2, 16, 4, 6)  # the memory at 1/4, width 2C
    out.square().mean().backward()
    for name in ("enc1", "ev1", "ev3", "tmb", "sfb", "dec1", "head"):
        grads = [p.grad for n, p in net.named_parameters() if n.startswith(name)]
        assert grads and all(gr is not None and torch.isfinite(gr).all() for gr in grads), name
    # the published default C = 32, R = 8: res-units at every level of encoder and decoder
    full = STRAReceiver(variant="paper")
    units = [m for m in full.modules() if type(m).__name__ == "_ResUnit"]
    assert len(units) == 6 * 8 and full.net.enc1[1].body[0].out_channels == 32
    assert 2.0e6 < sum(p.numel() for p in full.parameters()) < 4.0e6  # the paper's Table 3: 2.36 M
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.rand(1, 3, 3, 10, 12), torch.rand(1, 3, 6, 10, 12))


@pytest.mark.parametrize("fusion, scale", [("coarsest", 4), ("finest", 1)])
def test_paper_events_reach_the_fusion_at_the_published_scale(fusion, scale):
    """Eq. 1 fuses at CB3's scale, 1/4 of the input without the 2x2 fold (ours: 1/8); the released code at
    the finest level.  Hooks record the event features the SFB's attention reads and the fused map."""
    net = _paper(fusion=fusion)
    seen = {}
    net.sfb.register_forward_pre_hook(lambda m, args: seen.update(events=args[3].shape[-2:]))
    net.sfb.fuse.register_forward_hook(lambda m, args, out: seen.update(fused=out.shape[-2:]))
    net.sfb.theta.register_forward_hook(lambda m, args, out: seen.update(query=out.shape[-2:]))
    frames, events = _inputs(h=32, w=48)
    with torch.no_grad():
        net(frames, events)
    assert tuple(seen["events"]) == (32 // scale, 48 // scale) == tuple(seen["fused"])
    assert tuple(seen["query"]) == (8, 12)  # the attention itself on the 1/4 grid in both
    ours = STRA(width=8)
    ours.sfb.register_forward_pre_hook(lambda m, args: seen.update(ours=args[3].shape[-2:]))
    with torch.no_grad():
        ours(frames, events)
    assert tuple(seen["ours"]) == (4, 6)  # the shipped stra: 1/8 (the departure the paper variant fixes)


def test_paper_fusion_is_a_softmax_attention_selective_in_position():
    net = _paper()
    sfb = net.sfb
    for conv in (sfb.theta, sfb.phi):
        torch.nn.init.normal_(conv.weight, std=1.0)
    g = torch.Generator().manual_seed(2)
    cb1, cb2, cb3 = torch.randn(2, 8, 32, 32, generator=g), torch.randn(2, 16, 16, 16, generator=g), \
        torch.randn(2, 16, 8, 8, generator=g)
    events = torch.randn(2, 16, 8, 8, generator=g) * 3
    with torch.no_grad():
        eb = sfb(cb1, cb2, cb3, events)
    assert [tuple(e.shape) for e in eb] == [(2, 8, 32, 32), (2, 16, 16, 16), (2, 16, 8, 8)]
    attn = sfb.last_attention  # (B, N, N): one row per event position, a softmax over the frame positions
    assert attn.shape == (2, 64, 64) and torch.allclose(attn.sum(-1), torch.ones(2, 64), atol=1e-5)
    assert (attn - attn[:, :1]).abs().amax() > 0.1  # rows differ: not one matrix applied alike everywhere


def test_paper_memory_carries_the_previous_frame_state():
    net = _paper()
    frames, events = _inputs()
    g = torch.Generator().manual_seed(5)
    s1, s2 = torch.randn(2, 16, 4, 6, generator=g), torch.randn(2, 16, 4, 6, generator=g)
    with torch.no_grad():
        a, _ = net(frames, events, state=s1)
        b, _ = net(frames, events, state=s2)
        c, _ = net(frames, events)  # no state: the previous sequence's own features
    assert not torch.equal(a, b) and not torch.equal(a, c)
    off = _paper(carry=False)
    with torch.no_grad():
        assert torch.equal(off(frames, events, state=s1)[0], off(frames, events, state=s2)[0])


def test_paper_receiver_runs_each_sequence_in_temporal_order_with_the_memory():
    """Frame 2 reads frames 1-3 and their events; only the carried memory brings it frame 0's events."""
    batch = _sequences()
    ev = batch.events.clone()
    ev[0] = -ev[0]  # the first sequence's first frame's events
    results, fused = {}, {}
    for carry in (True, False):
        rx = _lively_receiver(carry=carry)
        seen = []  # the event features the SFB reads at each time step (both sequences)
        rx.net.sfb.register_forward_pre_hook(lambda m, args, seen=seen: seen.append(args[3].clone()))
        with torch.no_grad():
            results[carry] = (rx(batch.blurry, events=batch.events, batch=batch),
                              rx(batch.blurry, events=ev, batch=batch))
        fused[carry] = seen
    out, changed = results[True]
    assert out.shape == (10, 3, 16, 24)
    # carried from frame 0 through frame 1 to frames 2, 3, 4 of the first sequence (row 0 of each time step)
    for t in (2, 3, 4):
        a, b = fused[True][t][0], fused[True][5 + t][0]
        assert (a - b).abs().amax() > 1e-3 * a.abs().amax(), t
        assert not torch.equal(out[t], changed[t]), t
    assert torch.equal(out[5:], changed[5:])  # the other sequence does not see it
    assert all(torch.equal(fused[False][t][0], fused[False][5 + t][0]) for t in (2, 3, 4))
    out, changed = results[False]
    assert torch.equal(out[2:], changed[2:])  # no memory carried: frame 2 cannot see frame 0
    assert not torch.equal(out[1], changed[1])  # frame 1 reads frame 0 as its neighbour


def test_paper_first_frame_has_no_previous_sequence_and_gap_events_reach_the_memory():
    net = _paper()
    frames, events = _inputs()
    zeroed = events.clone()
    zeroed[:, 0] = 0
    no = torch.zeros(2, dtype=torch.bool)
    with torch.no_grad():  # masked out of the memory: the missing neighbour is not read
        assert torch.equal(net(frames, events, has_prev=no)[0], net(frames, zeroed, has_prev=no)[0])
        assert not torch.equal(net(frames, events)[0], net(frames, zeroed)[0])
    gapped = _paper(gap_events=True)
    gaps = torch.randn(2, 2, 6, 16, 24, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, _ = gapped(frames, events, gaps=gaps)
        b, _ = gapped(frames, events, gaps=gaps * 0)
    assert not torch.equal(a, b)
    assert len(gapped.tmb.last_attention[0, 0]) == 4 * 4 * 6  # four stored sequences of 4x6 positions
    with pytest.raises(ValueError, match="gap"):
        gapped(frames, events)
    rx = _lively_receiver(gap_events=True)
    batch = _sequences(c=12)
    with torch.no_grad():
        assert rx(batch.blurry, events=batch.events, batch=batch).shape == (10, 3, 16, 24)
    with pytest.raises(ValueError, match=r"\(N, 12, 16, 24\)"):
        rx(batch.blurry, events=batch.events[:, :6], batch=batch)


def test_variant_options_are_checked_and_the_default_is_the_shipped_design():
    rx = STRAReceiver()
    assert rx.variant == "ours" and type(rx.net) is STRA and rx.net.enc1[0][0].out_channels == 16
    for kw, msg in (({"variant": "papers"}, "variant"), ({"res_units": 2}, "only for variant='paper'"),
                    ({"fusion": "finest"}, "only for variant='paper'"),
                    ({"variant": "paper", "fusion": "middle"}, "fusion"),
                    ({"variant": "paper", "event_skips": True}, "event_skips"),
                    ({"variant": "paper", "res_units": -1}, "res_units")):
        with pytest.raises(ValueError, match=msg):
            STRAReceiver(**kw)
    # single frames (no sequence information) are sequences of one
    rx = _lively_receiver()
    img, ev = torch.rand(2, 3, 18, 20), torch.randn(2, 6, 18, 20)
    with torch.no_grad():
        assert rx(img, events=ev).shape == (2, 3, 18, 20)
