"""scripts/train_zoo.py at tiny scale on CPU: every kind of job, one output folder, resumable."""

import csv
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import train_zoo  # noqa: E402

sys.path.pop(0)

# from scratch; the same codec at another CBR; adaptive -> single SNR; EV-JSCC -> SP-JSCC
JOBS = ("deepjscc-cbr1-48-adaptive,deepjscc-cbr1-96-adaptive,ev-jscc-cbr1-48-adaptive,ev-jscc-cbr1-48-snr10,"
        "sp-jscc-cbr1-48-adaptive")


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
    assert rows["ev-jscc-cbr1-48-snr10"]["snr_mode"] == "single"
    # a second run finds every checkpoint finished and starts no job
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*")}
    assert train_zoo.main(["--out", str(out), "--recipe", "tiny", "--only", JOBS]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*")}
    assert {k: v for k, v in after.items() if k != "summary.csv"} == {k: v for k, v in before.items()
                                                                         if k != "summary.csv"}


def test_recipes_and_unknown_jobs():
    job = next(j for j in train_zoo.JOBS if j[0] == "sp-jscc-cbr1-48-adaptive")
    gpu = train_zoo.command(job, out=Path("o"), recipe="gpu", nproc=2, extra=[])
    assert "--fresh-pool" in gpu and "torch.distributed.run" in gpu
    cpu = train_zoo.command(job, out=Path("o"), recipe="cpu", nproc=1, extra=[])
    assert "spikes=false" not in cpu  # the spike codec keeps its spike camera
    ev = next(j for j in train_zoo.JOBS if j[0] == "ev-jscc-cbr1-48-adaptive")
    cmd = train_zoo.command(ev, out=Path("o"), recipe="gpu", nproc=1, extra=[])
    assert "--fresh-pool" in cmd and cmd[cmd.index("--device") + 1] == "cuda"
    dj96 = next(j for j in train_zoo.JOBS if j[0] == "deepjscc-cbr1-96-adaptive")
    cmd = train_zoo.command(dj96, out=Path("o"), recipe="cpu", nproc=1, extra=[])
    assert cmd[cmd.index("--warm-start") + 1] == str(Path("o") / "deepjscc-cbr1-48-adaptive.ckpt")


def test_unknown_jobs_and_bad_counts_are_refused_before_anything_is_written(tmp_path):
    assert train_zoo.main(["--only", "nope", "--out", str(tmp_path / "a")]) == 2
    assert train_zoo.main(["--parallel", "-1", "--out", str(tmp_path / "b")]) == 2
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_failed_prerequisite_does_not_release_its_dependant(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMCOM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "zoo"
    # the DeepJSCC 1/48 job fails at once (an unknown option), so the 1/96 job that starts from it must not
    code = train_zoo.main(["--out", str(out), "--recipe", "tiny", "--extra=--no-such-option",
                           "--only", "deepjscc-cbr1-48-adaptive,deepjscc-cbr1-96-adaptive"])
    assert code != 0
    assert not (out / "deepjscc-cbr1-96-adaptive.log").exists()


def test_budget_plan_sizes_steps_from_the_measured_rate(tmp_path):
    log = tmp_path / "probe.csv"
    log.write_text("step,seconds\n10,12.0\n20,13.0\n40,15.0\n")  # 0.1 s per step after the first row
    per_step, startup = train_zoo.step_timing(log, wall=20.0)
    assert per_step == pytest.approx(0.1) and startup == pytest.approx(16.0)
    plan = train_zoo.plan_steps({"a": (0.1, 16.0), "b": (0.5, 4.0)}, 116.0, safety=1.0, minimum=5)
    assert plan == {"a": 1000, "b": 224}
    assert train_zoo.plan_steps({"c": (1.0, 200.0)}, 100.0, minimum=5) == {"c": 5}  # never below the probe


def test_budget_refuses_jobs_that_wait_for_another(tmp_path):
    code = train_zoo.main(["--out", str(tmp_path / "z"), "--recipe", "tiny", "--budget", "10",
                           "--only", "deepjscc-cbr1-96-adaptive"])
    assert code == 2 and not (tmp_path / "z").exists()
    # the gpu recipe continues the shipped checkpoint of the same name instead, so nothing waits
    job = next(j for j in train_zoo.JOBS if j[0] == "deepjscc-cbr1-96-adaptive")
    assert train_zoo.job_for(job, "gpu")[6] is None
    cmd = train_zoo.command(job, out=Path("o"), recipe="gpu", nproc=1, extra=[])
    assert "--warm-start" not in cmd and "--fresh-pool" in cmd and cmd[cmd.index("--schedule") + 1] == "single"
    assert Path(cmd[cmd.index("--init") + 1]) == train_zoo.ZOO / "deepjscc-cbr1-96-adaptive.ckpt"
    assert (train_zoo.ZOO / "deepjscc-cbr1-96-adaptive.ckpt").exists()


@pytest.mark.slow
def test_budget_run_stops_an_overrunning_job_and_publishes_what_it_saved(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMCOM_CACHE", str(tmp_path / "cache"))
    out, pub = tmp_path / "zoo", tmp_path / "pub"
    out.mkdir()
    (out / "plan.json").write_text('{"deepjscc-cbr1-48-adaptive": 100000}')  # far more than 15 s allow
    code = train_zoo.main(["--out", str(out), "--recipe", "tiny", "--budget", "15",
                           "--only", "deepjscc-cbr1-48-adaptive", "--publish", str(pub)])
    assert code != 0  # stopped, not finished
    row = next(csv.DictReader(open(out / "summary.csv")))
    assert 0 < int(row["steps"]) < 100000 and row["planned"] == "100000"
    import json
    entries = json.loads((pub / "manifest.json").read_text())
    entries = entries if isinstance(entries, list) else entries.get("checkpoints", entries)
    assert [e["name"] for e in entries] == ["deepjscc-cbr1-48-adaptive"]
    assert (pub / "checkpoints" / "deepjscc-cbr1-48-adaptive.ckpt").exists()
