import csv
import json
import math

import pytest
import torch

from semcom.channels.awgn import AWGN
from semcom.channels.base import ChannelOutput
from semcom.codecs.backbones import BACKBONES, DOWNSAMPLES
from semcom.codecs.evjscc import (DEFAULT_SPLIT, EVJSCC, LEGACY_NETWORKS, EVJSCCBackboneDecoder, EVJSCCBackboneEncoder,
                                  EVJSCCDecoder, EVJSCCEncoder, EVJSCCNoShared, split_symbols)
from semcom.conventions import channel_uses_budget
from semcom.errors import SemcomError
from semcom.link import Link, find_link
from semcom.registry import CHANNELS, CODECS
from semcom.sources.base import Batch
from semcom.train import forward_step, get_schedule, train
from semcom.train.losses import compute_loss
from semcom.train.schedules import SCHEDULES
from semcom.train.trainer import TrainConfig, TrainingData, set_trainable, train_schedule
from semcom.zoo import build_codec
from semcom.zoo.store import save_checkpoint, sha256_of

TINY = {"width": 8, "unet_width": 8}
SIZES = [(64, 64), (128, 128), (256, 256), (96, 160), (77, 123), (33, 50)]


def _batch(h, w, b=2, seed=0, c=6):
    g = torch.Generator().manual_seed(seed)
    sharp = torch.rand(b, 3, h, w, generator=g)
    blurry = 0.5 * (sharp + sharp.roll(3, dims=-1))
    events = torch.randn(b, c, h, w, generator=g) * 5
    return Batch(sharp=sharp, blurry=blurry, events=events)


def _noiseless(tx):
    s = tx.symbols
    return ChannelOutput(s, torch.ones_like(s), s, torch.zeros(s.shape))


def _codec(cls=EVJSCC, **kw):
    torch.manual_seed(0)
    return cls(**{"cbr": 1 / 48, **TINY, **kw}).eval()


@pytest.mark.parametrize("cbr", [1 / 48, 1 / 96, 0.03])
@pytest.mark.parametrize("split", [DEFAULT_SPLIT, (0.4, 0.3, 0.3), (0.6, 0.1, 0.3)])
def test_three_streams_add_up_to_the_budget(cbr, split):
    codec = _codec(cbr=cbr, split=split)
    with torch.no_grad():
        for h, w in SIZES:
            budget = channel_uses_budget(cbr, h, w)
            ni, ns, ne = codec.stream_uses(h, w)
            assert ni + ns + ne == budget == codec.channel_uses(h, w), (h, w)
            assert min(ni, ns, ne) >= 1
            for n_x, f in zip((ni, ns, ne), split):  # the split is honoured up to rounding
                assert abs(n_x - f * budget) < 1 + 1e-9
            hl, wl = codec.latent_hw(h, w)
            for n_x, k in zip((ni, ns, ne), codec.symbols_per_position):
                assert n_x <= k * hl * wl  # each stream fits its latent
            tx = codec.encode(_batch(h, w), snr_db=torch.zeros(2))
            assert tx.symbols.shape == (2, budget) and tx.channel_uses == budget
            assert tx.symbols.dtype == torch.complex64
            assert tx.state.uses == (ni, ns, ne)
            # the whole stream [z_i, z_s, z_e] has unit average power per complex symbol
            assert torch.allclose(tx.symbols.abs().square().mean(1), torch.ones(2), atol=1e-5)


def test_split_symbols_rounding():
    assert split_symbols(4096, DEFAULT_SPLIT) == (2048, 1024, 1024)
    assert split_symbols(591, DEFAULT_SPLIT) == (295, 148, 148)
    assert split_symbols(10, (2 / 3, 0.0, 1 / 3)) == (7, 0, 3)
    assert split_symbols(3, (0.98, 0.01, 0.01)) == (1, 1, 1)  # every active stream gets a symbol
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        n = int(torch.randint(3, 5000, (1,), generator=g))
        f = torch.rand(3, generator=g) + 0.01
        f = tuple(float(x) for x in f / f.sum())
        parts = split_symbols(n, f)
        assert sum(parts) == n and all(abs(p - fi * n) < 1 + 1e-9 for p, fi in zip(parts, f))
    with pytest.raises(ValueError, match="cannot carry"):
        split_symbols(2, DEFAULT_SPLIT)


def test_output_shapes_and_range():
    codec = _codec()
    awgn = CHANNELS.build("awgn")
    for h, w in [(64, 64), (77, 123)]:
        with torch.no_grad():
            tx, rx = codec.transmit(_batch(h, w), awgn, snr_db=torch.tensor([0.0, 20.0]),
                                    generator=torch.Generator().manual_seed(0))
        assert rx.image.shape == (2, 3, h, w) and rx.image.dtype == torch.float32
        assert rx.image.min() >= 0 and rx.image.max() <= 1
        assert rx.events.shape == (2, 6, h, w) and rx.events.dtype == torch.float32
        assert torch.isfinite(rx.events).all()


