import csv
import math
from pathlib import Path

import pytest
import torch

from semcom.errors import SemcomError
from semcom.link import Link, find_link
from semcom.train import Stage, forward_step, get_schedule, load_training_data, train
from semcom.train.trainer import TrainConfig, train_schedule

SMALL = {"codec_params": {"width": 16}}


@pytest.fixture(scope="module")
def data():
    return load_training_data("skimage", size=64, n=6, seed=0)


def _eval_loss(link, data, snr=10.0):
    from semcom.sources.base import Batch

    batch = data.batch(slice(0, 4))
    with torch.no_grad():
        out = forward_step(link, batch, snr_db=torch.full((4,), snr), generator=torch.Generator().manual_seed(123))
    return float(torch.mean((out.output - out.target) ** 2))


def _load_link(path, name="deepjscc", cbr=1 / 48):
    return Link(find_link(name), cbr=cbr, codec_overrides={"checkpoint": str(path)})


def test_a_few_steps_lower_the_loss(tmp_path, data):
    res = train("deepjscc", cbr=1 / 48, snr_db=10.0, steps=60, lr=2e-3, batch_size=4, out=tmp_path / "a.ckpt",
                data=data, progress=False, log_every=10, **SMALL)
    torch.manual_seed(0)
    untrained = Link(find_link("deepjscc"), cbr=1 / 48,
                     codec_overrides={"checkpoint": "none", "snr_db": 10.0, "width": 16})
    trained = _load_link(res.checkpoint)
    assert trained.codec.snr_mode == "single" and trained.codec.snr_db == 10.0
    assert _eval_loss(trained, data) < 0.7 * _eval_loss(untrained, data)
    rows = list(csv.DictReader(open(res.log)))
    assert [int(r["step"]) for r in rows] == [10, 20, 30, 40, 50, 60]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])


def test_resume_after_an_interruption_gives_the_same_weights(tmp_path, data):
    kw = dict(cbr=1 / 48, snr_range=(0.0, 20.0), steps=6, lr=1e-3, batch_size=2, data=data, progress=False,
              log_every=1, checkpoint_every=100, **SMALL)
    full = train("deepjscc", out=tmp_path / "full.ckpt", **kw)
    first = train("deepjscc", out=tmp_path / "part.ckpt", stop_after=3, **kw)
    assert first.resumed_from == 0
    from semcom.zoo.store import load_checkpoint

    assert load_checkpoint(tmp_path / "part.ckpt").train["step"] == 3
    second = train("deepjscc", out=tmp_path / "part.ckpt", **kw)
    assert second.resumed_from == 3
    a, b = load_checkpoint(full.checkpoint), load_checkpoint(second.checkpoint)
    assert a.codec.keys() == b.codec.keys()
    for k in a.codec:
        assert torch.equal(a.codec[k], b.codec[k]), k
    steps = [int(r["step"]) for r in csv.DictReader(open(second.log))]
    assert steps == [1, 2, 3, 4, 5, 6]
    # a finished run is not trained again
    assert train("deepjscc", out=tmp_path / "part.ckpt", **kw).resumed_from == 6
    # the same --out with another configuration is refused
    with pytest.raises(SemcomError, match="different training configuration"):
        train("deepjscc", out=tmp_path / "part.ckpt", **{**kw, "lr": 5e-4})


