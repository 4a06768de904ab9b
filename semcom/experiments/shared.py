"""Pieces every experiment uses, written once: the evaluation frames, scoring with the project's metrics,
95 % intervals (unpaired and paired), link variants, sweeps, and training a checkpoint once.

Example:
    >>> import numpy as np
    >>> mean, half = paired_ci95([3.0, 4.0, 5.0], [1.0, 2.0, 3.0])
    >>> mean, half
    (2.0, 0.0)
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

from semcom.bench.results import mean_ci95
from semcom.bench.sweep import SweepConfig, run_sweep
from semcom.errors import SemcomError
from semcom.registry import METRICS, SOURCES
from semcom.sources.base import Batch, collate
from semcom.zoo.store import read_meta

__all__ = ["evaluation_batches", "score", "mean_ci95", "paired_ci95", "Variant", "sweep", "RECIPES", "train_once",
           "LINKS_DIR", "link_file"]

#: link files the experiments use that are not links a user picks (package data of this package)
LINKS_DIR = Path(__file__).resolve().parent / "links"


def link_file(name: str) -> str:
    """The path of one of the experiments' own link files (``semcom/experiments/links/NAME.toml``)."""
    path = LINKS_DIR / f"{name}.toml"
    if not path.is_file():
        raise SemcomError(f"no experiment link {name!r} in {LINKS_DIR}")
    return str(path)


# -- data and scoring ----------------------------------------------------------------------------------

def evaluation_batches(limit: int | None = None, *, batch_size: int = 8, dataset: str = "synth-blur",
                       **params: Any) -> list[Batch]:
    """The default evaluation set (``synth-blur``, test split) as batches of ``batch_size`` frames."""
    ds = SOURCES.build(dataset, split="test", limit=limit, **params)
    return [collate([ds[i] for i in range(j, min(j + batch_size, len(ds)))]) for j in range(0, len(ds), batch_size)]


def score(output: torch.Tensor, target: torch.Tensor, metrics: Sequence[str] = ("psnr", "ssim")) -> dict[str, np.ndarray]:
    """Per-frame scores of ``output`` against ``target`` with the registered metrics (float64 arrays ``[B]``)."""
    with torch.no_grad():
        return {m: METRICS.build(m)(output, target).double().cpu().numpy() for m in metrics}


def paired_ci95(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean of the paired differences ``a - b`` (one pair per frame) and the half-width of its 95 %
    Student-t interval (NaN with fewer than two pairs)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired_ci95: {a.shape} and {b.shape} are not pairs")
    return mean_ci95(a - b)


# -- link variants ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    """A link with codec parameters changed, under a name of its own.

    Args:
        name: the variant's name (a row of a table, a checkpoint's file name).
        link: the link it changes.
        params: codec parameters as ``KEY=VALUE`` text, the values in TOML (``split=[0.5,0.25,0.25]``).
    """

    name: str
    link: str
    params: tuple[str, ...] = ()

    @property
    def described(self) -> str:
        """The parameters as one cell of a table."""
        return " ".join(self.params)

    def train_args(self) -> list[str]:
        """The parameters as ``semcom train`` arguments."""
        return [a for p in self.params for a in ("--codec-param", p)]


def pick(variants: Sequence[Variant], only: Iterable[str]) -> list[Variant]:
    """The variants named in ``only`` (all when empty), in their declared order; an unknown name is an error."""
    only = list(only)
    names = [v.name for v in variants]
    unknown = [n for n in only if n not in names]
    if unknown:
        raise SemcomError(f"unknown variant(s) {', '.join(unknown)} (known: {', '.join(names)})")
    return [v for v in variants if not only or v.name in only]


# -- sweeps -------------------------------------------------------------------------------------------------

def sweep(link: str, *, cbr: float, snr_db: Sequence[float], out_dir: Path, checkpoint: str | None = None,
          limit: int | None = None, metrics: Sequence[str] = ("psnr", "ssim"), overwrite: bool = False,
          plot: bool = False, say: Callable[[str], None] | None = None) -> tuple[Path, dict[float, dict[str, str]]]:
    """Run (or resume) one sweep through :func:`semcom.bench.sweep.run_sweep` (as ``semcom run`` does);
    its CSV and its rows by SNR point."""
    cfg = SweepConfig(link=link, cbr=cbr, snr_db=tuple(float(s) for s in snr_db), limit=limit,
                      metrics=tuple(metrics), checkpoint=checkpoint)
    path = run_sweep(cfg, out_dir=out_dir, overwrite=overwrite, progress=False, notice=say, plot=plot)
    with open(path, newline="") as f:
        return path, {float(r["snr_db"]): r for r in csv.DictReader(f)}


# -- training once -------------------------------------------------------------------------------------------

#: the common ``semcom train`` arguments of each recipe (``scripts/train_zoo.py`` adds its jobs' own)
RECIPES: dict[str, list[str]] = {
    "cpu": ["--dataset", "photos", "--size", "160", "--crop", "128", "--n-train", "2112", "--val", "64",
            "--batch", "16", "--ema", "0.999", "--log-every", "100", "--val-every", "500", "--workers", "2"],
    "gpu": ["--device", "cuda", "--dataset", "photos", "--fresh-pool", "2048", "--fresh-renew", "200", "--size", "160",
            "--crop", "128", "--val", "128", "--batch", "128", "--lr", "1.25e-4", "--ema", "0.999", "--log-every", "50",
            "--val-every", "250"],
    "tiny": ["--dataset", "synth-blur", "--size", "32", "--n-train", "10", "--val", "2", "--batch", "2",
             "--log-every", "1", "--ema", "0.5", "--dataset-param", "cache=false"],
}


def finished(ckpt: Path, steps: int) -> bool:
    """Whether checkpoint ``ckpt`` exists and holds its final step ``steps``."""
    try:
        return ckpt.exists() and int(read_meta(ckpt).get("step", -1)) == steps
    except (SemcomError, ValueError, OSError):
        return False


def train_once(link: str, ckpt: Path, *, steps: int, recipe: str | None = "cpu", args: Sequence[str] = (),
               env: Mapping[str, str] | None = None) -> Path:
    """Train ``link`` into ``ckpt`` with ``semcom train`` (a process of its own), unless ``ckpt`` already holds
    its final step; an interrupted run resumes.

    Args:
        recipe: a key of :data:`RECIPES` whose common arguments come first (``None``: the command's defaults).
        args: the run's own arguments (CBR, SNR, warm start, codec parameters, ...); later ones win.
        env: extra environment variables of the training process.
    """
    if recipe is not None and recipe not in RECIPES:
        raise SemcomError(f"unknown recipe {recipe!r} (known: {', '.join(RECIPES)})")
    ckpt = Path(ckpt)
    if finished(ckpt, steps):
        return ckpt
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    common = [] if recipe is None else list(RECIPES[recipe])
    if recipe == "cpu":
        common += ["--dataset-param", "spikes=false"]  # no spike camera: faster synthesis
    subprocess.run([sys.executable, "-m", "semcom.train", "--link", link, "--steps", str(steps), "--out", str(ckpt),
                    "--checkpoint-every", "500", "-q", *common, *args], check=True,
                   env={**os.environ, **dict(env or {})})
    return ckpt
