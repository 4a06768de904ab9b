"""STRA at the receiver: sequences as batches of frames, neighbours, training on sequences, weights, links."""

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from semcom.errors import SemcomError
from semcom.link import Link, find_link
from semcom.receivers.stra import STRAReceiver
from semcom.sources.base import Batch
from semcom.sources.video import sequence_neighbours, stack_sequence, unstack_sequences
from semcom.zoo.build import build_receiver

ROOT = Path(__file__).resolve().parents[1]


def _video(**kw):
    from semcom.registry import SOURCES

    return SOURCES.build("synth-blur-video", split="test", size=32, **{"limit": 2, **kw})


def _frames_batch(n_seq=2, t=3, h=16, w=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(n_seq * t, 3, h, w, generator=g)
    ev = torch.randn(n_seq * t, 6, h, w, generator=g)
    info = tuple({"sequence": i, "exposure_index": k, "exposures": t} for i in range(n_seq) for k in range(t))
    return Batch(sharp=img, blurry=img, events=ev, info=info)


def _lively(receiver):
    """A receiver whose output head is not the identity it starts as."""
    torch.nn.init.normal_(receiver.net.head.weight, std=0.05)
    return receiver.eval()


def test_stacking_a_sequence_and_unstacking_a_batch_give_its_frames_back():
    seq = _video()[0]
    sharp, blurry, events = stack_sequence(seq)
    assert sharp.shape[0] == 9 and events.shape[0] == 6 * 3
    batch = unstack_sequences(Batch(sharp=sharp[None], blurry=blurry[None], events=events[None]), 3)
    for k, frame in enumerate(seq.frames):
        assert torch.equal(batch.sharp[k], frame.sharp) and torch.equal(batch.events[k], frame.events)
        assert batch.info[k] == {"sequence": 0, "exposure_index": k, "exposures": 3}
    with pytest.raises(ValueError, match="9 frame channels"):
        unstack_sequences(Batch(sharp=sharp[None, :6], blurry=blurry[None, :6]), 3)


def test_neighbours_stay_inside_each_sequence_and_cut_sequences_are_refused():
    prev, nxt = sequence_neighbours(_frames_batch(), 6)
    assert prev.tolist() == [0, 0, 1, 3, 3, 4] and nxt.tolist() == [1, 2, 2, 4, 5, 5]
    lone = Batch(sharp=torch.zeros(2, 3, 4, 4), blurry=torch.zeros(2, 3, 4, 4))
    assert [t.tolist() for t in sequence_neighbours(lone, 2)] == [[0, 1], [0, 1]]  # single exposures
    cut = _frames_batch()
    cut = Batch(sharp=cut.sharp[1:], blurry=cut.blurry[1:], events=cut.events[1:], info=cut.info[1:])
    with pytest.raises(ValueError, match="whole sequences"):
        sequence_neighbours(cut, 5)
    with pytest.raises(SemcomError, match="whole sequences"):
        STRAReceiver()(cut.blurry, events=cut.events, batch=cut)


def test_stra_restores_a_frame_from_its_own_sequence_only():
    torch.manual_seed(0)
    rx = _lively(STRAReceiver(width=8))
    batch = _frames_batch()
    with torch.no_grad():
        out = rx(batch.blurry, events=batch.events, batch=batch)
        img = batch.blurry.clone()
        img[0] = torch.rand(3, 16, 24)  # the first sequence's first frame
        ev = batch.events.clone()
        ev[2] = 0  # the first sequence's last frame's events
        changed = rx(img, events=ev, batch=batch)
    assert out.shape == (6, 3, 16, 24)
    assert not torch.allclose(out[1], changed[1])  # frame 1 reads frame 0 and the events of frame 2
    assert torch.equal(out[3:], changed[3:])  # the other sequence does not
    frames_only = _lively(STRAReceiver(width=8, events=False))
    with torch.no_grad():
        assert torch.equal(frames_only(batch.blurry, events=batch.events, batch=batch),
                           frames_only(batch.blurry, events=ev, batch=batch))


def test_training_on_sequences_then_loading_the_back_end_by_checkpoint(tmp_path):
    from semcom.train import train
    from semcom.train.sources import load_training_data

    data = load_training_data("synth-blur-video", size=32, n=2, seed=0, params={"split": "test"})
    assert data.exposures == 3 and data.sharp.shape[1] == 9
    batch = data.draw(seed=0, step=0, batch_size=2, crop=16)
    assert batch.size == 6 and batch.sharp.shape[1:] == (3, 16, 16)
    assert [i["exposure_index"] for i in batch.info] == [0, 1, 2, 0, 1, 2]
    ck = tmp_path / "s.ckpt"
    res = train("stra", cbr=1.0, snr_db=0.0, steps=3, batch_size=2, dataset="synth-blur-video", size=32, n_train=3,
                n_val=1, progress=False, out=ck, log_every=1)
    assert np.isfinite(res.val_psnr)
    link = Link(find_link("stra"), cbr=1.0, codec_overrides={"checkpoint": str(ck)})
    from semcom.zoo.store import load_checkpoint

    stored = load_checkpoint(ck).receiver
    assert all(torch.equal(v.float(), stored[k].float()) for k, v in link.receiver.state_dict().items())
    with pytest.raises(SemcomError, match="not those of this STRA"):
        build_receiver("stra", width=8, weights=str(ck))
    plain = tmp_path / "d.ckpt"
    train("deepjscc", cbr=1 / 48, snr_db=10.0, steps=1, batch_size=1, size=32, n_train=1, progress=False, out=plain)
    with pytest.raises(SemcomError, match="no receiver weights"):
        build_receiver("stra", weights=str(plain))


def test_the_runner_batches_whole_sequences_and_counts_every_frame(tmp_path):
    from semcom.bench.sweep import SweepConfig, batch_indices, load_dataset, run_sweep

    frames = load_dataset(SweepConfig(link="stra", cbr=1.0, snr_db=(0.0,), dataset="synth-blur-video", limit=3,
                                      dataset_params={"size": 32}), find_link("stra").source)
    assert batch_indices(frames, 4) == [[0, 1, 2, 3, 4, 5], [6, 7, 8]]  # two sequences, then one
    assert batch_indices(frames, 1) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    ck = tmp_path / "s.ckpt"
    from semcom.train import train

    train("stra", cbr=1.0, snr_db=0.0, steps=1, batch_size=1, dataset="synth-blur-video", size=32, n_train=1,
          progress=False, out=ck)
    path = run_sweep(SweepConfig(link="stra", cbr=1.0, channel="none", snr_db=(0.0,), dataset="synth-blur-video",
                                 limit=3, batch_size=4, dataset_params={"size": 32}, metrics=("psnr",),
                                 checkpoint=str(ck)), out_dir=tmp_path, progress=False)
    row = next(csv.DictReader(open(path)))
    assert int(row["n_images"]) == 9 and 0 < float(row["cbr_used"]) <= 1.0


def test_ev_jscc_can_deliver_its_decoded_streams_to_a_back_end():
    from semcom.channels.awgn import AWGN
    from semcom.registry import CODECS

    torch.manual_seed(0)
    codec = CODECS.build("ev-jscc", cbr=1 / 48, output="streams").eval()
    batch = _frames_batch(n_seq=1, h=32, w=32)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        tx, rx = codec.transmit(batch, AWGN(), snr_db=torch.full((3,), 10.0), generator=g)
        image, events = codec.decode_streams(AWGN()(tx.symbols, snr_db=torch.full((3,), 10.0),
                                                    generator=torch.Generator().manual_seed(1)), tx,
                                             snr_db=torch.full((3,), 10.0))
    assert torch.allclose(rx.image, image) and torch.allclose(rx.events, events)
    with pytest.raises(ValueError, match="output"):
        CODECS.build("ev-jscc", cbr=1 / 48, output="both")


def test_shipped_weights_are_looked_up_by_the_link_that_trains_them():
    with pytest.raises(SemcomError, match="no shipped weights for the stra back-end \\(link 'no-such-stra'\\)"):
        build_receiver("stra", weights="shipped:no-such-stra")


def test_the_shipped_stra_restores_better_than_the_blurry_frames():
    from semcom.bench.sweep import SweepConfig, batch_indices, load_dataset
    from semcom.metrics.functional import psnr
    from semcom.sources.base import collate

    frames = load_dataset(SweepConfig(link="stra-skips", cbr=1.0, snr_db=(0.0,), limit=1, dataset_params={"size": 128}),
                          find_link("stra-skips").source)
    batch = collate([frames[i] for i in batch_indices(frames, 3)[0]])
    link = Link(find_link("stra-skips"), cbr=1.0).eval()
    with torch.no_grad():
        out = link(batch, snr_db=0.0).output
    assert float(psnr(out, batch.sharp).mean()) > float(psnr(batch.blurry, batch.sharp).mean()) + 2.0
    assert Link(find_link("stra"), cbr=1.0).receiver.net.event_skips is False  # the paper's design, its own weights


def test_the_paper_recipe_delivers_gap_events_trains_resumes_and_logs_validation(tmp_path):
    """``semcom.train.stra``: sequences with the read-out gaps' events, the shared trainer, a state folder."""
    from semcom.train.stra import link_reads_gap_events, load_sequence_data, main, train_stra

    data = load_sequence_data(split="test", size=32, n=2, exposures=3, gap_events=True)
    assert data.exposures == 3 and data.events.shape[1] == 3 * 12  # per exposure: its SCER, then the gap's after it
    plain = load_sequence_data(split="test", size=32, n=2, exposures=3)
    ev = data.events.float().unflatten(1, (3, 12))
    assert torch.equal(ev[:, :, :6].flatten(1, 2), plain.events.float())  # each frame's own events unchanged
    assert ev[:, :2, 6:].abs().sum() > 0 and ev[:, 2, 6:].abs().sum() == 0  # no gap after the last exposure
    assert link_reads_gap_events(str(ROOT / "semcom" / "experiments" / "links" / "stra-paper-gaps.toml"))
    assert not link_reads_gap_events("stra-paper") and not link_reads_gap_events("stra")
    small = tmp_path / "stra-paper-small.toml"  # the published design, small enough for a test
    text = (ROOT / "semcom" / "experiments" / "links" / "stra-paper-gaps.toml").read_text()
    small.write_text(text.replace('name = "stra-paper-gaps"', 'name = "stra-paper-small"')
                     .replace("width = 32", "width = 8").replace("res_units = 8", "res_units = 1"))
    kw = dict(link=str(small), steps=2, batch_size=1, size=32, n_train=2, n_val=1, exposures=3, workers=0,
              val_every=1, log_every=1, checkpoint_every=1, progress=False)
    first = train_stra(tmp_path / "state", stop_after=1, **kw)
    assert first.checkpoint == tmp_path / "state" / "stra-paper-small.ckpt"
    res = train_stra(tmp_path / "state", **kw)
    assert res.resumed_from == 1 and np.isfinite(res.val_psnr)
    rows = list(csv.DictReader(open(res.log)))
    assert [r["step"] for r in rows] == ["1", "2"] and all(float(r["val_psnr"]) > 0 for r in rows)
    link = Link(find_link(str(small)), cbr=1.0, codec_overrides={"checkpoint": str(res.checkpoint)})
    assert link.receiver.variant == "paper" and link.receiver.gap_events
    assert main(["--out", str(tmp_path / "x"), "--steps", "0"]) == 2


def test_the_stra_paper_link_is_the_published_design():
    rx = Link(find_link("stra-paper"), cbr=1.0).receiver
    net = rx.net
    assert rx.variant == "paper" and net.fusion == "coarsest" and net.memory and net.carry and not net.gap_events
    assert net.enc1[0][0].out_channels == 32 and len(net.enc1) == 1 + 8
    assert find_link("stra-paper").source.params["exposures"] == 5