def test_train_step_exposes_the_decoded_frame_and_events():
    codec = _codec()
    codec.train()
    batch = _batch(64, 64)
    step = codec.transmit_train(batch, CHANNELS.build("awgn"), snr_db=torch.full((2,), 5.0),
                                generator=torch.Generator().manual_seed(0))
    assert set(step.aux) == {"image", "events", "events_target"}
    assert torch.equal(step.aux["events_target"], batch.events)
    assert step.aux["image"].shape == (2, 3, 64, 64) and step.aux["events"].shape == (2, 6, 64, 64)
    assert step.reception.events is step.aux["events"]
    # the decoded blurry frame goes through the U-Net (its residual head starts at zero: identity)
    assert torch.allclose(step.reception.image, step.aux["image"], atol=1e-6)


def test_events_reach_only_the_shared_and_event_streams():
    codec = _codec()
    a = _batch(64, 64, seed=1)
    b = Batch(sharp=a.sharp, blurry=a.blurry, events=a.events.flip(-1) + 3.0)
    with torch.no_grad():
        ta, tb = codec.encode(a, snr_db=torch.zeros(2)), codec.encode(b, snr_db=torch.zeros(2))
    ni, ns, ne = ta.state.uses
    # the image stream of both differs only by the power normalization of the whole stream
    ratio = tb.symbols[:, :ni] / ta.symbols[:, :ni]
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-4, atol=1e-5)
    assert torch.allclose(ratio.imag, torch.zeros_like(ratio.imag), atol=1e-5)
    for sl in (slice(ni, ni + ns), slice(ni + ns, None)):
        r = tb.symbols[:, sl] / ta.symbols[:, sl]
        assert not torch.allclose(r, r[:, :1].expand_as(r), rtol=1e-3, atol=1e-3)


def test_noshared_ablation_has_no_shared_stream_and_the_same_total():
    ns_codec, sh_codec = _codec(EVJSCCNoShared), _codec()
    assert ns_codec.symbols_per_position[1] == 0 and ns_codec.encoder.shared is None
    assert ns_codec.decoder.shared_in is None and not ns_codec.shared
    for h, w in SIZES:
        ni, ns, ne = ns_codec.stream_uses(h, w)
        assert ns == 0 and ni > 0 and ne > 0
        assert ni + ne == sh_codec.channel_uses(h, w) == channel_uses_budget(1 / 48, h, w)
    with torch.no_grad():
        tx, rx = ns_codec.transmit(_batch(64, 64), CHANNELS.build("awgn"), snr_db=torch.zeros(2),
                                   generator=torch.Generator().manual_seed(0))
    assert tx.symbols.shape == (2, 256) and rx.image.shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="shared=False"):
        EVJSCCNoShared(cbr=1 / 48, shared=True)
    with pytest.raises(ValueError, match="shared fraction must be 0"):
        EVJSCCNoShared(cbr=1 / 48, split=DEFAULT_SPLIT)
    with pytest.raises(ValueError, match="ev-jscc-noshared"):
        EVJSCC(cbr=1 / 48, split=(0.5, 0.0, 0.5))


@pytest.mark.parametrize("fading", ["block", "fast"])
def test_rayleigh_channel_runs(fading):
    codec = _codec()
    ray = CHANNELS.build("rayleigh", fading=fading)
    with torch.no_grad():
        tx, rx = codec.transmit(_batch(64, 64), ray, snr_db=torch.zeros(2), generator=torch.Generator().manual_seed(1))
    assert torch.isfinite(rx.image).all() and torch.isfinite(rx.events).all()
    assert rx.image.shape == (2, 3, 64, 64)


def test_only_the_adaptive_model_reads_the_snr():
    batch = _batch(64, 64)
    adaptive, single = _codec(adaptive=True), _codec(snr_db=10.0)
    assert adaptive.encoder.image.af is not None and single.encoder.image.af is None
    assert single.snr_mode == "single" and single.snr_db == 10.0 and adaptive.snr_db is None
    with torch.no_grad():
        a0, a1 = (adaptive.encode(batch, snr_db=torch.full((2,), s)).symbols for s in (0.0, 20.0))
        s0, s1 = (single.encode(batch, snr_db=torch.full((2,), s)).symbols for s in (0.0, 20.0))
        assert not torch.allclose(a0, a1) and torch.equal(s0, s1)
        tx = adaptive.encode(batch, snr_db=torch.zeros(2))
        d0, d1 = (adaptive.decode(_noiseless(tx), tx, snr_db=torch.full((2,), s)).events for s in (0.0, 20.0))
        assert not torch.allclose(d0, d1)


