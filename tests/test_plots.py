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
         configs=None, reference=None, ssim_ci=0.5, psnr_ci=1.0, frames=None, level=0.0):
    snr = np.arange(0, 21, 10.0)
    rows = []
    for cfg in configs or [None]:
        shift = 0.0 if cfg is None else float(len(rows))
        rows += [{"link": link, "channel": channel, "cbr": cbr, "snr_db": s, "psnr": 20 + s / 5 - shift + level,
                  "psnr_ci95": psnr_ci, "ssim": 0.1 + s / 100, "ssim_ci95": ssim_ci,
                  "dists": 0.3 if dists else np.nan, "dists_ci95": np.nan, "config": cfg} for s in snr]
    df = pd.DataFrame(rows)
    if frames is not None:
        df.insert(5, "n_images", frames)
    path = folder / f"{stem}.csv"
    df.to_csv(path, index=False)
    side = {"resolved": {"dataset": {"dataset": dataset}}}
    if reference:
        side["reference"] = {"blurry input": reference}
    (folder / f"{stem}.json").write_text(json.dumps(side))
    return path


def _legend(fig):
    return [t.get_text() for t in fig.legends[0].get_texts()]


def _inside_canvas(fig, artist):
    """Whether ``artist`` (as drawn) lies wholly inside the figure's canvas: nothing of it is cut."""
    fig.draw_without_rendering()
    box, canvas = artist.get_window_extent(), fig.bbox
    return box.x0 >= 0 and box.y0 >= 0 and box.x1 <= canvas.x1 and box.y1 <= canvas.y1


def test_title_legend_bands_and_reference(tmp_path):
    a = _run(tmp_path, "a", reference={"psnr": 23.6, "ssim": 0.7})
    fig = draw_curves([a])
    assert fig._suptitle.get_text() == "softcast | awgn | CBR 1/48 | synth-blur"
    assert len(fig.axes) == 2  # no DISTS values: no DISTS panel
    labels = _legend(fig)
    assert "softcast" in labels and "blurry input (no transmission)" in labels  # the title says the CBR
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
    # what the runs share is in the title, what tells them apart in the labels
    assert "softcast, awgn, synth-blur" in labels
    assert {"softcast, rayleigh, gopro (b)", "softcast, rayleigh, gopro (c)"} <= set(labels)
    assert len(fig.axes) == 3  # one run has DISTS values
    title = fig._suptitle.get_text()
    assert title == "softcast | CBR 1/48 — 2 channels: awgn, rayleigh; 2 datasets: synth-blur, gopro"
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
    assert "qpsk-1/2" not in _legend(fig) and "softcast" in _legend(fig)


def _eleven_runs(folder):
    """11 runs as `semcom plot results/runs/*.csv` met them: 4 links, 2 channels, 3 CBRs, 32 frames each."""
    settings = [("awgn", 1 / 48), ("awgn", 1 / 96), ("rayleigh", 1 / 48), ("awgn", 1 / 24)]
    runs = [(link, ch, cbr) for link in ("ev-jscc", "deepjscc", "bpg-ldpc") for ch, cbr in settings[:3]]
    runs += [("softcast", "awgn", 1 / 24), ("softcast", "rayleigh", 1 / 48)]
    return [_run(folder, f"{link}_{ch}_cbr{round(1 / cbr)}", link=link, channel=ch, cbr=cbr, frames=32,
                 level=i / 4, reference={"psnr": 23.6}) for i, (link, ch, cbr) in enumerate(runs)]


