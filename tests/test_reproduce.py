import csv

import pytest

import semcom.bench.sweep as sweep
from semcom.bench.reproduce import FIGURES, reproduce
from semcom.errors import SemcomError

#: one-panel curve figures (the panel figure where-events-help has its own tests)
CURVES = [name for name, f in FIGURES.items() if f.kind == "curves" and not f.panels]


def _boom(*args, **kwargs):
    raise AssertionError("a finished point was computed again")


@pytest.mark.parametrize("name", CURVES)
def test_curve_figure_on_a_tiny_configuration_writes_its_files_and_resumes(tmp_path, monkeypatch, name):
    notes = []
    png = reproduce(name, out_dir=tmp_path, snr="0,20", limit=2, progress=False, notice=notes.append)
    assert png.exists() and png.stat().st_size > 10_000
    assert not [n for n in notes if "skipped" in n], notes  # every link ran from its shipped checkpoint
    rows = [r for p in (tmp_path / name).glob("*.csv") if not p.name.endswith(("_configs.csv", "_frames.csv"))
            for r in csv.DictReader(open(p))]
    assert {r["link"] for r in rows} == set(FIGURES[name].links)
    assert sorted({float(r["snr_db"]) for r in rows}) == [0.0, 20.0]
    assert all(int(r["n_images"]) == 2 for r in rows)
    assert {r["channel"] for r in rows} == {FIGURES[name].channel}
    # a rerun resumes: nothing is evaluated again, the figure is redrawn
    monkeypatch.setattr(sweep, "evaluate_point", _boom)
    png.unlink()
    assert reproduce(name, out_dir=tmp_path, snr="0,20", limit=2, progress=False, notice=notes.append).exists()


def test_grid_figure_on_two_samples(tmp_path):
    png = reproduce("evjscc-fig6", out_dir=tmp_path, limit=2, notice=lambda m: None)
    assert png.exists()
    rows = list(csv.DictReader(open(tmp_path / "evjscc-fig6.csv")))
    columns = {r["column"] for r in rows}
    # a link that chooses among configurations names the one it used (the best on these frames)
    assert {c.split(" (")[0] for c in columns} == {"blurry input", *FIGURES["evjscc-fig6"].links}
    assert any(c.startswith("bpg-ldpc (") for c in columns)
    assert len(rows) == 2 * len(columns)
    assert all(5 < float(r["psnr"]) < 60 for r in rows)


def test_unknown_figure_is_a_clear_error():
    with pytest.raises(SemcomError, match="evjscc-fig4"):
        reproduce("evjscc-fig44", out_dir="/nonexistent")


def test_command_line_runs_figures_of_two_cbrs_in_parallel_processes(tmp_path):
    from semcom.cli import main

    args = ["reproduce", "evjscc-fig4", "evjscc-fig5", "--snr", "0,20", "--limit", "1", "--links",
            "deepjscc,deepjscc-deblur", "--jobs", "2", "--out", str(tmp_path), "-q"]
    assert main(args) == 0
    for name in ("evjscc-fig4", "evjscc-fig5"):
        assert (tmp_path / f"{name}.png").exists()
        assert len(list((tmp_path / name).glob("*_frames.csv"))) == 2
        assert len(list((tmp_path / name).glob("*.csv"))) == 4


def test_a_figure_redrawn_after_one_link_keeps_every_link_it_has(tmp_path):
    """--links X recomputes X only, and the figure and its manifest still hold the other links."""
    import json

    from semcom.cli import main

    base = ["reproduce", "evjscc-fig4", "--snr", "0,20", "--limit", "1", "--out", str(tmp_path), "-q"]
    assert main(base + ["--links", "deepjscc,deepjscc-deblur"]) == 0
    assert main(base + ["--links", "deepjscc-deblur", "--overwrite"]) == 0
    manifest = json.loads((tmp_path / "evjscc-fig4.manifest.json").read_text())
    (panel,) = manifest["panels"]
    assert panel["links"] == ["deepjscc-deblur", "deepjscc"]  # in the figure's order
    assert set(panel["missing"]) == set(FIGURES["evjscc-fig4"].links) - {"deepjscc", "deepjscc-deblur"}
    for sweep_ in panel["sweeps"]:
        assert (tmp_path / sweep_["csv"]).exists() and len(sweep_["sha256"]) == 64


def test_a_repeated_notice_is_printed_once_per_process(capsys):
    from semcom.bench.reproduce import once_to_stderr

    once_to_stderr("metric X unavailable (test)")
    once_to_stderr("metric X unavailable (test)")
    once_to_stderr("another notice (test)")
    assert capsys.readouterr().err.splitlines() == ["metric X unavailable (test)", "another notice (test)"]


def test_overwrite_recomputes_only_the_named_links(tmp_path, monkeypatch):
    from semcom.cli import main

    base = ["reproduce", "evjscc-fig4", "--snr", "0", "--limit", "1", "--out", str(tmp_path), "-q", "--jobs", "1"]
    assert main([*base, "--links", "deepjscc,deepjscc-deblur"]) == 0
    seen = []
    real = sweep.evaluate_point
    monkeypatch.setattr(sweep, "evaluate_point", lambda link, *a, **k: seen.append(link.name) or real(link, *a, **k))
    assert main([*base, "--links", "deepjscc,deepjscc-deblur"]) == 0
    assert seen == []  # resumed
    assert main([*base, "--links", "deepjscc-deblur", "--overwrite"]) == 0
    assert seen == ["deepjscc-deblur"]


