"""The natural-photo corpus: manifest, splits (disjoint by content hash), disjointness from the
evaluation pictures, the `photos` and `photos-image` sources, the install script."""

import hashlib
import json
import site
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from semcom.errors import SemcomError
from semcom.files import sha256_of
from semcom.registry import SOURCES
from semcom.sources import photos
from semcom.sources.datasets import TEST_PICTURES, read_picture
from semcom.sources.skimage_set import load_skimage_picture

ENTRIES = photos.read_manifest()
TRAIN, TEST = photos.read_manifest("train"), photos.read_manifest("test")
PACKAGES = {"opencv-doc", "mate-backgrounds", "plasma-workspace-wallpapers", "lomiri-wallpapers-16.04",
            "lomiri-wallpapers-20.04", "palapeli-data", "kphotoalbum", "digikam-data", "sddm-theme-maldives"}
#: SHA-256 of the test entries' sorted SHA-256s: the evaluation set changes only on purpose
TEST_SPLIT_DIGEST = "5111e5e4a8e4263bc463c9573c51020061d8b2c23bf620cfba0be14c9806d889"


def test_manifest_lists_photographs_from_debian_packages():
    assert len(ENTRIES) >= 80
    assert len({e["name"] for e in ENTRIES}) == len(ENTRIES)
    assert len({e["sha256"] for e in ENTRIES}) == len(ENTRIES)  # no photograph listed twice
    for e in ENTRIES:
        assert e["package"] in PACKAGES, e
        assert e["path"].startswith("/usr/share/") and len(e["sha256"]) == 64 and e["bytes"] > 10_000
        assert e["split"] in ("train", "test") and e["version"]
    assert {e["package"] for e in TRAIN} >= {"opencv-doc", "mate-backgrounds", "kphotoalbum"}


def test_the_test_split_is_fixed_held_out_and_spread_over_packages():
    assert len(TEST) >= 20 and len(TRAIN) >= 60 and len(TRAIN) + len(TEST) == len(ENTRIES)
    assert not {e["sha256"] for e in TRAIN} & {e["sha256"] for e in TEST}
    assert not {e["name"] for e in TRAIN} & {e["name"] for e in TEST}
    assert len({e["package"] for e in TEST}) >= 5
    assert max(sum(e["package"] == p for e in TEST) for p in PACKAGES) <= len(TEST) // 3
    digest = hashlib.sha256("".join(sorted(e["sha256"] for e in TEST)).encode()).hexdigest()
    assert digest == TEST_SPLIT_DIGEST, "the test split changed: the image task's evaluation set is fixed"


def test_manifest_refuses_a_photograph_in_both_splits_and_entries_without_a_split(tmp_path, monkeypatch):
    e = {"name": "a", "package": "x", "version": "1", "path": "/usr/share/a.jpg", "sha256": "1" * 64,
         "bytes": 20_000, "split": "train"}
    manifest = tmp_path / "photos.json"
    monkeypatch.setattr(photos, "MANIFEST", manifest)
    manifest.write_text(json.dumps({"photos": [e, {**e, "name": "b", "split": "test"}]}))
    with pytest.raises(SemcomError, match="two entries have the sha256"):
        photos.read_manifest("train")
    manifest.write_text(json.dumps({"photos": [{k: v for k, v in e.items() if k != "split"}]}))
    with pytest.raises(SemcomError, match="has split None"):
        photos.read_manifest()
    with pytest.raises(SemcomError, match="splits train, test; not 'val'"):
        photos.read_manifest("val")


def _site_pictures():
    roots = {Path(p) for p in site.getsitepackages() + [site.getusersitepackages()] if Path(p).is_dir()}
    roots.add(Path(np.__file__).resolve().parents[1])
    for root in roots:
        for suffix in ("png", "jpg", "jpeg", "tif", "tiff", "bmp", "webp", "gif"):
            yield from root.rglob(f"*.{suffix}")


def test_no_training_photo_is_a_picture_bundled_with_a_python_package():
    """Content hash of every picture file inside the installed Python packages (scikit-image's
    evaluation pictures among them, matplotlib's and scipy's samples too)."""
    manifest = {e["sha256"] for e in ENTRIES}
    seen = 0
    for path in _site_pictures():
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            continue
        seen += 1
        assert digest not in manifest, path
    assert seen > 50  # the scan found the packages' pictures (scikit-image alone ships dozens)


