"""The JSCC backbones (conv, resconv, swin) on both latent grids, through the DeepJSCC codec and alone."""

import json
import math

import pytest
import torch

from semcom.channels.awgn import AWGN
from semcom.channels.base import ChannelOutput
from semcom.codecs.backbones import BACKBONES, DOWNSAMPLES, SwinBlock, build_backbone, shifted_window_mask
from semcom.codecs.deepjscc import DeepJSCC, DeepJSCCDeblur, symbols_per_position
from semcom.conventions import channel_uses_budget
from semcom.errors import SemcomError
from semcom.sources.base import Batch
from semcom.zoo import build_codec
from semcom.zoo.store import read_meta, save_checkpoint

#: every backbone on every latent grid; small widths keep the file fast (the contract does not care)
VARIANTS = [(b, ds) for b in BACKBONES for ds in DOWNSAMPLES]
IDS = [f"{b}-{ds}" for b, ds in VARIANTS]
WIDTH = 8
CBR = 1 / 48


def _codec(backbone, ds, *, adaptive=True, cls=DeepJSCC, **kw):
    mode = {"adaptive": True} if adaptive else {"snr_db": 10.0}
    return cls(cbr=CBR, backbone=backbone, downsample=ds, width=WIDTH, **mode, **kw)


def _batch(h, w, b=2, seed=0):
    x = torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))
    return Batch(sharp=x, blurry=x)


def _noiseless(tx):
    s = tx.symbols
    return ChannelOutput(s, torch.ones_like(s), s, torch.zeros(s.shape))


