"""Golden values of the shipped checkpoints: PSNR at 3 SNRs on 4 evaluation frames, to 0.01 dB.

Any change that moves a shipped model's output (its weights, a layer, the channel, the data)
fails here.  After an intended change, regenerate with
``SEMCOM_UPDATE_GOLDEN=1 pytest tests/test_golden.py`` and say why in the commit.
"""

import json
import os
from pathlib import Path

import pytest
import torch

from semcom.link import Link, find_link
from semcom.metrics.functional import psnr
from semcom.registry import SOURCES
from semcom.sources.base import collate
from semcom.zoo.store import read_manifest

GOLDEN = Path(__file__).parent / "expected" / "shipped_psnr.json"
SNRS = (0.0, 10.0, 20.0)
ENTRIES = read_manifest()


def _key(e):
    return e["name"]


@pytest.fixture(scope="module")
def frames():
    ds = SOURCES.build("synth-blur", split="test", limit=4)
    return collate([ds[i] for i in range(4)])


def _measure(entry, batch):
    from semcom.zoo.build import is_learned

    learned = is_learned(entry["codec"])  # back-end weights (stra, s-sdm) sit behind a codec without an SNR mode
    over = {} if entry["snr_mode"] == "adaptive" or not learned else {"snr_db": float(entry["snr_db"])}
    spec = find_link(entry["link"])
    link = Link(spec, cbr=entry["cbr"], codec_overrides=over).eval()
    out = {}
    with torch.no_grad():
        for snr in SNRS:
            if out and spec.channel.name == "none":  # no channel: the SNR cannot matter, one pass (diffevent: ~7 s a frame)
                out[f"{snr:g}"] = out[f"{SNRS[0]:g}"]
                continue
            res = link(batch, snr_db=snr, generator=torch.Generator().manual_seed(1234))
            out[f"{snr:g}"] = round(float(psnr(res.output, batch.sharp).mean()), 4)
    return out


@pytest.mark.parametrize("entry", ENTRIES, ids=[_key(e) for e in ENTRIES])
def test_shipped_checkpoint_matches_its_golden_psnr(entry, frames):
    got = _measure(entry, frames)
    if os.environ.get("SEMCOM_UPDATE_GOLDEN"):
        data = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
        data[_key(entry)] = {"sha256": entry["sha256"], "psnr": got}
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(dict(sorted(data.items())), indent=1) + "\n")
        return
    golden = json.loads(GOLDEN.read_text())
    assert _key(entry) in golden, f"no golden values for {_key(entry)}; regenerate (see the module docstring)"
    want = golden[_key(entry)]
    assert want["sha256"] == entry["sha256"], "the shipped file changed: regenerate the golden values"
    for snr, value in want["psnr"].items():
        assert abs(got[snr] - value) <= 0.01, (snr, got[snr], value)


def test_every_golden_entry_is_shipped():
    golden = json.loads(GOLDEN.read_text())
    assert set(golden) == {_key(e) for e in ENTRIES}
