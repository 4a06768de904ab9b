import json

import pandas as pd
import pytest

import semcom.bench.sweep as sweep
from semcom.bench.results import mean_ci95
from semcom.bench.sweep import SweepConfig, run_sweep
from semcom.errors import SemcomError


def _cfg(**kw):
    base = dict(link="softcast", cbr=1 / 12, snr_db=(0.0, 5.0, 10.0), dataset="skimage",
                dataset_params={"size": 32}, limit=4, repeats=2, seed=3, batch_size=2, metrics=("psnr", "ssim"))
    base.update(kw)
    return SweepConfig(**base)


def _table(path):
    return pd.read_csv(path).drop(columns=["seconds"])


def test_rows_columns_and_sidecar(tmp_path):
    path = run_sweep(_cfg(), out_dir=tmp_path, progress=False)
    df = pd.read_csv(path)
    assert list(df["snr_db"]) == [0.0, 5.0, 10.0]
    for col in ("link", "channel", "cbr", "snr_db", "n", "psnr", "psnr_ci95", "ssim", "ssim_ci95",
                "dists", "dists_ci95"):
        assert col in df.columns
    assert (df["n"] == 8).all() and df["dists"].isna().all()  # dists not asked for here
    assert df["psnr"].is_monotonic_increasing
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["config"]["seed"] == 3 and "torch" in meta["versions"] and meta["git_commit"]


