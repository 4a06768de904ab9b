"""`semcom reproduce` never overwrites a committed figure by default: options that change a figure put it
in a folder of its own named by them; --links alone redraws the committed figure in place."""

import json
import shutil
from pathlib import Path

import pytest

import semcom.bench.reproduce as rep
import semcom.bench.sweep as sweep
from semcom.bench.reproduce import FIGURES, figure_folder, snr_tag, variant_options

COMMITTED = Path(__file__).resolve().parents[1] / "results" / "reproduce"


def _boom(*args, **kwargs):
    raise AssertionError("a finished point was computed again")


@pytest.fixture
def default_out(tmp_path, monkeypatch):
    """A stand-in for results/reproduce holding a 'committed' figure of Fig. 4 and Fig. 6."""
    out = tmp_path / "results" / "reproduce"
    out.mkdir(parents=True)
    for name in ("evjscc-fig4.png", "evjscc-fig4.manifest.json", "evjscc-fig6.png", "evjscc-fig6.csv"):
        (out / name).write_bytes(f"committed {name}".encode())
    monkeypatch.setattr(rep, "DEFAULT_OUT", out)
    return out


def _untouched(out):
    return all((out / n).read_bytes() == f"committed {n}".encode()
               for n in ("evjscc-fig4.png", "evjscc-fig4.manifest.json", "evjscc-fig6.png", "evjscc-fig6.csv"))


@pytest.mark.parametrize("name,options,folder", [
    # curve figures: the options they were committed with, --links alone, or the same points written
    # another way stay in the default folder
    ("evjscc-fig4", {}, ""),
    ("evjscc-fig4", {"links": ("deepjscc",)}, ""),
    ("evjscc-fig4", {"snr": "0,2,4,6,8,10,12,14,16,18,20"}, ""),
    ("evjscc-fig4", {"limit": 4, "snr": "0,10"}, "variants/n4_snr0-10"),
    ("evjscc-fig4", {"limit": 4, "snr": "0,10", "links": ("deepjscc",)}, "variants/n4_snr0-10"),
    ("evjscc-fig4", {"snr": "0:20:4"}, "variants/snr0-20by4"),
    ("evjscc-fig4", {"snr": "-5:5:5", "seed": 3, "repeats": 2}, "variants/snrm5-5by5_r2_seed3"),
    ("evjscc-fig4", {"snr": "0.5"}, "variants/snr0p5"),
    ("where-events-help", {"snr": "0:20:4"}, ""),  # its own committed grid of points
    ("where-events-help", {"snr": "0:20:2"}, "variants/snr0-20by2"),
    # the visual grid: 4 rows at 5 dB with its four links; repeats do not apply to it
    ("evjscc-fig6", {"limit": 4, "snr": "5", "repeats": 3}, ""),
    ("evjscc-fig6", {"limit": 2}, "variants/n2"),
    ("evjscc-fig6", {"snr": "10,20"}, "variants/snr10"),
    ("evjscc-fig6", {"links": ("ev-jscc", "deepjscc")}, "variants/links-ev-jscc+deepjscc"),
    ("evjscc-fig6", {"links": FIGURES["evjscc-fig6"].links}, ""),
    ("evjscc-fig6", {"seed": 1}, "variants/seed1"),
])
def test_options_that_change_a_figure_name_a_folder_of_its_own(default_out, name, options, folder):
    assert figure_folder(FIGURES[name], None, **options) == (default_out / folder if folder else default_out)
    # a folder the user names is used as it is
    assert figure_folder(FIGURES[name], "mine", **options) == Path("mine")


def test_snr_tags_are_short_and_tell_grids_apart():
    assert snr_tag([0.0, 10.0]) == "0-10"
    assert snr_tag([0.0, 2.0, 4.0]) == "0-4by2"
    assert snr_tag([0.0, 5.0, 7.0]) == "0-5-7"
    long = snr_tag([float(x) / 3 for x in range(30)] + [50.0])
    assert len(long) < 40 and long != snr_tag([float(x) / 3 for x in range(30)] + [51.0])
    assert [opt for opt, _ in variant_options(FIGURES["evjscc-fig4"], limit=2, seed=1)] == ["--limit 2", "--seed 1"]