def _installed(split="train"):
    try:
        return photos.installed_photos(split=split)
    except SemcomError:
        pytest.skip("photo corpus not installed (python scripts/install_photos.py)")


def _thumb(img: np.ndarray) -> np.ndarray:
    from PIL import Image

    g = np.asarray(Image.fromarray(img).convert("L").resize((16, 16), Image.Resampling.BOX), np.float64)
    return (g - g.mean()) / (g.std() + 1e-9)


def test_installed_corpus_is_disjoint_from_the_evaluation_pictures_by_content():
    """Pixel content: no photograph of either split decodes to an evaluation picture, nor to a near copy of one
    (correlation of 16x16 thumbnails > 0.95 in any 90-degree rotation or mirror image)."""
    found = _installed(None)
    evals = {name: load_skimage_picture(name) for name in TEST_PICTURES}
    eval_hashes = {hashlib.sha256(img.tobytes()).hexdigest() for img in evals.values()}
    eval_thumbs = [_thumb(img) for img in evals.values()]
    for name, path in found:
        img = read_picture(path)
        assert hashlib.sha256(img.tobytes()).hexdigest() not in eval_hashes, name
        t = _thumb(img)
        for e in eval_thumbs:
            for k in range(4):
                for cand in (np.rot90(t, k), np.rot90(t, k).T):
                    assert float(np.mean(cand * e)) < 0.95, name


def test_a_near_copy_would_be_caught():
    """The thumbnail check above has teeth: a re-encoded, rescaled evaluation picture trips it."""
    from PIL import Image

    img = load_skimage_picture("coffee")
    copy = np.asarray(Image.fromarray(img).resize((300, 200)).rotate(90, expand=True))
    e, t = _thumb(img), _thumb(copy)
    assert max(float(np.mean(np.rot90(t, k) * e)) for k in range(4)) > 0.95


def test_installed_test_photographs_are_large_enough_and_training_never_reads_them():
    """On the real corpus: every held-out photograph has a short side of at least 512 pixels (no
    enlargement at the defaults), and every training sample of both sources comes from a file whose
    content hash is a training entry's, never a test entry's."""
    from PIL import Image

    test = _installed("test")
    for name, path in test:
        with Image.open(path) as im:
            assert min(im.size) >= 512, name
    test_hashes = {sha256_of(p) for _, p in test}
    assert test_hashes == {e["sha256"] for e in TEST}
    train = dict(_installed("train"))
    ds = SOURCES.build("photos", size=32, n=16, seed=0, cache=False, spikes=False, blur_px=(4.0, 6.0),
                       dead_leaves=0.0)
    assert set(ds.pictures) == set(train) == {e["name"] for e in TRAIN}
    img = SOURCES.build("photos-image", split="train", size=64, n=16, seed=0)
    used = {ds[i].info["picture"] for i in range(len(ds))} | {img[i].info["picture"] for i in range(len(img))}
    for name in used:
        assert sha256_of(train[name]) not in test_hashes, name
    assert len(SOURCES.build("photos-image")) == len(TEST)  # the default evaluation set: one centre crop each


def _fake_entry(root, name, split, shape, rng):
    from PIL import Image

    path = root / f"{name}.png"
    Image.fromarray((rng.random((*shape, 3)) * 255).astype(np.uint8)).save(path)
    return {"name": name, "package": "x", "version": "1", "path": f"/usr/share/{name}.png",
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "bytes": path.stat().st_size, "split": split}


