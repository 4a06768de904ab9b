"""The settings of a training run, declared once: :class:`TrainConfig`.

Every field carries, in its ``dataclasses.field`` metadata, its help text, its command-line spelling
and whether it determines the trained weights.  ``semcom train`` builds its options from these
fields (:mod:`semcom.cli.train`), :func:`semcom.train.trainer.train` takes a config (or the same
fields as keywords), and the checkpoint records :meth:`TrainConfig.identity`, which a resumed run
must match.  A config checks its values when it is made; that is the one place they are checked
(what needs the link, the device or the data is checked where those are built).

This module imports neither torch nor click: the command line reads it at start-up.

Example:
    >>> cfg = TrainConfig(link="deepjscc", cbr=1 / 48, snr_range=(0, 20), steps=200)
    >>> cfg.snr_range, cfg.lam, cfg.batch_size
    ((0.0, 20.0), 0.02, 8)
    >>> TrainConfig(link="deepjscc", cbr=1 / 48, steps=200)
    Traceback (most recent call last):
    ...
    semcom.errors.SemcomError: give exactly one of --snr S (single-SNR) or --snr-range A:B (SNR-adaptive)
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from semcom.errors import SemcomError

__all__ = ["TrainConfig", "AUGMENTATIONS", "REFERENCE_BATCH", "LR_CURVES", "default_out", "cli_fields"]

#: the augmentations a batch can draw (:func:`semcom.train.data.draw_batch`): ``flip`` (both axes), ``rot90``
#: (transpose), ``time`` (time reversal); defined here, where no torch is needed, and imported by that module
AUGMENTATIONS = ("flip", "rot90", "time")
#: the batch size ``lr`` refers to; another batch scales the peak learning rate by ``sqrt(batch / 8)``
REFERENCE_BATCH = 8
LR_CURVES = ("run", "stage")


def setting(default: Any = MISSING, *, help: str, flags: tuple[str, ...] | None = (), kind: str = "text",
            identity: bool = True, **cli: Any) -> Any:
    """A :class:`TrainConfig` field.

    Args:
        default: the default value (left out: the field is required).
        help: one help text, for ``semcom train --help`` and the class's documentation.
        flags: the option's spellings (``("--batch", "--batch-size")``); ``()``: ``--`` plus the field name
            with dashes; ``None``: not on the command line.
        kind: how the command line reads it: ``"int"``, ``"float"``, ``"text"``, ``"path"`` (a path),
            ``"file"`` (an existing file), ``"flag"`` (on when given), ``"switch"`` (``--x/--no-x``),
            ``"choice"`` (one of ``choices``).
        identity: whether the value determines the trained weights (recorded in the checkpoint and
            compared when a run resumes).
        cli: further command-line details: ``parse`` (``"cbr"``, ``"snr"``, ``"snr-range"``, ``"kv"``:
            repeatable ``KEY=VALUE``, ``"list"``: comma-separated), ``metavar``, ``minimum``,
            ``choices``, ``show_default``.
    """
    return field(default=default, metadata={"help": help, "flags": flags, "kind": kind, "identity": identity,
                                            **cli})


def _positive_int(name: str, value: Any) -> int:
    if int(value) != value or value < 1:
        raise SemcomError(f"{name} must be a positive integer, got {value}")
    return int(value)


def _pairs(value: Any) -> tuple[tuple[str, Any], ...]:
    """A mapping or ``(key, value)`` pairs as sorted pairs (a frozen, comparable record)."""
    return tuple(sorted(dict(value or {}).items()))


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """What a training run is told; the fields below (generated from each field's help) are also the
    options of ``semcom train`` and the keywords of :func:`semcom.train.trainer.train`."""

    link: str = setting(help="Link to train (deepjscc, deepjscc-deblur, ...).  [required, except with --plot]")
    cbr: float = setting(help="Channel bandwidth ratio: 1/48 or 0.0208.  [required, except with --plot]",
                         parse="cbr")
    snr_db: float | None = setting(None, flags=("--snr",), parse="snr",
                                   help="Train at this one SNR in dB (paper protocol).  [this or --snr-range is "
                                        "required]")
    snr_range: tuple[float, float] | None = setting(
        None, parse="snr-range", help="SNR-adaptive training: uniform per sample in A:B dB.  [this or --snr is required]")
    steps: int = setting(20000, kind="int", help="Optimizer steps in total.")
    out: str | Path | None = setting(None, kind="path", identity=False,
                                     help="Checkpoint path (default checkpoints/<link>-cbr<R>-<mode>.ckpt); log in "
                                          "<out>.csv.")
    seed: int = setting(0, kind="int", help="Seed of the weights, data order and channel draws.")
    batch_size: int = setting(8, kind="int", flags=("--batch", "--batch-size"),
                              help="Global batch (all shards and processes); the learning rate scales by "
                                   "sqrt(batch / 8).")
    lr: float = setting(5e-4, kind="float", help="Peak learning rate at batch 8 (Adam; one cosine over the run).")
    schedule: str | None = setting(None, help="Stage schedule: single, jscc-then-deblur, codec-then-receiver, ev-jscc "
                                              "(see docs/training.md); default: the codec's own (ev-jscc for EV-JSCC "
                                              "links), else single.")
    lam: float = setting(0.02, kind="float", help="Weight of the events' normalized MSE in the EV-JSCC stage-1 loss.")
    dataset: str | None = setting(None, help="Training source, its train split (default: the link's [source]).")
    size: int = setting(128, kind="int", help="Side of the training frames.")
    crop: int | None = setting(None, kind="int", help="Random crop side (default: whole frames).")
    n_train: int = setting(512, kind="int", help="Training frames kept in memory.")
    dataset_params: tuple[tuple[str, Any], ...] = setting(
        (), flags=("--dataset-param",), parse="kv", metavar="KEY=VALUE",
        help="Training source argument, e.g. spikes=false (repeatable).")
    codec_params: tuple[tuple[str, Any], ...] = setting(
        (), flags=("--codec-param",), parse="kv", metavar="KEY=VALUE",
        help="Codec architecture argument, e.g. width=64 (repeatable).")
    workers: int = setting(0, kind="int", identity=False,
                           help="Processes that generate the training frames (first run only; then the cache is "
                                "read).")
    init: str | None = setting(None, kind="file", help="Start from this checkpoint instead of random weights.")
    warm_start: str | None = setting(None, kind="file",
                                     help="Copy matching tensors first: another codec at this CBR (deepjscc into "
                                          "deepjscc-deblur) or this codec at another CBR.")
    warm_start_map: tuple[tuple[str, Any], ...] = setting(
        (), flags=("--warm-start-map",), parse="kv", metavar="OURS=THEIRS",
        help="With --warm-start: the codec's tensors named OURS... start from the checkpoint's THEIRS..., e.g. "
             "encoder.image.=encoder. (repeatable; any codec and CBR).")
    device: str = setting("cpu", identity=False, help="cpu, cuda or cuda:N (torchrun: the local GPU).")
    n_val: int = setting(0, kind="int", flags=("--val",),
                         help="Hold out the last N of --n-train samples; validation PSNR is logged on them.")
    val_every: int | None = setting(None, kind="int", identity=False,
                                    help="Steps between validations, a multiple of --log-every (default: 50 log "
                                         "rows) and at the end.")
    ema: float = setting(0.0, kind="float",
                         help="Decay of the weights' moving average (e.g. 0.999; 0: off); checkpoints hold the "
                              "average.")
    augment: tuple[str, ...] = setting(AUGMENTATIONS, parse="list",
                                       help="Comma-separated subset of flip, rot90, time ('' for none).")
    shards: int | None = setting(None, kind="int",
                                 help="Sub-batches of the global batch, each with its own draws (default: one per "
                                      "process).")
    amp: bool = setting(True, kind="switch", help="bf16 autocast (CUDA, and CPUs with AMX / AVX512-BF16).")
    compile: bool = setting(False, kind="flag", identity=False, help="torch.compile the networks.")
    lr_curve: str = setting("run", kind="choice", choices=LR_CURVES, help="One cosine over the run, or one per stage.")
    fresh_data: bool = setting(False, kind="flag",
                               help="Simulate every batch anew on --device (dead leaves; plus the photos with "
                                    "--dataset photos).")
    fresh_pool: int = setting(0, kind="int", minimum=0, metavar="N", show_default=False,
                              help="Fresh data through a pool: N simulated samples held on --device, batches cropped "
                                   "and augmented from it, simulated anew every --fresh-renew steps (implies "
                                   "--fresh-data).")
    fresh_renew: int = setting(100, kind="int", minimum=1, help="Steps between two pools of --fresh-pool.")
    checkpoint_every: int = setting(500, kind="int", identity=False,
                                    help="Steps between two checkpoints written to --out (what an interrupted run "
                                         "resumes from).")
    log_every: int = setting(10, kind="int", identity=False,
                             help="Steps between two rows of the training log (<out>.csv) and progress updates.")
    overwrite: bool = setting(False, kind="flag", identity=False,
                              help="Start again instead of resuming an existing --out.")
    grad_clip: float | None = setting(1.0, flags=None, help="Clip the gradient norm at this value (None: no clipping).")

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: normalize the values once, here
        if (self.snr_db is None) == (self.snr_range is None):
            raise SemcomError("give exactly one of --snr S (single-SNR) or --snr-range A:B (SNR-adaptive)")
        if self.snr_db is not None:
            put(self, "snr_db", float(self.snr_db))
        if self.snr_range is not None:
            lo, hi = (float(v) for v in self.snr_range)
            if not hi >= lo:
                raise SemcomError(f"--snr-range {f'{lo:g}:{hi:g}'!r}: A must not exceed B")
            put(self, "snr_range", (lo, hi))
        put(self, "cbr", float(self.cbr))
        for name in ("steps", "batch_size", "size", "n_train", "checkpoint_every", "log_every"):
            put(self, name, _positive_int(name, getattr(self, name)))
        if self.crop is not None and (self.crop < 16 or self.crop > self.size):
            raise SemcomError(f"crop must lie in [16, size={self.size}], got {self.crop}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise SemcomError(f"--lr must be a positive number, got {self.lr}")
        if not 0 <= self.ema < 1:
            raise SemcomError(f"--ema must lie in [0, 1), got {self.ema}")
        if int(self.n_val) != self.n_val or self.n_val < 0:
            raise SemcomError(f"--val must be a non-negative integer, got {self.n_val}")
        if self.val_every is not None and (int(self.val_every) != self.val_every or self.val_every < 1):
            raise SemcomError(f"--val-every must be a positive integer, got {self.val_every}")
        if self.val_every is not None and self.val_every % self.log_every:
            raise SemcomError(f"--val-every {self.val_every} must be a multiple of --log-every {self.log_every} "
                              "(validation PSNR goes into the log rows)")
        if self.lr_curve not in LR_CURVES:
            raise SemcomError(f"lr_curve must be 'run' or 'stage', got {self.lr_curve!r}")
        unknown = set(self.augment) - set(AUGMENTATIONS)
        if unknown:
            raise SemcomError(f"unknown augmentation(s) {sorted(unknown)} (known: {', '.join(AUGMENTATIONS)})")
        if self.shards is not None and (int(self.shards) != self.shards or self.shards < 1):
            raise SemcomError(f"--shards must be a positive integer, got {self.shards}")
        if int(self.fresh_pool) != self.fresh_pool or self.fresh_pool < 0:
            raise SemcomError(f"--fresh-pool must be a non-negative integer, got {self.fresh_pool}")
        if int(self.fresh_renew) != self.fresh_renew or self.fresh_renew < 1:
            raise SemcomError(f"--fresh-renew must be a positive integer, got {self.fresh_renew}")
        put(self, "seed", int(self.seed))
        put(self, "lr", float(self.lr))
        put(self, "lam", float(self.lam))
        put(self, "ema", float(self.ema))
        put(self, "n_val", int(self.n_val))
        put(self, "shards", None if self.shards is None else int(self.shards))
        put(self, "augment", tuple(a for a in AUGMENTATIONS if a in self.augment))
        put(self, "dataset_params", _pairs(self.dataset_params))
        put(self, "codec_params", _pairs(self.codec_params))
        put(self, "warm_start_map", tuple((str(k), str(v)) for k, v in _pairs(self.warm_start_map)))
        if self.warm_start_map and self.warm_start is None:
            raise SemcomError("--warm-start-map needs --warm-start")
        for name in ("init", "warm_start"):
            value = getattr(self, name)
            put(self, name, None if value is None else str(value))
        put(self, "amp", bool(self.amp))
        put(self, "fresh_pool", int(self.fresh_pool))
        put(self, "fresh_renew", int(self.fresh_renew))
        put(self, "fresh_data", bool(self.fresh_data or self.fresh_pool))  # a pool is fresh data

    @property
    def lr_scale(self) -> float:
        """The batch's factor on every learning rate: ``sqrt(batch_size / 8)`` (Adam's square-root rule)."""
        return math.sqrt(self.batch_size / REFERENCE_BATCH)

    def identity(self) -> dict[str, Any]:
        """The values that determine the trained weights: what a checkpoint records (``meta["training"]``)
        and compares when a run resumes.  ``fresh_renew`` counts only with a fresh pool; ``warm_start_map``
        appears only when given (so the checkpoints written before it existed keep their key)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["identity"]}
        if not self.fresh_pool:
            out["fresh_renew"] = 0
        if not self.warm_start_map:
            del out["warm_start_map"]
        return out


