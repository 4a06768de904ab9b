import io
import json

import pytest
import torch

from semcom.codecs.deepjscc import DeepJSCC, DeepJSCCDeblur
from semcom.errors import SemcomError
from semcom.sources.base import Batch
from semcom.zoo import build_codec
from semcom.zoo.publish import publish
from semcom.zoo.store import MAGIC, load_checkpoint, read_manifest, read_meta, save_checkpoint, sha256_of


def _save_codec(path, codec, *, link=None, train=None):
    meta = {"link": link or codec.registry_name, "codec": codec.registry_name, "cbr": codec.cbr,
            "snr_mode": codec.snr_mode, "snr_db": codec.snr_db, "snr_range": [0, 20] if codec.adaptive else None,
            "step": 7, "config": codec.config(), "training": {"dataset": "test", "steps": 7}}
    return save_checkpoint(path, meta=meta, codec=codec.state_dict(), train=train)


@pytest.fixture
def zoo(tmp_path, monkeypatch):
    manifest = tmp_path / "zoo" / "manifest.json"
    monkeypatch.setenv("SEMCOM_ZOO_MANIFEST", str(manifest))
    return manifest


def test_round_trip_and_metadata(tmp_path):
    torch.manual_seed(0)
    codec = DeepJSCC(cbr=1 / 48, width=16)
    path = _save_codec(tmp_path / "a.ckpt", codec, train={"step": 7, "optimizer": {}})
    assert path.read_bytes().startswith(MAGIC)
    ck = load_checkpoint(path)
    assert ck.meta["codec"] == "deepjscc" and ck.meta["step"] == 7 and ck.train["step"] == 7
    assert read_meta(path)["config"] == {"adaptive": True, "snr_db": None, "width": 16}
    again = build_codec("deepjscc", cbr=1 / 48, checkpoint=str(path))  # width comes from the checkpoint
    assert again.width == 16
    for k, v in codec.state_dict().items():
        assert torch.equal(v, again.state_dict()[k])


@pytest.mark.parametrize("where", [0.5, 0.99, 0.02])
def test_a_changed_byte_is_refused(tmp_path, where):
    codec = DeepJSCC(cbr=1 / 48, width=16)
    path = _save_codec(tmp_path / "a.ckpt", codec)
    data = bytearray(path.read_bytes())
    i = int(len(data) * where)
    data[i] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(SemcomError, match="corrupted|modified|not a semcom checkpoint"):
        load_checkpoint(path)
    with pytest.raises(SemcomError):
        build_codec("deepjscc", cbr=1 / 48, checkpoint=str(path))


class Gadget:  # anything that is not a tensor or a plain container
    pass