def test_each_stage_changes_only_its_modules(tmp_path, data):
    torch.manual_seed(0)
    link = Link(find_link("deepjscc-deblur"), cbr=1 / 48,
                codec_overrides={"checkpoint": "none", "adaptive": True, "width": 16, "unet_width": 8})
    schedule = (
        Stage("transmission", ("codec.encoder", "codec.decoder"), "transmission", 2, 1e-3),
        Stage("deblur", ("codec.deblur",), "mse", 2, 1e-3),
        Stage("finetune", ("codec",), "mse", 2, 1e-3),
    )
    snaps = {0: {k: v.clone() for k, v in link.state_dict().items()}}

    def on_step(step, loss):
        if step % 2 == 0:
            snaps[step] = {k: v.clone() for k, v in link.state_dict().items()}

    cfg = TrainConfig(link="deepjscc-deblur", cbr=1 / 48, snr_db=None, snr_range=(0.0, 20.0), steps=6, seed=0,
                      batch_size=2, lr=1e-3, dataset="memory", size=64, crop=None, n_train=6, schedule="custom",
                      lam=0.0, grad_clip=1.0, init=None)
    train_schedule(link, data, schedule, cfg, out=tmp_path / "s.ckpt", device=torch.device("cpu"),
                   checkpoint_every=100, log_every=1, progress=False, on_step=on_step)

    def changed(before, after, prefix):
        keys = [k for k in before if k.startswith(prefix)]
        assert keys
        return [k for k in keys if not torch.equal(before[k], after[k])]

    jscc = ("codec.encoder.", "codec.decoder.")
    for p in jscc:
        assert changed(snaps[0], snaps[2], p)
    assert not changed(snaps[0], snaps[2], "codec.deblur.")  # frozen in stage 1: bit-identical
    for p in jscc:
        assert not changed(snaps[2], snaps[4], p)  # frozen in stage 2
    assert changed(snaps[2], snaps[4], "codec.deblur.")
    for p in (*jscc, "codec.deblur."):
        assert changed(snaps[4], snaps[6], p)


def test_schedules_and_stage_validation(data):
    sched = get_schedule("jscc-then-deblur", steps=100, lr=1e-3)
    assert [s.name for s in sched] == ["transmission", "deblur", "finetune"]
    assert sum(s.steps for s in sched) == 100
    ev = get_schedule("codec-then-receiver", steps=10, lr=1e-3, lam=0.5)
    assert ev[0].params == {"lam": 0.5} and ev[1].trainable == ("receiver",)
    st = Stage("x", ("codec",), "mse", 100, 1e-3)
    lrs = [st.lr_at(i) for i in range(100)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] < 0.05e-3 and all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert Stage("s", ("codec",), "mse", 100, 1.0, lr_shape="step").lr_at(90) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="lr"):
        Stage("x", ("codec",), "mse", 10, 0.0)
    with pytest.raises(ValueError, match="trainable"):
        Stage("x", (), "mse", 10, 1e-3)
    with pytest.raises(SemcomError, match="unknown schedule"):
        get_schedule("nope", steps=1, lr=1e-3)


def test_bad_arguments_are_clear_errors(tmp_path, data):
    with pytest.raises(SemcomError, match="exactly one"):
        train("deepjscc", cbr=1 / 48, steps=1, out=tmp_path / "x.ckpt", data=data)
    with pytest.raises(SemcomError, match="codec.encodr"):
        from semcom.train.trainer import set_trainable

        link = Link(find_link("deepjscc"), cbr=1 / 48, codec_overrides={"checkpoint": "none", "width": 16})
        set_trainable(link, ("codec.encodr",))


def _train_main(argv):
    """``semcom train ARGV`` in this process (what ``python -m semcom.train ARGV`` runs)."""
    from semcom.cli import main

    return main(["train", *argv])


def test_command_line(tmp_path):
    main = _train_main
    out = tmp_path / "cli.ckpt"
    args = ["--link", "deepjscc", "--cbr", "1/96", "--snr-range", "0:20", "--steps", "2", "--dataset", "skimage",
            "--size", "64", "--n-train", "2", "--batch-size", "2", "--out", str(out), "-q"]
    assert main(args) == 0
    from semcom.zoo.store import read_meta

    meta = read_meta(out)
    assert meta["link"] == "deepjscc" and meta["snr_mode"] == "adaptive" and meta["step"] == 2
    assert meta["snr_range"] == [0.0, 20.0] and abs(meta["cbr"] - 1 / 96) < 1e-12
    assert main(args[:4] + ["--snr", "3", "--snr-range", "0:20"]) == 2


