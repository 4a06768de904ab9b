"""Hybrid-camera datasets: synth-blur, folder, gopro; caching; CLI (semcom.sources.datasets / command)."""

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from semcom.errors import SemcomError
from semcom.registry import SOURCES
from semcom.sources.base import EVENT_DTYPE, collate
from semcom.sources.datasets import (TEST_PICTURES, TRAIN_PICTURES, SynthBlur, decode_events, encode_events,
                                     save_npz)
from semcom.sources.skimage_set import SKIMAGE_PICTURES, load_skimage_picture

INFO_KEYS = {"exposure_us", "contrast_threshold", "num_events", "event_bytes", "spike_rate_hz", "spike_theta",
             "spike_gain", "num_latent"}
SMALL = dict(size=32, blur_px=(6.0, 10.0))


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_synth_blur_sample_contents(tmp_path):
    ds = SOURCES.build("synth-blur", split="test", n=3, seed=0, cache=tmp_path, **SMALL)
    assert len(ds) == 3 and ds.has_events and ds.has_spikes
    s = ds[1]
    assert s.sharp.shape == s.blurry.shape == (3, 32, 32) and s.sharp.dtype == torch.float32
    assert s.events.shape == (6, 32, 32) and s.events.dtype == torch.float32
    assert s.spikes.dtype == torch.uint8 and s.spikes.shape == (400, 8, 8)
    assert s.raw_events.dtype == EVENT_DTYPE and np.all(np.diff(s.raw_events["t"]) >= 0)
    assert INFO_KEYS <= set(s.info)
    assert s.info["num_events"] == len(s.raw_events) > 0
    assert s.info["event_bytes"] == 8 * len(s.raw_events)
    assert 0 <= s.raw_events["t"].min() and s.raw_events["t"].max() < s.info["exposure_us"]
    assert s.info["picture"] == TEST_PICTURES[1] and s.name.startswith(TEST_PICTURES[1])
    # the SCER integrates exactly the raw events: its outer channels add up to the net polarity
    net = np.zeros((32, 32))
    np.add.at(net, (s.raw_events["y"], s.raw_events["x"]), s.raw_events["p"])
    np.testing.assert_array_equal((-s.events[0] + s.events[-1]).numpy(), net)
    # motion blur makes the frames differ
    assert float((s.blurry - s.sharp).abs().mean()) > 0.005
    batch = collate([ds[0], ds[1]])
    assert batch.events.shape == (2, 6, 32, 32) and batch.spikes.shape == (2, 400, 8, 8)


def test_same_seed_gives_byte_identical_files(tmp_path):
    files = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        ds = SOURCES.build("synth-blur", split="train", n=2, seed=seed, cache=tmp_path / name, **SMALL)
        ds.prepare()
        files[name] = [ds.sample_path(i) for i in range(2)]
    assert [_digest(p) for p in files["a"]] == [_digest(p) for p in files["b"]]
    assert _digest(files["a"][0]) != _digest(files["c"][0])


def test_cache_is_read_back_without_generation(tmp_path, monkeypatch):
    ds = SOURCES.build("synth-blur", split="test", n=2, cache=tmp_path, **SMALL)
    first = [ds[i] for i in range(2)]

    def boom(self, index):
        raise AssertionError("generated again instead of reading the cache")

    monkeypatch.setattr(SynthBlur, "_generate", boom)
    again = SOURCES.build("synth-blur", split="test", n=2, cache=tmp_path, **SMALL)
    for a, b in zip(first, again):
        assert torch.equal(a.blurry, b.blurry) and torch.equal(a.events, b.events)
        assert torch.equal(a.spikes, b.spikes) and a.raw_events.tobytes() == b.raw_events.tobytes()
        assert a.info == b.info
    # another configuration has another cache folder
    other = SOURCES.build("synth-blur", split="test", n=2, cache=tmp_path, contrast=0.3, **SMALL)
    assert other.key != again.key


