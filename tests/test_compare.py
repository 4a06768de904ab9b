"""Per-frame files of the sweep runner and paired margins between two sweeps."""

import csv

import numpy as np
import pytest

from semcom.bench.compare import paired_margins
from semcom.bench.sweep import SweepConfig, frames_path, run_sweep
from semcom.errors import SemcomError


def _sweep(tmp_path, link, limit=3, repeats=1):
    cfg = SweepConfig(link=link, cbr=1 / 48, snr_db=(0.0, 10.0), limit=limit, repeats=repeats,
                      metrics=("psnr", "ssim"))
    return run_sweep(cfg, out_dir=tmp_path, progress=False, notice=lambda m: None)


def _rows(path):
    return list(csv.DictReader(open(path)))


def test_per_frame_rows_average_to_the_sweep_row_and_margins_pair_them(tmp_path):
    a = _sweep(tmp_path, "deepjscc", repeats=2)
    b = _sweep(tmp_path, "softcast", repeats=2)
    frames = _rows(frames_path(a))
    assert len(frames) == 2 * 3 * 2  # points x images x repeats
    for row in _rows(a):
        vals = [float(f["psnr"]) for f in frames if float(f["snr_db"]) == float(row["snr_db"])]
        assert np.mean(vals) == pytest.approx(float(row["psnr"]), rel=1e-5)
    margins = paired_margins(a, b)
    fb = _rows(frames_path(b))
    for m in margins:
        per = {}
        for rows, sign in ((frames, 1), (fb, -1)):
            for f in rows:
                if float(f["snr_db"]) == m["snr_db"]:
                    per.setdefault(f["image"], []).append(sign * float(f["psnr"]))
        diffs = np.array([sum(v) / 2 for v in per.values()])  # mean over 2 repeats of a - b
        assert m["diff"] == pytest.approx(diffs.mean(), rel=1e-6)
        half = 4.302653 * diffs.std(ddof=1) / np.sqrt(3)  # t(0.975, 2)
        assert m["ci95"] == pytest.approx(half, rel=1e-4)
        assert m["n_images"] == 3 and 0 <= m["a_better"] <= 3


def test_a_resumed_sweep_keeps_one_frame_row_per_image_and_point(tmp_path):
    a = _sweep(tmp_path, "softcast")
    rows = _rows(frames_path(a))
    a.unlink()  # the CSV lost: both points run again; their frames are replaced, not doubled
    _sweep(tmp_path, "softcast")
    assert _rows(frames_path(a)) == rows


def test_sweeps_of_other_frames_or_without_frames_are_refused(tmp_path):
    a = _sweep(tmp_path / "a", "softcast", limit=3)
    b = _sweep(tmp_path / "b", "softcast", limit=2)
    with pytest.raises(SemcomError, match="other evaluation data|other frames"):
        paired_margins(a, b)
    frames_path(b).unlink()
    with pytest.raises(SemcomError, match="no per-frame file"):
        paired_margins(a, b)


def test_compare_command(tmp_path, capsys):
    from semcom.cli import main

    a = _sweep(tmp_path, "deepjscc")
    b = _sweep(tmp_path, "softcast")
    out = tmp_path / "m.csv"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "deepjscc - softcast" in text and "±" in text
    assert {r["metric"] for r in _rows(out)} == {"psnr", "ssim"}
    assert main(["compare", str(a), str(tmp_path / "none.csv")]) == 2