def test_input_and_constructor_validation():
    codec = _codec()
    b = _batch(64, 64)
    with pytest.raises(ValueError, match="needs an event representation"):
        codec.encode(Batch(sharp=b.sharp, blurry=b.blurry), snr_db=torch.zeros(2))
    with pytest.raises(ValueError, match="built for events of shape"):
        codec.encode(_batch(64, 64, c=5), snr_db=torch.zeros(2))
    with pytest.raises(ValueError, match="fewer than the 3 streams"):
        EVJSCC(cbr=1 / 96).encode(_batch(4, 4), snr_db=torch.zeros(2))
    with pytest.raises(ValueError, match="cbr"):
        EVJSCC(cbr=0)
    with pytest.raises(ValueError, match="add up to 1"):
        EVJSCC(cbr=1 / 48, split=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="three"):
        EVJSCC(cbr=1 / 48, split=(0.5, 0.5))
    with pytest.raises(ValueError, match="positive share"):
        EVJSCC(cbr=1 / 48, split=(0.0, 0.5, 0.5))
    with pytest.raises(ValueError, match="shared stream no channel uses"):
        EVJSCC(cbr=1 / 48, split=(1.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="events in no stream"):
        EVJSCC(cbr=1 / 48, split=(1.0, 0.0, 0.0), shared=False)
    with pytest.raises(ValueError, match="cannot be combined"):
        EVJSCC(cbr=1 / 48, snr_db=5.0, adaptive=True)
    with pytest.raises(ValueError, match="width"):
        EVJSCC(cbr=1 / 48, width=7)
    with pytest.raises(ValueError, match="event_scale"):
        EVJSCC(cbr=1 / 48, event_scale=-1.0)
    with pytest.raises(TypeError):
        EVJSCC(1 / 48)  # keyword-only


def test_links_build_and_respect_the_budget():
    for name in ("ev-jscc", "ev-jscc-noshared"):
        link = Link(find_link(name), cbr=1 / 96, codec_overrides={"checkpoint": "none", **TINY}).eval()
        assert link.spec.target == "sharp" and link.spec.codec.name == name
        with torch.no_grad():
            out = link(_batch(64, 64), snr_db=5.0, generator=torch.Generator().manual_seed(0))
        assert out.transmission.channel_uses == channel_uses_budget(1 / 96, 64, 64)
        assert out.output.shape == (2, 3, 64, 64) and out.reception.events.shape == (2, 6, 64, 64)
    assert {"ev-jscc", "ev-jscc-noshared"} <= set(CODECS.names())


def _save(codec, path, *, cbr, codec_name="ev-jscc"):
    meta = {"link": codec_name, "codec": codec_name, "cbr": cbr, "snr_mode": codec.snr_mode, "snr_db": codec.snr_db,
            "snr_range": [0, 20], "step": 1, "config": codec.config()}
    return save_checkpoint(path, meta=meta, codec=codec.state_dict())


def test_checkpoints_round_trip_and_a_wrong_cbr_is_refused(tmp_path):
    codec = _codec(split=(0.4, 0.3, 0.3))
    path = _save(codec, tmp_path / "ev.ckpt", cbr=1 / 48)
    json.dumps(codec.config())  # the config is plain JSON
    # the file's architecture (width, split ...) is used when the caller leaves it unset
    link = Link(find_link("ev-jscc"), cbr=1 / 48, codec_overrides={"checkpoint": str(path)}).eval()
    assert link.codec.split == (0.4, 0.3, 0.3) and link.codec.width == 8
    batch = _batch(64, 64)
    with torch.no_grad():
        tx = codec.encode(batch, snr_db=torch.zeros(2))
        tx2 = link.codec.encode(batch, snr_db=torch.zeros(2))
        assert torch.equal(tx.symbols, tx2.symbols)
    with pytest.raises(SemcomError, match="CBR 1/48.*CBR 1/96"):
        Link(find_link("ev-jscc"), cbr=1 / 96, codec_overrides={"checkpoint": str(path)})
    with pytest.raises(SemcomError, match="codec 'ev-jscc-noshared'"):
        Link(find_link("ev-jscc-noshared"), cbr=1 / 48, codec_overrides={"checkpoint": str(path)})
    with pytest.raises(SemcomError, match="split"):
        build_codec("ev-jscc", cbr=1 / 48, checkpoint=str(path), split=DEFAULT_SPLIT)


def test_shipped_checkpoint_lookup_through_the_manifest(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMCOM_ZOO_MANIFEST", str(tmp_path / "manifest.json"))
    with pytest.raises(SemcomError, match="semcom train --link ev-jscc --cbr 1/48 --snr-range 0:20"):
        build_codec("ev-jscc", cbr=1 / 48)
    codec = _codec()
    path = _save(codec, tmp_path / "ev-jscc-cbr1-48-adaptive.ckpt", cbr=1 / 48)
    entry = {"name": "ev-jscc-cbr1-48-adaptive", "codec": "ev-jscc", "cbr": 1 / 48, "snr_mode": "adaptive",
             "file": path.name, "sha256": sha256_of(path)}
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 1, "checkpoints": [entry]}))
    shipped = build_codec("ev-jscc", cbr=1 / 48).eval()
    assert shipped.checkpoint_meta["codec"] == "ev-jscc"
    for k, v in codec.state_dict().items():
        assert torch.equal(v, shipped.state_dict()[k]), k
    with pytest.raises(SemcomError, match="no shipped"):
        build_codec("ev-jscc-noshared", cbr=1 / 48)  # another codec name: not the ev-jscc file
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one changed byte
    with pytest.raises(SemcomError, match="SHA-256"):
        build_codec("ev-jscc", cbr=1 / 48)


def _data(n=6, size=64, seed=0):
    b = _batch(size, size, b=n, seed=seed)
    return TrainingData.from_float(b.sharp, b.blurry, b.events, describe={"name": "synthetic"})


def test_schedule_prefixes_name_modules_of_both_links():
    sched = get_schedule("ev-jscc", steps=100, lr=1e-3, lam=0.5)
    assert [s.name for s in sched] == ["transmission", "deblur", "finetune"]
    assert sched[0].params == {"lam": 0.5} and sum(s.steps for s in sched) == 100
    for name in ("ev-jscc", "ev-jscc-noshared"):
        link = Link(find_link(name), cbr=1 / 48, codec_overrides={"checkpoint": "none", **TINY})
        assert CODECS.get(name).default_schedule == "ev-jscc"
        for stage in sched:
            assert set_trainable(link, stage.trainable)  # raises on a prefix the link lacks


