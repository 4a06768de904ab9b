"""TrainConfig is the one declaration of the training options: `semcom train`'s options are generated from its
fields (one to one, equal defaults), its identity is what checkpoints written before it recorded, and it is
where the values are checked."""

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from semcom.cli.train import COMMAND_ONLY, config_from_options, train_cmd
from semcom.errors import SemcomError
from semcom.train.config import AUGMENTATIONS, TrainConfig, cli_fields, option_flags

ROOT = Path(__file__).resolve().parents[1]
#: the options of the command that are not training settings
OWN = {"plot_log", "threads", "quiet"}

#: what `semcom train` offered before its options were generated (flags and defaults as written by hand then);
#: a default changes only on purpose
OLD_DEFAULTS = {
    ("--link",): None, ("--cbr",): None, ("--snr",): None, ("--snr-range",): None, ("--steps",): 20000,
    ("--out",): None, ("--seed",): 0, ("--batch", "--batch-size"): 8, ("--lr",): 5e-4, ("--schedule",): None,
    ("--lam",): 0.02, ("--dataset",): None, ("--size",): 128, ("--crop",): None, ("--n-train",): 512,
    ("--dataset-param",): (), ("--codec-param",): (), ("--workers",): 0, ("--init",): None,
    ("--warm-start",): None, ("--warm-start-map",): (), ("--device",): "cpu", ("--val",): 0, ("--val-every",): None, ("--ema",): 0.0,
    ("--augment",): "flip,rot90,time", ("--shards",): None, ("--amp",): True, ("--compile",): False,
    ("--lr-curve",): "run", ("--fresh-data",): False, ("--fresh-pool",): 0, ("--fresh-renew",): 100,
    ("--plot",): None, ("--threads",): None, ("--checkpoint-every",): 500, ("--log-every",): 10,
    ("--overwrite",): False, ("-q", "--quiet"): False,
}

#: the fields a checkpoint's training identity has always held (the resume check compares them)
IDENTITY = {"link", "cbr", "snr_db", "snr_range", "steps", "seed", "batch_size", "lr", "dataset", "size", "crop",
            "n_train", "schedule", "lam", "grad_clip", "init", "dataset_params", "warm_start", "codec_params",
            "n_val", "ema", "augment", "shards", "amp", "lr_curve", "fresh_data", "fresh_pool", "fresh_renew"}


def _params():
    return {p.name: p for p in train_cmd.params}


def test_cli_options_and_config_fields_match_one_to_one_with_equal_defaults():
    params, ctx = _params(), click.Context(train_cmd)
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert set(params) - OWN == {f.name for f in cli_fields()}
    assert set(fields) - set(params) == {"grad_clip"}  # the one setting the command line does not offer
    assert len(COMMAND_ONLY) == len(OWN)
    for f in cli_fields():
        p = params[f.name]
        assert tuple(p.opts) == option_flags(f), f.name
        assert p.help == f.metadata["help"], f.name
        want = None if f.default is dataclasses.MISSING else f.default
        got = p.get_default(ctx)
        if f.metadata.get("parse") == "list":
            got = tuple(got.split(","))
        assert got == want and type(got) is type(want), (f.name, got, want)
    # the command's own parsing of its defaults gives the config's defaults
    options = {name: p.get_default(ctx) for name, p in params.items() if name not in OWN}
    options.update(link="deepjscc", cbr="1/48", snr_db="10")
    assert config_from_options(options) == TrainConfig(link="deepjscc", cbr=1 / 48, snr_db=10.0)


def test_the_generated_options_keep_the_flags_and_defaults_written_before():
    ctx = click.Context(train_cmd)
    got = {tuple(p.opts): p.get_default(ctx) for p in train_cmd.params}
    assert got == OLD_DEFAULTS
    assert [tuple(p.opts) for p in train_cmd.params] == list(OLD_DEFAULTS)  # the order of --help


def test_identity_holds_what_checkpoints_recorded_before():
    cfg = TrainConfig(link="ev-jscc", cbr=1 / 48, snr_db=10, steps=3, batch_size=2, size=32, n_train=2, lam=0.5,
                      crop=16, codec_params={"width": 8}, dataset_params={"spikes": False, "a": 1},
                      augment=("time", "flip"), ema=0.9, fresh_renew=7, out="x.ckpt", device="cuda",
                      checkpoint_every=5, log_every=1, workers=2, val_every=3, compile=True, overwrite=True)
    ident = cfg.identity()
    assert set(ident) == IDENTITY
    # as the key of a checkpoint written by train() before TrainConfig held every option (same options)
    resolved = dataclasses.replace(cfg, schedule="ev-jscc", dataset="synth-blur", shards=1, amp=True)
    assert json.dumps(resolved.identity(), sort_keys=True) == (
        '{"amp": true, "augment": ["flip", "time"], "batch_size": 2, "cbr": 0.020833333333333332, '
        '"codec_params": [["width", 8]], "crop": 16, "dataset": "synth-blur", "dataset_params": [["a", 1], '
        '["spikes", false]], "ema": 0.9, "fresh_data": false, "fresh_pool": 0, "fresh_renew": 0, "grad_clip": 1.0, '
        '"init": null, "lam": 0.5, "link": "ev-jscc", "lr": 0.0005, "lr_curve": "run", "n_train": 2, "n_val": 0, '
        '"schedule": "ev-jscc", "seed": 0, "shards": 1, "size": 32, "snr_db": 10.0, "snr_range": null, '
        '"steps": 3, "warm_start": null}')
    pooled = dataclasses.replace(resolved, fresh_pool=64).identity()
    assert pooled["fresh_renew"] == 7 and pooled["fresh_data"] is True  # a pool is fresh data


