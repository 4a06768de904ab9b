"""The shipped checkpoints: listed, verified, and usable from a fresh install without training."""

import pytest
import torch

from semcom.link import Link, find_link
from semcom.metrics.functional import psnr
from semcom.registry import SOURCES
from semcom.sources.base import collate
from semcom.zoo.publish import MAX_BYTES
from semcom.zoo.store import entry_path, read_manifest, sha256_of

ENTRIES = read_manifest()


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
