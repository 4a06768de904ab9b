"""Learning curves: training loss and PSNR, validation PSNR and learning rate against steps."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from semcom.errors import SemcomError

__all__ = ["read_training_log", "plot_training_log"]


def read_training_log(path: str | Path) -> dict[str, list[float]]:
    """The columns of a trainer's CSV log as float lists (empty cells: ``nan``)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise SemcomError(f"cannot read training log {path}: {exc}") from None
    if not rows or "step" not in rows[0] or "loss" not in rows[0]:
        raise SemcomError(f"{path} is not a training log (no step and loss columns)")

    def num(v: str | None) -> float:
        try:
            return float(v) if v not in (None, "") else math.nan
        except ValueError:
            return math.nan

    cols = {k: [num(r.get(k)) for r in rows] for k in rows[0] if k != "stage"}
    cols["stage"] = [r.get("stage", "") for r in rows]  # type: ignore[assignment]
    return cols


def draw_training_log(log: str | Path, *, title: str | None = None):
    """The learning-curve figure of one run: the loss (log scale), and the PSNR columns beside it when the
    log has them; a dotted line where each stage of a staged log begins."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = read_training_log(log)
    steps = cols["step"]
    val = [(s, v) for s, v in zip(steps, cols.get("val_psnr", [])) if not math.isnan(v)]
    # a log of losses only (DiffEvent's, S-SDM's stages) gets one panel, not an empty PSNR one
    with_psnr = "psnr" in cols or bool(val)
    fig, axes = plt.subplots(1, 2 if with_psnr else 1, figsize=(10 if with_psnr else 5.6, 3.6), squeeze=False)
    ax1 = axes[0][0]
    ax1.plot(steps, cols["loss"], lw=1, label="training loss")
    ax1.set_yscale("log")
    ax1.set_ylabel("loss")
    ax1.grid(alpha=0.3)
    ax1.legend(loc="upper right", fontsize=8)
    stages = cols["stage"]
    ax1.set_xlabel("step (stages one after the other)" if len(set(stages)) > 1 else "step")
    bounds = [steps[i] for i in range(1, len(stages)) if stages[i] != stages[i - 1]]
    if with_psnr:
        ax2 = axes[0][1]
        if "psnr" in cols:
            ax2.plot(steps, cols["psnr"], lw=0.8, alpha=0.6, label="training batch PSNR")
        if val:
            ax2.plot([s for s, _ in val], [v for _, v in val], "o-", ms=3,
                     label="validation PSNR (held-out frames)")
        ax2.set_xlabel("step")
        ax2.set_ylabel("PSNR against the training target (dB)")
        ax2.grid(alpha=0.3)
        ax2.legend(loc="lower right", fontsize=8)
    for ax in axes[0]:
        for b in bounds:
            ax.axvline(b, color="grey", ls=":", lw=0.8)
    fig.suptitle(title or Path(log).stem, fontsize=10)
    fig.tight_layout()
    return fig


def plot_training_log(log: str | Path, png: str | Path, *, title: str | None = None) -> Path:
    """Draw the learning curve of one run into ``png`` (written atomically) and return its path."""
    import matplotlib.pyplot as plt

    fig = draw_training_log(log, title=title)
    png = Path(png)
    tmp = png.with_name(png.name + ".tmp")
    try:
        fig.savefig(tmp, dpi=110, format="png")
        tmp.replace(png)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SemcomError(f"cannot write {png}: {exc}") from None
    finally:
        plt.close(fig)
    return png