def test_each_stage_changes_only_its_modules(tmp_path):
    torch.manual_seed(0)
    link = Link(find_link("ev-jscc"), cbr=1 / 48,
                codec_overrides={"checkpoint": "none", "adaptive": True, **TINY})
    schedule = SCHEDULES["ev-jscc"](steps=9, lr=1e-3, lam=0.01, fractions=(0.4, 0.3, 0.3))
    bounds = [0, 4, 7, 9]
    assert [s.steps for s in schedule] == [4, 3, 2]
    snaps = {0: {k: v.clone() for k, v in link.state_dict().items()}}

    def on_step(step, loss):
        if step in bounds:
            snaps[step] = {k: v.clone() for k, v in link.state_dict().items()}

    cfg = TrainConfig(link="ev-jscc", cbr=1 / 48, snr_db=None, snr_range=(0.0, 20.0), steps=9, seed=0,
                      batch_size=2, lr=1e-3, dataset="memory", size=64, crop=None, n_train=6, schedule="ev-jscc",
                      lam=0.01, grad_clip=1.0, init=None)
    train_schedule(link, _data(), schedule, cfg, out=tmp_path / "s.ckpt", device=torch.device("cpu"),
                   checkpoint_every=100, log_every=1, progress=False, on_step=on_step)

    def changed(before, after, prefix):
        keys = [k for k in before if k.startswith(prefix)]
        assert keys, prefix
        return [k for k in keys if not torch.equal(before[k], after[k])]

    tx_modules = ("codec.encoder.image", "codec.encoder.event", "codec.encoder.shared",
                  "codec.decoder.image", "codec.decoder.event", "codec.decoder.shared_in")
    s0, s1, s2, s3 = (snaps[b] for b in bounds)
    for p in tx_modules:
        assert changed(s0, s1, p), p                   # stage 1 trains every transmission module ...
    assert not changed(s0, s1, "codec.deblur.")        # ... with the U-Net bit-identical
    for p in tx_modules:
        assert not changed(s1, s2, p), p               # stage 2: transmission modules frozen
    assert changed(s1, s2, "codec.deblur.")
    for p in (*tx_modules, "codec.deblur."):
        assert changed(s2, s3, p), p                   # stage 3: everything
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert [r["stage"] for r in rows] == ["transmission"] * 4 + ["deblur"] * 3 + ["finetune"] * 2


def test_stage_losses():
    torch.manual_seed(0)
    link = Link(find_link("ev-jscc"), cbr=1 / 48, codec_overrides={"checkpoint": "none", **TINY}).train()
    batch = _batch(64, 64)
    out = forward_step(link, batch, snr_db=torch.full((2,), 10.0), generator=torch.Generator().manual_seed(0))
    img_mse = torch.mean((out.aux["image"] - batch.blurry) ** 2)
    ev_nmse = torch.mean((out.aux["events"] - batch.events) ** 2) / torch.mean(batch.events ** 2)
    loss1 = compute_loss("transmission", out, {"lam": 0.5})
    assert torch.allclose(loss1, img_mse + 0.5 * ev_nmse)
    assert torch.allclose(compute_loss("mse-sharp", out), torch.mean((out.output - batch.sharp) ** 2))


def test_semcom_train_runs_the_three_stages_by_default(tmp_path):
    res = train("ev-jscc", cbr=1 / 48, snr_range=(0.0, 20.0), steps=7, lr=1e-3, batch_size=2, data=_data(),
                out=tmp_path / "t.ckpt", progress=False, log_every=1, codec_params=TINY)
    rows = list(csv.DictReader(open(res.log)))
    # 35 / 15 / 50 % of 7 steps
    assert [r["stage"] for r in rows] == ["transmission"] * 2 + ["deblur"] * 1 + ["finetune"] * 4
    link = Link(find_link("ev-jscc"), cbr=1 / 48, codec_overrides={"checkpoint": str(res.checkpoint)})
    assert link.codec.checkpoint_meta["codec"] == "ev-jscc" and link.codec.width == 8


def test_edi_prior_inverts_its_own_blur_model_and_learns_its_contrast():
    from semcom.codecs.evjscc import EDIPrior
    from semcom.receivers.edi import edi_denominator_from_samples, linear_to_srgb, srgb_to_linear
    from semcom.sources.representations import scer_levels

    g = torch.Generator().manual_seed(3)
    scer = torch.randint(-4, 5, (2, 6, 16, 16), generator=g).float()
    sharp_lin = 0.02 + 0.05 * torch.rand(2, 3, 16, 16, generator=g)
    denom = edi_denominator_from_samples(scer_levels(scer), torch.linspace(0, 1, 7), contrast=0.2)
    blurry = linear_to_srgb(sharp_lin * denom.unsqueeze(1))
    prior = EDIPrior(contrast=0.2)
    out = prior(blurry, scer)
    assert torch.allclose(srgb_to_linear(out), sharp_lin, atol=1e-5)
    assert not torch.allclose(out, blurry, atol=1e-3)
    out.sum().backward()
    assert prior.log_contrast.grad is not None and torch.isfinite(prior.log_contrast.grad)
    # no events: the frame passes unchanged
    assert torch.allclose(prior(blurry, torch.zeros_like(scer)), blurry, atol=1e-6)