def test_the_lam_default_is_the_documented_one():
    assert TrainConfig(link="ev-jscc", cbr=1 / 48, snr_range=(0, 20)).lam == 0.02
    assert "`lam` 0.02" in (ROOT / "docs" / "training.md").read_text()


@pytest.mark.parametrize("kwargs,needle", [
    ({}, "give exactly one of --snr S (single-SNR) or --snr-range A:B (SNR-adaptive)"),
    ({"snr_db": 1, "snr_range": (0, 20)}, "give exactly one of --snr"),
    ({"snr_range": (20, 0)}, "--snr-range '20:0': A must not exceed B"),
    ({"snr_db": 1, "steps": 0}, "steps must be a positive integer, got 0"),
    ({"snr_db": 1, "steps": 2.5}, "steps must be a positive integer"),
    ({"snr_db": 1, "log_every": 0}, "log_every must be a positive integer"),
    ({"snr_db": 1, "crop": 8}, "crop must lie in [16, size=128], got 8"),
    ({"snr_db": 1, "lr": float("nan")}, "--lr must be a positive number"),
    ({"snr_db": 1, "ema": 1.0}, "--ema must lie in [0, 1)"),
    ({"snr_db": 1, "n_val": -1}, "--val must be a non-negative integer"),
    ({"snr_db": 1, "val_every": 15}, "--val-every 15 must be a multiple of --log-every 10"),
    ({"snr_db": 1, "lr_curve": "linear"}, "lr_curve must be 'run' or 'stage'"),
    ({"snr_db": 1, "augment": ("shear",)}, "unknown augmentation(s) ['shear']"),
    ({"snr_db": 1, "shards": 0}, "--shards must be a positive integer"),
    ({"snr_db": 1, "fresh_pool": -1}, "--fresh-pool must be a non-negative integer"),
    ({"snr_db": 1, "fresh_renew": 0}, "--fresh-renew must be a positive integer"),
])
def test_the_config_is_where_values_are_checked(kwargs, needle):
    with pytest.raises(SemcomError) as err:
        TrainConfig(link="deepjscc", cbr=1 / 48, **kwargs)
    assert needle in str(err.value)


def test_values_are_normalized_once():
    cfg = TrainConfig(link="deepjscc", cbr="0.5", snr_range=[0, 20], steps=10.0, init=Path("a/b.ckpt"),
                      dataset_params=(("z", 1), ("a", 2)), augment=("time", "flip", "time"), fresh_pool=4)
    assert cfg.cbr == 0.5 and cfg.snr_range == (0.0, 20.0) and cfg.steps == 10 and type(cfg.steps) is int
    assert cfg.init == "a/b.ckpt" and cfg.dataset_params == (("a", 2), ("z", 1))
    assert cfg.augment == ("flip", "time") and cfg.fresh_data is True
    assert dataclasses.replace(cfg, lam=1.0) == TrainConfig(**{**cfg.__dict__, "lam": 1.0})


def test_train_takes_a_config_or_its_fields_as_keywords():
    from semcom.train import train

    with pytest.raises(TypeError, match="nosuch"):
        train("deepjscc", cbr=1 / 48, snr_db=10.0, nosuch=1)
    with pytest.raises(SemcomError, match="give exactly one"):
        train("deepjscc", cbr=1 / 48)


def test_augmentations_are_the_data_modules():
    from semcom.train.data import AUGMENTATIONS as DATA_AUGMENTATIONS

    assert DATA_AUGMENTATIONS is AUGMENTATIONS  # one tuple, defined in the config


def test_the_training_package_imports_nothing_of_the_command_line():
    for path in sorted((ROOT / "semcom" / "train").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n == "semcom.cli" or n.startswith("semcom.cli.")], path.name


def test_python_m_semcom_train_is_semcom_train():
    run = lambda *args: subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)  # noqa: E731
    direct, main = run("-m", "semcom.train", "--help"), run("-m", "semcom.cli", "train", "--help")
    assert direct.returncode == 0 and direct.stdout == main.stdout and "--fresh-renew" in direct.stdout
    bad = run("-m", "semcom.train", "--link", "deepjscc", "--cbr", "1/48", "--snr", "10", "--lr", "-1")
    assert bad.returncode == 2 and bad.stderr == "semcom: error: --lr must be a positive number, got -1.0\n"
