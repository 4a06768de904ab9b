"""scripts/train_zoo.py at tiny scale on CPU: every kind of job, one output folder, resumable."""

import csv
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import train_zoo  # noqa: E402

sys.path.pop(0)

JOBS = "deepjscc-1-48-adaptive,deepjscc-deblur-1-48-adaptive,ev-jscc-1-48-snr10,sp-jscc-1-48-adaptive"


@pytest.mark.slow
def test_tiny_zoo_trains_every_kind_of_job_into_one_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMCOM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "zoo"
    assert train_zoo.main(["--out", str(out), "--recipe", "tiny", "--only", JOBS, "--parallel", "2"]) == 0
    rows = {r["job"]: r for r in csv.DictReader(open(out / "summary.csv"))}
    assert set(rows) == set(JOBS.split(","))
    for name, row in rows.items():
        assert int(row["steps"]) == 3 and int(row["samples"]) == 6 and row["device"] == "cpu", row
        assert (out / f"{name}.png").stat().st_size > 1000 and (out / f"{name}.csv").exists()
        assert float(row["val_psnr"]) > 0
    assert rows["ev-jscc-1-48-snr10"]["snr_mode"] == "single"
    # a second run finds every checkpoint finished and changes nothing
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.ckpt")}
    assert train_zoo.main(["--out", str(out), "--recipe", "tiny", "--only", JOBS]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.ckpt")} == before


def test_recipes_and_unknown_jobs():
    job = next(j for j in train_zoo.JOBS if j[0] == "sp-jscc-1-48-adaptive")
    gpu = train_zoo.command(job, out=Path("o"), recipe="gpu", nproc=2, extra=[])
    assert "--fresh-data" in gpu and "torch.distributed.run" in gpu
    cpu = train_zoo.command(job, out=Path("o"), recipe="cpu", nproc=1, extra=[])
    assert "spikes=false" not in cpu  # the spike codec keeps its spike camera
    ev = next(j for j in train_zoo.JOBS if j[0] == "ev-jscc-1-48-adaptive")
    cmd = train_zoo.command(ev, out=Path("o"), recipe="gpu", nproc=1, extra=[])
    assert "--fresh-data" in cmd and cmd[cmd.index("--device") + 1] == "cuda"
    assert train_zoo.main(["--only", "nope", "--out", "/tmp/x-unused"]) == 2