def test_prior_defaults_and_validation():
    assert _codec().prior == "edi" and _codec().encoder.prior is not None
    assert _codec(prior="none").encoder.prior is None
    assert _codec(cls=EVJSCCNoShared).prior == "none"
    with pytest.raises(ValueError, match="shared encoder"):
        _codec(cls=EVJSCCNoShared, prior="edi")
    with pytest.raises(ValueError, match="prior must be one of"):
        _codec(prior="sdm")


def test_the_event_streams_share_can_go_to_the_image_stream():
    """split (0.75, 0.25, 0): no event head or event stream; the events reach the shared encoder
    only, the decoded events come from the shared stream, the budget is the same."""
    torch.manual_seed(0)
    full = EVJSCC(cbr=1 / 48, width=8, unet_width=8)
    given = EVJSCC(cbr=1 / 48, width=8, unet_width=8, split=(0.75, 0.25, 0.0))
    assert given.stream_uses(64, 64) == (192, 64, 0) and sum(full.stream_uses(64, 64)) == 256
    assert given.encoder.event is None and given.decoder.event_in is None
    b = _batch(64, 64)
    step = given.transmit_train(b, AWGN(), snr_db=torch.full((2,), 10.0), generator=torch.Generator().manual_seed(0))
    assert step.transmission.channel_uses == 256 and step.aux["events"].shape == b.events.shape
    step.aux["events"].square().mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in given.encoder.event_stem.parameters())


# -- ev-jscc-paper: the paper's configuration beside ours --------------------------------------------------------

PAPER = "ev-jscc-paper"


def _paper_link(**over):
    torch.manual_seed(0)
    return Link(find_link(PAPER), cbr=1 / 48, codec_overrides={"checkpoint": "none", **over})


def test_the_paper_link_is_the_published_configuration_and_ev_jscc_is_ours():
    spec, ours = find_link(PAPER), find_link("ev-jscc")
    assert spec.codec.name == "ev-jscc" and spec.needs_own_weights and not ours.needs_own_weights
    assert "EDI prior in the shared encoder: ours" in ours.description and PAPER in ours.description
    paper = _paper_link().codec
    # no EDI prior: the shared head reads the image and event stems' features only
    assert paper.prior == "none" and paper.encoder.prior is None and paper.encoder.prior_stem is None
    assert paper.encoder.shared.layers[0].conv.in_channels == 2 * paper.width
    # DeepJSCC(-Deblur)'s width for encoders and decoders, and the same U-Net
    deblur = CODECS.get("deepjscc-deblur")(cbr=1 / 48).config()
    assert paper.width == deblur["width"] == 64 and paper.unet_width == deblur["unet_width"]
    assert paper.decoder.image.layers[1].conv.out_channels == 64
    # the deblurring decoder may output any RGB correction
    assert paper.head == "rgb-residual" and paper.deblur.head_kind == "rgb-residual"
    assert paper.config()["head"] == "rgb-residual" and paper.config()["prior"] == "none"
    # ours: the defaults (EDI prior, width 32, today's head)
    mine = Link(ours, cbr=1 / 48, codec_overrides={"checkpoint": "none"}).codec
    assert (mine.prior, mine.width, mine.head) == ("edi", 32, "gain-offset")
    assert paper.stream_uses(256, 256) == mine.stream_uses(256, 256) == (2048, 1024, 1024)


def test_the_paper_link_untrained_passes_the_codec_contract():
    """tests/test_contract.py runs every link file (this one untrained, as it has no shipped weights);
    here the learned-codec contract for the link's own configuration."""
    link = _paper_link(adaptive=True)
    codec = link.codec
    assert codec.checkpoint_meta is None and codec.snr_mode == "adaptive"
    cfg = codec.config()
    assert json.loads(json.dumps(cfg)) == cfg
    again = EVJSCC(cbr=1 / 48, **cfg)
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in codec.state_dict().items()}
    meta = {"codec": "ev-jscc", "link": PAPER, "cbr": 1 / 48, "config": cfg, "step": 3}
    loaded = EVJSCC.from_checkpoint(cbr=1 / 48, meta=meta, state=codec.state_dict(), path="mem")
    for k, v in codec.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    single = EVJSCC(cbr=1 / 48, snr_db=10.0, **{k: v for k, v in cfg.items() if k not in ("adaptive", "snr_db")})
    assert single.snr_mode == "single" and single.head == "rgb-residual"
    batch = _batch(64, 64)
    link.eval()
    outs = []
    for _ in range(2):
        with torch.no_grad():
            out = link(batch, snr_db=10.0, generator=torch.Generator().manual_seed(7))
        outs.append(out.output)
    assert outs[0].shape == batch.sharp.shape and torch.equal(outs[0], outs[1])
    assert float(outs[0].min()) >= 0 and float(outs[0].max()) <= 1
    assert out.transmission.channel_uses == channel_uses_budget(1 / 48, 64, 64)
    codec.train()
    step = codec.transmit_train(batch, AWGN(), snr_db=torch.full((2,), 10.0),
                                generator=torch.Generator().manual_seed(0))
    assert step.reception.image.requires_grad
    step.reception.image.mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in codec.deblur.head.parameters())