def test_limit_and_n_do_not_change_samples():
    a = SOURCES.build("synth-blur", split="test", n=4, limit=2, cache=False, **SMALL)
    b = SOURCES.build("synth-blur", split="test", n=3, cache=False, **SMALL)
    assert len(a) == 2 and len(b) == 3
    assert torch.equal(a[1].blurry, b[1].blurry)


def test_train_and_test_pictures_are_disjoint():
    assert not set(TRAIN_PICTURES) & set(TEST_PICTURES)
    assert set(TRAIN_PICTURES) | set(TEST_PICTURES) <= set(SKIMAGE_PICTURES)
    # by content too (skimage's 'cat' and 'chelsea' are the same picture)
    digests = {n: hashlib.sha256(load_skimage_picture(n).tobytes()).hexdigest() for n in SKIMAGE_PICTURES}
    assert not {digests[n] for n in TRAIN_PICTURES} & {digests[n] for n in TEST_PICTURES}
    train = SOURCES.build("synth-blur", split="train", n=6, cache=False, **SMALL)
    used = {train.capture(i).info["picture"] for i in range(6)}
    assert used <= set(TRAIN_PICTURES) | {"dead-leaves"} and "dead-leaves" in used
    test = SOURCES.build("synth-blur", split="test", n=4, cache=False, **SMALL)
    assert {test.capture(i).info["picture"] for i in range(4)} == set(TEST_PICTURES)


def test_defaults_and_options():
    ds = SOURCES.build("synth-blur", split="test", cache=False)
    assert len(ds) == 32 and ds.size == 256
    tr = SOURCES.build("synth-blur", split="train", cache=False)
    assert tr.size == 128 and len(tr) == 512
    vox = SOURCES.build("synth-blur", split="test", n=1, representation="voxel", num_bins=4, spikes=False,
                        cache=False, **SMALL)
    s = vox[0]
    assert s.events.shape == (4, 32, 32) and s.spikes is None
    with pytest.raises(SemcomError, match="split"):
        SOURCES.build("synth-blur", split="val")
    with pytest.raises(SemcomError, match="even"):
        SOURCES.build("synth-blur", num_bins=5)
    with pytest.raises(SemcomError, match="blur_px"):
        SOURCES.build("synth-blur", blur_px=-1.0)


def test_camera_settings_as_one_table_or_as_keywords():
    from semcom.sources.camera import CameraConfig

    table = SOURCES.build("synth-blur", split="test", n=1, cache=False, camera={"spikes": False, "contrast": 0.3},
                          **SMALL)
    flat = SOURCES.build("synth-blur", split="test", n=1, cache=False, spikes=False, contrast=0.3, **SMALL)
    mixed = SOURCES.build("synth-blur", split="test", n=1, cache=False, camera=CameraConfig(spikes=False),
                          contrast=0.3, **SMALL)
    assert table.key == flat.key == mixed.key  # one configuration, one cache folder
    assert table.camera_config == CameraConfig(spikes=False, contrast=0.3)
    assert table.camera.spikes is None and table.camera.events.contrast == pytest.approx(0.3)
    assert table.key != SOURCES.build("synth-blur", split="test", n=1, cache=False, **SMALL).key
    # the defaults are the cameras every committed result was simulated with (their cache key is unchanged)
    assert SOURCES.build("synth-blur", split="test").key == "6af8b9d5b21a8750"
    with pytest.raises(SemcomError, match="no setting 'spike'; did you mean 'spikes'"):
        SOURCES.build("synth-blur", camera={"spike": False})
    with pytest.raises(SemcomError, match="takes no argument 'siz'; did you mean 'size'"):
        SOURCES.build("synth-blur", siz=64)
    with pytest.raises(SemcomError, match="spikes given both"):
        SOURCES.build("synth-blur", camera={"spikes": False}, spikes=True)
    with pytest.raises(SemcomError, match="true or false"):
        SOURCES.build("synth-blur", spikes="no")
    with pytest.raises(SemcomError, match="camera must be a table"):
        SOURCES.build("synth-blur", camera=3)