def cli_fields() -> list:
    """The fields of :class:`TrainConfig` that are options of ``semcom train``, in the order of its help."""
    return [f for f in fields(TrainConfig) if f.metadata["flags"] is not None]


def option_flags(f: Any) -> tuple[str, ...]:
    """The command-line spellings of field ``f``."""
    return f.metadata["flags"] or ("--" + f.name.replace("_", "-"),)


def default_out(link: str, cbr: float, snr_db: float | None, snr_range: tuple[float, float] | None) -> Path:
    """Where a run writes its checkpoint without ``out``: ``checkpoints/<link>-cbr<R>-<mode>.ckpt``.

    >>> default_out("deepjscc", 1 / 48, None, (0.0, 20.0)).as_posix()
    'checkpoints/deepjscc-cbr1-48-adaptive.ckpt'
    """
    inv = 1.0 / cbr
    cbr_txt = f"1-{round(inv)}" if abs(inv - round(inv)) < 1e-6 else f"{cbr:.4g}"
    mode = "adaptive" if snr_range is not None else f"snr{snr_db:g}"
    return Path("checkpoints") / f"{link}-cbr{cbr_txt}-{mode}.ckpt"


def _document(cls: type) -> type:
    """Append an ``Args:`` section to ``cls``'s docstring from its fields' help (written nowhere else)."""
    lines = ["", "", "    Args:"]
    for f in fields(cls):
        default = "required" if f.default is MISSING else f"default {f.default!r}"
        where = ("; not on the command line" if f.metadata["flags"] is None
                 else f"; ``{option_flags(f)[0]}``")
        weights = "" if f.metadata["identity"] else "; does not change the weights"
        lines.append(f"        {f.name}: {f.metadata['help']} ({default}{where}{weights})")
    cls.__doc__ = (cls.__doc__ or "") + "\n".join(lines)
    return cls


_document(TrainConfig)
