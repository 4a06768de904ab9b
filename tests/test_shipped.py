"""The shipped checkpoints: listed, verified, and usable from a fresh install without training."""

from pathlib import Path

import pytest
import torch

from semcom.link import Link, find_link
from semcom.metrics.functional import psnr
from semcom.registry import SOURCES
from semcom.sources.base import collate
from semcom.zoo.publish import MAX_BYTES
from semcom.zoo.store import entry_path, read_manifest, sha256_of

ENTRIES = read_manifest()
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def batch():
    ds = SOURCES.build("synth-blur", split="test", limit=4)
    return collate([ds[i] for i in range(len(ds))])


def test_the_paper_links_ship_adaptive_checkpoints_at_both_cbrs():
    have = {(e["codec"], round(1 / e["cbr"]), e["snr_mode"]) for e in ENTRIES}
    for codec in ("deepjscc", "deepjscc-deblur", "ev-jscc"):
        for denom in (48, 96):
            assert (codec, denom, "adaptive") in have, (codec, denom)
    assert ("ev-jscc", 48, "single") in have and ("deepjscc", 48, "single") in have
    assert ("sp-jscc", 48, "adaptive") in have


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_files_match_the_manifest_and_stay_small(entry):
    path = entry_path(entry)
    assert path.stat().st_size <= MAX_BYTES
    assert sha256_of(path) == entry["sha256"]


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e["snr_mode"] == "adaptive"],
                         ids=[e["name"] for e in ENTRIES if e["snr_mode"] == "adaptive"])
def test_each_adaptive_link_runs_from_its_checkpoint_and_improves_with_snr(entry, batch):
    link = Link(find_link(entry["codec"]), cbr=entry["cbr"]).eval()  # no checkpoint argument: the shipped one
    assert link.codec.checkpoint_meta["codec"] == entry["codec"]
    scores = {}
    with torch.no_grad():
        for snr in (0.0, 20.0):
            out = link(batch, snr_db=snr, generator=torch.Generator().manual_seed(0))
            assert out.output.shape == batch.sharp.shape
            assert 0.0 <= float(out.output.min()) and float(out.output.max()) <= 1.0
            scores[snr] = float(psnr(out.output, batch.sharp).mean())
    assert scores[20.0] > scores[0.0] + 0.3, scores
    assert scores[20.0] > 15.0, scores


def _parent_runs(meta: dict, published: dict[str, str], runs: list[str]) -> dict[str, str | None]:
    """The runs a shipped checkpoint's own metadata says it started from, by their names in a lineage: a
    published run's training file (``published_from``) is its zoo name; a file named like a later run is
    that run's ``-init`` / ``-warm-start``."""
    out: dict[str, str | None] = {}
    for how in ("init", "warm_start"):
        parent = (meta.get("training") or {}).get(how)
        if not parent:
            out[how] = None
            continue
        stem = Path(parent).stem
        name = published.get(stem, stem)
        if name not in runs[:-1]:
            name = f"{stem}-{how.replace('_', '-')}"
        out[how] = name
    return out


def test_every_shipped_checkpoint_names_its_whole_lineage_and_its_learning_curve():
    """Each entry's ``lineage`` lists the runs its weights come from, oldest first, ending with its own run
    (whose steps are the entry's); every parent named is an earlier run of the list, each run's parents are
    those its checkpoint's metadata records (for the shipped runs), and ``curve`` is the run's training log."""
    from semcom.train.curves import read_training_log
    from semcom.zoo.store import read_meta

    metas = {e["name"]: read_meta(entry_path(e)) for e in ENTRIES}
    published = {Path(m["published_from"]).stem: name for name, m in metas.items() if m.get("published_from")}
    for entry in ENTRIES:
        lineage = entry["lineage"]
        runs = [x["run"] for x in lineage]
        assert runs[-1] == entry["name"] and len(set(runs)) == len(runs), entry["name"]
        assert lineage[-1]["steps"] == entry["training"]["steps"], entry["name"]
        for k, x in enumerate(lineage):
            for how in ("init", "warm_start"):
                assert x[how] is None or x[how] in runs[:k], (entry["name"], x)
            if x["run"] in metas:  # a shipped run: its parents as its own file records them
                recorded = _parent_runs(metas[x["run"]], published, runs[:k + 1])
                assert {h: x[h] for h in ("init", "warm_start")} == recorded, (entry["name"], x["run"])
        curve = ROOT / entry["curve"]
        cols = read_training_log(curve)
        assert curve.with_suffix(".png").is_file(), entry["curve"]
        assert cols["step"][-1] == entry["training"]["steps"], entry["name"]  # the curve of this run, to its end
