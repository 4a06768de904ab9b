"""The backbone study at tiny scale: plan, train, resume, score, report."""

import csv

import pytest

from semcom.bench import backbones as study

TINY = study.StudySettings(batch=2, size=32, n_train=10, n_val=2, log_every=2, eval_limit=2, eval_size=32,
                           dataset="skimage", amp=False, probe_max_load=1e9)


def test_a_candidate_trains_to_its_planned_budget_resumes_and_is_reported(tmp_path, monkeypatch):
    cand = study.Candidate("conv", width=8, downsample=8)
    state, out = tmp_path / "state", tmp_path / "out"
    row = study.run_candidate(cand, TINY, budget_s=2.0, state=state, out=out, progress=False)
    plan = study.read_json(state / f"{cand.name}.plan.json")
    assert row["steps"] == plan["steps"] >= 20 and plan["probe_s_per_step"] > 0
    assert row["samples"] == row["steps"] * TINY.batch
    assert 5 < row["test_psnr"] < 40 and row["params"] > 0 and row["infer_ms_256"] > 0
    # a second call finds the run finished: nothing is trained again
    monkeypatch.setattr("semcom.train.trainer.train", lambda *a, **k: pytest.fail("trained again"))
    again = study.run_candidate(cand, TINY, budget_s=2.0, state=state, out=out, progress=False)
    assert again["steps"] == row["steps"] and again["test_psnr"] == row["test_psnr"]
    monkeypatch.setattr(study, "evaluate", lambda link, s, **k: {"psnr": 30.0, "ssim": 0.9})
    study.report(out, [row], TINY, state=state)
    rows = list(csv.DictReader(open(out / "runs.csv")))
    assert [r["candidate"] for r in rows] == [cand.name, "image-bpg-capacity", "image-bpg-ldpc"]
    assert float(rows[0]["gap_to_capacity_db"]) == pytest.approx(30.0 - row["test_psnr"], abs=1e-3)
    assert (out / "curves.png").stat().st_size > 10_000


@pytest.mark.parametrize("backbone", ["conv", "resconv", "swin"])
def test_every_backbone_has_a_link_and_a_probe(backbone):
    cand = study.Candidate(backbone, width=16, depth=1)
    assert cand.name.startswith(f"{backbone}-w16-d1-ds16")
    assert study.probe_seconds_per_step(cand, TINY, steps=1) > 0
    from semcom.linkspec import find_link

    spec = find_link(cand.link)
    assert spec.codec.params["backbone"] == backbone and spec.own_weights