def test_loading_never_unpickles_arbitrary_objects(tmp_path):
    import hashlib

    buf = io.BytesIO()
    torch.save({"codec": {}, "extra": Gadget()}, buf)
    body = json.dumps({"codec": "deepjscc", "cbr": 1 / 48}).encode() + b"\n" + buf.getvalue()
    path = tmp_path / "evil.ckpt"
    path.write_bytes(MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    with pytest.raises(SemcomError, match="cannot be read safely"):
        load_checkpoint(path)


def test_wrong_link_or_cbr_is_refused_naming_both(tmp_path):
    deblur = DeepJSCCDeblur(cbr=1 / 48, width=16, unet_width=8)
    p1 = _save_codec(tmp_path / "deblur.ckpt", deblur)
    with pytest.raises(SemcomError) as err:
        build_codec("deepjscc", cbr=1 / 48, checkpoint=str(p1))
    msg = str(err.value)
    assert "'deepjscc-deblur'" in msg and "'deepjscc'" in msg

    plain = DeepJSCC(cbr=1 / 96, width=16)
    p2 = _save_codec(tmp_path / "cbr96.ckpt", plain)
    with pytest.raises(SemcomError) as err:
        build_codec("deepjscc", cbr=1 / 48, checkpoint=str(p2))
    assert "1/96" in str(err.value) and "1/48" in str(err.value)


def test_conflicting_architecture_argument_is_refused(tmp_path):
    p = _save_codec(tmp_path / "w16.ckpt", DeepJSCC(cbr=1 / 48, width=16))
    with pytest.raises(SemcomError, match="width=16"):
        build_codec("deepjscc", cbr=1 / 48, checkpoint=str(p), width=32)
    with pytest.raises(SemcomError, match="adaptive"):
        build_codec("deepjscc", cbr=1 / 48, checkpoint=str(p), snr_db=10.0)


def test_missing_shipped_checkpoint_names_the_cbrs_and_the_command(tmp_path, zoo):
    with pytest.raises(SemcomError, match="CBRs with one: none"):
        build_codec("deepjscc", cbr=1 / 48)
    torch.manual_seed(0)
    codec = DeepJSCC(cbr=1 / 48, width=16)
    publish(_save_codec(tmp_path / "t.ckpt", codec), manifest=zoo)
    with pytest.raises(SemcomError) as err:
        build_codec("deepjscc", cbr=1 / 96)
    msg = str(err.value)
    assert "1/48" in msg and "semcom train --link deepjscc --cbr 1/96" in msg
    with pytest.raises(SemcomError, match="single-SNR"):
        build_codec("deepjscc", cbr=1 / 48, snr_db=10.0)  # only an adaptive one is shipped


def test_a_link_finds_its_own_shipped_weights_first_and_a_sensor_side_link_only_its_own(tmp_path, zoo):
    torch.manual_seed(0)
    generic, own = DeepJSCC(cbr=1 / 48, width=16), DeepJSCC(cbr=1 / 48, width=8)
    assert publish(_save_codec(tmp_path / "g.ckpt", generic), manifest=zoo)["name"] == "deepjscc-cbr1-48-adaptive"
    # a link with a transmitter stage: its codec sees other frames, so the generic weights will not do
    with pytest.raises(SemcomError, match="no shipped SNR-adaptive checkpoint of link edi-tx-deepjscc "
                                          r"\(codec deepjscc\).*semcom train --link edi-tx-deepjscc"):
        build_codec("deepjscc", cbr=1 / 48, link="edi-tx-deepjscc", own_weights=True)
    assert build_codec("deepjscc", cbr=1 / 48, link="my-deepjscc").width == 16  # any other link: the generic
    entry = publish(_save_codec(tmp_path / "o.ckpt", own, link="edi-tx-deepjscc"), manifest=zoo)
    assert entry["name"] == "edi-tx-deepjscc-cbr1-48-adaptive" and entry["link"] == "edi-tx-deepjscc"
    assert build_codec("deepjscc", cbr=1 / 48, link="edi-tx-deepjscc", own_weights=True).width == 8
    assert build_codec("deepjscc", cbr=1 / 48, link="deepjscc").width == 16
    assert build_codec("deepjscc", cbr=1 / 48).width == 16


def test_publish_makes_a_small_fp16_file_that_the_codec_loads_by_default(tmp_path, zoo):
    torch.manual_seed(0)
    codec = DeepJSCC(cbr=1 / 48).eval()
    src = _save_codec(tmp_path / "train.ckpt", codec, train={"step": 7, "optimizer": {"state": {}}})
    entry = publish(src, manifest=zoo)
    assert entry["name"] == "deepjscc-cbr1-48-adaptive" and entry["snr_mode"] == "adaptive"
    [listed] = read_manifest(zoo)
    assert listed["sha256"] == entry["sha256"] and listed["file"] == "checkpoints/deepjscc-cbr1-48-adaptive.ckpt"
    shipped = load_checkpoint(zoo.parent / listed["file"], sha256=listed["sha256"])
    assert shipped.train is None
    assert all(v.dtype == torch.float16 for v in shipped.codec.values() if v.is_floating_point())
    assert (zoo.parent / listed["file"]).stat().st_size <= 4 * 2**20

    loaded = build_codec("deepjscc", cbr=1 / 48).eval()  # no checkpoint argument: the shipped one
    assert loaded.checkpoint_meta["step"] == 7
    x = torch.rand(1, 3, 64, 64)
    b = Batch(sharp=x, blurry=x)
    with torch.no_grad():
        s1 = codec.encode(b, snr_db=torch.zeros(1)).symbols
        s2 = loaded.encode(b, snr_db=torch.zeros(1)).symbols
    assert torch.allclose(s1, s2, atol=0.05)  # fp16 rounding only

    # the manifest's SHA-256 is checked too
    listed["sha256"] = "0" * 64
    zoo.write_text(json.dumps({"version": 1, "checkpoints": [listed]}))
    with pytest.raises(SemcomError, match="SHA-256"):
        build_codec("deepjscc", cbr=1 / 48)


def test_publish_records_the_whole_lineage_following_init_and_warm_start(tmp_path, zoo):
    """A run that was both initialised from one run (--init) and warm-started from another (--warm-start) names
    both, and their own parents, oldest first; ``started_from`` (one parent per run) misses the warm start."""
    torch.manual_seed(0)
    codec = DeepJSCC(cbr=1 / 48, width=8)

    def run(path, step, **training):
        meta = {"link": "deepjscc", "codec": "deepjscc", "cbr": codec.cbr, "snr_mode": codec.snr_mode,
                "snr_db": None, "snr_range": [0, 20], "step": step, "config": codec.config(),
                "training": {"dataset": "test", "schedule": "single", **training}}
        return save_checkpoint(path, meta=meta, codec=codec.state_dict())

    base = run(tmp_path / "deepjscc-cbr1-48-adaptive.ckpt", 100)
    # a first run named like the checkpoint to be published, then a continuation of it
    first = run(tmp_path / "ckpt" / "deepjscc-cbr1-48-adaptive.ckpt", 110)
    cont = run(tmp_path / "cont.ckpt", 30, init=str(first), warm_start=str(base))
    entry = publish(cont, manifest=zoo)
    assert [x["run"] for x in entry["lineage"]] == [
        "deepjscc-cbr1-48-adaptive-init", "deepjscc-cbr1-48-adaptive-warm-start", "deepjscc-cbr1-48-adaptive"]
    assert entry["lineage"][-1] == {"run": "deepjscc-cbr1-48-adaptive", "steps": 30, "schedule": "single",
                                    "init": "deepjscc-cbr1-48-adaptive-init",
                                    "warm_start": "deepjscc-cbr1-48-adaptive-warm-start"}
    assert [x["steps"] for x in entry["lineage"]] == [110, 100, 30]
    assert len(entry["training"]["started_from"]) == 1  # the older record follows --init only
    # a parent whose file is gone is named, not followed; a run with no parent stands alone
    gone = run(tmp_path / "late.ckpt", 5, warm_start=str(tmp_path / "missing-run.ckpt"))
    assert publish(gone, name="late", manifest=zoo, curve="results/training/late.csv")["lineage"] == [
        {"run": "late", "steps": 5, "schedule": "single", "init": None, "warm_start": "missing-run"}]
    assert read_manifest(zoo)[-1]["curve"] == "results/training/late.csv"


def test_the_zoo_builds_learned_back_ends_with_their_weights(tmp_path, zoo):
    """Back-ends are built untrained and loaded by the zoo: from a file, from the shipped checkpoint of their
    link, refused with one line for the wrong architecture or for a back-end without learned weights."""
    from semcom.link import Link, find_link
    from semcom.receivers.diffevent import DiffEvent
    from semcom.zoo import build_receiver, receiver_is_learned
    from semcom.zoo.store import write_manifest

    assert receiver_is_learned("diffevent") and not receiver_is_learned("identity") \
        and not receiver_is_learned("edi")
    torch.manual_seed(0)
    trained = DiffEvent(width=8, enhancer_width=8)
    trained.r_gain.fill_(2.5)
    path = save_checkpoint(tmp_path / "rx.ckpt", meta={"link": "diffevent", "cbr": 1.0}, codec={},
                           receiver=trained.state_dict())
    rx = build_receiver("diffevent", weights=str(path), width=8, enhancer_width=8, steps=2)
    assert float(rx.r_gain) == 2.5 and rx.steps == 2
    assert all(torch.equal(v, rx.state_dict()[k]) for k, v in trained.state_dict().items())
    assert float(build_receiver("diffevent", width=8, enhancer_width=8).r_gain) == 1.0  # no weights: untrained
    with pytest.raises(SemcomError, match=r"not those of this DiffEvent \(width 16, enhancer width 8\)"):
        build_receiver("diffevent", weights=str(path), width=16, enhancer_width=8)
    with pytest.raises(SemcomError, match="receiver 'identity' has no learned weights"):
        build_receiver("identity", weights=str(path))
    with pytest.raises(SemcomError, match="no shipped weights for the diffevent back-end"):
        build_receiver("diffevent", weights="shipped", width=8, enhancer_width=8)  # an empty manifest
    entry = {"name": "diffevent-test", "link": "diffevent", "file": "rx.ckpt", "sha256": sha256_of(path)}
    write_manifest([entry], zoo)
    (zoo.parent / "rx.ckpt").write_bytes(path.read_bytes())
    shipped = build_receiver("diffevent", weights="shipped", width=8, enhancer_width=8)
    assert float(shipped.r_gain) == 2.5
    # a link file's [receiver] weights reach the zoo; a back-end that has none refuses them
    link = Link(find_link("diffevent"), cbr=1.0, receiver_overrides={"weights": str(path), "width": 8,
                                                                     "enhancer_width": 8})
    assert float(link.receiver.r_gain) == 2.5
    with pytest.raises(SemcomError, match="receiver 'identity' has no learned weights"):
        Link(find_link("softcast"), cbr=1 / 48, receiver_overrides={"weights": str(path)})
