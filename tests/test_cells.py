"""Slices of an SNR point (the Ray executor's unit): merged, they give the local runner's row exactly."""

import math

import numpy as np
import pytest

from semcom.bench.cells import evaluate_cells, merge_cells, point_cells, slices
from semcom.bench.sweep import SweepConfig, prepare_sweep

#: 4 frames of 64 px in 2 batches, 2 repeats: 4 cells per point
SMALL = dict(snr_db=(0.0, 8.0), limit=4, batch_size=2, repeats=2, dataset_params={"size": 64}, metrics=("psnr", "ssim"))


def _job(tmp_path, **kw):
    job = prepare_sweep(SweepConfig(**{**SMALL, **kw}), out_dir=tmp_path, overwrite=True, notice=lambda s: None)
    job.release()
    return job


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if k == "seconds":
            continue
        x, y = a[k], b[k]
        if isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), k
        else:
            assert x == y, (k, x, y)


@pytest.mark.parametrize("kw", [
    dict(link="deepjscc", cbr=1 / 48),                                    # learned, no configurations
    dict(link="bpg-ldpc", cbr=1 / 48),                                    # an envelope over MCS, lazy scoring
    dict(link="bpg-ldpc", cbr=1 / 48, channel="rayleigh", all_configs=True),  # every configuration's row
])
def test_merged_slices_give_the_local_row_value_by_value(tmp_path, kw):
    job = _job(tmp_path, **kw)
    sizes = [b.size for b in job.work.batches]
    cells = point_cells(job.cfg.repeats, len(sizes))
    assert len(cells) == 4
    for snr in (0.0, 8.0):
        local = job.work.point(snr)
        expected, expected_configs = local.row, local.config_rows
        for n in (1, 3, 4):  # one slice; uneven slices; one cell each (merged out of order)
            parts = [evaluate_cells(job.work, snr, cut) for cut in slices(cells, n)]
            merged = merge_cells(job.work, snr, sizes, parts[::-1])
            row, configs = merged.row, merged.config_rows
            _same(row, expected)
            assert len(merged.frames) == len(local.frames) == sum(sizes) * job.cfg.repeats
            for a, b in zip(merged.frames, local.frames):
                _same(a, b)
            assert len(configs) == len(expected_configs)
            for a, b in zip(configs, expected_configs):
                _same(a, b)


def test_slices_cover_every_cell_once_and_a_missing_cell_is_refused(tmp_path):
    cells = point_cells(3, 5)
    for n in (1, 2, 4, 15, 40):
        cut = slices(cells, n)
        assert sum(cut, []) == cells and all(cut) and len(cut) == min(n, 15)
    job = _job(tmp_path, link="deepjscc", cbr=1 / 48)
    sizes = [b.size for b in job.work.batches]
    part = evaluate_cells(job.work, 10.0, point_cells(2, 2)[:3])
    with pytest.raises(ValueError, match="lack cells"):
        merge_cells(job.work, 10.0, sizes, [part])
    assert np.isfinite(part[None].values["psnr"][(0, 0)]).all()