@pytest.mark.parametrize("adaptive", [True, False], ids=["adaptive", "single"])
@pytest.mark.parametrize("backbone,ds", VARIANTS, ids=IDS)
def test_shapes_channel_uses_and_power(backbone, ds, adaptive):
    torch.manual_seed(0)
    codec = _codec(backbone, ds, adaptive=adaptive).eval()
    k = math.ceil(CBR * 3 * ds * ds)
    assert codec.symbols_per_position == k == symbols_per_position(CBR, ds)
    snr = torch.tensor([0.0, 15.0])
    for h, w in [(32, 32), (64, 96), (33, 50)]:
        with torch.no_grad():
            hp, wp = -(-h // ds) * ds, -(-w // ds) * ds
            z = codec.encoder(torch.rand(2, 3, hp, wp), snr)
            assert z.shape == (2, 2 * k, hp // ds, wp // ds) == (2, *codec.latent_shape(h, w))
            tx = codec.encode(_batch(h, w), snr_db=snr)
            budget = channel_uses_budget(CBR, h, w)
            assert tx.symbols.shape == (2, budget) and tx.channel_uses == budget == codec.channel_uses(h, w)
            assert tx.symbols.dtype == torch.complex64
            assert torch.allclose(tx.symbols.abs().square().mean(1), torch.ones(2), atol=1e-5)
            image = codec.decode(_noiseless(tx), tx, snr_db=snr).image
        assert image.shape == (2, 3, h, w) and image.dtype == torch.float32
        assert float(image.min()) >= 0 and float(image.max()) <= 1


@pytest.mark.parametrize("backbone,ds", VARIANTS, ids=IDS)
def test_only_the_adaptive_model_reads_the_snr(backbone, ds):
    torch.manual_seed(0)
    batch = _batch(32, 32)
    for adaptive in (True, False):
        codec = _codec(backbone, ds, adaptive=adaptive).eval()
        with torch.no_grad():
            s0, s1 = (codec.encode(batch, snr_db=torch.full((2,), s)).symbols for s in (0.0, 20.0))
            tx = codec.encode(batch, snr_db=torch.zeros(2))
            d0, d1 = (codec.decode(_noiseless(tx), tx, snr_db=torch.full((2,), s)).image for s in (0.0, 20.0))
        assert torch.equal(s0, s1) != adaptive and torch.equal(d0, d1) != adaptive, adaptive


@pytest.mark.parametrize("backbone,ds", VARIANTS, ids=IDS)
def test_every_parameter_learns_and_a_few_steps_lower_the_loss(backbone, ds):
    torch.manual_seed(0)
    codec = _codec(backbone, ds).train()
    # smooth, darker-than-mid-grey frames: something a few steps can learn (noise frames are not)
    g = torch.Generator().manual_seed(1)
    smooth = torch.nn.functional.interpolate(torch.rand(4, 3, 4, 4, generator=g), size=(32, 32), mode="bilinear")
    batch = Batch(sharp=0.1 + 0.4 * smooth, blurry=0.1 + 0.4 * smooth)
    snr = torch.full((4,), 10.0)
    opt = torch.optim.Adam(codec.parameters(), lr=2e-3)

    def loss_now():
        step = codec.transmit_train(batch, AWGN(), snr_db=snr, generator=torch.Generator().manual_seed(3))
        return (step.reception.image - batch.sharp).square().mean()

    loss = loss_now()
    loss.backward()
    first = float(loss.detach())
    for name, p in codec.named_parameters():
        assert p.grad is not None and bool(torch.isfinite(p.grad).all()), name
        assert float(p.grad.abs().sum()) > 0, name
    opt.step()
    for _ in range(7):
        opt.zero_grad()
        loss_now().backward()
        opt.step()
    with torch.no_grad():
        last = loss_now()
    assert float(last) < 0.97 * first, (first, float(last))


@pytest.mark.parametrize("backbone,ds", VARIANTS, ids=IDS)
def test_bf16_autocast_runs_and_stays_in_range(backbone, ds):
    torch.manual_seed(0)
    enc, dec = build_backbone(backbone, latent_channels=8, width=WIDTH, downsample=ds, adaptive=True)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = dec(enc(torch.rand(2, 3, 32, 48), torch.zeros(2)), torch.zeros(2))
    assert y.shape == (2, 3, 32, 48) and bool(torch.isfinite(y.float()).all())
    assert float(y.min()) >= 0 and float(y.max()) <= 1


@pytest.mark.parametrize("backbone,ds", VARIANTS, ids=IDS)
def test_config_records_the_backbone_and_rebuilds_the_same_model(backbone, ds, tmp_path):
    torch.manual_seed(0)
    depth = BACKBONES[backbone].depth + 1
    codec = _codec(backbone, ds, depth=depth).eval()
    cfg = codec.config()
    assert json.loads(json.dumps(cfg)) == cfg
    assert {k: cfg[k] for k in ("backbone", "width", "depth", "downsample")} == \
        {"backbone": backbone, "width": WIDTH, "depth": depth, "downsample": ds}
    batch, snr = _batch(32, 48), torch.tensor([5.0, 5.0])
    with torch.no_grad():
        tx = codec.encode(batch, snr_db=snr)
        want = codec.decode(_noiseless(tx), tx, snr_db=snr).image
    # through a checkpoint file and the zoo, which rebuilds the codec from the recorded config
    meta = {"link": "deepjscc", "codec": "deepjscc", "cbr": CBR, "snr_mode": "adaptive", "snr_db": None,
            "snr_range": [0, 20], "step": 1, "config": cfg}
    path = save_checkpoint(tmp_path / "b.ckpt", meta=meta, codec=codec.state_dict())
    assert read_meta(path)["config"] == cfg
    torch.manual_seed(1)  # another initialization: only the loaded weights can give the same output
    again = build_codec("deepjscc", cbr=CBR, checkpoint=str(path)).eval()
    assert (again.backbone, again.width, again.depth, again.downsample) == (backbone, WIDTH, depth, ds)
    with torch.no_grad():
        tx2 = again.encode(batch, snr_db=snr)
        got = again.decode(_noiseless(tx2), tx2, snr_db=snr).image
    assert torch.equal(tx2.symbols, tx.symbols) and torch.equal(got, want)
    other = "swin" if backbone != "swin" else "conv"
    with pytest.raises(SemcomError, match=f"backbone={backbone!r}.*backbone={other!r}"):
        build_codec("deepjscc", cbr=CBR, checkpoint=str(path), backbone=other)


def test_the_original_design_keeps_its_config_and_old_checkpoints_load_as_conv_16(tmp_path):
    codec = DeepJSCC(cbr=CBR, width=16)
    assert codec.config() == {"adaptive": True, "snr_db": None, "width": 16}  # as before backbones existed
    assert (codec.backbone, codec.depth, codec.downsample) == ("conv", 1, 16)
    old = DeepJSCC(cbr=CBR, **{"adaptive": True, "snr_db": None, "width": 16})
    assert (old.backbone, old.downsample) == ("conv", 16)
    meta = {"link": "deepjscc", "codec": "deepjscc", "cbr": CBR, "snr_mode": "adaptive", "snr_db": None,
            "snr_range": [0, 20], "step": 1, "config": codec.config()}
    path = save_checkpoint(tmp_path / "old.ckpt", meta=meta, codec=codec.state_dict())
    assert build_codec("deepjscc", cbr=CBR, checkpoint=str(path), downsample=16).downsample == 16
    with pytest.raises(SemcomError, match="downsample=16.*downsample=8"):
        build_codec("deepjscc", cbr=CBR, checkpoint=str(path), downsample=8)
    with pytest.raises(SemcomError, match="backbone='conv'.*backbone='resconv'"):
        build_codec("deepjscc", cbr=CBR, checkpoint=str(path), backbone="resconv")


def test_deblur_takes_the_backbone_too():
    codec = _codec("swin", 8, cls=DeepJSCCDeblur, unet_width=8).eval()
    cfg = codec.config()
    assert cfg["backbone"] == "swin" and cfg["downsample"] == 8 and cfg["unet_width"] == 8
    again = DeepJSCCDeblur(cbr=CBR, **cfg)
    assert again.state_dict().keys() == codec.state_dict().keys()
    with torch.no_grad():
        _, rx = codec.transmit(_batch(32, 32), AWGN(), snr_db=torch.zeros(2),
                               generator=torch.Generator().manual_seed(0))
    assert rx.image.shape == (2, 3, 32, 32)


def test_parameter_counts_grow_with_width_and_depth():
    def count(**kw):
        enc, dec = build_backbone(latent_channels=32, adaptive=True, **kw)
        return sum(p.numel() for m in (enc, dec) for p in m.parameters())

    for name in BACKBONES:
        base = count(name=name, width=16, depth=1)
        assert count(name=name, width=32, depth=1) > base and count(name=name, width=16, depth=2) > base, name
    # defaults stay small enough to train on a CPU
    assert all(count(name=name) < 5_000_000 for name in BACKBONES)


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match=r"unknown backbone 'vit' \(known: conv, resconv, swin\)"):
        DeepJSCC(cbr=CBR, backbone="vit")
    with pytest.raises(ValueError, match="backbone must be a name"):
        DeepJSCC(cbr=CBR, backbone=None)
    for bad in (4, 32, True, 16.0, "16"):
        with pytest.raises(ValueError, match="downsample must be one of 8, 16"):
            DeepJSCC(cbr=CBR, downsample=bad)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="depth"):
            DeepJSCC(cbr=CBR, backbone="swin", depth=bad)
    with pytest.raises(ValueError, match="width must be an even integer >= 8 for backbone 'swin'"):
        DeepJSCC(cbr=CBR, backbone="swin", width=6)
    with pytest.raises(ValueError, match="width must be an even integer >= 4 for backbone 'resconv'"):
        DeepJSCC(cbr=CBR, backbone="resconv", width=9)
    with pytest.raises(ValueError, match="latent_channels"):
        build_backbone("conv", latent_channels=3, adaptive=False)