def test_warm_start_copies_the_shared_tensors_and_refuses_a_wrong_cbr(tmp_path, data):
    from semcom.train.trainer import copy_matching

    res = train("deepjscc", cbr=1 / 48, snr_range=(0.0, 20.0), steps=2, batch_size=2, out=tmp_path / "dj.ckpt",
                data=data, progress=False, **SMALL)
    torch.manual_seed(1)
    link = Link(find_link("deepjscc-deblur"), cbr=1 / 48,
                codec_overrides={"checkpoint": "none", "adaptive": True, "width": 16})
    unet_before = {k: v.clone() for k, v in link.codec.deblur.state_dict().items()}
    copied = copy_matching(link.codec, res.checkpoint, cbr=1 / 48)
    source = _load_link(res.checkpoint).codec.state_dict()
    assert copied and all(k.startswith(("encoder.", "decoder.")) for k in copied)
    for k in copied:
        assert torch.equal(link.codec.state_dict()[k], source[k]), k
    for k, v in link.codec.deblur.state_dict().items():  # the U-Net keeps its initialization
        assert torch.equal(v, unet_before[k]), k
    with pytest.raises(SemcomError, match="CBR"):
        copy_matching(link.codec, res.checkpoint, cbr=1 / 96)
    # the same codec at another CBR: all but the latent-sized layers carry over
    torch.manual_seed(2)
    dj96 = Link(find_link("deepjscc"), cbr=1 / 96, codec_overrides={"checkpoint": "none", "adaptive": True,
                                                                      "width": 16})
    init96 = {k: v.clone() for k, v in dj96.codec.state_dict().items()}
    copied96 = copy_matching(dj96.codec, res.checkpoint, cbr=1 / 96)
    skipped = sorted(set(init96) - set(copied96))
    assert copied96 and skipped, (copied96, skipped)
    assert all(init96[k].shape != source[k].shape for k in skipped)
    assert all(torch.equal(dj96.codec.state_dict()[k], init96[k]) for k in skipped)
    assert all(torch.equal(dj96.codec.state_dict()[k], source[k]) for k in copied96)
    # through train(): the deblurring link starts from the DeepJSCC weights
    out = train("deepjscc-deblur", cbr=1 / 48, snr_range=(0.0, 20.0), steps=10, batch_size=2, data=data,
                out=tmp_path / "djd.ckpt", progress=False, schedule="deblur-then-all", warm_start=res.checkpoint,
                stop_after=2, **SMALL)
    trained = _load_link(out.checkpoint, name="deepjscc-deblur").codec.state_dict()
    # stage 1 of deblur-then-all trains the U-Net only: the JSCC weights are still DeepJSCC's
    assert all(torch.equal(trained[k], source[k]) for k in copied)


def test_a_learned_back_end_behind_a_codec_without_weights_trains(tmp_path):
    from semcom.train.trainer import TrainingData
    from semcom.zoo.store import load_checkpoint

    g = torch.Generator().manual_seed(0)
    sharp = torch.rand(4, 3, 32, 32, generator=g)
    data = TrainingData.from_float(sharp, 0.5 * (sharp + sharp.roll(2, -1)),
                                   torch.randn(4, 6, 32, 32, generator=g), describe={"name": "t"})
    res = train("unet-xattn", cbr=1.0, snr_db=0.0, steps=3, batch_size=2, data=data, out=tmp_path / "u.ckpt",
                progress=False)
    ck = load_checkpoint(res.checkpoint)
    assert ck.receiver and not ck.codec  # softcast has no weights; the U-Net's are saved
    assert not torch.any(Link(find_link("unet-xattn"), cbr=1.0).receiver.head.weight)  # starts at zero
    assert torch.any(ck.receiver["head.weight"] != 0)  # ... and the three steps moved it


def test_ema_validation_and_resume_with_both(tmp_path, data):
    from semcom.zoo.store import load_checkpoint

    kw = dict(cbr=1 / 48, snr_range=(0.0, 20.0), steps=6, lr=1e-3, batch_size=2, data=data, progress=False,
              log_every=2, checkpoint_every=100, ema=0.5, n_val=2, val_every=2, **SMALL)
    full = train("deepjscc", out=tmp_path / "full.ckpt", **kw)
    train("deepjscc", out=tmp_path / "part.ckpt", stop_after=3, **kw)
    second = train("deepjscc", out=tmp_path / "part.ckpt", **kw)
    assert second.resumed_from == 3
    a, b = load_checkpoint(full.checkpoint), load_checkpoint(second.checkpoint)
    for k in a.codec:  # the EMA (the checkpoint's weights) and the raw weights both resume exactly
        assert torch.equal(a.codec[k], b.codec[k]), k
        assert torch.equal(a.train["raw"]["codec"][k], b.train["raw"]["codec"][k]), k
    # the checkpoint holds the average, which differs from the last weights
    assert any(not torch.equal(a.codec[k], a.train["raw"]["codec"][k]) for k in a.codec)
    assert a.meta["training"]["weights"] == "ema" and a.meta["training"]["data"]["n_val"] == 2
    rows = list(csv.DictReader(open(full.log)))
    assert [int(r["step"]) for r in rows] == [2, 4, 6]
    # the log of the interrupted run is the same too (the row in progress at the stop is resumed)
    again = list(csv.DictReader(open(second.log)))
    drop = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert drop(again) == drop(rows)
    assert all(r["val_psnr"] for r in rows) and math.isfinite(full.val_psnr)
    assert [int(r["samples"]) for r in rows] == [4, 8, 12]
    assert abs(float(rows[-1]["val_psnr"]) - full.val_psnr) < 1e-3
    assert full.log.with_suffix(".png").stat().st_size > 1000  # the learning curve


