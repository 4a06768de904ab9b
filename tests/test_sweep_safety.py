"""One writer per output: a sweep locks its files, refuses damaged ones on resume with one line, drops a
partial last row, and its progress bar counts frames."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import semcom.bench.sweep as sweep
from semcom.bench.results import OutputBusy, OutputLock, check_table
from semcom.bench.sweep import SweepConfig, lock_path, prepare_sweep, run_sweep
from semcom.errors import SemcomError

ROOT = Path(__file__).resolve().parents[1]
SNR = (0.0, 5.0, 10.0)
#: the command line of the small sweep every test runs (2 frames of 32 px, three SNR points)
ARGS = ["run", "--link", "softcast", "--dataset", "skimage", "--size", "32", "--limit", "2", "--cbr", "1/12",
        "--snr", "0,5,10", "--metrics", "psnr,ssim", "--no-plot", "-q"]
STEM = "softcast_awgn_cbr1-12_skimage_size-32_n2_m-psnr-ssim"

#: a real `semcom` process whose points wait for a file named GATE (so that it still holds its output
#: when the other process arrives), then compute as usual
GATED = ("import os, sys, time\n"
         "import semcom.bench.sweep as s\n"
         "real = s.evaluate_point\n"
         "def gated(*a, **k):\n"
         "    t = time.time() + 60\n"
         "    while not os.path.exists(os.environ['GATE']) and time.time() < t:\n"
         "        time.sleep(0.05)\n"
         "    return real(*a, **k)\n"
         "s.evaluate_point = gated\n"
         "from semcom.cli import main\n"
         "sys.exit(main(sys.argv[1:]))\n")


def _cfg(**kw):
    base = dict(link="softcast", cbr=1 / 12, snr_db=SNR, dataset="skimage", dataset_params={"size": 32}, limit=2,
                metrics=("psnr", "ssim"))
    base.update(kw)
    return SweepConfig(**base)


def _env(**extra):
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def _semcom(*args, gate=None):
    """A `semcom` process (gated: its points wait for the file ``gate``)."""
    cmd = [sys.executable, "-c", GATED, *args] if gate else [sys.executable, "-m", "semcom.cli", *args]
    return subprocess.Popen(cmd, env=_env(**({"GATE": str(gate)} if gate else {})), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _valid(path, n):
    """The CSV has one header, ``n`` distinct SNR points, and parses."""
    lines = path.read_text().splitlines()
    assert sum(line.startswith("link,") for line in lines) == 1
    rows = check_table(path, keys=("snr_db",), numbers=("snr_db",))
    assert len(rows) == n == len({r["snr_db"] for r in rows})
    assert len(pd.read_csv(path)) == n


def _rows(path):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(open(path, newline=""))]


# --- one writer per output -----------------------------------------------------------------------------------

def test_two_processes_on_one_output_one_writes_the_other_is_refused_in_one_line(tmp_path):
    """Two copies of one command started together (issue 33: two headers, every row twice, a traceback):
    the one that locks the output first runs (its points wait at a gate until the other has ended),
    the other exits 2 with one line naming it; the CSV is whole; a rerun resumes."""
    out, gate = tmp_path / "runs", tmp_path / "go"
    procs = [_semcom(*ARGS, "--out", str(out), gate=gate) for _ in range(2)]
    try:
        deadline = time.time() + 120
        while time.time() < deadline and all(p.poll() is None for p in procs):
            time.sleep(0.05)
        loser = next(p for p in procs if p.poll() is not None)
        winner = next(p for p in procs if p is not loser)
        _, err = loser.communicate()
        assert loser.returncode == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        assert lines[0].startswith(f"semcom: error: {out / STEM}.csv is being written by another run (pid "
                                   f"{winner.pid} on "), lines[0]
        assert "started 20" in lines[0] and "another --out" in lines[0]
        assert winner.poll() is None  # still at its gate: the refusal came while it held the output
        gate.touch()
        _, err = winner.communicate(timeout=120)
        assert winner.returncode == 0, err
    finally:
        for p in procs:
            p.kill()
    csv_path = out / f"{STEM}.csv"
    _valid(csv_path, 3)
    frames = check_table(sweep.frames_path(csv_path), keys=("snr_db", "image", "repeat"), numbers=("snr_db",))
    assert len(frames) == 3 * 2
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{STEM}{s}" for s in (".csv", ".json", "_frames.csv"))
    # the rerun resumes: nothing computed, nothing changed
    said = []
    assert run_sweep(_cfg(), out_dir=out, progress=False, notice=said.append) == csv_path
    assert said == [f"all 3 SNR points already in {csv_path}"]
    _valid(csv_path, 3)


def test_sigterm_releases_the_lock_and_the_rerun_resumes(tmp_path, monkeypatch, capsys):
    from semcom.cli import main

    out = tmp_path / "runs"
    real, calls = sweep.evaluate_point, []

    def killed(*a, **k):  # `kill` (SIGTERM) arrives while the second point is computed
        calls.append(k["snr_db"])
        if len(calls) == 2:
            assert (out / f"{STEM}.lock").exists()
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        return real(*a, **k)

    monkeypatch.setattr(sweep, "evaluate_point", killed)
    assert main([*ARGS, "--out", str(out)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not (out / f"{STEM}.lock").exists()
    _valid(out / f"{STEM}.csv", 1)
    monkeypatch.setattr(sweep, "evaluate_point", real)
    full = run_sweep(_cfg(), out_dir=tmp_path / "full", progress=False, notice=lambda m: None)
    resumed = run_sweep(_cfg(), out_dir=out, progress=False, notice=lambda m: None)
    assert _rows(resumed) == _rows(full)
    assert _rows(sweep.frames_path(resumed)) == _rows(sweep.frames_path(full))


def test_a_lock_held_elsewhere_refuses_the_sweep_before_any_file_is_written(tmp_path):
    cfg = _cfg()
    first = run_sweep(cfg, out_dir=tmp_path / "a", progress=False, notice=lambda m: None)
    out = tmp_path / "b"
    out.mkdir()
    lock = OutputLock(lock_path(out / first.name)).acquire()  # another open file: flock refuses this one too
    try:
        with pytest.raises(OutputBusy, match=rf"is being written by another run \(pid {os.getpid()} on .*, "
                                             r"started 20.*\); wait for it to end or write to another --out"):
            run_sweep(cfg, out_dir=out, progress=False)
        assert [p.name for p in out.iterdir()] == [lock.path.name]  # no row, no sidecar, no frames
        # the command line: one line, exit 2
        from semcom.cli import main

        assert main([*ARGS, "--out", str(out)]) == 2
        assert [p.name for p in out.iterdir()] == [lock.path.name]
    finally:
        lock.release()
    assert not lock.path.exists()
    assert _rows(run_sweep(cfg, out_dir=out, progress=False, notice=lambda m: None)) == _rows(first)


def test_a_stale_lock_file_of_a_killed_process_does_not_block(tmp_path):
    cfg = _cfg(snr_db=(0.0,))
    stale = lock_path(tmp_path / (sweep.output_stem("softcast", "awgn", 1 / 12, cfg) + ".csv"))
    stale.write_text('{"pid": 999999, "host": "gone", "started": "2020-01-01T00:00:00"}\n')
    path = run_sweep(cfg, out_dir=tmp_path, progress=False, notice=lambda m: None)
    assert path.with_suffix(".lock") == stale and not stale.exists()
    assert len(_rows(path)) == 1


def test_the_ray_driver_holds_the_lock_of_each_sweep_it_runs(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import semcom.bench.distributed as distributed

    cfg = _cfg()
    path = run_sweep(cfg, out_dir=tmp_path, progress=False, notice=lambda m: None)  # finished: no task to run
    fake = SimpleNamespace(remote=lambda **kw: (lambda f: f))
    monkeypatch.setattr(distributed, "connect", lambda *a, **k: fake)
    held = []
    real = sweep.prepare_sweep

    def prepare(c, **kw):
        job = real(c, **kw)
        held.append(job.lock.held)
        return job

    monkeypatch.setattr(sweep, "prepare_sweep", prepare)
    refusals = []
    with OutputLock(lock_path(path)):
        paths = distributed.run_sweeps_ray([(cfg, tmp_path)], progress=False, notice=lambda m: None,
                                           refused=lambda i, exc: refusals.append(str(exc)))
    assert paths == [None] and len(refusals) == 1 and "is being written by another run" in refusals[0]
    assert distributed.run_sweeps_ray([(cfg, tmp_path)], progress=False, notice=lambda m: None) == [path]
    assert held == [True] and not lock_path(path).exists()  # held while it ran, released when it returned


# --- damaged files ---------------------------------------------------------------------------------------------

def _doubled(text):  # what two runs writing at once left (issue 33): two headers, every row twice
    return text + text


def _bad_snr(text):
    lines = text.splitlines(keepends=True)
    return "".join([lines[0], lines[1], lines[2].replace(",5,", ",five,", 1), *lines[3:]])


def _other_header(text):
    return text.replace("link,channel,cbr", "link,channel,bandwidth", 1)


def _short_row(text):
    lines = text.splitlines(keepends=True)
    return "".join([*lines[:2], lines[2].split(",", 3)[0] + "," + lines[2].split(",", 3)[1] + "\r\n", *lines[3:]])


def _repeated_row(text):
    lines = text.splitlines(keepends=True)
    return "".join([*lines, lines[1]])


@pytest.mark.parametrize("damage,needle", [
    (_doubled, "line 5: a second header: two runs wrote to this file at once"),
    (_bad_snr, "line 3: snr_db is 'five', not a number"),
    (_other_header, "line 1: the header lacks cbr; it reads 'link,channel,bandwidth,"),
    (_short_row, "line 3: 2 fields where the header has"),
    (_repeated_row, "line 5: the row of snr_db 0 again (first on line 2)"),
])
def test_a_damaged_csv_is_refused_on_resume_in_one_line_with_a_way_out(tmp_path, damage, needle, capsys):
    path = run_sweep(_cfg(), out_dir=tmp_path, progress=False, notice=lambda m: None)
    good = path.read_bytes()
    path.write_text(damage(path.read_bytes().decode()), newline="")
    with pytest.raises(SemcomError) as info:
        run_sweep(_cfg(), out_dir=tmp_path, progress=False, notice=lambda m: None)
    assert str(info.value).startswith(f"{path} is damaged ({needle}")
    assert str(info.value).endswith("); move it away or rerun with --overwrite")
    assert not lock_path(path).exists()
    # the command line: one line, exit 2, no traceback
    from semcom.cli import main

    capsys.readouterr()
    assert main([*ARGS, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("semcom: error: ") and len(err.strip().splitlines()) == 1 and "damaged" in err
    # the way out works
    assert main([*ARGS, "--out", str(tmp_path), "--overwrite"]) == 0
    assert _rows(path) == [{k: v for k, v in r.items() if k != "seconds"}
                           for r in csv.DictReader(good.decode().splitlines())]


def test_a_damaged_per_frame_file_is_refused_too(tmp_path):
    path = run_sweep(_cfg(), out_dir=tmp_path, progress=False, notice=lambda m: None)
    frames = sweep.frames_path(path)
    lines = frames.read_bytes().decode().splitlines(keepends=True)
    frames.write_text("".join([*lines, lines[0], lines[1]]), newline="")  # a second writer's header and row
    with pytest.raises(SemcomError, match=rf"^{frames} is damaged \(line {len(lines) + 1}: a second header"):
        run_sweep(_cfg(snr_db=(*SNR, 15.0)), out_dir=tmp_path, progress=False)
    frames.write_text(lines[0] + lines[1].replace(",0,", ",x,", 1), newline="")  # image is not a number
    with pytest.raises(SemcomError, match=r"line 2: (snr_db|image) is .*, not a number\); move it away"):
        run_sweep(_cfg(snr_db=(*SNR, 15.0)), out_dir=tmp_path, progress=False)


# --- a killed writer's partial last line ------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["csv", "frames"])
def test_a_partial_last_line_is_dropped_on_resume_and_only_its_point_is_computed_again(tmp_path, monkeypatch,
                                                                                        which):
    full = run_sweep(_cfg(), out_dir=tmp_path / "full", progress=False, notice=lambda m: None)
    path = run_sweep(_cfg(), out_dir=tmp_path / "cut", progress=False, notice=lambda m: None)
    target = path if which == "csv" else sweep.frames_path(path)
    data = target.read_bytes()
    target.write_bytes(data[:len(data) - 9])  # killed in the middle of writing the last row
    assert not target.read_bytes().endswith(b"\n")
    seen, said = [], []
    real = sweep.evaluate_point
    monkeypatch.setattr(sweep, "evaluate_point", lambda *a, **k: seen.append(k["snr_db"]) or real(*a, **k))
    run_sweep(_cfg(), out_dir=tmp_path / "cut", progress=False, notice=said.append)
    if which == "csv":
        assert seen == [10.0]  # the point whose row was cut
        assert said == []      # nothing alarming: the point is simply computed again
    else:  # the row is whole: the point counts as done, the frames file just loses the cut line
        assert seen == [] and said == [f"all 3 SNR points already in {path}"]
    assert _rows(path) == _rows(full)
    if which == "csv":
        assert _rows(sweep.frames_path(path)) == _rows(sweep.frames_path(full))


# --- progress and notices -------------------------------------------------------------------------------------

@pytest.mark.parametrize("link,cbr", [("softcast", 1 / 12), ("bpg-capacity", 1 / 12)])
def test_progress_counts_every_frame_sent(tmp_path, link, cbr):
    """The bar's unit is a frame (per configuration an adaptive link tries), so it moves within a point."""
    job = prepare_sweep(_cfg(link=link, cbr=cbr, snr_db=(0.0, 20.0), repeats=2), out_dir=tmp_path, overwrite=False,
                        notice=lambda m: None)
    try:
        for snr in job.todo:
            ticks = []
            job.point(snr, tick=ticks.append)
            adaptive = bool(job.link.codec.variants())
            assert adaptive == (link != "softcast")
            tried = len(sweep.tried_configurations(job.link, snr, all_configs=False)) if adaptive else 1
            assert tried > 1 or not adaptive
            assert sum(ticks) == job.frames(snr) == 2 * 2 * tried
            assert len(ticks) == 2 * tried  # one tick per (repeat, batch): the bar moves within a point
    finally:
        job.close()
    assert not lock_path(job.csv_path).exists()