def test_resume_after_interrupt_gives_the_same_csv(tmp_path, monkeypatch):
    full = run_sweep(_cfg(), out_dir=tmp_path / "a", progress=False)

    real = sweep.evaluate_point
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep, "evaluate_point", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(_cfg(), out_dir=tmp_path / "b", progress=False)
    partial = pd.read_csv(tmp_path / "b" / full.name)
    assert list(partial["snr_db"]) == [0.0]  # the finished point was kept, the CSV is valid
    monkeypatch.setattr(sweep, "evaluate_point", real)
    resumed = run_sweep(_cfg(), out_dir=tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(_table(full), _table(resumed))


def test_resume_skips_finished_points(tmp_path, monkeypatch):
    run_sweep(_cfg(snr_db=(0.0, 5.0)), out_dir=tmp_path, progress=False)
    seen = []
    real = sweep.evaluate_point
    monkeypatch.setattr(sweep, "evaluate_point", lambda *a, **k: seen.append(k["snr_db"]) or real(*a, **k))
    path = run_sweep(_cfg(snr_db=(0.0, 5.0, 10.0)), out_dir=tmp_path, progress=False)
    assert seen == [10.0]
    assert list(pd.read_csv(path)["snr_db"]) == [0.0, 5.0, 10.0]


def test_changed_configuration_is_refused(tmp_path):
    from semcom.link import find_link

    first = run_sweep(_cfg(snr_db=(0.0,)), out_dir=tmp_path, progress=False)
    # an option that changes the numbers gets its own file name
    other = run_sweep(_cfg(snr_db=(0.0,), seed=4), out_dir=tmp_path, progress=False)
    assert other != first and "seed4" in other.name
    # a changed link file behind the same name is refused, and replaced with --overwrite
    link = tmp_path / "softcast.toml"
    link.write_text(open(find_link("softcast").path).read())
    run_sweep(_cfg(link=str(link), snr_db=(0.0,)), out_dir=tmp_path / "x", progress=False)
    link.write_text(link.read_text().replace("chunk = 16", "chunk = 8"))
    with pytest.raises(SemcomError, match="different configuration"):
        run_sweep(_cfg(link=str(link), snr_db=(0.0,)), out_dir=tmp_path / "x", progress=False)
    path = run_sweep(_cfg(link=str(link), snr_db=(0.0,)), out_dir=tmp_path / "x", overwrite=True, progress=False)
    assert len(pd.read_csv(path)) == 1


def test_mean_ci95_against_hand_computation():
    import numpy as np
    from scipy import stats

    v = np.array([[1.0, 3.0], [2.0, 2.0], [4.0, 6.0], [0.0, 2.0]])
    per_image = v.mean(1)
    mean, half = mean_ci95(v)
    assert mean == pytest.approx(per_image.mean())
    assert half == pytest.approx(stats.t.ppf(0.975, 3) * per_image.std(ddof=1) / 2)
    assert np.isnan(mean_ci95(np.ones((1, 3)))[1])


def test_a_changed_checkpoint_file_is_not_resumed_into_old_rows(tmp_path):
    import shutil

    from semcom.zoo.store import entry_path, find_entry, load_checkpoint, save_checkpoint

    ck = tmp_path / "model.ckpt"
    shutil.copy(entry_path(find_entry(codec="deepjscc", cbr=1 / 48, snr_mode="adaptive", snr_db=None)), ck)
    cfg = lambda snr: SweepConfig(link="deepjscc", cbr=1 / 48, snr_db=snr, limit=1, metrics=("psnr",),  # noqa: E731
                                  checkpoint=str(ck))
    run_sweep(cfg((0.0,)), out_dir=tmp_path / "out", progress=False)
    run_sweep(cfg((0.0, 5.0)), out_dir=tmp_path / "out", progress=False)      # same file: resumes
    old = load_checkpoint(ck)
    codec = {k: (v + 0.01 if v.is_floating_point() else v) for k, v in old.codec.items()}
    save_checkpoint(ck, meta=old.meta, codec=codec, receiver=old.receiver)    # retrained in place
    with pytest.raises(SemcomError, match="other model weights"):
        run_sweep(cfg((0.0, 5.0, 10.0)), out_dir=tmp_path / "out", progress=False)


def test_results_resume_from_another_clone_or_folder(tmp_path, monkeypatch):
    """The resume key holds the link's contents, not the path of its file: the same link file in
    another place (a clone elsewhere) and a moved results folder resume; other contents do not."""
    import shutil

    from semcom.link import find_link

    text = open(find_link("softcast").path).read()
    for place in ("one", "two"):
        (tmp_path / place).mkdir()
        (tmp_path / place / "softcast.toml").write_text(text)
    run_sweep(_cfg(link=str(tmp_path / "one" / "softcast.toml"), snr_db=(0.0,)), out_dir=tmp_path / "r",
              progress=False)
    shutil.move(tmp_path / "r", tmp_path / "moved")
    seen = []
    real = sweep.evaluate_point
    monkeypatch.setattr(sweep, "evaluate_point", lambda *a, **k: seen.append(k["snr_db"]) or real(*a, **k))
    run_sweep(_cfg(link=str(tmp_path / "two" / "softcast.toml"), snr_db=(0.0, 5.0)), out_dir=tmp_path / "moved",
              progress=False)
    assert seen == [5.0]  # 0 dB was resumed from the other file's run
    # a sidecar of the former format (key over the identity with the path) still resumes
    meta_path = next((tmp_path / "moved").glob("*.json"))
    meta = json.loads(meta_path.read_text())
    meta["config_key"] = "0123456789abcdef"
    meta_path.write_text(json.dumps(meta))
    run_sweep(_cfg(link=str(tmp_path / "one" / "softcast.toml"), snr_db=(0.0, 5.0)), out_dir=tmp_path / "moved",
              progress=False)
    assert seen == [5.0]
    assert "chunk = 16" in text
    (tmp_path / "two" / "softcast.toml").write_text(text.replace("chunk = 16", "chunk = 8"))  # other contents
    with pytest.raises(SemcomError, match="different configuration"):
        run_sweep(_cfg(link=str(tmp_path / "two" / "softcast.toml"), snr_db=(0.0,)), out_dir=tmp_path / "moved",
                  progress=False)


def test_points_outside_the_trained_snr_range_are_noted_once():
    from types import SimpleNamespace

    from semcom.bench.sweep import trained_range_notice

    def link(meta):
        return SimpleNamespace(codec=SimpleNamespace(checkpoint_meta=meta), spec=SimpleNamespace(name="x"))

    adaptive = link({"snr_range": [0.0, 20.0]})
    assert trained_range_notice(adaptive, (0.0, 10.0, 20.0)) is None
    msg = trained_range_notice(adaptive, (-5.0, 0.0, 25.0, 30.0))
    assert "over 0 to 20 dB" in msg and "2 SNR point(s) (-5, 25, 30 dB)" not in msg and "3 SNR point(s)" in msg
    single = trained_range_notice(link({"snr_db": 10.0, "snr_range": None}), (5.0, 10.0))
    assert "at 10 dB only" in single and "(5 dB)" in single
    assert trained_range_notice(link(None), (100.0,)) is None  # untrained or model-based: nothing to say


def test_a_finished_sweep_run_again_leaves_its_files_untouched(tmp_path):
    from semcom.bench.sweep import SweepConfig, run_sweep

    cfg = SweepConfig(link="softcast", cbr=1 / 12, snr_db=(0.0, 10.0), dataset="synth-blur",
                      dataset_params={"size": 32}, limit=2, metrics=("psnr",))
    csv = run_sweep(cfg, out_dir=tmp_path, progress=False, notice=lambda m: None)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    said = []
    assert run_sweep(cfg, out_dir=tmp_path, progress=False, notice=said.append) == csv
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert any("already in" in m for m in said)


def test_output_names_keep_dots_in_link_names():
    """Links named share0.1 and share0.4 write different files (a file-name stem would cut both to share0)."""
    from semcom.bench.identity import output_stem

    a, b = output_stem("share0.1", "awgn", 1 / 48), output_stem("share0.4", "awgn", 1 / 48)
    assert a != b and a.startswith("share0.1_awgn")
    assert output_stem("/tmp/links/share0.1.toml", "awgn", 1 / 48) == a


def test_sidecar_names_a_shipped_link_by_its_package_path_and_is_redescribed_without_recomputing(
        tmp_path, monkeypatch):
    path = run_sweep(_cfg(), out_dir=tmp_path, progress=False)
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text())
    assert meta["resolved"]["link"]["path"] == "semcom/links/softcast.toml"
    # a sidecar written by an older version with a machine's absolute path: described anew, rows and
    # the commit that computed them kept, nothing evaluated again
    meta["resolved"]["link"]["path"] = "/somewhere/else/semcom/links/softcast.toml"
    meta["git_commit"] = "0123abc"
    side.write_text(json.dumps(meta))
    before = path.read_text()
    monkeypatch.setattr(sweep, "evaluate_point", lambda *a, **k: pytest.fail("recomputed"))
    run_sweep(_cfg(), out_dir=tmp_path, progress=False)
    again = json.loads(side.read_text())
    assert again["resolved"]["link"]["path"] == "semcom/links/softcast.toml"
    assert again["git_commit"] == "0123abc" and path.read_text() == before