def test_validation_reports_the_psnr_of_the_held_out_frames(data):
    from semcom.train.trainer import validate

    torch.manual_seed(0)
    link = Link(find_link("deepjscc"), cbr=1 / 48, codec_overrides={"checkpoint": "none", "snr_db": 10.0, "width": 16})
    cfg = TrainConfig(link="deepjscc", cbr=1 / 48, snr_db=10.0, snr_range=None, steps=1, seed=0, batch_size=2,
                      lr=1e-3, dataset="m", size=64, crop=None, n_train=6, schedule="single", lam=0.0, grad_clip=None,
                      init=None)
    _, val = data.split(3)
    got = validate(link, val, cfg)
    batch = val.batch(slice(0, 3))
    out = link(batch, snr_db=10.0, generator=torch.Generator().manual_seed(0)).output
    mse = ((out - batch.sharp) ** 2).flatten(1).mean(1)
    expected = float((-10 * torch.log10(mse)).mean().detach())
    assert abs(got - expected) < 1.0  # other noise draw, same frames: within a dB
    assert got == validate(link, val, cfg)  # fixed seed: comparable across steps


def test_learning_rate_follows_one_cosine_over_the_run():
    from semcom.train.trainer import run_lr

    cfg = TrainConfig(link="x", cbr=1 / 48, snr_db=10.0, snr_range=None, steps=100, seed=0, batch_size=32, lr=1e-3,
                      dataset="m", size=64, crop=None, n_train=6, schedule="ev-jscc", lam=0.0, grad_clip=None,
                      init=None)
    sched = get_schedule("ev-jscc", steps=100, lr=1e-3)
    lrs, step = [], 0
    for stage in sched:
        for k in range(stage.steps):
            lrs.append(run_lr(cfg, stage, step=step, stage_step=k, total=100) / stage.lr)
            step += 1
    # sqrt batch scaling: batch 32 doubles the rate of batch 8
    warm = sched[0].warmup
    assert lrs[warm] == pytest.approx(2.0 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * warm / 99))))
    after = lrs[warm:]
    assert all(a >= b - 1e-12 for a, b in zip(after, after[1:]))  # no restart at stage boundaries
    assert lrs[-1] == pytest.approx(2.0 * 0.01)
    stage_cfg = TrainConfig(**{**cfg.__dict__, "lr_curve": "stage"})
    assert run_lr(stage_cfg, sched[2], step=99, stage_step=sched[2].steps - 1, total=100) < 1e-4


def test_shards_are_sub_batches_with_their_own_draws(tmp_path, data):
    from semcom.zoo.store import load_checkpoint

    kw = dict(cbr=1 / 48, snr_range=(0.0, 20.0), steps=3, lr=1e-3, batch_size=4, data=data, progress=False,
              checkpoint_every=100, **SMALL)
    one = load_checkpoint(train("deepjscc", out=tmp_path / "s1.ckpt", shards=1, **kw).checkpoint)
    two = load_checkpoint(train("deepjscc", out=tmp_path / "s2.ckpt", shards=2, **kw).checkpoint)
    assert any(not torch.equal(one.codec[k], two.codec[k]) for k in one.codec)
    with pytest.raises(SemcomError, match="multiple of the 3 shards"):
        train("deepjscc", out=tmp_path / "s3.ckpt", shards=3, **kw)