def test_an_unavailable_metric_is_one_notice_on_its_own_line_not_on_the_bar(tmp_path, monkeypatch, capsys):
    import semcom.metrics.modules as modules

    monkeypatch.setattr(modules, "find_vgg16_weights", lambda weights=None: (None, []))
    path = run_sweep(_cfg(metrics=("psnr", "ssim", "dists")), out_dir=tmp_path, progress=True)
    err = capsys.readouterr().err
    said = [line for line in err.split("\n") if "DISTS unavailable" in line]
    assert len(said) == 1
    assert said[0].rsplit("\r", 1)[-1].startswith("DISTS unavailable: no VGG16 ImageNet weights found")
    assert "frame" in err  # the bar counts frames
    assert pd.read_csv(path)["dists"].isna().all()


def test_an_interrupt_during_the_first_point_leaves_no_file(tmp_path, monkeypatch):
    """Ctrl-C before any row: no lone sidecar, lock or empty CSV is left behind."""
    import semcom.bench.sweep as sweep_mod
    from semcom.bench.sweep import SweepConfig, run_sweep

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_mod, "evaluate_point", interrupted)
    cfg = SweepConfig(link="softcast", cbr=1 / 12, snr_db=(0.0, 5.0), dataset="skimage",
                      dataset_params={"size": 32}, limit=2, metrics=("psnr",))
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, out_dir=out, progress=False, notice=lambda m: None)
    assert not out.exists() or not any(out.iterdir())
