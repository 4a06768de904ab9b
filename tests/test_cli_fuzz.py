"""A corpus of bad command lines: each ends in exit status 2 with one error line, no traceback, no file left.

Every case runs in-process from an empty working directory; "one line" is what a terminal shows
(a progress bar cleared with carriage returns does not count).  Cases that would start real work
carry ``--limit 1 --size 32`` so that a mistake in the refusal path costs seconds, not a sweep.
"""

import pytest

from semcom.cli import main

# a softcast run and a deepjscc training with every argument but the one under test
R = ["run", "--link", "softcast", "--cbr", "1/48", "--limit", "1", "--size", "32"]
T = ["train", "--link", "deepjscc", "--cbr", "1/48", "--size", "32", "--n-train", "2", "--steps", "1"]
BAD = [
    # run: SNR
    (R + ["--snr", "a:b"], "malformed SNR"),
    (R + ["--snr", "10:0"], "empty SNR range"),
    (R + ["--snr", ""], "empty SNR"),
    (R + ["--snr", "0:20:0"], "step"),
    (R + ["--snr", "0:20:-1"], "SNR"),
    (R + ["--snr", "nan"], "SNR"),
    (R + ["--snr", "inf"], "SNR"),
    (R + ["--snr", "1,,2"], "SNR"),
    (R + ["--snr", "0:1:2:3"], "SNR"),
    (R + ["--snr", "5,5"], "repeats a point"),
    (R + ["--snr", "1e9"], "outside"),
    (R + ["--snr", "-1000"], "outside"),
    (R + ["--snr", "0:1000000:0.001"], "at most 1000"),
    # run: CBR
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "abc"], "malformed CBR"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "2"], "(0, 1]"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "0"], "(0, 1]"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "-1/48"], "CBR"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "1/0"], "CBR"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "nan"], "CBR"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "1e-9"], "CBR"),
    (["reproduce", "evjscc-fig4", "--links", "softcast"], "softcast in none of evjscc-fig4"),
    # run: link, channel, data
    (["run", "--link", "sofcast", "--snr", "0", "--cbr", "1/48"], "did you mean 'softcast'"),
    (["run", "--link", "/nonexistent/x.toml", "--snr", "0", "--cbr", "1/48"], "not found"),
    (["run", "--link", "{tests}", "--snr", "0", "--cbr", "1/48"], "is a folder"),
    (["run", "--link", "{bad_toml}", "--snr", "0", "--cbr", "1/48"], "invalid TOML"),
    (["run", "--link", "{bad_codec}", "--snr", "0", "--cbr", "1/48"], "unknown codec"),
    (R + ["--snr", "0", "--channel", "awgm"], "did you mean 'awgn'"),
    (R + ["--snr", "0", "--channel-param", "nosuch=1"], "takes no argument 'nosuch' (valid: none)"),
    (R + ["--snr", "0", "--channel-param", "novalue"], "KEY=VALUE"),
    (R + ["--snr", "0", "--channel", "rayleigh", "--channel-param", "fading=sometimes"], "fading"),
    (R + ["--snr", "0", "--dataset", "nosuch"], "unknown source"),
    (R + ["--snr", "0", "--dataset", "folder"], "data_root"),
    (R + ["--snr", "0", "--dataset", "folder", "--data-root", "/nonexistent"], "not a folder"),
    (R + ["--snr", "0", "--dataset", "gopro", "--data-root", "/nonexistent"], "gopro"),
    (R + ["--snr", "0", "--data-root", "/tmp"], "--data-root"),
    (R + ["--snr", "0", "--size", "100000"], "--size"),
    (R + ["--snr", "0", "--size", "0"], "--size"),
    (R + ["--snr", "0", "--size", "-5"], "--size"),
    (R + ["--snr", "0", "--size", "abc"], "size"),
    (R + ["--snr", "0", "--limit", "0"], "limit"),
    (R + ["--snr", "0", "--limit", "-3"], "limit"),
    (R + ["--snr", "0", "--repeats", "0"], "repeats"),
    (R + ["--snr", "0", "--batch-size", "0"], "batch"),
    (R + ["--snr", "0", "--metrics", ""], "no metric"),
    (R + ["--snr", "0", "--metrics", "psnr,nosuch"], "unknown metric"),
    (R + ["--snr", "0", "--checkpoint", "/nonexistent.ckpt"], "not found"),
    (R + ["--snr", "0", "--checkpoint", "{this_file}"], "no learned weights"),
    (["run", "--link", "deepjscc", "--snr", "0", "--cbr", "1/48", "--checkpoint", "{this_file}"], "checkpoint"),
    (["run", "--link", "deepjscc", "--snr", "0", "--cbr", "1/7", ], "CBR"),
    (R + ["--snr", "0", "--out", "/proc/semcom"], "cannot write"),
    (R + ["--snr", "0", "--all-configs"], "all-configs"),
    (["run", "--snr", "0", "--cbr", "1/48"], "--link"),
    (["run", "--link", "softcast", "--cbr", "1/48"], "--snr"),
    (["run", "--link", "softcast", "--snr", "0", "--cbr", "1/48", "--nosuch"], "nosuch"),
    (["nosuch"], "nosuch"),
    # plot
    (["plot", "does-not-exist.csv"], "no such results file"),
    (["plot", "{tests}"], "no such results file"),
    (["plot", "{png}"], "not a results CSV"),
    (["plot", "{empty_csv}"], "not a results CSV"),
    (["plot", "{other_csv}"], "not a sweep CSV"),
    (["plot", "{good_csv}", "--out", "/proc/semcom/p.png"], "cannot write"),
    (["plot", "{good_csv}", "--out", "{tmp}/p.nosuchformat"], "cannot write"),
    # train
    (T + ["--snr", "10", "--lr", "-1"], "--lr"),
    (T + ["--snr", "10", "--lr", "0"], "--lr"),
    (T + ["--snr", "10", "--shards", "0"], "--shards"),
    (T + ["--snr", "10", "--val-every", "15"], "multiple of"),
    (T + ["--snr", "10", "--augment", "shear"], "unknown augmentation"),
    (T + ["--snr", "10", "--ema", "1.5"], "--ema"),
    (T + ["--snr", "10", "--steps", "0"], "steps must be a positive integer"),
    (T + ["--snr", "10", "--steps", "-5"], "steps must be a positive integer"),
    (T + ["--snr", "10", "--batch", "0"], "batch"),
    (T + ["--snr", "10", "--size", "4"], "size"),
    (T + ["--snr", "10", "--crop", "1000"], "crop"),
    (T + ["--snr", "10", "--n-train", "0"], "n_train"),
    (T + ["--snr", "10", "--val", "-1"], "val"),
    (T + ["--snr", "10", "--schedule", "nosuch"], "unknown schedule"),
    (T + ["--snr", "10", "--dataset", "nosuch"], "unknown source"),
    (T + ["--snr", "10", "--device", "tpu"], "device"),
    (T + ["--snr", "10", "--device", "cuda"], "CUDA"),
    (T + ["--snr", "10", "--codec-param", "nosuch=1"], "valid: adaptive, snr_db, width"),
    (T + ["--snr", "10", "--dataset-param", "novalue"], "KEY=VALUE"),
    (T + ["--snr", "10", "--snr-range", "0:20"], "--snr"),
    (T, "--snr"),
    (T + ["--snr-range", "20:0"], "range"),
    (T + ["--snr", "abc"], "malformed --snr"),
    (["train", "--link", "nosuch", "--cbr", "1/48", "--snr", "10"], "unknown link"),
    (["train", "--link", "softcast", "--cbr", "1/48", "--snr", "10", "--steps", "1"], "no learned weights"),
    (["train", "--link", "deepjscc", "--cbr", "0", "--snr", "10"], "(0, 1]"),
    (T + ["--snr", "10", "--warm-start", "{this_file}"], "checkpoint"),
    (T + ["--snr", "10", "--init", "{this_file}"], "checkpoint"),
    (T + ["--snr", "10", "--threads", "0"], "threads"),
    (T + ["--snr", "10", "--log-every", "0"], "log_every"),
    (T + ["--snr", "10", "--checkpoint-every", "0"], "checkpoint_every"),
    (T + ["--snr", "10", "--out", "/proc/semcom/x.ckpt", "--steps", "1"], "cannot write"),
    (["train", "--plot", "nope.csv"], "training log not found"),
    (["train", "--plot", "{png}"], "log"),
    # data
    (["data", "show", "--out", "/proc/semcom/x.png"], "cannot write"),
    (["data", "show", "--dataset", "nosuch"], "unknown source"),
    (["data", "show", "--index", "-1"], "index"),
    (["data", "show", "--index", "100000"], "index"),
    (["data", "nosuch"], "nosuch"),
    (["data", "synth", "--n-train", "-1"], "n"),
    # round two (issue 33): sizes that exist, caps, folders, suggestions whatever the case, plugins
    (R + ["--snr", "0", "--limit", "100000"], "--limit 100000 is more than the 32 frames the evaluation set"),
    (R + ["--snr", "0", "--repeats", "100000000"], "one sweep runs at most 1,000,000"),
    (R + ["--snr", "0:20:0.1", "--repeats", "10000"], "one sweep runs at most 1,000,000"),
    (["run", "--link", "stra", "--snr", "0", "--cbr", "1/48", "--limit", "1000"], "than the 8 sequences"),
    (R + ["--snr", "20:0"], "a negative step (20:0:-1)"),
    (R + ["--snr", "0:20:-2"], "never reaches the end point"),
    (["run", "--link", "EV-JSCC", "--snr", "0", "--cbr", "1/48"], "did you mean 'ev-jscc'"),
    (R + ["--snr", "0", "--channel", "AWGN"], "did you mean 'awgn'"),
    (R + ["--snr", "0", "--metrics", "PSNR"], "did you mean 'psnr'"),
    (R + ["--SNR", "0"], "did you mean '--snr'"),
    (["RUN"], "did you mean 'run'"),
    (["reproduce", "EVJSCC-FIG4"], "did you mean 'evjscc-fig4'"),
    (T + ["--snr", "10", "--out", "{tmp}"], "names a folder; give the checkpoint's file name"),
    (T + ["--snr", "10", "--out", "{tmp}/new/"], "names a folder"),
    (["--plugin", "nosuch.py", "links"], "plugin 'nosuch.py' not found"),
    (["--plugin", "nosuch_module_x", "links"], "no module named 'nosuch_module_x'"),
    (["--plugin", "{tests}", "links"], "is a folder"),
    (["--plugin", "{broken_plugin}", "links"], "failed to load: NameError: name 'torhc' is not defined"),
    (["--plugin", "{syntax_plugin}", "links"], "failed to load: SyntaxError"),
    (["--plugin", "{clash_plugin}", "links"], "codec 'softcast' is registered twice"),
    (["run", "--plugin", "x.py", "--link", "softcast"], "give it before the command"),
    (["data", "photos", "--debs", "/nonexistent"], "--debs"),
    # reproduce
    (["reproduce", "evjscc-fig4", "--jobs", "0"], "--jobs"),
    (["reproduce", "evjscc-fig4", "--limit", "0"], "--limit"),
    (["reproduce", "evjscc-fig4", "--repeats", "0"], "--repeats"),
    (["reproduce", "nosuch"], "unknown figure"),
    (["reproduce"], "figure"),
    (["reproduce", "evjscc-fig4", "--links", "nosuch"], "nosuch"),
    (["reproduce", "evjscc-fig4", "--snr", "a:b"], "SNR"),
    (["reproduce", "evjscc-fig4", "--out", "/proc/semcom"], "cannot write"),
]