def test_changed_options_write_their_own_folder_and_keep_the_committed_figure(default_out, capsys, monkeypatch):
    """What issue 33 met: `semcom reproduce evjscc-fig4 --limit 4 --snr 0,10` replaced the committed figure.
    Now the figure, its manifest and its sweeps go to variants/<options>/ (both figures of two CBRs, in
    parallel processes), and a rerun resumes there."""
    from semcom.cli import main

    argv = ["reproduce", "evjscc-fig4", "evjscc-fig5", "--links", "deepjscc", "--snr", "0,10", "--limit", "1", "-q"]
    assert main([*argv, "--jobs", "2"]) == 0
    variant = default_out / "variants" / "n1_snr0-10"
    captured = capsys.readouterr()
    assert (f"--limit 1, --snr 0,10 change evjscc-fig4, evjscc-fig5: writing to {variant}/ "
            "(the committed figures are kept; --out DIR writes elsewhere)") in captured.err.splitlines()
    assert _untouched(default_out)
    assert sorted(p.name for p in default_out.iterdir()) == [
        "evjscc-fig4.manifest.json", "evjscc-fig4.png", "evjscc-fig6.csv", "evjscc-fig6.png", "variants"]
    for name in ("evjscc-fig4", "evjscc-fig5"):
        assert (variant / f"{name}.png").stat().st_size > 10_000
        manifest = json.loads((variant / f"{name}.manifest.json").read_text())
        assert manifest["panels"][0]["links"] == ["deepjscc"]
        stem = {"evjscc-fig4": "deepjscc_awgn_cbr1-48_n1", "evjscc-fig5": "deepjscc_awgn_cbr1-96_n1"}[name]
        assert sorted(p.name for p in (variant / name).glob("*.csv")) == [f"{stem}.csv", f"{stem}_frames.csv"]
    assert f"{variant}/evjscc-fig4.png" in captured.out
    # the same options again: resumed in the variant folder, nothing computed, nothing committed touched
    monkeypatch.setattr(sweep, "evaluate_point", _boom)
    png = rep.reproduce("evjscc-fig4", snr="0,10", limit=1, links=("deepjscc",), progress=False,
                        notice=lambda m: None)
    assert png == variant / "evjscc-fig4.png" and _untouched(default_out)


def test_links_alone_recomputes_nothing_new_and_redraws_the_committed_figure_in_place(default_out, monkeypatch,
                                                                                      capsys):
    """--links with the committed options resumes (or with --overwrite recomputes) those links' committed
    sweeps and redraws the figure from all of them, in place: the one case that writes the default folder."""
    from semcom.cli import main

    (default_out / "evjscc-fig4").mkdir()
    for link in ("deepjscc", "bpg-capacity"):
        for f in (COMMITTED / "evjscc-fig4").glob(f"{link}_awgn_cbr1-48*"):
            shutil.copy(f, default_out / "evjscc-fig4" / f.name)
    monkeypatch.setattr(sweep, "evaluate_point", _boom)
    assert main(["reproduce", "evjscc-fig4", "--links", "deepjscc", "-q", "--jobs", "1"]) == 0
    assert "variants" not in capsys.readouterr().err
    assert not (default_out / "variants").exists()
    assert (default_out / "evjscc-fig4.png").read_bytes()[:4] == b"\x89PNG"
    manifest = json.loads((default_out / "evjscc-fig4.manifest.json").read_text())
    assert manifest["panels"][0]["links"] == ["deepjscc", "bpg-capacity"]  # drawn from every sweep on disk
    for f in (default_out / "evjscc-fig4").iterdir():  # the sweeps themselves are unchanged
        assert f.read_bytes() == (COMMITTED / "evjscc-fig4" / f.name).read_bytes(), f.name


def test_a_grid_of_a_subset_of_links_goes_to_its_own_folder(default_out):
    png = rep.reproduce("evjscc-fig6", links=("deepjscc",), limit=1, notice=lambda m: None)
    assert png == default_out / "variants" / "n1_links-deepjscc" / "evjscc-fig6.png" and png.exists()
    assert (png.parent / "evjscc-fig6.csv").exists() and _untouched(default_out)
