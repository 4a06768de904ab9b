"""The Ray executor: same rows as the local runner, resumable after a killed driver, one-line errors."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import semcom.bench.sweep as sweep
from semcom.bench.sweep import SweepConfig, run_sweep
from semcom.errors import SemcomError

ray = pytest.importorskip("ray")

from semcom.bench.distributed import connect, reorder_rows, run_sweeps_ray  # noqa: E402

#: small sweeps: 2 frames cropped to 64 px
SMALL = dict(limit=2, dataset_params={"size": 64}, metrics=("psnr", "ssim"))
#: columns that depend on the machine's speed, not on the numbers
TIMING = {"seconds"}


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    # the workers share their encodings under this folder (a killed driver leaves its run's folder behind)
    before = os.environ.get("SEMCOM_ENCODINGS")
    os.environ["SEMCOM_ENCODINGS"] = str(tmp_path_factory.mktemp("encodings"))
    connect(num_cpus=2)
    yield
    ray.shutdown()
    if before is None:
        os.environ.pop("SEMCOM_ENCODINGS", None)
    else:
        os.environ["SEMCOM_ENCODINGS"] = before


def _rows(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def test_ray_gives_the_local_runners_rows_value_by_value(tmp_path, local_ray):
    from semcom.bench import distributed

    # 4 frames in 2 batches, 2 repeats: each point is 4 tasks, merged into its row
    sliced = {**SMALL, "limit": 4, "batch_size": 2, "repeats": 2}
    cfgs = [SweepConfig(link=link, cbr=cbr, snr_db=(0.0, 10.0, 20.0), **sliced)
            for link in ("deepjscc", "bpg-ldpc") for cbr in (1 / 48, 1 / 96)]
    tasks = sum(distributed.TASKS_PER_NODE.values())
    got = run_sweeps_ray([(c, tmp_path / "ray") for c in cfgs], progress=False)
    assert sum(distributed.TASKS_PER_NODE.values()) - tasks == 4 * 3 * 4
    for cfg, path in zip(cfgs, got):
        expected = run_sweep(cfg, out_dir=tmp_path / "local", progress=False)
        assert path.name == expected.name
        assert _rows(path) == _rows(expected), cfg.link
        assert [float(r["snr_db"]) for r in _rows(path)] == [0.0, 10.0, 20.0]  # in the requested order


class _FailsAt(torch.nn.Module):
    """A link that raises at one SNR point (sent to the workers by value)."""

    def __init__(self, link, snr):
        super().__init__()
        self.inner, self.snr = link, snr

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["inner"], name)

    def forward(self, batch, *, snr_db, generator=None):
        if float(snr_db) == self.snr:
            raise RuntimeError("injected failure on a worker")
        return self.inner(batch, snr_db=snr_db, generator=generator)


def test_a_task_that_raises_is_one_line_naming_its_point_and_finished_points_stay(tmp_path, local_ray, monkeypatch):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    real = sweep.prepare_sweep

    def failing(cfg, **kw):
        job = real(cfg, **kw)
        job.work.link = _FailsAt(job.work.link, 20.0)
        return job

    monkeypatch.setattr(sweep, "prepare_sweep", failing)
    cfg = SweepConfig(link="softcast", cbr=1 / 48, snr_db=(0.0, 10.0, 20.0), **SMALL)
    with pytest.raises(SemcomError) as err:
        run_sweeps_ray([(cfg, tmp_path)], progress=False)
    msg = str(err.value)
    assert "\n" not in msg and "softcast" in msg and "20 dB" in msg and "injected failure" in msg
    kept = _rows(next(tmp_path.glob("softcast_*.csv")))
    assert kept and {float(r["snr_db"]) for r in kept} <= {0.0, 10.0}


def test_reorder_rows_puts_points_in_the_requested_order(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("link,snr_db,psnr\na,10,2\na,0,1\na,5,9\n")
    reorder_rows(path, [0.0, 10.0])
    assert path.read_text().splitlines() == ["link,snr_db,psnr", "a,5,9", "a,0,1", "a,10,2"]


def test_killed_driver_then_rerun_computes_only_the_missing_points(tmp_path, monkeypatch, local_ray):
    # a fresh encodings cache: with encodings kept from earlier runs every point is quick, and the driver
    # may finish before it is killed
    monkeypatch.setenv("SEMCOM_ENCODINGS", str(tmp_path / "encodings"))
    out = tmp_path / "runs"
    args = [sys.executable, "-m", "semcom.cli", "run", "--link", "bpg-ldpc", "--cbr", "1/48", "--snr", "0,4,8,12,16,20",
            "--limit", "2", "--size", "64", "--metrics", "psnr,ssim", "--executor", "ray", "--out", str(out), "-q",
            "--no-plot"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(args, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    csv_path = None
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            found = list(out.glob("bpg-ldpc_*.csv")) if out.exists() else []
            if found and len(_rows(found[0])) >= 1:
                csv_path = found[0]
                break
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and whatever it started
        proc.wait()
    assert csv_path is not None, proc.stderr.read().decode()[-2000:]
    before = _rows(csv_path)
    assert 1 <= len(before) < 6

    submitted = []
    real = sweep.prepare_sweep
    monkeypatch.setattr(sweep, "prepare_sweep", lambda cfg, **kw: (lambda j: submitted.extend(j.todo) or j)(real(cfg, **kw)))
    cfg = SweepConfig(link="bpg-ldpc", cbr=1 / 48, snr_db=(0.0, 4.0, 8.0, 12.0, 16.0, 20.0), **SMALL)
    path = run_sweeps_ray([(cfg, out)], progress=False)[0]
    done = {float(r["snr_db"]) for r in before}
    assert sorted(submitted) == sorted(set(cfg.snr_db) - done)  # only the missing points ran
    after = _rows(path)
    assert [float(r["snr_db"]) for r in after] == list(cfg.snr_db)
    assert [r for r in after if float(r["snr_db"]) in done] == sorted(before, key=lambda r: float(r["snr_db"]))


@pytest.mark.parametrize("address,needle", [("127.0.0.1:1", "no Ray cluster answers at 127.0.0.1:1"),
                                            ("nonsense", "HOST:PORT")])
def test_an_address_where_no_cluster_answers_is_one_line_at_once(address, needle, tmp_path, capsys):
    from semcom.cli import main

    t0 = time.time()
    assert main(["run", "--link", "softcast", "--snr", "0", "--cbr", "1/48", "--executor", "ray", "--address",
                 address, "--out", str(tmp_path / "out")]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], lines
    assert time.time() - t0 < 30 and not (tmp_path / "out").exists()