def test_where_events_help_covers_both_channels_and_cbrs_and_names_existing_links():
    from semcom.linkspec import find_link

    fig = FIGURES["where-events-help"]
    assert {(p.cbr, p.channel) for p in fig.settings()} == {(1 / 48, "awgn"), (1 / 96, "awgn"),
                                                            (1 / 48, "rayleigh"), (1 / 96, "rayleigh")}
    for link in fig.links:
        find_link(link)
    # each panel resumes the sweeps of the paper figure with the same setting
    for panel in fig.settings():
        twin = FIGURES[panel.sweeps]
        assert (twin.cbr, twin.channel, dict(twin.channel_params)) == (panel.cbr, panel.channel, panel.channel_params)


def test_panel_figure_shares_sweeps_and_recomputes_a_shared_sweep_once(tmp_path, monkeypatch):
    from semcom.cli import main

    base = ["reproduce", "evjscc-fig4", "where-events-help", "--snr", "0", "--limit", "1", "--out", str(tmp_path),
            "-q", "--links", "deepjscc"]
    seen = []
    real = sweep.evaluate_point
    monkeypatch.setattr(sweep, "evaluate_point",
                        lambda link, *a, **k: seen.append((link.cbr, "rayleigh" if link.channel.fades else "awgn")) or real(link, *a, **k))
    assert main([*base, "--jobs", "1"]) == 0
    # evjscc-fig4's sweep is where-events-help's AWGN 1/48 panel: four settings, four computations
    assert sorted(seen) == sorted([(1 / 48, "awgn"), (1 / 96, "awgn"), (1 / 48, "rayleigh"), (1 / 96, "rayleigh")])
    assert (tmp_path / "where-events-help.png").stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [
        "evjscc-fig4", "evjscc-fig4-rayleigh", "evjscc-fig5", "evjscc-fig5-rayleigh"]
    seen.clear()
    assert main([*base, "--jobs", "1", "--overwrite"]) == 0
    assert len(seen) == 4  # the shared sweep is recomputed once, not once per figure
    seen.clear()
    (tmp_path / "where-events-help.png").unlink()
    assert main([*base, "--jobs", "2"]) == 0  # panels of two CBRs in two processes, drawn by the parent
    assert seen == [] and (tmp_path / "where-events-help.png").exists()


def test_the_image_task_figure_adds_a_row_against_cbr_at_its_own_snr(tmp_path, monkeypatch):
    import semcom.bench.plots as plots
    from semcom.bench.results import read_json

    fig = FIGURES["jscc-image"]
    axis = [p for p in fig.settings() if p.on_cbr_axis]
    assert [p.cbr for p in axis] == sorted(fig.cbr_axis) and {p.snr for p in axis} == {"10"}
    assert [p.cbr for p in fig.settings() if not p.on_cbr_axis] == [1 / 48, 1 / 96]
    drawn = {}
    real = plots.plot_grid
    monkeypatch.setattr(plots, "plot_grid", lambda rows, out, **kw: drawn.update(rows=rows, **kw) or real(rows, out, **kw))
    notes = []
    png = reproduce("jscc-image", out_dir=tmp_path, snr="0", limit=1, progress=False, notice=notes.append,
                    links=("image-deepjscc-resconv", "image-bpg-capacity"))
    assert png.exists() and png.stat().st_size > 10_000
    # --snr sets the SNR curves; the CBR row keeps its 10 dB
    curves = [r for p in (tmp_path / "jscc-image").glob("*.csv") if not p.name.endswith("_frames.csv")
              for r in csv.DictReader(open(p))]
    row = [r for p in (tmp_path / "jscc-image" / "cbr-axis").glob("*.csv") if not p.name.endswith("_frames.csv")
           for r in csv.DictReader(open(p))]
    assert {float(r["snr_db"]) for r in curves} == {0.0} and {float(r["snr_db"]) for r in row} == {10.0}
    assert sorted({round(1 / float(r["cbr"])) for r in row if r["link"] == "image-bpg-capacity"}) == sorted(
        round(1 / c) for c in fig.cbr_axis)
    # the learned link runs where a checkpoint exists and is named as skipped elsewhere
    learned = {round(1 / float(r["cbr"])) for r in row if r["link"] == "image-deepjscc-resconv"}
    assert {48, 96} <= learned < {round(1 / c) for c in fig.cbr_axis}
    assert any("skipped image-deepjscc-resconv" in n for n in notes)
    assert drawn["cbr_row"][0] == "awgn, 10 dB" and len(drawn["cbr_row"][1]) == len(row)
    assert [t for t, _ in drawn["rows"]] == ["awgn, CBR 1/48", "awgn, CBR 1/96"]
    manifest = read_json(tmp_path / "jscc-image.manifest.json")
    assert [p["title"] for p in manifest["panels"]][2] == "awgn, CBR 1/96, 10 dB"
    # the image task's input is its target: no "blurry input" reference in its sidecars
    assert all(not read_json(p).get("reference") for p in (tmp_path / "jscc-image").glob("*.json"))
