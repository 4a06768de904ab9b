"""The experiment harness and every registered experiment at its tiny scale: the files it writes, their
columns (those of the committed tables under results/), and values checked against an independent
computation or a plausible range."""

import csv
import json
import math
from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from semcom.errors import SemcomError
from semcom.experiments import EXPERIMENTS, run_experiment, with_overrides
from semcom.experiments.base import Results
from semcom.cli.experiment import experiment as experiment_command
from semcom.experiments.shared import paired_ci95, pick, Variant

ROOT = Path(__file__).resolve().parents[1]

#: each experiment's tables, relative to its output folder, and the committed table with the same columns
TABLES = {
    "ldpc-bler": {"ldpc_bler.csv": "results/ldpc-bler/ldpc_bler.csv",
                  "ldpc_bler_curves.csv": "results/ldpc-bler/ldpc_bler_curves.csv"},
    "evjscc-events": {"evjscc_events.csv": "results/ablation/evjscc_events.csv"},
    "snr-modes": {"snr_modes.csv": "results/snr-modes/snr_modes.csv"},
    "backends": {"backends.csv": "results/backends/backends.csv"},
    "blurry-target": {"blurry_target.csv": "results/baselines/blurry_target.csv"},
    "evjscc-ablation": {"evjscc_ablation.csv": "results/ablation/evjscc_ablation.csv"},
    "evjscc-event-share": {"evjscc_event_share.csv": "results/ablation/evjscc_event_share.csv"},
    "width-sweep": {"width_sweep.csv": "results/ablation/width_sweep.csv"},
}
#: these train a checkpoint (a `semcom train` process of a few seconds)
TRAINS = {"backends", "blurry-target", "evjscc-ablation", "evjscc-event-share", "width-sweep"}


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _header(path: Path) -> list[str]:
    with open(path, newline="") as f:
        return next(csv.reader(f))


# -- the harness -------------------------------------------------------------------------------------------------

def test_every_experiment_has_a_tiny_configuration_a_full_one_and_a_test():
    assert len(EXPERIMENTS) >= 8
    for name, exp in EXPERIMENTS.items():
        assert exp.name == name and exp.summary, name
        assert isinstance(exp.tiny, exp.config) and exp.tiny != exp.full(), name
        assert exp.out.startswith("results/"), name
        with pytest.raises(FrozenInstanceError):
            setattr(exp.tiny, fields(exp.tiny)[0].name, None)
    assert set(TABLES) == set(EXPERIMENTS.names()), "an experiment without a tiny test below"


