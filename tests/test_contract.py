"""The LearnedCodec contract, checked over every registered codec (no hand-written name list)."""

import ast
import json
from pathlib import Path

import pytest
import torch

import semcom
from semcom.channels.awgn import AWGN
from semcom.codecs.base import Codec, LearnedCodec, TrainStep
from semcom.codecs.backbones import BACKBONES
from semcom.registry import CODECS, keywords
from semcom.sources.base import Batch
from semcom.train.schedules import SCHEDULES
from semcom.zoo import build_codec, is_learned

LEARNED = [n for n in CODECS.names() if is_learned(n)]
#: every learned codec as built by default, and again with each other backbone where it takes ``backbone``
CASES = [(n, {}) for n in LEARNED] + [(n, {"backbone": b}) for n in LEARNED if "backbone" in keywords(CODECS.get(n))
                                      for b in BACKBONES if b != "conv"]


def _default_backbone(name):
    from semcom.registry import parameters

    return next((p.default for p in parameters(CODECS.get(name)) or () if p.name == "backbone"), "conv")


#: codecs whose default networks are no backbone at all (EV-JSCC's original ones, SP-JSCC's) take ``conv`` too
CASES += [(n, {"backbone": "conv"}) for n in LEARNED if "backbone" in keywords(CODECS.get(n))
          and _default_backbone(n) is None]

#: smaller widths where a codec takes them, so the test stays fast (the contract does not care)
SMALL = {"width": 8, "unet_width": 8}


def _small(name):
    cls = CODECS.get(name)
    codec = cls(cbr=1 / 48)
    accepted = set(codec.config())
    return {k: v for k, v in SMALL.items() if k in accepted}


def _batch(size=64, spikes=False):
    g = torch.Generator().manual_seed(0)
    sharp = torch.rand(2, 3, size, size, generator=g)
    return Batch(sharp=sharp, blurry=sharp.roll(2, -1), events=torch.randn(2, 6, size, size, generator=g).round(),
                 spikes=(torch.rand(2, 40, size // 4, size // 4, generator=g) < 0.3).to(torch.uint8) if spikes else None)


def test_the_registry_has_learned_codecs_and_every_codec_is_a_codec():
    assert {"deepjscc", "deepjscc-deblur", "ev-jscc", "sp-jscc"} <= set(LEARNED)
    for name in CODECS.names():
        assert issubclass(CODECS.get(name), Codec), name


@pytest.mark.parametrize("name,arch", CASES, ids=[n + "".join(f"-{v}" for v in a.values()) for n, a in CASES])
def test_learned_codec_contract(name, arch, tmp_path):
    cls = CODECS.get(name)
    assert cls.registry_name == name
    assert cls.default_schedule in SCHEDULES
    assert isinstance(cls.needs_spikes, bool)
    torch.manual_seed(0)
    codec = build_codec(name, cbr=1 / 48, checkpoint="none", **_small(name), **arch)
    assert isinstance(codec, LearnedCodec) and codec.checkpoint_meta is None
    cfg = codec.config()
    assert json.loads(json.dumps(cfg)) == cfg  # plain JSON, stored in checkpoints
    assert codec.snr_mode == "adaptive"
    # the constructor rebuilds the same architecture from config()
    again = cls(cbr=1 / 48, **cfg)
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in codec.state_dict().items()}
    # from_checkpoint loads exactly these weights and records the metadata
    meta = {"codec": name, "cbr": 1 / 48, "config": cfg, "step": 3}
    loaded = cls.from_checkpoint(cbr=1 / 48, meta=meta, state=codec.state_dict(), path="mem")
    assert loaded.checkpoint_meta == meta
    for k, v in codec.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    # single-SNR mode through the same constructor
    single = cls(cbr=1 / 48, snr_db=10.0, **{k: v for k, v in cfg.items() if k not in ("adaptive", "snr_db")})
    assert single.snr_mode == "single"
    # the training forward: differentiable, with the reception the decoder gives
    batch = _batch(spikes=cls.needs_spikes)
    codec.train()
    step = codec.transmit_train(batch, AWGN(), snr_db=torch.full((2,), 10.0),
                                generator=torch.Generator().manual_seed(0))
    assert isinstance(step, TrainStep)
    assert step.reception.image.shape == (2, 3, 64, 64) and step.reception.image.requires_grad
    assert step.transmission.channel_uses == 64 * 64 * 3 // 48
    step.reception.image.mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in codec.parameters())


def test_codecs_without_weights_are_not_learned_and_refuse_a_checkpoint():
    from semcom.errors import SemcomError
    from semcom.link import Link, find_link

    others = [n for n in CODECS.names() if not is_learned(n)]
    assert "softcast" in others and "bpg-ldpc" in others
    for name in others:
        assert not issubclass(CODECS.get(name), LearnedCodec), name
    with pytest.raises(SemcomError, match="no learned weights"):
        Link(find_link("softcast"), cbr=1 / 48, codec_overrides={"checkpoint": "x.ckpt"})
    with pytest.raises(SemcomError, match="no learned weights"):
        build_codec("softcast", cbr=1 / 48)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_codecs_import_neither_the_trainer_nor_the_zoo():
    root = Path(semcom.__file__).parent / "codecs"
    files = sorted(root.rglob("*.py"))
    assert len(files) > 5
    for path in files:
        bad = {m for m in _imports(path) if m.startswith(("semcom.train", "semcom.zoo", "semcom.bench"))}
        assert not bad, f"{path.relative_to(root)} imports {sorted(bad)}"


def test_trainer_and_sweep_do_not_probe_codecs():
    root = Path(semcom.__file__).parent
    for rel in ("train/trainer.py", "bench/sweep.py"):
        text = (root / rel).read_text()
        assert "hasattr(" not in text and "inspect." not in text, rel


def _every_link():
    from semcom.linkspec import available_links

    return sorted(available_links())


@pytest.fixture(scope="module")
def blurry_batch():
    from semcom.registry import SOURCES
    from semcom.sources.base import collate

    ds = SOURCES.build("synth-blur", split="test", size=64, limit=2)
    return collate([ds[i] for i in range(2)])


@pytest.mark.parametrize("name", _every_link())
def test_every_link_file_runs_within_budget_in_range_and_reproducibly(name, blurry_batch):
    """Every shipped link: builds from its file, sends at most its channel uses, returns a frame
    of the input's shape in [0, 1], and the same seed gives the same output."""
    import torch

    from semcom.link import Link, find_link

    from semcom.errors import SemcomError

    spec = find_link(name)
    try:
        link = Link(spec, cbr=1 / 48).eval()
    except SemcomError as exc:  # a learned link without shipped weights: its untrained model
        assert "no shipped" in str(exc)
        torch.manual_seed(0)
        link = Link(spec, cbr=1 / 48, codec_overrides={"checkpoint": "none", "adaptive": True}).eval()
    outs = []
    for _ in range(2):
        with torch.no_grad():
            out = link(blurry_batch, snr_db=10.0, generator=torch.Generator().manual_seed(7))
        outs.append(out.output)
    y = outs[0]
    assert y.shape == blurry_batch.sharp.shape and y.dtype == torch.float32, name
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0, name
    assert out.transmission.cbr <= 1 / 48 + 1e-9, (name, out.transmission.cbr)
    assert torch.equal(outs[0], outs[1]), name