def test_the_paper_link_takes_only_its_own_shipped_weights(tmp_path, monkeypatch):
    """No shipped checkpoint: the message names the exact training command; ev-jscc's weights (EDI prior,
    width 32) are never taken for it, and its own, once shipped, are not taken for ev-jscc."""
    monkeypatch.setenv("SEMCOM_ZOO_MANIFEST", str(tmp_path / "manifest.json"))
    ours = _save(_codec(), tmp_path / "ev.ckpt", cbr=1 / 48)
    entries = [{"name": "ev-jscc-cbr1-48-adaptive", "link": "ev-jscc", "codec": "ev-jscc", "cbr": 1 / 48,
                "snr_mode": "adaptive", "file": ours.name, "sha256": sha256_of(ours)}]
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 1, "checkpoints": entries}))
    assert Link(find_link("ev-jscc"), cbr=1 / 48).codec.checkpoint_meta["link"] == "ev-jscc"
    for cbr, label in ((1 / 48, "1/48"), (1 / 96, "1/96")):
        with pytest.raises(SemcomError, match=f"no shipped SNR-adaptive checkpoint of link ev-jscc-paper .* "
                                              f"`semcom train --link ev-jscc-paper --cbr {label} --snr-range 0:20"):
            Link(find_link(PAPER), cbr=cbr)
    with pytest.raises(SemcomError, match="semcom train --link ev-jscc-paper --cbr 1/48 --snr 10 "):
        Link(find_link(PAPER), cbr=1 / 48, codec_overrides={"snr_db": 10.0})
    # an explicit ev-jscc file is refused too, naming what differs
    with pytest.raises(SemcomError, match="prior='edi'"):
        Link(find_link(PAPER), cbr=1 / 48, codec_overrides={"checkpoint": str(ours)})
    # its own entry, once shipped
    paper = _paper_link(adaptive=True).codec
    meta = {"link": PAPER, "codec": "ev-jscc", "cbr": 1 / 48, "snr_mode": "adaptive", "snr_db": None,
            "snr_range": [0, 20], "step": 1, "config": paper.config()}
    own = save_checkpoint(tmp_path / "paper.ckpt", meta=meta, codec=paper.state_dict())
    entries.append({**entries[0], "name": "ev-jscc-paper-cbr1-48-adaptive", "link": PAPER, "file": own.name,
                    "sha256": sha256_of(own)})
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 1, "checkpoints": entries}))
    shipped = Link(find_link(PAPER), cbr=1 / 48).codec
    assert shipped.checkpoint_meta["link"] == PAPER and shipped.head == "rgb-residual"
    for k, v in paper.state_dict().items():
        assert torch.equal(v, shipped.state_dict()[k]), k
    assert Link(find_link("ev-jscc"), cbr=1 / 48).codec.checkpoint_meta["link"] == "ev-jscc"


def test_configs_without_a_head_load_as_todays_head(tmp_path):
    codec = _codec()
    old = {k: v for k, v in codec.config().items() if k != "head"}  # a checkpoint made before the option
    loaded = EVJSCC.from_checkpoint(cbr=1 / 48, meta={"config": old}, state=codec.state_dict(), path="old")
    assert loaded.head == "gain-offset" and loaded.deblur.head_kind == "gain-offset"
    for k, v in codec.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    with pytest.raises(SemcomError, match="does not fit"):  # gain-offset weights never load as the RGB head
        EVJSCC.from_checkpoint(cbr=1 / 48, meta={"config": old}, state=codec.state_dict(), path="old",
                               head="rgb-residual")
    rgb = _codec(head="rgb-residual")
    with pytest.raises(SemcomError, match="head='rgb-residual'"):
        EVJSCC.from_checkpoint(cbr=1 / 48, meta={"config": rgb.config()}, state=rgb.state_dict(), path="new",
                               head="gain-offset")
    with pytest.raises(ValueError, match="head must be one of"):
        _codec(head="rgb")


def test_the_shipped_ev_jscc_checkpoints_hold_no_head_and_keep_todays():
    from semcom.zoo.store import read_manifest

    shipped = [e for e in read_manifest() if e["codec"] == "ev-jscc"]
    assert shipped
    for e in shipped:
        over = {} if e["snr_mode"] == "adaptive" else {"snr_db": float(e["snr_db"])}
        codec = build_codec("ev-jscc", cbr=e["cbr"], link=e["link"], **over)
        # made before the option: no entry, today's head; made after: the entry says so
        assert codec.checkpoint_meta["config"].get("head", "gain-offset") == "gain-offset", e["name"]
        assert codec.head == "gain-offset" and codec.deblur.head.weight.shape[0] == 8


def test_semcom_train_runs_the_paper_link_at_tiny_scale(tmp_path):
    """The shipping command (docs/training.md) at tiny scale: three stages, the link's architecture in the
    checkpoint, which the link then loads."""
    from semcom.cli import main
    from semcom.zoo.store import load_checkpoint

    out = tmp_path / "paper.ckpt"
    assert main([
        "train", "--link", PAPER, "--cbr", "1/48", "--snr-range", "0:20", "--dataset", "synth-blur", "--size", "32",
        "--n-train", "4", "--batch", "2", "--steps", "4", "--log-every", "1", "--codec-param", "width=8",
        "--codec-param", "unet_width=8", "--dataset-param", "cache=false", "--dataset-param", "spikes=false",
        "--out", str(out)]) == 0
    meta = load_checkpoint(out).meta
    assert (meta["link"], meta["codec"], meta["snr_mode"]) == (PAPER, "ev-jscc", "adaptive")
    cfg = meta["config"]
    assert (cfg["prior"], cfg["head"], cfg["width"], cfg["unet_width"]) == ("none", "rgb-residual", 8, 8)
    rows = list(csv.DictReader(open(out.with_suffix(".csv"))))
    assert [r["stage"] for r in rows] == ["transmission", "deblur", "finetune", "finetune"]
    link = Link(find_link(PAPER), cbr=1 / 48, codec_overrides={"checkpoint": str(out), **TINY})
    assert link.codec.checkpoint_meta["link"] == PAPER and link.codec.encoder.prior is None


