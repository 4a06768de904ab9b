"""The natural-photo training corpus: manifest, disjointness from the evaluation pictures, the source."""

import hashlib
import json
import site
import sys
from pathlib import Path

import numpy as np
import pytest

from semcom.errors import SemcomError
from semcom.registry import SOURCES
from semcom.sources import photos
from semcom.sources.datasets import TEST_PICTURES, read_picture
from semcom.sources.skimage_set import load_skimage_picture

ENTRIES = photos.read_manifest()


def test_manifest_lists_photographs_from_debian_packages():
    assert len(ENTRIES) >= 30
    assert len({e["name"] for e in ENTRIES}) == len(ENTRIES)
    assert len({e["sha256"] for e in ENTRIES}) == len(ENTRIES)
    for e in ENTRIES:
        assert e["package"] in ("opencv-doc", "mate-backgrounds"), e
        assert e["path"].startswith("/usr/share/") and len(e["sha256"]) == 64 and e["bytes"] > 10_000


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


def _thumb(img: np.ndarray) -> np.ndarray:
    from PIL import Image

    g = np.asarray(Image.fromarray(img).convert("L").resize((16, 16), Image.Resampling.BOX), np.float64)
    return (g - g.mean()) / (g.std() + 1e-9)


def test_installed_corpus_is_disjoint_from_the_evaluation_pictures_by_content():
    """Pixel content: no photograph decodes to an evaluation picture, nor to a near copy of one
    (correlation of 16x16 thumbnails > 0.95 in any 90-degree rotation or mirror image)."""
    try:
        found = photos.installed_photos()
    except SemcomError:
        pytest.skip("training photographs not installed (python scripts/install_photos.py)")
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


@pytest.fixture
def fake_corpus(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    root, entries = tmp_path / "photos", []
    root.mkdir()
    from PIL import Image

    for i in range(2):
        img = (rng.random((300, 400, 3)) * 255).astype(np.uint8)
        path = root / f"p{i}.png"
        Image.fromarray(img).save(path)
        entries.append({"name": f"p{i}", "package": "x", "version": "1", "path": f"/usr/share/p{i}.png",
                        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "bytes": path.stat().st_size})
    manifest = tmp_path / "photos.json"
    manifest.write_text(json.dumps({"version": 1, "photos": entries}))
    monkeypatch.setattr(photos, "MANIFEST", manifest)
    monkeypatch.setenv("SEMCOM_PHOTOS", str(root))
    return root


def test_photos_source_draws_photos_and_dead_leaves(fake_corpus):
    ds = SOURCES.build("photos", size=64, n=12, seed=0, cache=False, spikes=False, dead_leaves=0.5)
    labels = [ds[i].info["picture"] for i in range(12)]
    assert set(labels) <= {"p0", "p1", "dead-leaves"} and "dead-leaves" in labels and ({"p0", "p1"} & set(labels))
    s = ds[0]
    assert s.sharp.shape == (3, 64, 64) and s.events.shape == (6, 64, 64)
    assert ds.describe()["photos"][0][0] == "p0"


def test_photos_source_refuses_changed_missing_files_and_the_test_split(fake_corpus, tmp_path, monkeypatch):
    with pytest.raises(SemcomError, match="training corpus"):
        SOURCES.build("photos", split="test", size=64, n=2)
    (fake_corpus / "p1.png").write_bytes(b"not the same picture")
    with pytest.raises(SemcomError, match="differ from the manifest"):
        SOURCES.build("photos", size=64, n=2, cache=False)
    (fake_corpus / "p1.png").unlink()
    with pytest.raises(SemcomError, match="1 of the 2"):  # a partial corpus is other data
        SOURCES.build("photos", size=64, n=2, cache=False)
    monkeypatch.setenv("SEMCOM_PHOTOS", str(tmp_path / "empty"))
    with pytest.raises(SemcomError, match="install_photos.py"):
        SOURCES.build("photos", size=64, n=2, cache=False)


def test_install_script_copies_only_matching_files(tmp_path, monkeypatch):
    """The install script with `apt-get download` and `dpkg-deb -x` replaced by a fake package."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    try:
        import install_photos
    finally:
        sys.path.pop(0)
    good, bad = b"a photograph" * 1000, b"another version" * 1000
    entries = [{"name": "good", "package": "pkg", "version": "1", "path": "/usr/share/good.jpg",
                "sha256": hashlib.sha256(good).hexdigest(), "bytes": len(good)},
               {"name": "bad", "package": "pkg", "version": "1", "path": "/usr/share/bad.jpg",
                "sha256": "0" * 64, "bytes": len(bad)}]
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"photos": entries}))

    def fake_run(cmd, cwd=None, **kw):
        import subprocess

        if cmd[0] == "apt-get":
            (Path(cwd) / "pkg_1_all.deb").write_bytes(b"")
        else:
            out = Path(cmd[-1]) / "usr" / "share"
            out.mkdir(parents=True)
            (out / "good.jpg").write_bytes(good)
            (out / "bad.jpg").write_bytes(bad)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(install_photos.subprocess, "run", fake_run)
    monkeypatch.setattr(install_photos.shutil, "which", lambda tool: "/usr/bin/" + tool)
    dest = tmp_path / "dest"
    assert install_photos.main(["--dest", str(dest), "--manifest", str(manifest)]) == 1  # one missing
    assert (dest / "good.jpg").read_bytes() == good and not (dest / "bad.jpg").exists()
    assert not list(dest.glob("*.part"))