def test_checkpoint_paths_are_recorded_relative_to_the_package_or_the_repository(tmp_path):
    """A sidecar names a shipped zoo file by its package path and a file inside the repository by its path
    from the repository's root, whatever the path given; any other file as given."""
    from pathlib import Path

    from semcom.bench.identity import display_checkpoint, display_path
    from semcom.zoo.store import entry_path, find_entry

    zoo = entry_path(find_entry(codec="deepjscc", cbr=1 / 48, snr_mode="adaptive"))
    assert display_checkpoint(str(zoo.resolve())) == "semcom/zoo/checkpoints/deepjscc-cbr1-48-adaptive.ckpt"
    assert display_checkpoint(None) is None and display_checkpoint("none") == "none"
    outside = str(tmp_path / "my.ckpt")
    assert display_checkpoint(outside) == outside
    root = Path(sweep.__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file():  # run from a source checkout
        assert display_path(str(root / "ckpt" / "run" / "x.ckpt")) == "ckpt/run/x.ckpt"
        assert display_path(str(root / "results" / "exp" / "x.toml")) == "results/exp/x.toml"


def test_a_checkpoint_given_by_absolute_path_is_redescribed_without_recomputing(tmp_path, monkeypatch):
    from semcom.zoo.store import entry_path, find_entry

    zoo = str(entry_path(find_entry(codec="deepjscc", cbr=1 / 48, snr_mode="adaptive")).resolve())
    cfg = SweepConfig(link="deepjscc", cbr=1 / 48, snr_db=(0.0,), limit=1, metrics=("psnr",), checkpoint=zoo)
    path = run_sweep(cfg, out_dir=tmp_path, progress=False)
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text())
    shipped = "semcom/zoo/checkpoints/deepjscc-cbr1-48-adaptive.ckpt"
    assert meta["config"]["checkpoint"] == meta["resolved"]["checkpoint"] == shipped
    assert "/" not in meta["config"]["link"] and meta["resolved"]["link"]["path"] == "semcom/links/deepjscc.toml"
    # written by an older version, with the machine's absolute path: described anew, the rows and the
    # commit that computed them kept, nothing evaluated again
    machine = "/somewhere/else/" + shipped
    meta["config"]["checkpoint"] = meta["resolved"]["checkpoint"] = machine
    meta["git_commit"] = "0123abc"
    side.write_text(json.dumps(meta))
    before = path.read_text()
    monkeypatch.setattr(sweep, "evaluate_point", lambda *a, **k: pytest.fail("recomputed"))
    run_sweep(cfg, out_dir=tmp_path, progress=False)
    again = json.loads(side.read_text())
    assert again["config"]["checkpoint"] == again["resolved"]["checkpoint"] == shipped
    assert again["git_commit"] == "0123abc" and path.read_text() == before
    assert {k: v for k, v in again.items() if k not in ("config", "resolved")} == \
        {k: v for k, v in meta.items() if k not in ("config", "resolved")}
    # only the sidecar's config is re-described (the identity already current): written the same way
    again["config"]["checkpoint"] = machine
    side.write_text(json.dumps(again))
    run_sweep(cfg, out_dir=tmp_path, progress=False)
    assert json.loads(side.read_text())["config"]["checkpoint"] == shipped