# -- EV-JSCC on a JSCC backbone ------------------------------------------------------------------------------------

BACKBONE_VARIANTS = [(b, ds) for b in BACKBONES for ds in DOWNSAMPLES]
BACKBONE_IDS = [f"{b}-{ds}" for b, ds in BACKBONE_VARIANTS]


@pytest.mark.parametrize("backbone,ds", BACKBONE_VARIANTS, ids=BACKBONE_IDS)
def test_on_a_backbone_the_streams_fill_the_budget_exactly_at_unit_power(backbone, ds):
    """Five networks of the backbone on its 1/ds grid; for every frame size and split the exact budget
    floor(cbr 3 H W) is sent, divided by the fractions, each stream within its latent, unit power per frame."""
    for cbr, split, cls in ((1 / 48, DEFAULT_SPLIT, EVJSCC), (0.03, (0.6, 0.1, 0.3), EVJSCC),
                            (1 / 96, (2 / 3, 0.0, 1 / 3), EVJSCCNoShared)):
        codec = _codec(cls=cls, cbr=cbr, split=split, backbone=backbone, downsample=ds)
        assert isinstance(codec.encoder, EVJSCCBackboneEncoder) and isinstance(codec.decoder, EVJSCCBackboneDecoder)
        assert codec.downsample == ds and codec.backbone == backbone
        assert codec.symbols_per_position == tuple(0 if f == 0 else math.ceil(f * cbr * 3 * ds * ds - 1e-9)
                                                   for f in split)
        for h, w in ((64, 64), (33, 50)):
            budget = channel_uses_budget(cbr, h, w)
            uses = codec.stream_uses(h, w)
            assert sum(uses) == budget == codec.channel_uses(h, w) and uses == split_symbols(budget, split)
            assert codec.latent_hw(h, w) == (-(-h // ds), -(-w // ds))
            hl, wl = codec.latent_hw(h, w)
            assert all(n_x <= k * hl * wl for n_x, k in zip(uses, codec.symbols_per_position))
            with torch.no_grad():
                tx = codec.encode(_batch(h, w), snr_db=torch.tensor([0.0, 20.0]))
            assert tx.symbols.shape == (2, budget) and tx.channel_uses == budget and tx.state.uses == uses
            assert torch.allclose(tx.symbols.abs().square().mean(1), torch.ones(2), atol=1e-5)
    with torch.no_grad():  # the receiver: frame and events of the input's size, the frame in [0, 1]
        rx = codec.decode(_noiseless(tx), tx, snr_db=torch.tensor([0.0, 20.0]))
    assert rx.image.shape == (2, 3, 33, 50) and rx.events.shape == (2, 6, 33, 50)
    assert 0 <= float(rx.image.min()) and float(rx.image.max()) <= 1


def test_on_a_backbone_each_encoder_reads_what_the_paper_says():
    """f_i(B), f_s(B, E, prior), f_e(E): the image stream ignores the events; g_i reads z_i and z_s."""
    codec = _codec(backbone="conv", downsample=8)
    enc = codec.encoder
    assert enc.image.layers[0].conv.in_channels == 3 and enc.event.layers[0].conv.in_channels == 6
    assert enc.shared.layers[0].conv.in_channels == 3 + 6 + 3 and enc.prior is not None  # EDI prior read too
    assert _codec(backbone="conv", prior="none").encoder.shared.layers[0].conv.in_channels == 9
    li, ls, le = (2 * k for k in codec.symbols_per_position)
    assert codec.decoder.image.layers[0].conv.in_channels == li + ls
    assert codec.decoder.event.layers[0].conv.in_channels == le + ls
    assert codec.decoder.event.out.conv.out_channels == 6
    a = _batch(64, 64, seed=1)
    b = Batch(sharp=a.sharp, blurry=a.blurry, events=a.events.flip(-1) + 3.0)
    with torch.no_grad():
        ta, tb = codec.encode(a, snr_db=torch.zeros(2)), codec.encode(b, snr_db=torch.zeros(2))
    ni, ns, ne = ta.state.uses
    ratio = tb.symbols[:, :ni] / ta.symbols[:, :ni]  # equal up to the power normalization of the whole stream
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(tb.symbols[:, ni:], ta.symbols[:, ni:], atol=1e-3)
    # no event stream: the events reach the shared encoder, the event decoder reads the shared stream only
    given = _codec(backbone="swin", split=(0.75, 0.25, 0.0))
    assert given.encoder.event is None and given.stream_uses(64, 64) == (192, 64, 0)
    with torch.no_grad():
        tx = given.encode(_batch(64, 64), snr_db=torch.zeros(2))
        assert given.decode(_noiseless(tx), tx, snr_db=torch.zeros(2)).events.shape == (2, 6, 64, 64)


@pytest.mark.parametrize("backbone,ds", [("resconv", 8), ("swin", 16)])
def test_a_backbone_checkpoint_records_and_restores_its_options(backbone, ds, tmp_path):
    codec = _codec(backbone=backbone, downsample=ds, depth=2, split=(0.4, 0.3, 0.3))
    cfg = codec.config()
    assert json.loads(json.dumps(cfg)) == cfg
    assert {k: cfg[k] for k in ("backbone", "width", "depth", "downsample")} == \
        {"backbone": backbone, "width": 8, "depth": 2, "downsample": ds}
    path = _save(codec, tmp_path / "bb.ckpt", cbr=1 / 48)
    torch.manual_seed(1)  # another initialization: only the loaded weights can give the same symbols
    loaded = build_codec("ev-jscc", cbr=1 / 48, checkpoint=str(path)).eval()
    assert (loaded.backbone, loaded.width, loaded.depth, loaded.downsample, loaded.split) == \
        (backbone, 8, 2, ds, (0.4, 0.3, 0.3))
    batch = _batch(64, 64)
    with torch.no_grad():
        assert torch.equal(codec.encode(batch, snr_db=torch.zeros(2)).symbols,
                           loaded.encode(batch, snr_db=torch.zeros(2)).symbols)
    other = "conv" if backbone != "conv" else "swin"
    with pytest.raises(SemcomError, match=f"backbone={backbone!r}.*backbone={other!r}"):
        build_codec("ev-jscc", cbr=1 / 48, checkpoint=str(path), backbone=other)
    with pytest.raises(SemcomError, match=f"downsample={ds}.*downsample={24 - ds}"):
        build_codec("ev-jscc", cbr=1 / 48, checkpoint=str(path), downsample=24 - ds)


def test_without_a_backbone_ev_jscc_keeps_its_networks_and_old_checkpoints_read_as_them(tmp_path):
    codec = _codec()
    assert (codec.backbone, codec.depth, codec.downsample, codec.width) == (None, None, 16, 8)
    assert isinstance(codec.encoder, EVJSCCEncoder) and isinstance(codec.decoder, EVJSCCDecoder)
    assert set(codec.config()) == {"adaptive", "snr_db", "width", "split", "shared", "event_channels",
                                   "event_scale", "unet_width", "prior", "head"}  # as before backbones existed
    assert EVJSCC(cbr=1 / 48).width == 32 and EVJSCC(cbr=1 / 48, backbone="conv").width == 64
    same = _codec(backbone=None, downsample=16)
    assert all(torch.equal(v, same.state_dict()[k]) for k, v in codec.state_dict().items())
    path = _save(codec, tmp_path / "old.ckpt", cbr=1 / 48)
    loaded = build_codec("ev-jscc", cbr=1 / 48, checkpoint=str(path))
    assert loaded.backbone is None and loaded.checkpoint_meta["config"] == codec.config()
    assert LEGACY_NETWORKS == {"backbone": None, "depth": None, "downsample": 16}
    with pytest.raises(SemcomError, match="backbone=None.*backbone='resconv'"):
        build_codec("ev-jscc", cbr=1 / 48, checkpoint=str(path), backbone="resconv")
    with pytest.raises(SemcomError, match="downsample=16.*downsample=8"):
        build_codec("ev-jscc", cbr=1 / 48, checkpoint=str(path), downsample=8)
    with pytest.raises(ValueError, match="depth=2 sizes a backbone"):
        EVJSCC(cbr=1 / 48, depth=2)
    with pytest.raises(ValueError, match="downsample=8 needs a backbone"):
        EVJSCC(cbr=1 / 48, downsample=8)
    with pytest.raises(ValueError, match="unknown backbone 'vit'"):
        EVJSCC(cbr=1 / 48, backbone="vit")
    with pytest.raises(ValueError, match="width must be an even integer >= 8 for backbone 'swin'"):
        EVJSCC(cbr=1 / 48, backbone="swin", width=6)


def test_the_resconv_link_takes_only_its_own_weights_and_trains_by_stages():
    spec = find_link("ev-jscc-resconv")
    assert spec.codec.name == "ev-jscc" and spec.needs_own_weights
    assert (spec.codec.params["backbone"], spec.codec.params["downsample"]) == ("resconv", 8)
    shipped = Link(spec, cbr=1 / 48).codec  # its own checkpoint, whose size wins over the link's default width
    assert shipped.checkpoint_meta["link"] == "ev-jscc-resconv" and (shipped.backbone, shipped.width) == ("resconv", 32)
    with pytest.raises(SemcomError, match="no shipped SNR-adaptive checkpoint of link ev-jscc-resconv"):
        Link(spec, cbr=1 / 96)  # never ev-jscc's weights, which do not fit
    link = Link(spec, cbr=1 / 48, codec_overrides={"checkpoint": "none", **TINY})
    codec = link.codec
    assert (codec.backbone, codec.downsample, codec.width, codec.depth) == ("resconv", 8, 8, 1)
    assert codec.symbols_per_position == (2, 1, 1)  # ceil(f * 1/48 * 3 * 8^2) for f = 1/2, 1/4, 1/4
    for stage in get_schedule("ev-jscc", steps=10, lr=1e-3, lam=0.5):  # the module names the stages train
        assert set_trainable(link, stage.trainable)
