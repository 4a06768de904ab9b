"""Curve figures: titles, legend labels, clipped 95 % bands, no empty panels, reference lines, configs tables."""

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from semcom.bench.plots import draw_curves, plot_curves
from semcom.errors import SemcomError

matplotlib.use("Agg")


def _run(folder, stem, *, link="softcast", channel="awgn", cbr=1 / 48, dataset="synth-blur", dists=False,
         configs=None, reference=None, ssim_ci=0.5):
    snr = np.arange(0, 21, 10.0)
    rows = []
    for cfg in configs or [None]:
        shift = 0.0 if cfg is None else float(len(rows))
        rows += [{"link": link, "channel": channel, "cbr": cbr, "snr_db": s, "psnr": 20 + s / 5 - shift,
                  "psnr_ci95": 1.0, "ssim": 0.1 + s / 100, "ssim_ci95": ssim_ci,
                  "dists": 0.3 if dists else np.nan, "dists_ci95": np.nan, "config": cfg} for s in snr]
    path = folder / f"{stem}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    side = {"resolved": {"dataset": {"dataset": dataset}}}
    if reference:
        side["reference"] = {"blurry input": reference}
    (folder / f"{stem}.json").write_text(json.dumps(side))
    return path


def _legend(fig):
    return [t.get_text() for t in fig.legends[0].get_texts()]


def test_title_legend_bands_and_reference(tmp_path):
    a = _run(tmp_path, "a", reference={"psnr": 23.6, "ssim": 0.7})
    fig = draw_curves([a])
    assert fig._suptitle.get_text() == "softcast | awgn | CBR 1/48 | synth-blur"
    assert len(fig.axes) == 2  # no DISTS values: no DISTS panel
    labels = _legend(fig)
    assert "softcast, CBR 1/48" in labels and "blurry input (no transmission)" in labels
    assert "shaded: 95 % interval of each mean over frames (margins: semcom compare)" in labels
    psnr_ax, ssim_ax = fig.axes
    assert any(np.allclose(line.get_ydata(), 23.6) for line in psnr_ax.lines)  # the dashed reference
    band = ssim_ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() >= 0.0 and band.max() <= 1.0  # SSIM 0.1 +- 0.5 would reach below 0


def test_labels_tell_runs_apart_and_the_title_lists_what_varies(tmp_path):
    a = _run(tmp_path, "a", channel="awgn", dataset="synth-blur")
    b = _run(tmp_path, "b", channel="rayleigh", dataset="gopro", dists=True)
    c = _run(tmp_path, "c", channel="rayleigh", dataset="gopro")
    fig = draw_curves([a, b, c])
    labels = _legend(fig)
    assert "softcast, CBR 1/48, awgn, synth-blur" in labels
    assert {"softcast, CBR 1/48, rayleigh, gopro (b)", "softcast, CBR 1/48, rayleigh, gopro (c)"} <= set(labels)
    assert len(fig.axes) == 3  # one run has DISTS values
    assert "awgn, rayleigh" in fig._suptitle.get_text() and "synth-blur, gopro" in fig._suptitle.get_text()
    assert draw_curves([a], title="mine")._suptitle.get_text() == "mine"


def test_configs_table_alone_draws_each_configuration_and_the_envelope(tmp_path):
    t = _run(tmp_path, "x_configs", link="bpg-ldpc", configs=["qpsk-1/2", "16qam-1/2"])
    fig = draw_curves([t])
    labels = _legend(fig)
    assert {"qpsk-1/2", "16qam-1/2", "envelope (best configuration per SNR)"} <= set(labels)
    env = next(line for line in fig.axes[0].lines if line.get_linewidth() == 2.0)
    assert np.allclose(env.get_ydata(), [20, 22, 24])  # the better configuration at every SNR


def test_configs_table_is_not_mixed_into_plain_runs(tmp_path):
    a = _run(tmp_path, "a")
    t = _run(tmp_path, "a_configs", link="bpg-ldpc", configs=["qpsk-1/2", "16qam-1/2"])
    said = []
    fig = draw_curves([a, t], notice=said.append)
    assert said and "a_configs.csv" in said[0]
    assert "qpsk-1/2" not in _legend(fig) and "softcast, CBR 1/48" in _legend(fig)


def test_nothing_to_draw_and_unwritable_output_are_one_line_errors(tmp_path):
    a = _run(tmp_path, "a")
    pd.read_csv(a).assign(psnr=np.nan, ssim=np.nan).to_csv(a, index=False)
    with pytest.raises(SemcomError, match="nothing to draw"):
        draw_curves([a])
    b = _run(tmp_path, "b")
    with pytest.raises(SemcomError, match="cannot write"):
        plot_curves([b], "/proc/semcom/p.png")
    plot_curves([b], tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000 and not list(tmp_path.glob(".*partial"))


def test_training_curve_panels_follow_the_log(tmp_path):
    """A log with PSNR columns gets the PSNR panel; a staged log of losses only gets one panel with a
    marker where each later stage begins, not an empty PSNR panel."""
    import matplotlib.pyplot as plt

    from semcom.train.curves import draw_training_log, plot_training_log

    with_psnr = tmp_path / "a.csv"
    with_psnr.write_text("step,loss,psnr,val_psnr\n50,0.1,20,\n100,0.05,22,21.5\n")
    staged = tmp_path / "b.csv"
    staged.write_text("stage,step,loss,seconds\nx,50,0.8,1\nx,100,0.1,2\nr,150,0.7,3\nr,200,0.2,4\nz,250,0.3,5\n")
    fig = draw_training_log(with_psnr)
    assert len(fig.axes) == 2 and fig.axes[1].get_legend() is not None
    plt.close(fig)
    fig = draw_training_log(staged)
    (ax,) = fig.axes
    marks = sorted(line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == ":")
    assert marks == [150, 250]
    plt.close(fig)
    assert plot_training_log(staged, tmp_path / "b.png").stat().st_size > 0