# --------------------------------------------------------------------------- swin windows

def _reference_allowed(hp, wp, win, shift):
    """Which (query, key) pairs of the shifted windows may attend, labelled the way the Swin paper
    describes it: the rolled map is cut into 3 x 3 bands (interior, the band a window reaches into
    the wrapped part, the wrapped part) and only tokens of the same band may attend to each other."""
    label = torch.zeros(hp, wp, dtype=torch.long)
    bands = (slice(0, hp - win), slice(hp - win, hp - shift), slice(hp - shift, hp))
    cols = (slice(0, wp - win), slice(wp - win, wp - shift), slice(wp - shift, wp))
    n = 0
    for r in bands:
        for c in cols:
            label[r, c] = n
            n += 1
    lab = label.reshape(hp // win, win, wp // win, win).permute(0, 2, 1, 3).reshape(-1, win * win)
    return lab[:, :, None] == lab[:, None, :]


@pytest.mark.parametrize("hw", [(8, 8), (16, 8), (8, 24)])
def test_the_shifted_window_mask_matches_the_papers_construction(hw):
    h, w = hw
    mask = shifted_window_mask(h, w, 4, 4, 2, 2, torch.device("cpu"))
    assert mask.shape == ((h // 4) * (w // 4), 1, 16, 16)
    assert torch.equal(mask[:, 0] == 0, _reference_allowed(h, w, 4, 2))
    assert shifted_window_mask(h, w, 4, 4, 0, 0, torch.device("cpu")) is None  # plain windows: nothing to mask


def test_padding_tokens_are_never_attended():
    mask = shifted_window_mask(6, 5, 4, 4, 0, 0, torch.device("cpu"))  # padded to 8 x 8: four windows
    allowed = mask[:, 0] == 0
    valid = torch.zeros(8, 8, dtype=torch.bool)
    valid[:6, :5] = True
    valid = valid.reshape(2, 4, 2, 4).permute(0, 2, 1, 3).reshape(4, 16)
    assert torch.equal(allowed, valid[:, None, :].expand(4, 16, 16))


def test_a_shifted_block_does_not_mix_tokens_across_the_wrapped_edge():
    torch.manual_seed(0)
    block = SwinBlock(8, heads=2, window=4, shift=True).eval()
    assert block.plan(8, 8) == (4, 4, 2, 2)
    x = torch.randn(1, 8, 8, 8)
    y = block(x)
    # (0, 0) rolls into the bottom-right window together with (7, 7) and (6, 6)
    far, near = x.clone(), x.clone()
    kick = torch.randn(8) * 3  # not a constant: LayerNorm would remove that
    far[0, 0, 0] += kick
    near[0, 6, 6] += kick
    assert torch.allclose(block(far)[0, 7, 7], y[0, 7, 7], atol=1e-6, rtol=0)
    assert not torch.allclose(block(near)[0, 7, 7], y[0, 7, 7], atol=1e-3)
    # without the mask the roll would let (0, 0) reach (7, 7): the test above can fail
    block._mask = lambda h, w, device: None
    assert not torch.allclose(block(far)[0, 7, 7], block(x)[0, 7, 7], atol=1e-3)


def test_swin_handles_small_and_non_square_maps():
    torch.manual_seed(0)
    block = SwinBlock(8, heads=1, window=8, shift=True)
    assert block.plan(4, 6) == (4, 6, 0, 0)  # one window covers the map: no shift
    assert block.plan(8, 12) == (8, 8, 0, 4)  # one window high (no shift down), 12 wide: padded to 16
    for h, w in [(2, 2), (4, 6), (8, 12), (12, 20)]:
        assert block(torch.randn(2, h, w, 8)).shape == (2, h, w, 8)


# --------------------------------------------------------------------------- input and output channels

#: sha256 (first 16 hex digits) of every parameter name and shape of each backbone at width 8 on both grids
#: (``e.`` encoder, ``d.`` decoder), computed from the networks as they were before ``in_channels``,
#: ``out_channels`` and ``output`` existed: the checkpoints trained then must keep loading
BEFORE_CHANNEL_OPTIONS = {"conv": "5d0f76be8ef676d6", "resconv": "56ba3d4d25d5200b", "swin": "72710f6bda63e15e"}


def _layout_digest(name):
    import hashlib

    h = hashlib.sha256()
    for ds in (8, 16):
        enc, dec = build_backbone(name, latent_channels=8, width=8, downsample=ds, adaptive=True)
        shapes = {**{"e." + k: v.shape for k, v in enc.state_dict().items()},
                  **{"d." + k: v.shape for k, v in dec.state_dict().items()}}
        for k in sorted(shapes):
            h.update(f"{ds}:{k}:{tuple(shapes[k])};".encode())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("name", list(BACKBONES))
def test_the_default_channels_keep_every_parameter_name_and_shape(name):
    assert _layout_digest(name) == BEFORE_CHANNEL_OPTIONS[name]


@pytest.mark.parametrize("backbone,ds", VARIANTS, ids=IDS)
def test_encoders_take_other_inputs_and_decoders_give_other_outputs(backbone, ds):
    from semcom.codecs.backbones import build_decoder, build_encoder

    kw = dict(latent_channels=6, width=WIDTH, downsample=ds, adaptive=True)
    snr = torch.tensor([0.0, 10.0])
    torch.manual_seed(0)
    enc = build_encoder(backbone, in_channels=5, **kw)
    z = enc(torch.randn(2, 5, 32, 48), snr)
    assert z.shape == (2, 6, 32 // ds, 48 // ds)
    # the same seed builds the same weights in both output modes: the linear one is the sigmoid's argument
    decoders = {}
    for output in ("sigmoid", "linear"):
        torch.manual_seed(1)
        decoders[output] = build_decoder(backbone, out_channels=7, output=output, **kw)
    with torch.no_grad():
        squashed, raw = (decoders[o](z, snr) for o in ("sigmoid", "linear"))
    assert raw.shape == squashed.shape == (2, 7, 32, 48)
    assert float(raw.min()) < 0 < float(raw.max())  # not squashed
    assert torch.allclose(torch.sigmoid(raw), squashed, atol=1e-6)
    # the defaults are the RGB networks of build_backbone, weight for weight
    torch.manual_seed(2)
    enc3, dec3 = build_encoder(backbone, **kw), build_decoder(backbone, **kw)
    torch.manual_seed(2)
    pair = build_backbone(backbone, **kw)
    for mine, theirs in zip((enc3, dec3), pair):
        assert mine.state_dict().keys() == theirs.state_dict().keys()
        assert all(torch.equal(v, theirs.state_dict()[k]) for k, v in mine.state_dict().items())


def test_channel_and_output_options_are_validated():
    from semcom.codecs.backbones import build_decoder, build_encoder

    with pytest.raises(ValueError, match="output must be one of sigmoid, linear"):
        build_decoder("conv", latent_channels=4, adaptive=False, output="tanh")
    for bad in (0, -3, 2.0, True):
        with pytest.raises(ValueError, match="in_channels must be a positive integer"):
            build_encoder("swin", latent_channels=4, adaptive=False, in_channels=bad)
        with pytest.raises(ValueError, match="out_channels must be a positive integer"):
            build_decoder("resconv", latent_channels=4, adaptive=False, out_channels=bad)