def test_list_names_every_experiment_and_its_folder():
    out = CliRunner().invoke(experiment_command, ["--list"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert [line.split()[0] for line in lines] == EXPERIMENTS.names()
    for line in lines:
        assert EXPERIMENTS[line.split()[0]].out in line


def test_show_prints_the_configuration_with_overrides_and_runs_nothing(tmp_path):
    out = CliRunner().invoke(experiment_command, ["ldpc-bler", "--tiny", "--show", "--set", "rates=1/3,5/6",
                                                  "--out", str(tmp_path / "x")])
    assert out.exit_code == 0, out.output
    assert "rates = ('1/3', '5/6')" in out.output and "size = 64" in out.output
    assert not (tmp_path / "x").exists()


def test_overrides_are_typed_and_unknown_ones_are_refused():
    cfg = EXPERIMENTS["evjscc-events"].full()
    new = with_overrides(cfg, ["snr=5,15", "limit=none", "checkpoints=a=x.ckpt,b.ckpt"])
    assert new.snr == (5.0, 15.0) and new.limit is None and new.checkpoints == ("a=x.ckpt", "b.ckpt")
    assert with_overrides(cfg, ["limit=4"]).limit == 4
    with pytest.raises(SemcomError, match="no option 'limt'.*limit"):
        with_overrides(cfg, ["limt=4"])
    with pytest.raises(SemcomError, match="not a int"):
        with_overrides(cfg, ["limit=four"])
    with pytest.raises(SemcomError, match="KEY=VALUE"):
        with_overrides(cfg, ["limit"])
    with pytest.raises(SemcomError, match="unknown experiment 'ldpc-blr'.*ldpc-bler"):
        run_experiment("ldpc-blr", tiny=True)


def test_the_writer_writes_a_table_and_a_sidecar_and_refuses_to_mix_configurations(tmp_path):
    exp = EXPERIMENTS["ldpc-bler"]
    res = Results(exp, exp.tiny, tmp_path, tiny=True)
    path = res.table("t.csv", [{"a": 1.5, "b": "x"}, {"a": float("nan"), "b": "y"}])
    assert path.read_text().splitlines() == ["a,b", "1.5,x", ",y"]
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["experiment"] == "ldpc-bler" and side["tiny"] is True and side["csv"] == "t.csv"
    assert side["config"]["rates"] == ["1/2"] and len(side["config_key"]) == 16
    assert side["git_commit"] and side["command"] == "semcom experiment ldpc-bler --tiny"
    res.append("g.csv", {"x": 1}, columns=("x", "y"))
    res.append("g.csv", {"y": 2}, columns=("x", "y"))
    assert _rows(tmp_path / "g.csv") == [{"x": "1", "y": ""}, {"x": "", "y": "2"}]
    other = Results(exp, with_overrides(exp.tiny, ["seed=1"]), tmp_path)
    with pytest.raises(SemcomError, match="another configuration"):
        other.append("g.csv", {"x": 3}, columns=("x", "y"))


def test_paired_interval_is_students_t_over_the_differences():
    rng = np.random.default_rng(0)
    a = rng.normal(30, 2, 12)
    b = a - rng.normal(0.5, 0.3, 12)
    mean, half = paired_ci95(a, b)
    d = a - b
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert mean == pytest.approx(d.mean()) and half == pytest.approx((hi - lo) / 2)
    with pytest.raises(ValueError, match="pairs"):
        paired_ci95(a, b[:3])


def test_variants_are_picked_by_name_in_their_order():
    vs = (Variant("a", "ev-jscc", ("width=8", "split=[1,0,0]")), Variant("b", "deepjscc"))
    assert [v.name for v in pick(vs, ["b", "a"])] == ["a", "b"] and pick(vs, []) == list(vs)
    assert vs[0].train_args() == ["--codec-param", "width=8", "--codec-param", "split=[1,0,0]"]
    assert vs[0].described == "width=8 split=[1,0,0]"
    with pytest.raises(SemcomError, match="unknown variant.*c.*known: a, b"):
        pick(vs, ["c"])


# -- every experiment at its tiny scale ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """Run an experiment's tiny configuration once per module: ``ran(name) -> output folder``."""
    done: dict[str, Path] = {}

    def run(name: str) -> Path:
        if name not in done:
            out = tmp_path_factory.mktemp(name)
            results = run_experiment(name, tiny=True, out=out, say=lambda msg: None)
            assert results.written, name
            done[name] = out
        return done[name]

    return run


def _check_tables(name: str, out: Path) -> dict[str, list[dict]]:
    """Every table exists with a sidecar and the committed table's columns; the rows of each."""
    tables = {}
    for table, committed in TABLES[name].items():
        path = out / table
        assert path.exists(), f"{name}: {table} not written"
        assert _header(path) == _header(ROOT / committed), f"{name}: {table}'s columns differ from {committed}"
        side = json.loads(path.with_suffix(".json").read_text())
        assert side["experiment"] == name and side["tiny"] is True
        tables[table] = _rows(path)
        assert tables[table], f"{name}: {table} is empty"
    return tables


def test_ldpc_bler(ran):
    out = ran("ldpc-bler")
    t = _check_tables("ldpc-bler", out)
    (row,) = t["ldpc_bler.csv"]
    assert row["config"] == "qpsk-1/2" and int(row["num_bits_per_symbol"]) == 2
    eta = float(row["spectral_efficiency"])
    assert eta == 1.0 and float(row["shannon_snr_db"]) == pytest.approx(10 * math.log10(2 ** eta - 1), abs=1e-3)
    curve = t["ldpc_bler_curves.csv"]
    snrs = [float(r["snr_db"]) for r in curve]
    assert snrs == sorted(snrs) and len(curve) == int(row["points"])
    assert all(0 <= float(r["bler"]) <= 1 and float(r["bler"]) == int(r["block_errors"]) / int(r["blocks"])
               for r in curve)
    assert sum(int(r["blocks"]) for r in curve) == int(row["blocks_simulated"])
    if row["snr_at_target_db"]:  # reached: a positive gap to capacity, at most the scanned range
        gap = float(row["gap_db"])
        assert gap == pytest.approx(float(row["snr_at_target_db"]) - float(row["shannon_snr_db"]), abs=2e-3)
        assert 0 < gap <= 13


def test_evjscc_events(ran):
    (row,) = _check_tables("evjscc-events", ran("evjscc-events"))["evjscc_events.csv"]
    assert row["checkpoint"] == "ev-jscc-cbr1-48-adaptive" and float(row["snr_db"]) == 10
    assert 15 < float(row["psnr"]) < 40
    assert 0 < float(row["event_nmse"]) < 1.5
    assert all(float(row[f"power_{s}"]) > 0 for s in ("image", "shared", "event"))


def test_snr_modes(ran):
    out = ran("snr-modes")
    (row,) = _check_tables("snr-modes", out)["snr_modes.csv"]
    assert row["codec"] == "deepjscc" and row["cbr"] == "1/48" and float(row["snr_db"]) == 10
    # the gap is the difference of the two sweeps' PSNR at the single model's SNR
    sweeps = {sub: _rows(next(p for p in (out / "deepjscc" / sub).glob("*.csv") if not p.stem.endswith("_frames")))
              for sub in ("adaptive", "snr10")}
    a, s = (float(sweeps[k][0]["psnr"]) for k in ("adaptive", "snr10"))
    assert float(row["psnr_adaptive"]) == pytest.approx(a, abs=1e-3)
    assert float(row["gap_db"]) == pytest.approx(s - a, abs=2e-3)
    assert (out / "deepjscc_snr_modes_cbr1-48.png").stat().st_size > 1000


@pytest.mark.slow
def test_backends(ran):
    from semcom.experiments.shared import evaluation_batches

    rows = _check_tables("backends", ran("backends"))["backends.csv"]
    assert [r["back-end"] for r in rows][:5] == ["blurry input", "edi (raw events, camera's nominal c)",
                                                 "edi (raw events, estimated c)", "edi (scer, 6 channels, nominal c)",
                                                 "sdm (spikes, 64-tick window)"]
    assert rows[5]["back-end"].startswith("unet-xattn (trained 2 steps")
    # the blurry frame's PSNR, computed here with numpy on the same frames
    batches = evaluation_batches(2, size=64)
    mse = [float(((b.blurry[i].double() - b.sharp[i].double()) ** 2).mean()) for b in batches for i in range(b.size)]
    assert float(rows[0]["psnr"]) == pytest.approx(np.mean([10 * np.log10(1 / m) for m in mse]), abs=1e-3)
    assert all(int(r["n"]) == 2 for r in rows)
    assert float(rows[1]["psnr_gain_db"]) > 1  # EDI with the camera's contrast deblurs
    for r in rows:
        assert float(r["psnr_gain_db"]) == pytest.approx(float(r["psnr"]) - float(rows[0]["psnr"]), abs=2e-3)


@pytest.mark.slow
def test_blurry_target(ran):
    out = ran("blurry-target")
    (row,) = _check_tables("blurry-target", out)["blurry_target.csv"]
    assert float(row["snr_db"]) == 10 and int(row["steps"]) == 2
    assert float(row["gap_db"]) == pytest.approx(float(row["bpg_capacity_blurry"]) - float(row["deepjscc_blurry"]),
                                                 abs=2e-3)
    assert 20 < float(row["bpg_capacity_blurry"]) < 60  # BPG at capacity, judged on the frame it codes
    runs = out / "blurry-target"
    assert (runs / "training.csv").exists()
    assert len([p for p in runs.glob("deepjscc-blurry_awgn_cbr1-48_ckpt-*.csv") if "_frames" not in p.name]) == 1
    assert len(list(runs.glob("bpg-capacity-blurry_awgn_cbr1-48*.png"))) == 1


@pytest.mark.slow
def test_evjscc_ablation_resumes_without_training_again(ran):
    out = ran("evjscc-ablation")
    (row,) = _check_tables("evjscc-ablation", out)["evjscc_ablation.csv"]
    assert row["variant"] == "split-0.5-0.25-0.25-noprior" and row["params"] == 'split=[0.5,0.25,0.25] prior="none"'
    run = _rows(next(p for p in (out / "runs" / row["variant"]).glob("*.csv") if not p.stem.endswith("_frames")))
    assert row["psnr"] == run[0]["psnr"] and 5 < float(row["psnr"]) < 40
    before = (out / "evjscc_ablation.csv").read_text()
    run_experiment("evjscc-ablation", tiny=True, out=out, say=lambda msg: None)
    assert (out / "evjscc_ablation.csv").read_text() == before


@pytest.mark.slow
def test_evjscc_event_share(ran):
    out = ran("evjscc-event-share")
    rows = _check_tables("evjscc-event-share", out)["evjscc_event_share.csv"]
    assert [(r["variant"], r["split"], r["checkpoint"]) for r in rows] == [
        ("trained", "[0.5,0.25,0.25]", "trained.ckpt"), ("given", "[0.75,0.25,0.0]", "given.ckpt")]
    assert float(rows[1]["power_event"]) == 0 and float(rows[0]["power_event"]) > 0  # no event stream sent
    assert all(0 < float(r["event_nmse"]) for r in rows)
    assert {p.name for p in (out / "event-share").iterdir()} >= {"trained.csv", "given.csv"}


@pytest.mark.slow
def test_width_sweep(ran):
    from semcom.zoo import build_codec

    out = ran("width-sweep")
    (row,) = _check_tables("width-sweep", out)["width_sweep.csv"]
    assert row["variant"] == "deepjscc-w32" and row["params"] == "width=32" and int(row["steps"]) == 2
    fresh = build_codec("deepjscc", cbr=1 / 48, checkpoint="none", width=32)
    assert int(row["parameters"]) == sum(p.numel() for p in fresh.parameters())
    assert 5 < float(row["psnr_10dB"]) < 40 and float(row["val_psnr"]) > 0


# -- S-SDM and DiffEvent ---------------------------------------------------------------------------------------------

TABLES.update({
    "ssdm-cascade": {"cascade.csv": "results/ssdm/cascade.csv", "domain_gap.csv": "results/ssdm/domain_gap.csv",
                     "seconds.csv": "results/ssdm/seconds.csv"},
    "ssdm-nobsn": {"nobsn.csv": "results/ssdm/nobsn.csv"},
    "ssdm-unet": {"unet.csv": "results/ssdm/unet.csv", "unet_gap.csv": "results/ssdm/unet_gap.csv"},
    "ssdm-noise": {"noise.csv": "results/ssdm/noise/noise.csv"},
    "ssdm-links": {"links.csv": "results/ssdm/links/links.csv",
                   "decoded_windows.csv": "results/ssdm/links/decoded_windows.csv"},
    "ssdm-decoded": {"decoded_n2-s1.csv": "results/ssdm/decoded/decoded_n128-s400.csv"},
    "diffevent": {name: f"results/diffevent/{name}" for name in ("ablation.csv", "per_frame.csv", "tuning.csv",
                                                                 "targets.csv", "link.csv")},
})
TRAINS |= {"ssdm-cascade", "ssdm-nobsn", "ssdm-unet", "ssdm-noise", "ssdm-decoded"}


def _blurry_psnr(limit: int, size: int, **params) -> np.ndarray:
    """Per-frame PSNR of the blurry frame against the sharp one, computed here with numpy."""
    from semcom.experiments.shared import evaluation_batches

    return np.array([10 * np.log10(1 / float(((b.blurry[i].double() - b.sharp[i].double()) ** 2).mean()))
                     for b in evaluation_batches(limit, size=size, **params) for i in range(b.size)])


def _t_half(values: np.ndarray) -> float:
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    return (hi - lo) / 2


def test_ssdm_scores_at_thresholds_use_the_shared_metrics_and_students_t():
    from semcom.experiments.ssdm import gap_rows, score_at_thresholds

    rows = score_at_thresholds({"blurry": lambda b: b.blurry}, (1.0, 4.0), limit=2, size=64, say=lambda m: None)
    ref = _blurry_psnr(2, 64, spike_theta=1.0, events=False)
    assert [(r["spike_theta"], r["frames"]) for r in rows] == [(1.0, 2), (4.0, 2)]
    assert rows[0]["psnr"] == pytest.approx(ref.mean(), abs=1e-3)
    assert rows[0]["psnr_ci95"] == pytest.approx(_t_half(ref), abs=1e-3)
    # the threshold changes the spikes only: the blurry frame scores the same
    (gap,) = gap_rows(rows, (1.0, 4.0))
    assert gap["psnr_theta1"] == gap["psnr_theta4"] and gap["loss_1_to_4_db"] == 0


def test_ssdm_link_variant_rewrites_a_copy_of_the_link(tmp_path):
    import tomllib

    from semcom.experiments.ssdm import link_variant

    path = link_variant("bpg-ldpc-spikes-s-sdm", "share40", tmp_path, receiver="decoded", event_share=0.4)
    spec = tomllib.loads(path.read_text())
    assert path.name == "bpg-ldpc-spikes-s-sdm-share40.toml" and spec["name"] == "bpg-ldpc-spikes-s-sdm-share40"
    assert spec["receiver"] == {"name": "identity"} and spec["codec"]["event_share"] == 0.4
    with pytest.raises(SemcomError, match="no setting 'nonsense'"):
        link_variant("bpg-ldpc", "x", tmp_path, nonsense=1)


@pytest.mark.slow
def test_ssdm_cascade(ran):
    from semcom.zoo.build import build_receiver

    out = ran("ssdm-cascade")
    t = _check_tables("ssdm-cascade", out)
    cascade, gap = t["cascade.csv"], t["domain_gap.csv"]
    assert [r["method"] for r in cascade][:2] == ["blurry input", "SDM (64-tick window, bilinear: the sdm back-end)"]
    assert len(cascade) == 7 and all(float(r["spike_theta"]) == 1 and int(r["frames"]) == 2 for r in cascade)
    ref = _blurry_psnr(2, 64, spike_theta=1.0, events=False)
    assert float(cascade[0]["psnr"]) == pytest.approx(ref.mean(), abs=1e-3)
    assert float(cascade[0]["psnr_ci95"]) == pytest.approx(_t_half(ref), abs=1e-3)
    for r in gap:
        assert float(r["loss_1_to_4_db"]) == pytest.approx(float(r["psnr_theta1"]) - float(r["psnr_theta4"]), abs=2e-3)
    assert float(gap[0]["loss_1_to_4_db"]) == 0  # the blurry frame does not depend on the spike threshold
    assert [r["stage"] for r in t["seconds.csv"]] == ["bsn", "sr", "ldn", "supervised"]
    assert (out / "training_log.csv").exists()
    build_receiver("s-sdm", weights=str(out / "ckpt" / "s-sdm.ckpt"))  # the LDN loads as s-sdm weights


@pytest.mark.slow
def test_ssdm_nobsn_writes_the_shipped_recipes_weights_and_curve(ran):
    from semcom.zoo.build import build_receiver
    from semcom.zoo.store import read_meta

    out = ran("ssdm-nobsn")
    rows = _check_tables("ssdm-nobsn", out)["nobsn.csv"]
    assert [(r["method"], float(r["spike_theta"])) for r in rows] == [
        (m, t) for t in (1.0, 2.0, 4.0) for m in ("SDM + SR (the teacher)", "S-SDM: LDN distilled from SDM + SR")]
    assert all(5 < float(r["psnr"]) < 50 for r in rows)
    ck = out / "ckpt" / "s-sdm.ckpt"
    meta = read_meta(ck)
    assert meta["link"] == "s-sdm" and meta["training"]["teacher"] == "SDM + SR (no BSN)"
    build_receiver("s-sdm", weights=str(ck))
    assert (out / "s-sdm-curve.csv").exists() and (out / "s-sdm-curve.png").stat().st_size > 1000


@pytest.mark.slow
def test_ssdm_unet(ran):
    t = _check_tables("ssdm-unet", ran("ssdm-unet"))
    methods = list(dict.fromkeys(r["method"] for r in t["unet.csv"]))
    assert methods[0] == "S-SDM (shipped s-sdm)" and methods[1].startswith("U-Net with cross attention, supervised")
    assert len(t["unet.csv"]) == 6 and [r["method"] for r in t["unet_gap.csv"]] == methods
    for r in t["unet_gap.csv"]:
        assert float(r["loss_1_to_4_db"]) == pytest.approx(float(r["psnr_theta1"]) - float(r["psnr_theta4"]), abs=2e-3)


@pytest.mark.slow
def test_ssdm_noise(ran):
    out = ran("ssdm-noise")
    (row,) = _check_tables("ssdm-noise", out)["noise.csv"]
    assert float(row["dark_current"]) == 0.2 and int(row["frames"]) == 2 and int(row["bsn_steps"]) == 1
    assert float(row["bsn_gain_db"]) == pytest.approx(float(row["psnr_sdm_bsn"]) - float(row["psnr_sdm"]), abs=2e-3)
    assert float(row["bsn_gain_ci95"]) > 0 and 0 <= float(row["saturated"]) <= 1
    assert float(row["psnr_blurry"]) == pytest.approx(_blurry_psnr(2, 64, events=False, dark_current=0.2).mean(),
                                                      abs=1e-3)
    assert (out / "bsn_dark0.2.csv").exists()


def test_ssdm_links(ran):
    out = ran("ssdm-links")
    t = _check_tables("ssdm-links", out)
    links = t["links.csv"]
    assert [r["method"] for r in links] == [
        "exact: blurry input", "exact: S-SDM on the raw spike stream (s-sdm)",
        "exact: S-SDM on six exact spike-rate windows (sp-jscc's)",
        "exact: S-SDM on three exact spike-rate windows (the digital link's)",
        "sp-jscc streams: decoded frame", "sp-jscc streams + S-SDM (sp-jscc-s-sdm)",
        "sp-jscc decoded frame + S-SDM on the exact spikes"]
    assert float(links[0]["psnr"]) == pytest.approx(_blurry_psnr(2, 64, events=False).mean(), abs=1e-3)
    # a link's row is its sweep's
    (path,) = [p for p in out.glob("sp-jscc-s-sdm_awgn_cbr1-48*.csv") if not p.stem.endswith("_frames")]
    sweep = _rows(path)[0]
    assert float(links[5]["psnr"]) == pytest.approx(float(sweep["psnr"]), abs=1e-3) and links[5]["frames"] == "2"
    assert (out / "sp-jscc-s-sdm-decoded.toml").exists() and (out / "sp-jscc-s-sdm-exact-spikes.toml").exists()
    (win,) = t["decoded_windows.csv"]
    assert win["link"] == "sp-jscc-s-sdm" and int(win["windows"]) == 6 and -1 <= float(win["correlation"]) <= 1


@pytest.mark.slow
def test_ssdm_decoded(ran):
    out = ran("ssdm-decoded")
    rows = _check_tables("ssdm-decoded", out)["decoded_n2-s1.csv"]
    assert rows[0]["receiver"].startswith("s-sdm as shipped") and "2 samples, 1 steps" in rows[1]["receiver"]
    assert rows[0]["config"] == rows[1]["config"]  # the same digital configuration, other receiver weights
    toml = (out / "bpg-ldpc-spikes-s-sdm-ft-n2-s1.toml").read_text()
    assert "s-sdm-decoded-n2-s1.ckpt" in toml
    assert (out / "training_log_n2-s1.csv").exists()


def test_diffevent(ran):
    out = ran("diffevent")
    t = _check_tables("diffevent", out)
    ablation = {r["method"]: r for r in t["ablation.csv"]}
    per = t["per_frame.csv"]
    assert len(per) == 2 and list(per[0])[1:] == list(ablation)
    for name, r in ablation.items():  # the ablation's PSNR is the mean of the per-frame values
        assert float(r["psnr"]) == pytest.approx(np.mean([float(f[name]) for f in per]), abs=2e-3)
    (tune,) = t["tuning.csv"]
    assert (float(tune["s_r"]), float(tune["lam_r"]), int(tune["steps"])) == (0.01, 1.0, 2)
    targets = {r["difference"]: r for r in t["targets.csv"]}
    d = np.array([float(f["DiffEvent (e) y = f(E)x + r"]) - float(f["EDI (SCER)"]) for f in per])
    row = targets["(e) - EDI SCER (same events)"]
    assert float(row["mean_db"]) == pytest.approx(d.mean(), abs=2e-3)
    assert float(row["ci95_db"]) == pytest.approx(_t_half(d), abs=2e-3)
    assert row["met"] == ("yes" if d.mean() >= 1 else "no")
    assert "(e) - EDI, bpg-ldpc-events 10 dB 1/48" in targets
    assert [r["method"] for r in t["link.csv"]][0] == "decoded frame"


# -- STRA on synthetic video ------------------------------------------------------------------------------------------

TABLES.update({
    "sensor-noise": {name: f"results/sensor-noise/backends/{name}" for name in ("backends.csv", "events.csv")},
    "stra": {"table.csv": "results/stra/table.csv", "targets.csv": "results/stra/targets.csv"},
    "stra-links": {"links.csv": "results/stra/links/links.csv"},
})
TRAINS |= {"stra"}


def _video_blurry_psnr(limit: int) -> np.ndarray:
    """Per-frame PSNR of the blurry frame against the sharp one on synth-blur-video's test sequences (numpy)."""
    from semcom.registry import SOURCES
    from semcom.sources.video import SequenceFrames

    frames = SequenceFrames(SOURCES.build("synth-blur-video", split="test", limit=limit))
    return np.array([10 * np.log10(1 / float(((f.blurry.double() - f.sharp.double()) ** 2).mean()))
                     for f in (frames[i] for i in range(len(frames)))])


def test_stra_curves_of_shipped_models_go_to_results_training_only_in_the_full_run_to_its_own_folder(tmp_path):
    from semcom.experiments.stra import curve_path

    exp = EXPERIMENTS["stra"]
    full = Results(exp, exp.full(), Path(exp.out))
    assert curve_path("stra", full) == Path("results/training/stra-cbr1-1-snr0.csv")
    assert curve_path("stra-skips", full) == Path("results/training/stra-skips-cbr1-1-snr0.csv")
    assert curve_path("unet-xattn", full) == Path("results/stra/training/unet-xattn.csv")
    tiny = Results(exp, exp.tiny, Path(exp.out), tiny=True)
    assert curve_path("stra", tiny) == Path("results/stra/training/stra.csv")
    elsewhere = Results(exp, exp.full(), tmp_path)
    assert curve_path("stra-skips", elsewhere) == tmp_path / "training" / "stra-skips.csv"
    assert not (tmp_path / "training").exists()


def test_stra_refuses_an_unknown_model_before_training(tmp_path):
    with pytest.raises(SemcomError, match="unknown model.*stra-nope.*known: unet-xattn, stra-frames"):
        run_experiment("stra", tiny=True, out=tmp_path / "x", overrides=["only=stra,stra-nope"], say=lambda m: None)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_stra(ran):
    from semcom.experiments.stra import MODELS, PAIRS
    from semcom.zoo.store import read_meta

    shipped = {p: p.read_bytes() for p in sorted((ROOT / "results" / "training").glob("stra*-cbr1-1-snr0.*"))}
    out = ran("stra")
    t = _check_tables("stra", out)
    rows = t["table.csv"]
    assert [r["method"] for r in rows] == ["blurry input", "EDI per frame (raw events, nominal contrast)", *MODELS]
    assert all(int(r["frames"]) == 3 for r in rows)  # one test sequence of three exposures
    ref = _video_blurry_psnr(1)
    assert float(rows[0]["psnr"]) == pytest.approx(ref.mean(), abs=1e-3)
    assert float(rows[0]["psnr_ci95"]) == pytest.approx(_t_half(ref), abs=1e-3)  # Student-t over the frames
    assert float(rows[0]["gain_ci95"]) == 0 and float(rows[1]["gain_over_blurry_db"]) > 1  # EDI deblurs
    for r in rows:
        assert float(r["gain_over_blurry_db"]) == pytest.approx(float(r["psnr"]) - float(rows[0]["psnr"]), abs=2e-3)
    for r in rows[:2]:  # the references: nothing trained
        assert (r["parameters"], r["train_steps"], r["fps_cpu_180x320"], r["train_seconds"]) == ("0", "0", "", "")
    for r in rows[2:]:
        assert int(r["parameters"]) > 0 and int(r["train_steps"]) == 2 and float(r["fps_cpu_180x320"]) > 0
    # the targets pair the rows they name, over the same frames
    psnr = {r["method"]: float(r["psnr"]) for r in rows}
    targets = t["targets.csv"]
    assert [(r["comparison"], float(r["target_db"])) for r in targets] == [(f"{a} - {b}", g) for a, b, g in PAIRS]
    for r, (a, b, goal) in zip(targets, PAIRS):
        d = float(r["psnr_diff_db"])
        assert d == pytest.approx(psnr[a] - psnr[b], abs=2e-3) and float(r["ci95"]) >= 0
        if goal or abs(d) >= 2e-3:
            assert r["met"] == str(d >= goal if goal else d > 0)
    # every model's checkpoint and learning curve under the run's folder; the committed curves untouched
    stems = [Path(link).stem for link in MODELS.values()]
    assert all(read_meta(out / "ckpt" / f"{s}.ckpt")["step"] == 2 for s in stems)
    assert {p.name for p in (out / "training").iterdir()} == {f"{s}.{e}" for s in stems for e in ("csv", "png")}
    assert (out / "training" / "stra.png").stat().st_size > 1000 and _rows(out / "training" / "stra.csv")
    assert shipped and {p: p.read_bytes() for p in shipped} == shipped


def test_stra_links_and_their_exact_input_counterparts(ran, tmp_path):
    from semcom.experiments.stra import LINKS

    out = ran("stra-links")
    rows = _check_tables("stra-links", out)["links.csv"]
    assert [(r["link"], r["exact_input_counterpart"]) for r in rows] == [(k, LINKS[k]) for k in ("deepjscc",
                                                                                                 "deepjscc-stra")]
    assert all(r["counterpart_psnr"] == "" and r["frames"] == "3" and float(r["snr_db"]) == 10 for r in rows)
    assert all(float(r["cbr"]) == pytest.approx(1 / 48, abs=1e-6) for r in rows)
    for r in rows:  # a link's row is its sweep's
        (path,) = [p for p in out.glob(f"{r['link']}_awgn_cbr1-48_synth-blur-video*.csv")
                   if not p.stem.endswith("_frames")]
        sweep = _rows(path)[0]
        assert float(r["psnr"]) == pytest.approx(float(sweep["psnr"]), abs=1e-3) and 5 < float(r["psnr"]) < 40
    # with the exact-input table: each link beside its counterpart's PSNR (the sweeps resumed, not rerun)
    table = tmp_path / "table.csv"
    table.write_text("method,psnr\nblurry input,12.500\n\"STRA full, event skips (ours)\",30.250\n")
    said = []
    run_experiment("stra-links", tiny=True, out=out, overrides=[f"table={table}"], say=said.append)
    again = _rows(out / "links.csv")
    assert [r["counterpart_psnr"] for r in again] == ["12.500", "30.250"]
    assert [r["psnr"] for r in again] == [r["psnr"] for r in rows]
    # a missing table is skipped: the counterparts stay empty
    said.clear()
    run_experiment("stra-links", tiny=True, out=out, overrides=[f"table={tmp_path / 'none.csv'}"], say=said.append)
    assert [r["counterpart_psnr"] for r in _rows(out / "links.csv")] == ["", ""]
    assert any("none.csv does not exist" in m for m in said)
