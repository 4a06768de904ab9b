"""Curve figures: titles, legend labels, clipped 95 % bands, no empty panels, reference lines, configs tables."""

import json
from pathlib import Path

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


STAGED_PSNR = ("step,stage,loss,psnr,val_psnr,lr,snr_mean,samples,seconds\n"
               "100,transmission,0.07,12,,1e-3,10.4,1600,1\n200,transmission,0.05,14,16.5,1e-3,9.0,3200,2\n"
               "300,deblur,0.012,15,,1e-3,11.1,4800,3\n400,deblur,0.011,16,18.2,1e-3,8.7,6400,4\n"
               "500,finetune,0.010,17,,1e-4,10.2,8000,5\n600,finetune,0.009,17.5,19.0,1e-5,9.9,9600,6\n")


def _solid(ax):
    return [line for line in ax.get_lines() if line.get_linestyle() != ":"]


def test_a_staged_curve_names_its_stages_and_draws_each_stage_loss_apart(tmp_path):
    """Each stage's loss is its own line in its own colour (stages optimize different objectives: one joined
    line would compare unlike numbers), each stage is named where it begins, and later stages are marked
    on both panels."""
    import matplotlib.pyplot as plt

    from semcom.train.curves import draw_training_log, stage_segments

    log = tmp_path / "ev.csv"
    log.write_text(STAGED_PSNR)
    fig = draw_training_log(log)
    loss_ax, psnr_ax = fig.axes[:2]
    lines = _solid(loss_ax)
    assert [list(line.get_xdata()) for line in lines] == [[100, 200], [300, 400], [500, 600]]
    assert len({line.get_color() for line in lines}) == 3
    assert [line.get_label() for line in lines] == ["loss, stage transmission", "loss, stage deblur",
                                                    "loss, stage finetune"]
    labels = {(t.get_text().strip(), t.get_position()[0]) for t in loss_ax.texts if t.get_gid() == "stage-label"}
    assert labels == {("transmission", 100), ("deblur", 300), ("finetune", 500)}
    for ax in (loss_ax, psnr_ax):
        assert sorted(line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == ":") == [300, 500]
    plt.close(fig)
    assert stage_segments(["a", "a", "b", "a"]) == [("a", 0, 2), ("b", 2, 3), ("a", 3, 4)]
    # a log whose step count restarts with each stage is drawn stage after stage
    restart = tmp_path / "r.csv"
    restart.write_text("stage,step,loss\nbsn,50,1.8\nbsn,100,1.7\nldn,50,0.04\nldn,100,0.03\n")
    fig = draw_training_log(restart)
    assert [list(line.get_xdata()) for line in _solid(fig.axes[0])] == [[50, 100], [150, 200]]
    plt.close(fig)


def test_a_curve_says_why_training_psnr_is_below_validation_psnr(tmp_path):
    """The note under the figure states how each PSNR is measured (pooled batch MSE against mean per-frame
    PSNR, SNR draw, crops, weights) and follows the run's SNR mode; a log without validation has none."""
    import matplotlib.pyplot as plt

    from semcom.train.curves import draw_training_log

    log = tmp_path / "ev.csv"
    log.write_text(STAGED_PSNR)
    fig = draw_training_log(log)
    [note] = [t.get_text() for t in fig.texts if t.get_gid() == "psnr-note"]
    note = " ".join(note.split())
    for fact in ("mean MSE of one training batch", "mean of per-frame PSNRs", "drawn uniformly",
                 "random crops", "EMA weights", "hardest frames"):
        assert fact in note, fact
    plt.close(fig)
    single = tmp_path / "s.csv"
    single.write_text(STAGED_PSNR.replace("10.4,", "10,").replace("9.0,", "10,").replace("11.1,", "10,")
                      .replace("8.7,", "10,").replace("10.2,", "10,").replace("9.9,", "10,"))
    fig = draw_training_log(single)
    [note] = [t.get_text() for t in fig.texts if t.get_gid() == "psnr-note"]
    assert "every sample at 10 dB" in " ".join(note.split()) and "drawn uniformly" not in note
    plt.close(fig)
    no_val = tmp_path / "n.csv"
    no_val.write_text("step,loss,psnr,val_psnr\n50,0.1,20,\n100,0.05,22,\n")
    fig = draw_training_log(no_val)
    assert not [t for t in fig.texts if t.get_gid() == "psnr-note"]
    plt.close(fig)