def test_a_links_camera_table_is_checked_when_the_file_is_read(tmp_path):
    from semcom.linkspec import LinkSpec

    head = 'name = "x"\n[codec]\nname = "softcast"\n[source]\nname = "synth-blur"\n'
    (tmp_path / "good.toml").write_text(head + "size = 64\ncamera = { spikes = false, contrast = 0.25 }\n")
    spec = LinkSpec.load(tmp_path / "good.toml")
    ds = SOURCES.build(spec.source.name, **spec.source.params, split="test", n=1, cache=False)
    assert ds.camera.spikes is None and ds.size == 64
    (tmp_path / "bad.toml").write_text(head + "camera = { spike_rate = 1000.0 }\n")
    with pytest.raises(SemcomError, match=r"bad.toml: \[source\] synth-blur: the camera table takes no setting "
                                          r"'spike_rate'; did you mean 'spike_rate_hz'"):
        LinkSpec.load(tmp_path / "bad.toml")
    (tmp_path / "typo.toml").write_text(head + "blur = 3\n")
    with pytest.raises(SemcomError, match="takes no argument 'blur'; did you mean 'blur_px'"):
        LinkSpec.load(tmp_path / "typo.toml")


def test_event_encoding_round_trip():
    rng = np.random.default_rng(0)
    ev = np.empty(1000, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 200_000, size=1000))
    ev["x"], ev["y"] = rng.integers(0, 1280, size=1000), rng.integers(0, 720, size=1000)
    ev["p"] = rng.choice([-1, 1], size=1000)
    assert decode_events(encode_events(ev)).tobytes() == ev.tobytes()
    assert len(decode_events(encode_events(ev[:0]))) == 0


def test_save_npz_is_reproducible(tmp_path):
    arrs = {"a": np.arange(10), "b": np.ones((2, 3), np.uint8)}
    save_npz(tmp_path / "x.npz", arrs)
    save_npz(tmp_path / "y.npz", arrs)
    assert (tmp_path / "x.npz").read_bytes() == (tmp_path / "y.npz").read_bytes()
    with np.load(tmp_path / "x.npz") as z:
        assert np.array_equal(z["a"], arrs["a"])


# --------------------------------------------------------------------------- folder


def test_folder_dataset(tmp_path):
    rng = np.random.default_rng(0)
    pics = tmp_path / "pics"
    (pics / "sub").mkdir(parents=True)
    Image.fromarray((rng.uniform(size=(60, 80, 3)) * 255).astype(np.uint8)).save(pics / "one.png")
    Image.fromarray((rng.uniform(size=(50, 50)) * 255).astype(np.uint8)).save(pics / "sub" / "two.jpg")
    (pics / "notes.txt").write_text("not a picture")
    ds = SOURCES.build("folder", data_root=str(pics), split="test", cache=tmp_path / "cache", **SMALL)
    assert len(ds) == 2
    names = {ds[i].info["picture"] for i in range(2)}
    assert names == {"one.png", "sub/two.jpg"}
    assert ds[0].events.shape == (6, 32, 32)


def test_folder_errors(tmp_path):
    with pytest.raises(SemcomError, match="data_root"):
        SOURCES.build("folder")
    with pytest.raises(SemcomError, match="not a folder"):
        SOURCES.build("folder", data_root=str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SemcomError, match="no pictures"):
        SOURCES.build("folder", data_root=str(tmp_path / "empty"))
    (tmp_path / "tiny").mkdir()
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "tiny" / "dot.png")
    with pytest.raises(SemcomError, match=r"dot.png is 1x1, smaller than the 32x32 crop"):
        SOURCES.build("folder", data_root=str(tmp_path / "tiny"), size=32)


# --------------------------------------------------------------------------- gopro


