import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from semcom.cli import main

BAD = [
    (["run", "--link", "softcast", "--snr", "a:b", "--cbr", "1/48"], "malformed SNR"),
    (["run", "--link", "softcast", "--snr", "10:0", "--cbr", "1/48"], "empty SNR range"),
    (["run", "--link", "softcast", "--snr", "", "--cbr", "1/48"], "empty SNR"),
    (["run", "--link", "softcast", "--snr", "0:20", "--cbr", "abc"], "malformed CBR"),
    (["run", "--link", "softcast", "--snr", "0:20", "--cbr", "2"], "(0, 1]"),
    (["run", "--link", "softcast", "--snr", "0:20", "--cbr", "0"], "(0, 1]"),
    (["run", "--link", "sofcast", "--snr", "0:20", "--cbr", "1/48"], "did you mean 'softcast'"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "1/48", "--channel", "awgm"], "did you mean 'awgn'"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "1/48", "--out", "/proc/semcom"], "cannot write"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "1/48", "--repeats", "0"], "repeats"),
    (["run", "--snr", "0", "--cbr", "1/48"], "--link"),
    (["plot", "does-not-exist.csv"], "no such results file"),
    (["run", "--link", "softcast", "--snr", "0:1000000:0.001", "--cbr", "1/48"], "at most 1000"),
    (["run", "--link", "softcast", "--snr", "5,5", "--cbr", "1/48"], "repeats a point"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "1/48", "--size", "100000"], "--size"),
    (["run", "--link", "softcast", "--snr", "1000000000", "--cbr", "1/48"], "outside"),
    (["run", "--link", "softcast", "--snr", "1e9", "--cbr", "1/48"], "outside"),
    (["plot", str(Path(__file__).parent)], "no such results file"),
    (["plot", str(Path(__file__).parents[1] / "docs" / "img" / "synth-blur-sample.png")], "not a results CSV"),
    (["run", "--link", str(Path(__file__).parent), "--snr", "0", "--cbr", "1/48"], "is a folder"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "1/48", "--checkpoint", __file__],
     "no learned weights"),
    (["train", "--plot", "nope.csv"], "training log not found"),
    (["train", "--link", "softcast", "--cbr", "1/48", "--snr", "10", "--steps", "1"], "no learned weights"),
    (["train", "--link", "deepjscc", "--cbr", "1/48", "--snr", "10", "--lr", "-1"], "--lr"),
    (["train", "--link", "deepjscc", "--cbr", "1/48", "--snr", "10", "--shards", "0"], "--shards"),
    (["train", "--link", "deepjscc", "--cbr", "1/48", "--snr", "10", "--val-every", "15"], "multiple of"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "1/48", "--metrics", ""], "no metric"),
    (["reproduce", "evjscc-fig4", "--jobs", "0"], "--jobs"),
    (["reproduce", "evjscc-fig4", "--limit", "0"], "--limit"),
    (["data", "show", "--out", "/proc/semcom/x.png"], "cannot write"),
    (["train", "--link", "deepjscc", "--cbr", "1/48", "--snr", "10", "--augment", "shear"], "unknown augmentation"),
    (["train", "--link", "deepjscc", "--cbr", "1/48", "--snr", "10", "--ema", "1.5"], "--ema"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "1/48", "--address", "auto"], "--executor ray"),
    (["reproduce", "evjscc-fig4", "--address", "auto"], "--executor ray"),
    (["reproduce", "evjscc-fig4", "--executor", "ray", "--jobs", "2"], "--jobs applies"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "1/48", "--executor", "dask"], "--executor"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "1/48", "--camera", "noisey"], "did you mean 'noisy'"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "1/48", "--camera-param", "leak=1"], "no setting 'leak'"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "1/48", "--camera-param", "preset=v2e"], "--camera"),
    (["data", "show", "--compare-noise", "default,bogus"], "unknown preset(s) bogus"),
    (["data", "show", "--compare-noise", "default", "--camera", "v2e"], "--compare-noise"),
    (["data", "show", "--camera", "loud"], "unknown camera preset 'loud'"),
]


@pytest.mark.parametrize("argv,needle", BAD)
def test_bad_input_one_line_exit_2(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("semcom: error:") and needle in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [["run", "--link", "softcast", "--snr", "0", "--cbr", "1/48"],
                                  ["reproduce", "evjscc-fig4", "--links", "deepjscc", "--snr", "0"]])