@pytest.fixture
def fake_corpus(tmp_path, monkeypatch):
    """Two training pictures (p0, p1) and two held-out ones (t0, t1; t1 small, so it is enlarged)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    root.mkdir()
    entries = [_fake_entry(root, "p0", "train", (300, 400), rng), _fake_entry(root, "t0", "test", (200, 300), rng),
               _fake_entry(root, "p1", "train", (300, 400), rng), _fake_entry(root, "t1", "test", (60, 90), rng)]
    manifest = tmp_path / "photos.json"
    manifest.write_text(json.dumps({"version": 2, "photos": entries}))
    monkeypatch.setattr(photos, "MANIFEST", manifest)
    monkeypatch.setenv("SEMCOM_PHOTOS", str(root))
    return root


def test_photos_source_draws_training_photos_and_dead_leaves(fake_corpus):
    ds = SOURCES.build("photos", size=64, n=12, seed=0, cache=False, spikes=False, dead_leaves=0.5)
    labels = [ds[i].info["picture"] for i in range(12)]
    assert set(labels) <= {"p0", "p1", "dead-leaves"} and "dead-leaves" in labels and ({"p0", "p1"} & set(labels))
    s = ds[0]
    assert s.sharp.shape == (3, 64, 64) and s.events.shape == (6, 64, 64)
    assert [n for n, _ in ds.describe()["photos"]] == ["p0", "p1"]


def test_no_training_sample_comes_from_a_test_photograph(fake_corpus):
    """By content hash: the file behind every training sample of both sources is a training entry."""
    test_hashes = {e["sha256"] for e in photos.read_manifest("test")}
    blur = SOURCES.build("photos", size=32, n=24, seed=1, cache=False, spikes=False, dead_leaves=0.0,
                         blur_px=(4.0, 6.0))
    image = SOURCES.build("photos-image", split="train", size=32, n=24, seed=1)
    pictures = [blur[i].info["picture"] for i in range(24)] + [image[i].info["picture"] for i in range(24)]
    assert set(pictures) == {"p0", "p1"}
    for name in pictures:
        assert sha256_of(fake_corpus / f"{name}.png") not in test_hashes
    assert all(image[i].info["sha256"] not in test_hashes for i in range(24))


def test_photos_source_refuses_changed_missing_files_and_the_test_split(fake_corpus, tmp_path, monkeypatch):
    with pytest.raises(SemcomError, match="training corpus.*photos-image"):
        SOURCES.build("photos", split="test", size=64, n=2)
    (fake_corpus / "t1.png").unlink()  # a held-out photograph missing: training does not need it
    assert len(SOURCES.build("photos", size=64, n=2, cache=False)) == 2
    (fake_corpus / "p1.png").write_bytes(b"not the same picture")
    with pytest.raises(SemcomError, match="differ from the manifest"):
        SOURCES.build("photos", size=64, n=2, cache=False)
    (fake_corpus / "p1.png").unlink()
    with pytest.raises(SemcomError, match="1 of the 2 training"):  # a partial corpus is other data
        SOURCES.build("photos", size=64, n=2, cache=False)
    monkeypatch.setenv("SEMCOM_PHOTOS", str(tmp_path / "empty"))
    with pytest.raises(SemcomError, match="semcom data photos"):
        SOURCES.build("photos", size=64, n=2, cache=False)


def test_photos_image_test_split_is_the_held_out_photographs_centre_cropped(fake_corpus):
    from PIL import Image

    ds = SOURCES.build("photos-image", size=64)
    assert len(ds) == 2 and not ds.has_events and not ds.has_spikes
    s = ds[0]
    assert s.events is None and s.spikes is None and s.raw_events is None
    assert s.sharp.shape == (3, 64, 64) and s.sharp.dtype == torch.float32 and torch.equal(s.sharp, s.blurry)
    assert s.info["picture"] == "t0" and (s.info["crop_y"], s.info["crop_x"]) == (68, 118) and s.name == "t0@68,118"
    src = np.asarray(Image.open(fake_corpus / "t0.png").convert("RGB"))  # 200 x 300: no scaling below 512
    assert torch.equal(s.sharp, torch.from_numpy(src[68:132, 118:182].copy()).permute(2, 0, 1).float() / 255)
    small = ds[1]  # t1 is 60 x 90: enlarged to a short side of 64
    assert small.info["picture"] == "t1" and small.info["upscale"] == pytest.approx(64 / 60, abs=1e-5)
    again = SOURCES.build("photos-image", size=64)
    assert all(torch.equal(ds[i].sharp, again[i].sharp) and ds[i].name == again[i].name for i in range(2))
    d = ds.describe()
    json.dumps(d)
    assert d["split"] == "test" and d["n"] == 2 and [n for n, _ in d["photos"]] == ["t0", "t1"]


def test_photos_image_several_crops_per_picture_and_the_scale(fake_corpus):
    ds = SOURCES.build("photos-image", size=64, crops_per_picture=3)
    assert len(ds) == 6 and [ds[i].info["picture"] for i in range(6)] == ["t0"] * 3 + ["t1"] * 3
    xs = [ds[i].info["crop_x"] for i in range(3)]
    assert xs == [39, 118, 197] and {ds[i].info["crop_y"] for i in range(3)} == {68}  # spread along the long side
    assert len(SOURCES.build("photos-image", size=64, crops_per_picture=3, limit=4)) == 4
    scaled = SOURCES.build("photos-image", size=64, short_side=100)[0]  # t0 scaled from 200 x 300 to 100 x 150
    assert (scaled.info["crop_y"], scaled.info["crop_x"]) == (18, 43) and scaled.info["upscale"] == 1.0


def test_photos_image_train_split_draws_seeded_random_crops_of_training_photographs(fake_corpus):
    ds = SOURCES.build("photos-image", split="train", size=48, n=10, seed=3)
    assert len(ds) == 10 and {ds[i].info["picture"] for i in range(10)} == {"p0", "p1"}
    assert len({(ds[i].info["crop_y"], ds[i].info["crop_x"]) for i in range(10)}) == 10
    same = SOURCES.build("photos-image", split="train", size=48, n=10, seed=3)
    other = SOURCES.build("photos-image", split="train", size=48, n=10, seed=4)
    assert all(torch.equal(ds[i].sharp, same[i].sharp) for i in range(10))
    assert not all(torch.equal(ds[i].sharp, other[i].sharp) for i in range(10))
    longer = SOURCES.build("photos-image", split="train", size=48, n=20, seed=3)  # sample i does not depend on n
    assert all(torch.equal(ds[i].sharp, longer[i].sharp) for i in range(10))
    assert len(SOURCES.build("photos-image", split="train", size=48, n=10, limit=4)) == 4
    assert len(SOURCES.build("photos-image", split="train", size=48)) == 512
    assert ds.describe()["seed"] == 3 and [n for n, _ in ds.describe()["photos"]] == ["p0", "p1"]


def test_photos_image_refuses_bad_arguments_and_a_missing_corpus(fake_corpus, tmp_path, monkeypatch):
    with pytest.raises(SemcomError, match="takes no n"):
        SOURCES.build("photos-image", n=4)
    with pytest.raises(SemcomError, match="crops_per_picture sets the test split"):
        SOURCES.build("photos-image", split="train", crops_per_picture=2)
    with pytest.raises(SemcomError, match="not a data_root"):
        SOURCES.build("photos-image", data_root=str(tmp_path))
    with pytest.raises(SemcomError, match="splits train, test; not 'val'"):
        SOURCES.build("photos-image", split="val")
    with pytest.raises(SemcomError, match="size must be an integer >= 16"):
        SOURCES.build("photos-image", size=8)
    with pytest.raises(SemcomError, match="takes no argument 'blur_px'"):
        SOURCES.build("photos-image", blur_px=4.0)
    (fake_corpus / "t1.png").unlink()
    with pytest.raises(SemcomError, match="1 of the 2 test photographs.*semcom data photos"):
        SOURCES.build("photos-image")
    assert len(SOURCES.build("photos-image", split="train", n=2)) == 2  # the training crops need no test file
    monkeypatch.setenv("SEMCOM_PHOTOS", str(tmp_path / "empty"))
    with pytest.raises(SemcomError, match="semcom data photos"):
        SOURCES.build("photos-image", split="train", n=2)


def _install_script():
    """The installer (:mod:`semcom.sources.install`, which `semcom data photos` and the script run)."""
    from semcom.sources import install

    return install


def test_the_script_and_the_data_command_run_the_package_installer():
    import subprocess

    from click.testing import CliRunner

    from semcom.sources import install
    from semcom.cli.data import data

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    try:
        import install_photos
    finally:
        sys.path.pop(0)
    assert install_photos.main is install.main and install_photos.install_photos is install.install_photos
    result = CliRunner().invoke(data, ["photos", "--help"])
    assert result.exit_code == 0 and "--dest" in result.output and "--debs" in result.output
    # the script needs the standard library only: it runs before anything is installed
    script = Path(__file__).resolve().parents[1] / "scripts" / "install_photos.py"
    proc = subprocess.run([sys.executable, "-S", str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--dest" in proc.stdout, proc.stderr


def test_install_script_copies_only_matching_files(tmp_path, monkeypatch, capsys):
    """The install script with `apt-get download` and `dpkg-deb -x` replaced by fake packages: one
    package per call (the manifest's version first), files found at their path or, moved, by
    content; a symbolic link is never followed; a package apt does not know is reported."""
    import subprocess

    install_photos = _install_script()
    good, moved, bad, outside = b"a photograph" * 1000, b"moved photo" * 1000, b"another version" * 1000, b"o" * 9000
    (tmp_path / "outside.jpg").write_bytes(outside)
    entry = lambda name, pkg, data: {"name": name, "package": pkg, "version": "1", "path": f"/usr/share/{name}.jpg",  # noqa: E731
                                     "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "split": "train"}
    entries = [entry("good", "pkg", good), {**entry("bad", "pkg", bad), "sha256": "0" * 64},
               entry("moved", "pkg", moved), entry("link", "pkg", outside), entry("gone", "nopkg", good + b"x")]
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"photos": entries}))
    calls = []

    def fake_run(cmd, cwd=None, **kw):
        calls.append(cmd)
        if cmd[0] == "apt-get":
            if cmd[2].startswith("nopkg"):
                return subprocess.CompletedProcess(cmd, 100, "", "E: Unable to locate package nopkg")
            (Path(cwd) / "pkg_1_all.deb").write_bytes(b"")
        else:
            out = Path(cmd[-1]) / "usr" / "share"
            out.mkdir(parents=True)
            (out / "good.jpg").write_bytes(good)
            (out / "bad.jpg").write_bytes(bad)
            (out / "elsewhere").mkdir()
            (out / "elsewhere" / "renamed.jpg").write_bytes(moved)
            (out / "link.jpg").symlink_to(tmp_path / "outside.jpg")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(install_photos.subprocess, "run", fake_run)
    monkeypatch.setattr(install_photos.shutil, "which", lambda tool: "/usr/bin/" + tool)
    dest = tmp_path / "dest"
    assert install_photos.main(["--dest", str(dest), "--manifest", str(manifest)]) == 1  # three missing
    assert (dest / "good.jpg").read_bytes() == good and (dest / "moved.jpg").read_bytes() == moved
    assert not (dest / "bad.jpg").exists() and not (dest / "link.jpg").exists() and not (dest / "gone.jpg").exists()
    assert not list(dest.glob("*.part"))
    apt = [c[2] for c in calls if c[0] == "apt-get"]
    assert apt == ["nopkg=1", "nopkg", "pkg=1"]  # one package at a time, the listed version first
    out, err = capsys.readouterr()
    assert "[1/2] nopkg: not downloaded" in out and "[2/2] pkg: pkg_1_all.deb, 2 of 4" in out
    assert "2 of 5 photographs" in out
    assert "bad (pkg:/usr/share/bad.jpg: different contents" in err and "link (pkg:/usr/share/link.jpg: absent" in err
    assert "gone (nopkg: package not available)" in err


def test_install_script_uses_given_debs_and_skips_installed_files(tmp_path, monkeypatch, capsys):
    import subprocess

    install_photos = _install_script()
    data = b"a photograph" * 1000
    entries = [{"name": "p", "package": "pkg", "version": "2:1.0-1", "path": "/usr/share/p.jpg",
                "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "split": "test"}]
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"photos": entries}))
    debs = tmp_path / "debs"
    debs.mkdir()
    (debs / "pkg_1.0-0_all.deb").write_bytes(b"old")
    (debs / "pkg_2%3a1.0-1_all.deb").write_bytes(b"listed")
    unpacked = []

    def fake_run(cmd, cwd=None, **kw):
        assert cmd[0] == "dpkg-deb", "apt-get is not asked when --debs holds the package"
        unpacked.append(Path(cmd[2]).name)
        (Path(cmd[-1]) / "usr" / "share").mkdir(parents=True)
        (Path(cmd[-1]) / "usr" / "share" / "p.jpg").write_bytes(data)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(install_photos.subprocess, "run", fake_run)
    monkeypatch.setattr(install_photos.shutil, "which", lambda tool: "/usr/bin/" + tool)
    args = ["--dest", str(tmp_path / "dest"), "--manifest", str(manifest), "--debs", str(debs)]
    assert install_photos.main(args) == 0 and unpacked == ["pkg_2%3a1.0-1_all.deb"]  # the listed version
    assert install_photos.main(args) == 0 and len(unpacked) == 1
    assert "all 1 photographs already in" in capsys.readouterr().out
