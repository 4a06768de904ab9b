"""The ``sensor-noise`` experiment (issue 37, deliverable 5) at its tiny scale: its tables, their rows and
columns, values recomputed independently, and that each camera preset really changes the data (the disk
cache never hands back the default camera's frames for a noisy request)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

import semcom.experiments.sensor_noise as sn  # registers the experiment (whatever the registry's list says)
from semcom.bench.results import read_rows
from semcom.errors import SemcomError
from semcom.experiments import EXPERIMENTS, run_experiment
from semcom.experiments.shared import evaluation_batches
from semcom.registry import SOURCES

BACKENDS = ["blurry input", "edi (raw events, camera's nominal c)", "edi (raw events, estimated c)",
            "edi (scer, 6 channels, nominal c)", "sdm (spikes, 64-tick window)",
            "s-sdm (shipped: LDN distilled from SDM + SR, no blind-spot denoiser)",
            "DiffEvent (b) y = f(E)x", "DiffEvent (e) y = f(E)x + r"]


def _rows(path: Path) -> list[dict]:
    rows = read_rows(path)
    assert rows, f"{path} is missing or empty"
    return rows


def _header(path: Path) -> list[str]:
    with open(path, newline="") as f:
        return next(csv.reader(f))


def _psnr(out: torch.Tensor, ref: torch.Tensor) -> np.ndarray:
    mse = ((out.double() - ref.double()) ** 2).flatten(1).mean(1).numpy()
    return 10 * np.log10(1.0 / mse)


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sensor-noise")
    results = run_experiment("sensor-noise", tiny=True, out=folder, say=lambda msg: None)
    assert {p.name for p in results.written} == {"backends.csv", "per_frame.csv", "events.csv", "notes.csv"}
    return folder


def test_registered_with_a_tiny_and_a_full_configuration():
    exp = EXPERIMENTS["sensor-noise"]
    assert exp.out == "results/sensor-noise/backends"
    full = exp.full()
    assert full.presets == ("default", "ideal", "v2e", "noisy") and full.limit is None and full.size is None
    assert full.diffevent_limit == 16 and full.unet_checkpoint == "" and full.diffevent_steps == 20
    assert exp.tiny.presets == ("default", "noisy") and exp.tiny.limit == 2 and exp.tiny.size == 64
    assert exp.tiny.diffevent_limit == 1 and exp.tiny.diffevent_steps == 1
    assert "semcom experiment sensor-noise" in sn.__doc__


def test_backends_table(out):
    path = out / "backends.csv"
    assert _header(path) == list(sn.BACKENDS_COLUMNS)
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["experiment"] == "sensor-noise" and side["tiny"] is True
    assert side["config"]["presets"] == ["default", "noisy"]
    rows = _rows(path)
    assert [(r["preset"], r["back_end"]) for r in rows] == [(p, m) for p in ("default", "noisy") for m in BACKENDS]
    by = {(r["preset"], r["back_end"]): r for r in rows}
    for r in rows:
        assert int(r["frames"]) == (1 if r["back_end"].startswith("DiffEvent") else 2), r
        assert np.isfinite(float(r["psnr"])) and 0 < float(r["ssim"]) <= 1 and float(r["seconds_per_frame"]) >= 0
    for m in BACKENDS:  # the default camera against itself: no difference, frame by frame
        assert float(by[("default", m)]["psnr_vs_default_db"]) == 0.0, m

    per = _rows(out / "per_frame.csv")
    assert _header(out / "per_frame.csv") == ["preset", "back_end", "frame", "psnr", "ssim"]
    frames = {}
    for r in per:
        frames.setdefault((r["preset"], r["back_end"]), []).append(float(r["psnr"]))
    assert set(frames) == set(by)
    for (p, m), v in frames.items():
        row = by[(p, m)]
        assert float(row["psnr"]) == pytest.approx(np.mean(v), abs=2e-3)
        if len(v) > 1:  # Student-t half-width over the frames (of the rounded per-frame values)
            half = stats.t.ppf(0.975, len(v) - 1) * np.std(v, ddof=1) / np.sqrt(len(v))
            assert float(row["psnr_ci95"]) == pytest.approx(half, rel=1e-3)
        if p == "noisy":  # the paired difference to the same back-end on the same frames
            d = np.subtract(v, frames[("default", m)])
            assert float(row["psnr_vs_default_db"]) == pytest.approx(d.mean(), abs=3e-3), m

    # the blurry frame's PSNR, computed here on the noisy camera's own frames
    batches = evaluation_batches(2, size=64, camera="noisy")
    psnr = np.concatenate([_psnr(b.blurry, b.sharp) for b in batches])
    assert float(by[("noisy", "blurry input")]["psnr"]) == pytest.approx(psnr.mean(), abs=1e-3)
    # the noisy RGB frame (shot and read noise) is further from the sharp frame than the default one
    assert float(by[("noisy", "blurry input")]["psnr_vs_default_db"]) < -0.1
    # EDI deblurs the default camera's frames but not the noisy camera's (its 30 Hz photoreceptor low-pass
    # keeps most events from firing within the 10 ms exposure): it loses more than the blurry frame does
    edi = "edi (raw events, camera's nominal c)"
    assert float(by[("default", edi)]["psnr"]) > float(by[("default", "blurry input")]["psnr"]) + 1
    loss = {m: float(by[("noisy", m)]["psnr_vs_default_db"]) for m in (edi, "blurry input")}
    assert loss[edi] < loss["blurry input"] - 1

    notes = _rows(out / "notes.csv")
    assert [n["back_end"] for n in notes] == ["s-sdm with the blind-spot denoiser", "unet-xattn"]


def test_events_table_says_what_the_noise_does_to_the_streams(out):
    path = out / "events.csv"
    assert _header(path) == list(sn.EVENTS_COLUMNS)
    rows = {r["preset"]: r for r in _rows(path)}
    assert list(rows) == ["default", "noisy"]
    for preset, r in rows.items():
        batches = evaluation_batches(2, size=64, camera=preset)
        events = [len(e) for b in batches for e in b.raw_events]
        spikes = [int(b.spikes[i].sum()) for b in batches for i in range(b.size)]
        assert int(r["frames"]) == 2
        assert float(r["events_per_frame"]) == pytest.approx(np.mean(events), abs=0.05)
        assert float(r["spikes_per_frame"]) == pytest.approx(np.mean(spikes), abs=0.05)
    d, n = rows["default"], rows["noisy"]
    assert float(d["events_vs_default"]) == 1.0 and float(d["spikes_vs_default"]) == 1.0
    assert float(n["events_per_frame"]) != float(d["events_per_frame"])
    assert float(n["spikes_per_frame"]) != float(d["spikes_per_frame"])
    assert float(n["events_vs_default"]) == pytest.approx(
        float(n["events_per_frame"]) / float(d["events_per_frame"]), abs=1e-4)


def test_each_preset_changes_the_data_and_the_cache_keeps_them_apart(tmp_path):
    default = evaluation_batches(2, size=64)[0]
    named = evaluation_batches(2, size=64, camera="default")[0]
    noisy = evaluation_batches(2, size=64, camera="noisy")[0]
    ideal = evaluation_batches(2, size=64, camera="ideal")[0]
    # the same scenes under every camera
    assert torch.equal(default.sharp, noisy.sharp) and torch.equal(default.sharp, ideal.sharp)
    # camera="default" is the default camera
    for attr in ("blurry", "events", "spikes"):
        assert torch.equal(getattr(default, attr), getattr(named, attr)), attr
    # the noisy camera: another RGB frame, other events and spikes
    assert not torch.equal(default.blurry, noisy.blurry)
    assert not torch.equal(default.events, noisy.events)
    assert not torch.equal(default.spikes, noisy.spikes)
    assert [len(e) for e in default.raw_events] != [len(e) for e in noisy.raw_events]
    # the ideal camera differs from the default only in its events (the default spike camera and RGB frame
    # are already noiseless; the default event camera has a threshold mismatch of 0.03)
    assert torch.equal(default.blurry, ideal.blurry) and torch.equal(default.spikes, ideal.spikes)
    assert not torch.equal(default.events, ideal.events)
    # the cache folders differ, and what the cache gives for the noisy camera is what a fresh simulation gives
    keys = {SOURCES.build("synth-blur", split="test", size=64, camera=p).key for p in ("default", "noisy", "ideal")}
    assert len(keys) == 3
    fresh = evaluation_batches(1, size=64, camera="noisy", cache=False)[0]
    for attr in ("sharp", "blurry", "events", "spikes"):
        assert torch.equal(getattr(fresh, attr)[0], getattr(noisy, attr)[0]), attr
    assert np.array_equal(fresh.raw_events[0], noisy.raw_events[0])


def test_optional_back_ends_run_when_their_weights_are_given(tmp_path):
    from semcom.link import Link
    from semcom.linkspec import find_link
    from semcom.zoo.store import entry_path, read_manifest, save_checkpoint

    ssdm = entry_path(next(e for e in read_manifest() if e["link"] == "s-sdm"))
    unet = Link(find_link("unet-xattn"), cbr=1.0)
    ckpt = save_checkpoint(tmp_path / "unet.ckpt", meta={"link": "unet-xattn", "step": 0}, codec={},
                           receiver=unet.receiver.state_dict())
    out = tmp_path / "out"
    run_experiment("sensor-noise", tiny=True, out=out, say=lambda msg: None,
                   overrides=["presets=default", "diffevent_limit=0", f"ssdm_bsn_weights={ssdm}",
                              f"unet_checkpoint={ckpt}"])
    rows = {r["back_end"]: r for r in _rows(out / "backends.csv")}
    assert list(rows)[:6] == BACKENDS[:6] and len(rows) == 8
    bsn = rows[f"s-sdm with the blind-spot denoiser ({ssdm})"]
    # the shipped weights loaded as the "with BSN" weights: the same network, the same scores
    assert bsn["psnr"] == rows[BACKENDS[5]]["psnr"] and bsn["ssim"] == rows[BACKENDS[5]]["ssim"]
    assert np.isfinite(float(rows[f"unet-xattn ({ckpt})"]["psnr"]))
    assert [n["back_end"] for n in _rows(out / "notes.csv")] == ["DiffEvent"]


def test_unknown_presets_and_missing_weights_are_refused_before_any_work(tmp_path):
    with pytest.raises(SemcomError, match="unknown camera preset 'noisey'.*noisy"):
        run_experiment("sensor-noise", tiny=True, out=tmp_path, overrides=["presets=default,noisey"])
    with pytest.raises(SemcomError, match="unet_checkpoint"):
        run_experiment("sensor-noise", tiny=True, out=tmp_path, overrides=["unet_checkpoint=nowhere.ckpt"])
    with pytest.raises(SemcomError, match="twice"):
        run_experiment("sensor-noise", tiny=True, out=tmp_path, overrides=["presets=noisy,noisy"])
    assert not (tmp_path / "backends.csv").exists()