def test_eleven_runs_are_grouped_with_a_legend_and_title_inside_the_figure(tmp_path):
    """`semcom plot` over 11 runs: one colour per link, one line style and marker per channel and CBR, no
    band (11 curves would cover each other), a legend and a title that fit, the title listing what varies."""
    from matplotlib.colors import to_hex

    from semcom.bench.plots import MAX_BANDS
    from semcom.cli import main

    csvs = _eleven_runs(tmp_path)
    assert len(csvs) == 11
    fig = draw_curves(csvs)
    assert _inside_canvas(fig, fig.legends[0]) and _inside_canvas(fig, fig._suptitle)
    title = fig._suptitle.get_text().replace("\n", " ")
    assert title.startswith("synth-blur | 32 frames — 4 links: ev-jscc, deepjscc, bpg-ldpc, softcast")
    assert "2 channels: awgn, rayleigh" in title and "3 CBRs: 1/24, 1/48, 1/96" in title
    psnr_ax = fig.axes[0]
    curves = [line for line in psnr_ax.lines if len(line.get_xdata()) == 3]
    assert len(curves) == 11
    looks = {(to_hex(line.get_color()), str(line.get_linestyle()), line.get_marker()) for line in curves}
    assert len(looks) == 11  # every curve told apart
    by_link = {}
    for line, csv in zip(curves, csvs):
        by_link.setdefault(csv.stem.split("_")[0], set()).add(to_hex(line.get_color()))
    assert all(len(c) == 1 for c in by_link.values()) and len(set().union(*by_link.values())) == 4
    assert not psnr_ax.collections and len(curves) > MAX_BANDS  # no bands beyond a few curves
    labels = _legend(fig)
    assert {"ev-jscc", "softcast", "awgn, CBR 1/48", "rayleigh, CBR 1/48", "awgn, CBR 1/24"} <= set(labels)
    assert any(label.startswith("95 % intervals not drawn") for label in labels)
    assert fig.legends[0].get_title().get_text() == "colour: link; line and marker: channel, CBR"
    out = tmp_path / "curves.png"
    assert main(["plot", *map(str, csvs), "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_the_inside_check_can_fail(tmp_path):
    """The check above finds a legend that overflows the canvas (as the 11 runs' legend did: one row of entries)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    for i in range(11):
        ax.plot([0, 1], [i, i], label=f"a long legend label number {i}")
    legend = fig.legend(loc="lower center", ncols=11)
    assert not _inside_canvas(fig, legend)
    plt.close(fig)


def test_a_figure_of_the_paper_links_keeps_its_bands_and_its_legend_fits(tmp_path):
    """Five links with their paper styles (the bound dashed in the colour of BPG + LDPC): one band per
    curve, clipped; the legend (which used to be cut on both sides) lies inside the figure."""
    from semcom.bench.reproduce import PAPER_LINKS, STYLES

    csvs = [_run(tmp_path, link, link=link, frames=32, level=i / 3, reference={"psnr": 23.6, "ssim": 0.75})
            for i, link in enumerate(PAPER_LINKS)]
    fig = draw_curves(csvs, title="PSNR/SSIM/DISTS vs SNR at CBR 1/48 on AWGN (paper Fig. 4)", styles=STYLES)
    assert _inside_canvas(fig, fig.legends[0])
    for ax in fig.axes:
        assert len(ax.collections) == len(PAPER_LINKS)  # one band per curve
    ldpc, bound = fig.axes[0].lines[3:5]  # the curves come in the order of the files
    assert bound.get_linestyle() == "--" and ldpc.get_linestyle() == "-" and bound.get_color() == ldpc.get_color()
    assert set(PAPER_LINKS) <= set(_legend(fig))


def test_a_label_or_title_wider_than_a_one_panel_figure_is_wrapped_not_cut(tmp_path):
    a = _run(tmp_path, "a", link="a-link-with-a-very-long-name-that-a-user-gave-to-a-toml-file-of-their-own-x")
    pd.read_csv(a).assign(ssim=np.nan, ssim_ci95=np.nan).to_csv(a, index=False)
    title = "a title that is much longer than one panel is wide, as a user's --title may well be, " * 2
    fig = draw_curves([a], title=title.strip())
    assert len(fig.axes) == 1
    assert _inside_canvas(fig, fig.legends[0]) and _inside_canvas(fig, fig._suptitle)
    assert "\n" in fig._suptitle.get_text() and any("\n" in label for label in _legend(fig))


def test_few_frames_get_clipped_error_bars_with_the_frame_count_in_the_legend(tmp_path):
    """With --limit 2 a 95 % interval spans tens of dB: such runs are drawn with error bars, clipped to
    the metric's range, whose length does not set the axes' limits; the legend says over how many frames."""
    from matplotlib.collections import LineCollection, PolyCollection

    few = [_run(tmp_path, f"few{i}", link=link, frames=2, psnr_ci=55.0, ssim_ci=0.9, level=i)
           for i, link in enumerate(("ev-jscc", "deepjscc"))]
    many = _run(tmp_path, "many", link="bpg-ldpc", frames=32, psnr_ci=1.0, ssim_ci=0.02)
    fig = draw_curves([*few, many])
    psnr_ax, ssim_ax = fig.axes
    assert psnr_ax.get_ylim()[1] < 40 and psnr_ax.get_ylim()[0] > 10  # the means set the limits, not the bars
    for ax, (lo, hi) in ((psnr_ax, (0, float("inf"))), (ssim_ax, (0, 1))):
        bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert len(bands) == 1  # the 32-frame run only
        bars = [c for c in ax.collections if isinstance(c, LineCollection)]
        assert len(bars) == 2
        ends = np.concatenate([np.asarray(seg)[:, 1] for c in bars for seg in c.get_segments()])
        assert ends.min() >= lo and ends.max() <= hi  # clipped to the metric's range
        assert ends.min() == lo  # 0.1 - 0.9 and 20 - 55 reach below the range: clipped, not dropped
    labels = _legend(fig)
    assert any(label.startswith("bars: 95 % interval") and "2 frames" in label for label in labels)
    assert any(label.startswith("shaded: 95 % interval") for label in labels)
    assert _inside_canvas(fig, fig.legends[0])


def test_all_configs_keeps_nineteen_configurations_apart(tmp_path):
    from matplotlib.colors import to_hex

    from semcom.bench.plots import distinct_looks

    configs = [f"{m}-{r}" for m in ("bpsk", "qpsk", "16qam", "64qam", "256qam") for r in ("1/3", "1/2", "2/3", "3/4")]
    t = _run(tmp_path, "x_configs", link="bpg-ldpc", configs=configs[:19])
    fig = draw_curves([t])
    lines = [line for line in fig.axes[0].lines if line.get_linewidth() == 1.0]
    assert len(lines) == 19
    assert len({(to_hex(line.get_color()), line.get_linestyle()) for line in lines}) == 19
    assert len({to_hex(line.get_color()) for line in lines}) == 19  # 19 colours, not 10 repeated
    assert _inside_canvas(fig, fig.legends[0])
    looks = distinct_looks(45)
    assert len({(to_hex(k["color"]), k["linestyle"], k.get("marker")) for k in looks}) == 45


def test_a_grid_of_many_links_fits_its_legend_and_drops_bands_beyond_a_few_curves(tmp_path, monkeypatch):
    from semcom.bench import plots

    links = [f"link-{i}" for i in range(8)]
    rows = [(f"row {j}", [_run(tmp_path, f"{lk}_{j}", link=lk, frames=32, level=i) for i, lk in enumerate(links)])
            for j in range(2)]
    seen = {}
    real = plots._save

    def keep(fig, out):
        seen["inside"] = _inside_canvas(fig, fig.legends[0])
        seen["bands"] = [len(ax.collections) for ax in fig.axes]
        seen["labels"] = _legend(fig)
        return real(fig, out)

    monkeypatch.setattr(plots, "_save", keep)
    assert plots.plot_grid(rows, tmp_path / "g.png", title="grid").exists()
    assert seen["inside"] and seen["bands"] == [0, 0, 0, 0]
    assert set(links) <= set(seen["labels"])


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