def test_a_curve_title_names_the_whole_chain_of_warm_starts(tmp_path):
    import matplotlib.pyplot as plt

    from semcom.train.curves import draw_training_log, lineage_text

    chain = [{"run": "deblur-init", "steps": 11000, "init": None, "warm_start": None},
             {"run": "deepjscc", "steps": 10000, "init": None, "warm_start": None},
             {"run": "deblur", "steps": 3000, "init": "deblur-init", "warm_start": "deepjscc"},
             {"run": "deblur-96", "steps": 3000, "init": None, "warm_start": "deblur"}]
    log = tmp_path / "ev.csv"
    log.write_text(STAGED_PSNR)
    fig = draw_training_log(log, title="deblur-96", lineage=chain)
    title = " ".join(fig._suptitle.get_text().split())
    assert title.startswith("deblur-96") and "chain of warm starts" in title
    for run in ("deblur-init (11000 steps, from scratch)", "deepjscc (10000 steps, from scratch)",
                "deblur (3000 steps, init deblur-init; warm start deepjscc)",
                "deblur-96 (3000 steps, warm start deblur)"):
        assert run in title, run
    order = [title.index(f"{run} (") for run in ("deblur-init", "deepjscc", "deblur", "deblur-96")]
    assert order == sorted(order)
    plt.close(fig)
    assert lineage_text(chain[1:2]) == "no warm start: one run from scratch (10000 steps)"
    assert lineage_text(None) == ""


def test_redraw_curves_redraws_every_drawn_log_and_titles_shipped_ones_from_the_manifest(tmp_path, monkeypatch):
    import json

    from semcom.train import curves

    shipped, other, bare = tmp_path / "a" / "shipped.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    shipped.parent.mkdir()
    for log in (shipped, other, bare):
        log.write_text(STAGED_PSNR)
    for png in (shipped.with_suffix(".png"), other.with_suffix(".png")):
        png.write_bytes(b"old")
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    (tmp_path / "notes.png").write_bytes(b"old")
    manifest = tmp_path / "manifest.json"
    chain = [{"run": "base", "steps": 5, "init": None, "warm_start": None, "curve": str(other)},
             {"run": "zoo-name", "steps": 600, "init": None, "warm_start": "base"}]
    manifest.write_text(json.dumps({"version": 1, "checkpoints": [
        {"name": "zoo-name", "curve": str(shipped), "lineage": chain, "training": {"steps": 600}}]}))
    monkeypatch.setenv("SEMCOM_ZOO_MANIFEST", str(manifest))
    seen = {}
    real = curves.draw_training_log

    def spy(log, **kw):
        seen[Path(log).name] = kw
        return real(log, **kw)

    monkeypatch.setattr(curves, "draw_training_log", spy)
    pngs = curves.redraw_curves(tmp_path)
    assert sorted(p.name for p in pngs) == ["b.png", "shipped.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    assert (tmp_path / "notes.png").read_bytes() == b"old" and not bare.with_suffix(".png").exists()
    assert seen["shipped.csv"]["lineage"] == chain and seen["shipped.csv"]["title"].startswith("zoo-name (shipped)")
    # a run of the chain that is not shipped itself, but whose curve the lineage records
    assert seen["b.csv"]["lineage"] == chain[:1]
    assert seen["b.csv"]["title"].startswith("base: a run in the chain of the shipped zoo-name")
    other.rename(tmp_path / "d.csv")
    other.with_suffix(".png").rename(tmp_path / "d.png")
    curves.redraw_curves(tmp_path)
    assert seen["d.csv"]["lineage"] is None and seen["d.csv"]["title"] is None