def test_executor_ray_without_ray_says_how_to_install_it(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as if not installed
    assert main([*argv, "--executor", "ray", "--out", str(tmp_path / "out")]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines == ["semcom: error: --executor ray needs Ray, which is not installed: pip install 'semcom[ray]'"]
    assert not (tmp_path / "out").exists()  # nothing written


def test_console_script_exit_code_and_no_traceback():
    exe = Path(sys.executable).with_name("semcom")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "semcom.cli"]
    proc = subprocess.run(cmd + ["run", "--link", "softcast", "--snr", "0:20", "--cbr", "1/0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_links_lists_softcast(capsys):
    assert main(["links"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("softcast ") for line in out.splitlines())


def test_runs_that_differ_get_their_own_files_and_the_readme_order_works(tmp_path):
    """make demo, then the same link with a checkpoint and with --limit: no collision."""
    from semcom.train import train

    base = ["run", "--link", "deepjscc", "--snr", "10", "--cbr", "1/48", "--limit", "1", "--metrics", "psnr",
            "--out", str(tmp_path), "-q", "--no-plot"]
    assert main(base) == 0
    ck = train("deepjscc", cbr=1 / 48, snr_range=(0.0, 20.0), steps=1, batch_size=2, dataset="skimage", size=32,
               n_train=2, out=tmp_path / "my.ckpt", progress=False, codec_params={"width": 8}).checkpoint
    assert main([*base, "--checkpoint", str(ck)]) == 0
    assert main([*base[:-4], "--limit", "2", *base[-4:]]) == 0
    names = sorted(p.name for p in tmp_path.glob("deepjscc_*.csv") if not p.name.endswith("_frames.csv"))
    assert names == ["deepjscc_awgn_cbr1-48_ckpt-my_n1_m-psnr.csv", "deepjscc_awgn_cbr1-48_n1_m-psnr.csv",
                     "deepjscc_awgn_cbr1-48_n2_m-psnr.csv"]


def test_run_writes_csv_json_png_and_plot_command(tmp_path, capsys):
    argv = ["run", "--link", "softcast", "--snr", "0:10:5", "--cbr", "1/12", "--dataset", "skimage",
            "--size", "32", "--limit", "2", "--metrics", "psnr,ssim", "--out", str(tmp_path), "-q"]
    assert main(argv) == 0
    csv = tmp_path / "softcast_awgn_cbr1-12_skimage_size-32_n2_m-psnr-ssim.csv"
    assert len(pd.read_csv(csv)) == 3
    assert csv.with_suffix(".json").exists() and csv.with_suffix(".png").stat().st_size > 10_000
    # the sidecar holds what the blurry input itself scores against the sharp frame (the plots' reference line)
    import json

    from semcom.metrics.functional import psnr
    from semcom.registry import SOURCES

    side = json.loads(csv.with_suffix(".json").read_text())
    assert "reference" not in side  # these pictures are not blurred: the input is the target, no line to draw
    assert main(argv[:7] + ["--dataset", "synth-blur", "--size", "32", "--limit", "2", "--metrics", "psnr",
                            "--out", str(tmp_path / "s"), "-q", "--no-plot"]) == 0
    ref = json.loads(next((tmp_path / "s").glob("*.json")).read_text())["reference"]["blurry input"]
    ds = SOURCES.build("synth-blur", split="test", size=32, limit=2)
    want = sum(float(psnr(ds[i].blurry[None], ds[i].sharp[None])) for i in range(2)) / 2
    assert set(ref) == {"psnr"} and abs(ref["psnr"] - want) < 1e-3
    out_png = tmp_path / "again.png"
    assert main(["plot", str(csv), "--out", str(out_png)]) == 0
    assert out_png.exists()


def test_a_refused_input_leaves_no_files(tmp_path, capsys):
    argv = ["run", "--link", "softcast", "--snr", "10", "--cbr", "1e-9", "--dataset", "skimage", "--size", "32",
            "--metrics", "psnr",
            "--limit", "1", "--out", str(tmp_path), "-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "too small" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["--help"], ["links"], ["run", "--help"], ["train", "--help"], ["data", "--help"],
                                  ["reproduce", "--help"]])
def test_help_and_links_start_without_torch(argv):
    """The start-up path imports no torch (its import alone takes about a second)."""
    code = ("import sys; from semcom.cli import main; rc = main(%r); "
            "assert rc == 0, rc; assert 'torch' not in sys.modules, 'torch was imported'" % (argv,))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Usage" in proc.stdout or "softcast" in proc.stdout


def test_the_group_help_reads_no_numpy_either():
    """`semcom --help` imports no command's heavy libraries: each command module imports them inside its function."""
    code = ("import sys; from semcom.cli import main; assert main(['--help']) == 0; "
            "heavy = sorted({'torch', 'numpy', 'matplotlib', 'pandas'} & set(sys.modules)); assert not heavy, heavy")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_every_command_group_has_its_module():
    import semcom.cli as package
    from semcom.cli import cli

    modules = {p.stem for p in Path(package.__file__).parent.glob("*.py")} - {"__init__", "__main__", "options"}
    assert {c.callback.__module__.rsplit(".", 1)[-1] for c in cli.commands.values()} == modules


def _sweep_csv(path, link):
    path.write_text(f"link,channel,cbr,snr_db,psnr\n{link},awgn,0.0208333,0,20\n{link},awgn,0.0208333,10,25\n")
    return path


def test_plot_without_out_never_replaces_a_runs_own_png(tmp_path, capsys):
    """`semcom plot A.csv B.csv` draws into a name of its own; A's PNG (what `semcom run` drew) stays."""
    from semcom.cli import default_plot_path

    a, b = _sweep_csv(tmp_path / "a.csv", "softcast"), _sweep_csv(tmp_path / "b.csv", "deepjscc")
    a.with_suffix(".png").write_bytes(b"the run's own figure")
    assert main(["plot", str(a), str(b)]) == 0
    drawn = Path(capsys.readouterr().out.strip())
    assert drawn == tmp_path / "a+b.png" and drawn.stat().st_size > 1000
    assert a.with_suffix(".png").read_bytes() == b"the run's own figure"
    many = [str(_sweep_csv(tmp_path / f"r{i}.csv", "softcast")) for i in range(5)]
    name = default_plot_path(many).name
    assert name.startswith("r0+4-more_") and name.endswith(".png")
    assert default_plot_path(many) != default_plot_path(many[:4] + [str(a)])  # another set, another name
    assert default_plot_path([str(a)]) == a.with_suffix(".png")  # one CSV: its own figure, redrawn


def _options(command, path=()):
    import click

    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _options(sub, (*path, name))
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            yield " ".join(("semcom", *path)), param


def test_every_option_has_help_and_the_required_ones_say_so():
    from semcom.cli import cli

    missing = [f"{cmd} {p.opts[0]}" for cmd, p in _options(cli) if not (p.help or "").strip()]
    assert not missing, missing
    from click.testing import CliRunner

    text = CliRunner().invoke(cli, ["train", "--help"]).output
    assert "[required, except with --plot]" in " ".join(text.split()).split("--cbr")[0]
    run_help = " ".join(CliRunner().invoke(cli, ["run", "--help"]).output.split())
    assert all(f"{opt} " in run_help for opt in ("--link", "--snr", "--cbr")) and run_help.count("[required]") >= 3


def test_data_photos_is_the_installer_and_says_what_it_needs(tmp_path, monkeypatch, capsys):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda tool: None)
    assert main(["data", "photos", "--dest", str(tmp_path / "photos")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "apt-get not found" in err and "Traceback" not in err
    assert not (tmp_path / "photos").exists()


def test_the_camera_preset_reaches_the_sweep_and_names_its_files(tmp_path):
    """``semcom run --camera`` simulates the evaluation frames with that preset: the RGB frame's noise changes
    what DeepJSCC receives, the file names and sidecars say which camera, and the default run is untouched."""
    import json

    base = ["run", "--link", "deepjscc", "--cbr", "1/48", "--snr", "10", "--limit", "1", "--metrics", "psnr",
            "--size", "64", "--out", str(tmp_path), "-q", "--no-plot"]
    assert main(base) == 0
    assert main([*base, "--camera", "noisy"]) == 0
    assert main([*base, "--camera", "ideal", "--camera-param", "read_noise=0.05"]) == 0
    runs = {p.name: pd.read_csv(p) for p in tmp_path.glob("*.csv") if not p.name.endswith("_frames.csv")}
    plain = next(n for n in runs if "camera" not in n)
    noisy = next(n for n in runs if "camera-noisy" in n)
    tuned = next(n for n in runs if "camera-" in n and n != noisy)
    assert "read-noise-0.05" in tuned and "preset-ideal" in tuned
    assert runs[plain]["psnr"][0] != runs[noisy]["psnr"][0] != runs[tuned]["psnr"][0]
    side = json.loads((tmp_path / noisy).with_suffix(".json").read_text())
    assert "noisy" in json.dumps(side["config"])


def test_data_show_draws_one_sample_under_several_presets(tmp_path):
    out = tmp_path / "noise.png"
    assert main(["data", "show", "--compare-noise", "default,noisy", "--size", "48", "--out", str(out)]) == 0
    assert out.stat().st_size > 5_000
    one = tmp_path / "one.png"
    assert main(["data", "show", "--camera", "v2e", "--size", "48", "--out", str(one)]) == 0
    assert one.exists()
    assert main(["data", "show", "--compare-noise", "noisy", "--index", "999", "--size", "48",
                 "--out", str(tmp_path / "none.png")]) == 2
    assert not (tmp_path / "none.png").exists()