def _torchrun(args, tmp_path, nproc):
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1", "SEMCOM_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "semcom.train", *args]
    if nproc == 1:
        cmd = [sys.executable, "-m", "semcom.train", *args]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("link,dataset,extra", [
    ("deepjscc", "skimage", ["--codec-param", "width=8"]),
    ("ev-jscc", "synth-blur", ["--codec-param", "width=8", "--codec-param", "unet_width=8"]),
])
def test_two_gloo_processes_follow_one_process_with_the_same_shards(tmp_path, link, dataset, extra):
    """DDP over 2 CPU processes (gloo) and 1 process running both shards give the same run: the
    same losses and weights up to float32 reduction order (tolerance 1e-4 relative)."""
    from semcom.zoo.store import load_checkpoint

    base = ["--link", link, "--cbr", "1/48", "--snr-range", "0:20", "--steps", "4", "--dataset", dataset,
            "--size", "64", "--n-train", "6", "--batch", "4", "--shards", "2", "--log-every", "1", "-q",
            "--dataset-param", "cache=false", *extra]
    if dataset == "skimage":
        base = base[:-len(extra) - 2] + extra  # skimage has no cache option
    _torchrun([*base, "--out", str(tmp_path / "ddp.ckpt")], tmp_path, 2)
    _torchrun([*base, "--out", str(tmp_path / "one.ckpt")], tmp_path, 1)
    a, b = load_checkpoint(tmp_path / "ddp.ckpt"), load_checkpoint(tmp_path / "one.ckpt")
    assert a.meta["training"]["world_size"] == 2 and b.meta["training"]["world_size"] == 1
    la = [float(r["loss"]) for r in csv.DictReader(open(tmp_path / "ddp.csv"))]
    lb = [float(r["loss"]) for r in csv.DictReader(open(tmp_path / "one.csv"))]
    assert len(la) == len(lb) == 4
    assert la == pytest.approx(lb, rel=1e-4)
    for k in a.codec:
        assert torch.allclose(a.codec[k], b.codec[k], rtol=1e-3, atol=1e-5), k


