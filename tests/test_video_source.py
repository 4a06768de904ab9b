"""synth-blur-video: consecutive exposures of one continuous motion, their events and the gaps' events."""

import numpy as np
import pytest
from skimage.registration import phase_cross_correlation

from semcom.errors import SemcomError
from semcom.registry import SOURCES
from semcom.sources.base import EVENT_DTYPE
from semcom.sources.camera import CameraConfig
from semcom.sources.skimage_set import load_skimage_picture
from semcom.sources.video import VideoRenderer, capture_video, split_events


def test_consecutive_exposures_continue_one_motion():
    # straight motion at constant speed: 12 px per 10 ms exposure, 2.5 ms gaps
    r = VideoRenderer(size=64, exposures=3, exposure_us=10_000, gap_us=2_500, blur_px=12.0, curvature=0.0,
                      rotation=0.0, zoom=0.0)
    video = r.render(load_skimage_picture("astronaut"), np.random.default_rng(0))
    assert video.blur_px == pytest.approx((12.0, 12.0, 12.0), abs=1e-6)
    assert np.all(np.diff(video.times_us) > 0) and video.times_us[-1] < video.span_us
    caps, gaps = capture_video(CameraConfig(spikes=False).build(), video, np.random.default_rng(1))
    lum = [c.sharp.astype(float).mean(0) for c in caps]
    shifts = [phase_cross_correlation(lum[i], lum[i + 1], upsample_factor=20)[0] for i in range(2)]
    # frame t+1 is where frame t's motion leads: the same step twice, 12 px x (10 + 2.5) / 10 long
    assert np.allclose(shifts[0], shifts[1], atol=0.2)
    assert np.hypot(*shifts[0]) == pytest.approx(15.0, abs=0.3)
    # each sharp target is the latent frame at the middle of its exposure
    for i, cap in enumerate(caps):
        a, b = video.windows[i]
        assert video.times_us[(a + b) // 2] == pytest.approx(i * 12_500 + 5_000)


def test_every_event_lands_in_one_exposure_or_one_gap():
    t = np.array([0, 9_999, 10_000, 12_499, 12_500, 22_499, 22_500, 24_999, 25_000, 34_999])
    ev = np.zeros(len(t), EVENT_DTYPE)
    ev["t"] = t
    ins, gaps = split_events(ev, exposures=3, exposure_us=10_000, gap_us=2_500)
    assert [list(e["t"]) for e in ins] == [[0, 9_999], [0, 9_999], [0, 9_999]]
    assert [list(g["t"]) for g in gaps] == [[0, 2_499], [0, 2_499]]
    assert sum(map(len, ins)) + sum(map(len, gaps)) == len(ev)


def test_dataset_sequences_hold_the_gap_events_and_cache_byte_identically(tmp_path):
    kw = dict(size=48, limit=1, seed=3, blur_px=10.0)
    a = SOURCES.build("synth-blur-video", cache=str(tmp_path / "a"), **kw)
    seq = a[0]
    assert len(seq) == 3 and len(seq.gap_events) == 2 and seq.info["gap_us"] == 2_500
    for i, frame in enumerate(seq.frames):
        assert frame.info["start_us"] == i * 12_500 and frame.events.shape == (6, 48, 48)
        assert frame.info["num_events"] == len(frame.raw_events) > 0
        assert frame.raw_events["t"].min() >= 0 and frame.raw_events["t"].max() < 10_000
        assert frame.spikes is None  # no spike camera unless asked for
    for gap in seq.gap_events:  # the camera kept moving during the read-out
        assert len(gap) > 0 and gap["t"].max() < 2_500
    b = SOURCES.build("synth-blur-video", cache=str(tmp_path / "b"), **kw)
    b[0]
    fa, fb = (next(p.rglob("*.npz")) for p in (tmp_path / "a", tmp_path / "b"))
    assert fa.read_bytes() == fb.read_bytes()
    again = SOURCES.build("synth-blur-video", cache=str(tmp_path / "a"), **kw)[0]  # read from the cache
    for x, y in zip(seq.frames, again.frames):
        assert np.array_equal(x.blurry.numpy(), y.blurry.numpy()) and np.array_equal(x.raw_events, y.raw_events)
    assert all(np.array_equal(x, y) for x, y in zip(seq.gap_events, again.gap_events))


def test_bad_settings_are_one_line():
    with pytest.raises(SemcomError, match="exposures"):
        SOURCES.build("synth-blur-video", exposures=0, cache=False)
    with pytest.raises(SemcomError, match="gap_us"):
        SOURCES.build("synth-blur-video", gap_us=-1, cache=False)
    with pytest.raises(SemcomError, match="sequences"):
        SOURCES.build("synth-blur-video", size=32, limit=1, cache=False).capture(0)


def test_per_frame_links_send_every_frame_of_a_sequence_at_the_same_cbr(tmp_path):
    import csv
    import json

    from semcom.bench.sweep import SweepConfig, run_sweep

    for link in ("deepjscc", "bpg-ldpc"):
        path = run_sweep(SweepConfig(link=link, cbr=1 / 48, snr_db=(10.0,), dataset="synth-blur-video", limit=2,
                                     dataset_params={"size": 64}, metrics=("psnr",)), out_dir=tmp_path,
                         progress=False)
        row = next(csv.DictReader(open(path)))
        assert int(row["n_images"]) == 6  # 2 sequences of 3 frames, each frame sent
        assert float(row["cbr_used"]) <= 1 / 48 + 1e-12 and float(row["cbr_used"]) > 0.9 / 48
        side = json.loads(path.with_suffix(".json").read_text())
        assert side["resolved"]["dataset"]["frames_of_sequences"] == {"sequences": 2, "frames": 6}


def test_a_per_frame_link_trains_on_the_frames_of_sequences(tmp_path):
    from semcom.train import train

    res = train("deepjscc", cbr=1 / 48, snr_db=10.0, steps=2, batch_size=2, dataset="synth-blur-video", size=32,
                n_train=3, n_val=1, progress=False, out=tmp_path / "x.ckpt", log_every=1)
    assert res.checkpoint.exists() and np.isfinite(res.val_psnr)


def test_gopro_video_yields_windows_of_consecutive_frames_of_one_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    base = (rng.uniform(size=(40, 56, 3)) * 200 + 20).astype(np.uint8)
    frames = [np.roll(base, j, axis=1) for j in range(1, 29)]  # a pan, one pixel per 240 fps frame
    root = tmp_path / "GOPRO_Large" / "test"
    for seq, centres in (("SEQ_01", (4, 11, 18, 25)), ("SEQ_02", (4, 11))):
        for d in ("blur", "sharp"):
            (root / seq / d).mkdir(parents=True)
        for c in centres:
            Image.fromarray(np.mean(frames[c - 4:c + 3], axis=0).astype(np.uint8)).save(root / seq / "blur" / f"{c:06d}.png")
            Image.fromarray(frames[c - 1]).save(root / seq / "sharp" / f"{c:06d}.png")
    hfr = tmp_path / "GOPRO_Large_all" / "test" / "SEQ_01"
    hfr.mkdir(parents=True)
    for j, f in enumerate(frames, start=1):
        Image.fromarray(f).save(hfr / f"{j:06d}.png")
    ds = SOURCES.build("gopro-video", data_root=str(tmp_path / "GOPRO_Large"), cache=str(tmp_path / "cache"))
    assert len(ds) == 2  # SEQ_01: 4-11-18 and 11-18-25; SEQ_02 is too short for three
    seq = ds[1]
    assert [f.name for f in seq.frames] == ["SEQ_01/000011.png", "SEQ_01/000018.png", "SEQ_01/000025.png"]
    exposure = round(7 / 240 * 1e6)
    assert [f.info["start_us"] for f in seq.frames] == [0, exposure, 2 * exposure]  # back to back
    assert all(f.info["gap_us"] == 0 for f in seq.frames[:2]) and len(seq.gap_events) == 2
    assert all(f.events is not None and f.info["frames"] == "simulated" for f in seq.frames)
    with pytest.raises(SemcomError, match="exposures"):
        SOURCES.build("gopro-video", data_root=str(tmp_path / "GOPRO_Large"), exposures=0)