def _fake_gopro(root, *, with_frames=True):
    """GOPRO_Large/test/SEQ/{blur,sharp}/00000{4,11}.png and GOPRO_Large_all/test/SEQ/*.png."""
    rng = np.random.default_rng(0)
    base = (rng.uniform(size=(40, 56, 3)) * 200 + 20).astype(np.uint8)
    frames = [np.roll(base, j, axis=1) for j in range(1, 15)]  # a pan by one pixel per frame
    seq = root / "GOPRO_Large" / "test" / "SEQ_01"
    for d in ("blur", "sharp"):
        (seq / d).mkdir(parents=True)
    for c in (4, 11):
        window = frames[c - 4:c + 3]  # frames c-3 .. c+3 (1-based names)
        Image.fromarray(np.mean(window, axis=0).astype(np.uint8)).save(seq / "blur" / f"{c:06d}.png")
        Image.fromarray(frames[c - 1]).save(seq / "sharp" / f"{c:06d}.png")
    if with_frames:
        hfr = root / "GOPRO_Large_all" / "test" / "SEQ_01"
        hfr.mkdir(parents=True)
        for j, f in enumerate(frames, start=1):
            Image.fromarray(f).save(hfr / f"{j:06d}.png")
    return root / "GOPRO_Large", frames


def test_gopro_loader_on_fake_tree(tmp_path):
    root, frames = _fake_gopro(tmp_path)
    ds = SOURCES.build("gopro", data_root=str(root), split="test", cache=tmp_path / "cache")
    assert len(ds) == 2
    s = ds[0]
    assert s.name == "SEQ_01/000004.png"
    sharp = np.array(Image.open(root / "test" / "SEQ_01" / "sharp" / "000004.png"))
    assert torch.equal(s.sharp, torch.from_numpy(sharp).permute(2, 0, 1).float() / 255)
    assert s.info["window"] == 7 and s.info["frames"] == "simulated"
    assert s.info["exposure_us"] == round(7 / 240 * 1e6)
    assert s.info["num_latent"] == 6 * 4 + 1
    assert s.events.shape == (6, 40, 56) and s.info["num_events"] > 100
    assert s.spikes.shape[1:] == (10, 14)
    cropped = SOURCES.build("gopro", data_root=str(root), split="test", size=24, cache=False)
    assert cropped[1].sharp.shape == (3, 24, 24) and cropped[1].events.shape == (6, 24, 24)


def test_gopro_without_frames_and_errors(tmp_path):
    root, _ = _fake_gopro(tmp_path, with_frames=False)
    s = SOURCES.build("gopro", data_root=str(root), split="test", cache=False)[1]
    assert s.events is None and s.spikes is None and s.raw_events is None
    assert s.info["frames"] == "missing"
    with pytest.raises(SemcomError, match="data_root"):
        SOURCES.build("gopro")
    with pytest.raises(SemcomError, match="not a folder"):
        SOURCES.build("gopro", data_root=str(tmp_path / "nowhere"))
    with pytest.raises(SemcomError, match="no blur/sharp"):
        (tmp_path / "emptyroot" / "train").mkdir(parents=True)
        SOURCES.build("gopro", data_root=str(tmp_path / "emptyroot"), split="train")


# --------------------------------------------------------------------------- CLI


def test_data_cli(tmp_path):
    from click.testing import CliRunner

    from semcom.cli.data import data

    runner = CliRunner()
    res = runner.invoke(data, ["synth", "--size", "32", "--test-size", "32", "--n-train", "2", "--n-test", "1",
                               "--out", str(tmp_path / "cache"), "-q"])
    assert res.exit_code == 0, res.output
    assert "train" in res.output and "test" in res.output
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 3
    out = tmp_path / "show.png"
    res = runner.invoke(data, ["show", "--size", "32", "--out", str(out)], env={"SEMCOM_CACHE": str(tmp_path / "c2")})
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 10_000
    res = runner.invoke(data, ["show", "--index", "99", "--size", "32", "--out", str(out)],
                        env={"SEMCOM_CACHE": str(tmp_path / "c2")})
    assert res.exit_code != 0 and "out of range" in str(res.exception)