def test_plot_command_draws_a_log_and_refuses_bad_input(tmp_path, data):
    main = _train_main

    res = train("deepjscc", cbr=1 / 48, snr_db=10.0, steps=2, batch_size=2, data=data, out=tmp_path / "p.ckpt",
                progress=False, log_every=1, **SMALL)
    png = tmp_path / "curve.png"
    assert main(["--plot", str(res.log), "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["--plot", str(junk)]) == 2
    assert main(["--plot", str(tmp_path / "missing.csv")]) == 2
    assert main(["--steps", "2"]) == 2  # neither --link nor --plot
    # a folder: every learning curve under it is redrawn from its CSV
    res.log.with_suffix(".png").write_bytes(b"old")
    assert main(["--plot", str(tmp_path)]) == 0
    assert res.log.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_the_learning_curve_of_a_warm_started_run_names_its_chain(tmp_path, data, monkeypatch):
    from semcom.train import curves

    drawn = {}
    real = curves.plot_training_log

    def spy(log, png, **kw):
        drawn[Path(png).name] = kw
        return real(log, png, **kw)

    monkeypatch.setattr(curves, "plot_training_log", spy)
    first = train("deepjscc", cbr=1 / 48, snr_db=10.0, steps=2, batch_size=2, data=data, out=tmp_path / "base.ckpt",
                  progress=False, log_every=1, **SMALL)
    train("deepjscc", cbr=1 / 48, snr_db=10.0, steps=3, batch_size=2, data=data, out=tmp_path / "next.ckpt",
          progress=False, log_every=1, warm_start=first.checkpoint, **SMALL)
    assert drawn["base.png"]["lineage"] == [{"run": "base", "steps": 2, "schedule": "single", "init": None,
                                             "warm_start": None}]
    assert [(x["run"], x["steps"], x["warm_start"]) for x in drawn["next.png"]["lineage"]] == [
        ("base", 2, None), ("next", 3, "base")]
    assert drawn["next.png"]["title"] == "next"


def test_training_reads_the_links_source_unless_a_dataset_is_given(tmp_path, monkeypatch):
    from semcom.zoo.store import read_meta

    monkeypatch.setenv("SEMCOM_LINKS", str(tmp_path))
    (tmp_path / "dj-skimage.toml").write_text('name = "dj-skimage"\n[codec]\nname = "deepjscc"\n'
                                               '[source]\nname = "skimage"\ncrops_per_picture = 1\n')
    out = train("dj-skimage", cbr=1 / 48, snr_db=10.0, steps=1, batch_size=2, size=32, n_train=2,
                out=tmp_path / "a.ckpt", progress=False, **SMALL)
    tr = read_meta(out.checkpoint)["training"]
    assert tr["dataset"] == "skimage" and ["crops_per_picture", 1] in [list(p) for p in tr["dataset_params"]]
    (tmp_path / "bad.toml").write_text('name = "bad"\n[codec]\nname = "deepjscc"\n[source]\nname = "skimag"\n')
    with pytest.raises(SemcomError, match="unknown source 'skimag'; did you mean 'skimage'"):
        find_link("bad")


def test_sigterm_stops_training_like_ctrl_c_even_with_sigint_ignored(tmp_path):
    """A background job may start with SIGINT ignored; SIGTERM (kill, timeout, a scheduler) must still stop
    the trainer with its checkpoint saved and a resumable run."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    out = tmp_path / "t.ckpt"
    cmd = [sys.executable, "-m", "semcom.train", "--link", "deepjscc", "--cbr", "1/48", "--snr", "10", "--steps",
           "100000", "--out", str(out), "-q", "--dataset", "synth-blur", "--size", "32", "--n-train", "4",
           "--batch", "2", "--log-every", "1", "--codec-param", "width=8", "--dataset-param", "cache=false"]
    env = {**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    log = out.with_suffix(".csv")
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) > 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130, proc.stderr.read().decode()[-500:]
    from semcom.zoo.store import load_checkpoint

    assert 0 < load_checkpoint(out).train["step"] < 100000


def test_a_warm_start_map_starts_ev_jscc_image_stream_from_an_image_task_deepjscc(tmp_path):
    """``--warm-start-map OURS=THEIRS``: the mapped networks take the other codec's tensors where shapes
    agree, whatever its codec and CBR; the rest keeps its initialization."""
    from semcom.registry import CODECS
    from semcom.train.trainer import copy_matching
    from semcom.zoo.store import save_checkpoint

    arch = {"backbone": "resconv", "downsample": 8, "width": 8}
    torch.manual_seed(0)
    dj = CODECS.build("deepjscc", cbr=1 / 96, **arch)  # EV-JSCC's image stream at 1/48 has 1/96's latent
    source = dj.state_dict()
    ck = save_checkpoint(tmp_path / "image.ckpt", meta={"codec": "deepjscc", "cbr": 1 / 96}, codec=source)
    torch.manual_seed(1)
    ev = CODECS.build("ev-jscc", cbr=1 / 48, **arch)
    before = {k: v.clone() for k, v in ev.state_dict().items()}
    with pytest.raises(SemcomError, match="warm-start-map"):  # another codec at another CBR needs a map
        copy_matching(ev, ck, cbr=1 / 48)
    copied = copy_matching(ev, ck, cbr=1 / 48, prefix_map={"encoder.image.": "encoder.", "decoder.image.": "decoder."})
    after = ev.state_dict()
    encoder = [k for k in after if k.startswith("encoder.image.")]
    assert set(encoder) <= set(copied)  # same input and latent: the whole image encoder carries over
    assert any(k.startswith("decoder.image.") for k in copied)
    for k in copied:
        assert torch.equal(after[k], source[k.replace(".image.", ".", 1)]), k
    for k in set(after) - set(copied):
        assert torch.equal(after[k], before[k]), k
    assert not any(k.startswith(("encoder.shared.", "encoder.event.", "deblur.")) for k in copied)
    with pytest.raises(SemcomError, match="no tensor named"):
        copy_matching(ev, ck, cbr=1 / 48, prefix_map={"encoder.nothing.": "encoder."})
    with pytest.raises(SemcomError, match="needs --warm-start"):
        TrainConfig(link="ev-jscc", cbr=1 / 48, snr_range=(0, 20), warm_start_map={"encoder.image.": "encoder."})