@pytest.mark.parametrize("channel", ["awgn", "rayleigh"])
def test_skipping_hopeless_configurations_sends_less_and_writes_the_same_numbers(tmp_path, monkeypatch, channel):
    """An envelope skips a configuration only where its best case cannot beat the best one so far, so every
    value but the timing is the same as sending them all; and it does skip some."""
    sent = []
    real = sweep.evaluate_point
    monkeypatch.setattr(sweep, "evaluate_point", lambda link, *a, **k: sent.append(link.codec.config) or real(link, *a, **k))
    out = {}
    for skip in (False, True):
        sent.clear()
        cfg = SweepConfig(link="bpg-ldpc", cbr=1 / 48, snr_db=(0.0, 6.0, 12.0, 20.0), channel=channel, limit=3,
                          metrics=("psnr", "ssim"), skip_hopeless=skip, dataset_params={"size": 64})
        path = run_sweep(cfg, out_dir=tmp_path / str(skip), progress=False)
        out[skip] = (pd.read_csv(path).drop(columns="seconds"),
                     pd.read_csv(sweep.frames_path(path)), json.loads(path.with_suffix(".json").read_text()), len(sent))
    (rows0, frames0, side0, n0), (rows1, frames1, side1, n1) = out[False], out[True]
    pd.testing.assert_frame_equal(rows0, rows1)
    pd.testing.assert_frame_equal(frames0, frames1)
    assert side0["config_key"] == side1["config_key"] and "skip_hopeless" not in side1["config"]
    assert n1 < n0, (n0, n1)


def test_the_best_case_bounds_every_channel_draw():
    """No channel realization scores above a configuration's best case (the bound the skip relies on)."""
    import torch

    from semcom.link import Link, find_link
    from semcom.registry import METRICS, SOURCES
    from semcom.sources.base import collate

    link = Link(find_link("bpg-ldpc"), cbr=1 / 48).eval()
    ds = SOURCES.build("synth-blur", split="test", limit=2, size=64)
    batches = [collate([ds[0], ds[1]])]
    psnr = METRICS.build("psnr")
    for config in link.codec.variants()[::4]:
        link.codec.set_variant(config)
        bound = sweep.best_case_score(link, batches, psnr, repeats=1)
        for snr in (-5.0, 5.0, 15.0, 30.0):
            res = sweep.evaluate_point(link, batches, {"psnr": psnr}, snr_db=snr, repeats=2, seed=1)
            assert float(res.values["psnr"].mean()) <= bound + 1e-9, (config, snr)
    assert Link(find_link("bpg-ldpc-events"), cbr=1 / 48).reachable_outputs(batches[0]) is None