FILES = {
    "{bad_toml}": ("bad.toml", "name = ["),
    "{bad_codec}": ("badc.toml", 'name = "x"\n[codec]\nname = "nosuch"\n'),
    "{empty_csv}": ("empty.csv", ""),
    "{other_csv}": ("other.csv", "a,b\n1,2\n"),
    "{good_csv}": ("good.csv", "link,channel,cbr,snr_db,psnr\nsoftcast,awgn,0.02,0,20\n"),
    "{broken_plugin}": ("broken_plugin.py", "import torch\n\nx = torhc.zeros(1)\n"),
    "{syntax_plugin}": ("syntax_plugin.py", "def f(:\n"),
    "{clash_plugin}": ("clash_plugin.py", "from semcom.registry import CODECS\n\n\n"
                                          "@CODECS.register('softcast')\nclass Mine:\n    pass\n"),
}


def _terminal_lines(text: str) -> list[str]:
    """The non-blank lines a terminal would show (the last carriage-return segment of each)."""
    return [seg for seg in (line.split("\r")[-1] for line in text.split("\n")) if seg.strip()]


def test_the_corpus_is_large_and_covers_every_command():
    assert len(BAD) >= 60
    assert {argv[0] for argv, _ in BAD} >= {"run", "train", "plot", "data", "reproduce"}


@pytest.mark.parametrize("argv,needle", BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_bad_input(argv, needle, tmp_path, monkeypatch, capsys):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    work = tmp_path / "work"
    work.mkdir()
    subs = {"{tests}": str(root / "tests"), "{this_file}": str(root / "README.md"),
            "{png}": str(root / "docs" / "img" / "synth-blur-sample.png"), "{tmp}": str(work)}
    for key, (name, text) in FILES.items():
        (tmp_path / name).write_text(text)
        subs[key] = str(tmp_path / name)
    args = [subs.get(a, a).replace("{tmp}", str(work)) for a in argv]
    monkeypatch.chdir(work)
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = _terminal_lines(err)
    assert len(lines) == 1, err
    assert lines[0].startswith("semcom: error:") and needle in lines[0], lines[0]
    assert "Traceback" not in err
    assert not list(work.rglob("*")), sorted(map(str, work.rglob("*")))
