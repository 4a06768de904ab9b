"""A wheel built from the tree carries its links, manifests and checkpoints and runs from anywhere."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_its_data_and_runs_outside_the_tree(tmp_path):
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "dist"), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    [wheel] = list((tmp_path / "dist").glob("semcom-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    links = sorted(p.name for p in (ROOT / "semcom" / "links").glob("*.toml"))
    assert links and all(f"semcom/links/{n}" in names for n in links)
    own = sorted(p.name for p in (ROOT / "semcom" / "experiments" / "links").glob("*.toml"))
    assert own and all(f"semcom/experiments/links/{n}" in names for n in own)  # the experiments' own links
    manifest = json.loads((ROOT / "semcom" / "zoo" / "manifest.json").read_text())
    assert all(f"semcom/zoo/{e['file']}" in names for e in manifest["checkpoints"])
    assert "semcom/sources/photos.json" in names
    # the unpacked wheel first on the path, run from a folder with no links/ of its own
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("SEMCOM_LINKS", None)
    where = subprocess.run([sys.executable, "-c", "import semcom; print(semcom.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=120)
    assert where.stdout.strip().startswith(str(site)), where
    out = subprocess.run([sys.executable, "-m", "semcom.cli", "links"], cwd=work, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and all(n[:-5] in out.stdout for n in links), out.stderr
    run = subprocess.run([sys.executable, "-m", "semcom.cli", "run", "--link", "softcast", "--snr", "10", "--cbr",
                          "1/12", "--dataset", "skimage", "--size", "32", "--limit", "2", "--metrics", "psnr",
                          "--out", "runs"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert list((work / "runs").glob("softcast_*.csv"))
