"""Learning curves: training loss per stage, training and validation PSNR, against steps.

A figure names its stages where they begin, draws each stage's loss as its own segment (stages
optimize different objectives, so one joined line would compare unlike numbers), says in a note
under the PSNR panel why the training PSNR reads lower than the validation PSNR (they are measured
differently, see :data:`PSNR_NOTE`), and with ``lineage`` names the chain of runs the weights were
warm-started from (the zoo manifest's ``lineage``, :func:`lineage_text`).

``semcom train --plot results/`` redraws every learning curve under a folder from its CSV
(:func:`redraw_curves`); a shipped checkpoint's curve (the manifest entry's ``curve``) gets the
entry's name and lineage in its title.
"""

from __future__ import annotations

import csv
import math
import textwrap
from pathlib import Path
from typing import Any, Iterable

from semcom.errors import SemcomError

__all__ = ["read_training_log", "draw_training_log", "plot_training_log", "psnr_note", "lineage_text",
           "stage_segments", "shipped_curves", "redraw_curves"]

ROOT = Path(__file__).resolve().parents[2]

#: what the trainer measures (semcom/train/trainer.py, the log row; semcom/train/step.py, ``validate``)
PSNR_NOTE = (
    "Why training PSNR reads lower: it is 10 log10(1/MSE) of the mean MSE of one training batch per logged "
    "step ({snr}; samples augmented by flips, rotations and random crops when the run crops; live weights), "
    "while validation PSNR is the mean of per-frame PSNRs over the held-out frames, whole, at {val_snr} "
    "with a fixed noise seed (EMA weights when the run keeps them). Averaging the MSE before the log lets "
    "the hardest frames of a batch dominate, so the same outputs score lower that way."
)


def read_training_log(path: str | Path) -> dict[str, list[float]]:
    """The columns of a trainer's CSV log as float lists (empty cells: ``nan``); ``stage`` as strings."""
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
    cols["stage"] = [r.get("stage", "") or "" for r in rows]  # type: ignore[assignment]
    return cols


def stage_segments(stages: list[str]) -> list[tuple[str, int, int]]:
    """``(name, first row, last row + 1)`` of each run of equal stage names, in order."""
    out: list[tuple[str, int, int]] = []
    for i, name in enumerate(stages):
        if out and out[-1][0] == name:
            out[-1] = (name, out[-1][1], i + 1)
        else:
            out.append((name, i, i + 1))
    return out


def _global_steps(steps: list[float], segments: list[tuple[str, int, int]]) -> list[float]:
    """Steps counted over the whole run: a log whose step restarts with each stage is offset."""
    out = list(steps)
    offset = 0.0
    for k, (_, a, b) in enumerate(segments):
        if k and steps[a] <= steps[a - 1]:
            offset = out[a - 1]
        for i in range(a, b):
            out[i] = steps[i] + offset
    return out


def psnr_note(cols: dict[str, list]) -> str:
    """:data:`PSNR_NOTE` with the run's SNR draw, read from the log's ``snr_mean`` column."""
    means = [v for v in cols.get("snr_mean", []) if not math.isnan(v)]
    if means and max(means) - min(means) < 1e-6:
        snr, val_snr = f"every sample at {means[0]:g} dB", f"the same {means[0]:g} dB"
    else:
        snr = "each sample at its own SNR, drawn uniformly over the run's range"
        val_snr = "the range's two ends and its middle"
    return PSNR_NOTE.format(snr=snr, val_snr=val_snr)


def _how(item: dict[str, Any]) -> str:
    parts = [f"{key.replace('_', ' ')} {item[key]}" for key in ("init", "warm_start") if item.get(key)]
    if item.get("teacher"):
        parts.append(f"teacher {item['teacher']}")
    return "; ".join(parts) if (parts and not item.get("teacher")) else "; ".join(["from scratch", *parts])


def lineage_text(lineage: list[dict[str, Any]] | None) -> str:
    """One line naming the chain of runs of a checkpoint, oldest first (a manifest entry's ``lineage``):
    ``A (10000 steps, from scratch) -> B (3000 steps, warm start A)``; the last item is the run itself."""
    if not lineage:
        return ""
    items = [f"{x['run']} ({x.get('steps')} steps, {_how(x)})" for x in lineage]
    if len(items) == 1:
        x = lineage[0]
        extra = f"; teacher {x['teacher']}" if x.get("teacher") else ""
        return f"no warm start: one run from scratch ({x.get('steps')} steps{extra})"
    return "chain of warm starts: " + " \u2192 ".join(items)


def draw_training_log(log: str | Path, *, title: str | None = None,
                      lineage: list[dict[str, Any]] | None = None, note: bool = True):
    """The learning-curve figure of one run.

    Panels: the loss (log scale), one segment and colour per stage, each stage named where it begins
    (a dotted line marks every later stage's start on every panel); and, when the log has PSNR columns,
    training-batch and validation PSNR, with a note under it saying why they differ (``note``).
    ``lineage`` (a manifest entry's list of runs, oldest first) is named under the title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = read_training_log(log)
    stages: list[str] = cols["stage"]  # type: ignore[assignment]
    segments = stage_segments(stages)
    steps = _global_steps(cols["step"], segments)
    val = [(s, v) for s, v in zip(steps, cols.get("val_psnr", [])) if not math.isnan(v)]
    # a log of losses only (DiffEvent's, S-SDM's stages) gets one panel, not an empty PSNR one
    with_psnr = "psnr" in cols or bool(val)
    named = [name for name, _, _ in segments if name]
    staged = len(segments) > 1
    note_text = psnr_note(cols) if with_psnr and note and "psnr" in cols and val else ""
    head = title or Path(log).stem
    chain = lineage_text(lineage)
    width = 11 if with_psnr else 6.4
    title_lines = [head] + (textwrap.wrap(chain, int(width * 13.5)) if chain else [])
    height = 3.9 + 0.17 * (len(title_lines) - 1) + (0.55 if note_text else 0)
    fig, axes = plt.subplots(1, 2 if with_psnr else 1, figsize=(width, height), squeeze=False)
    ax1 = axes[0][0]
    palette = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0", "C1", "C2", "C3"])
    colour = {name: palette[k % len(palette)] for k, name in enumerate(dict.fromkeys(stages))}
    labelled: set[str] = set()
    for name, a, b in segments:
        label = None
        if name not in labelled:
            label = f"loss, stage {name}" if (staged and name) else "training loss"
            labelled.add(name)
        ax1.plot(steps[a:b], cols["loss"][a:b], lw=1, color=colour[name], label=label)
    ax1.set_yscale("log")
    ax1.set_ylabel("loss (each stage its own objective)" if staged else "loss")
    ax1.grid(alpha=0.3)
    ax1.legend(loc="best", fontsize=7)
    ax1.set_xlabel("step (stages one after the other)" if staged else "step")
    bounds = [steps[a] for _, a, _ in segments[1:]]
    if with_psnr:
        ax2 = axes[0][1]
        if "psnr" in cols:
            ax2.plot(steps, cols["psnr"], lw=0.8, alpha=0.7, color="C0",
                     label="training PSNR (one batch, pooled MSE)")
        if val:
            ax2.plot([s for s, _ in val], [v for _, v in val], "o-", ms=3, color="C3",
                     label="validation PSNR (held-out frames, mean per frame)")
        ax2.set_xlabel("step")
        ax2.set_ylabel("PSNR against the training target (dB)")
        ax2.grid(alpha=0.3)
        ax2.legend(loc="lower right", fontsize=7)
    for ax in axes[0]:
        for b in bounds:
            ax.axvline(b, color="grey", ls=":", lw=0.8)
    if named and (staged or named[0] not in ("", "all")):
        trans = ax1.get_xaxis_transform()  # x in data, y in axes fraction
        for name, a, _ in segments:
            ax1.text(steps[a], 0.98, f" {name}", transform=trans, rotation=90, fontsize=7, va="top",
                     ha="left", color=colour[name], gid="stage-label")
    fig.suptitle("\n".join(title_lines), fontsize=9 if chain else 10)
    rect_bottom = 0.0
    if note_text:
        wrapped = "\n".join(textwrap.wrap(note_text, 190 if with_psnr else 110))
        fig.text(0.01, 0.01, wrapped, fontsize=6.5, va="bottom", ha="left", gid="psnr-note")
        rect_bottom = 0.55 / height + 0.03
    fig.tight_layout(rect=(0, rect_bottom, 1, 1))
    return fig


def plot_training_log(log: str | Path, png: str | Path, *, title: str | None = None,
                      lineage: list[dict[str, Any]] | None = None) -> Path:
    """Draw the learning curve of one run into ``png`` (written atomically) and return its path.

    Without ``title`` and ``lineage``, a log that is a shipped checkpoint's curve (the zoo manifest's
    ``curve``) gets that entry's name and lineage."""
    import matplotlib.pyplot as plt

    if title is None and lineage is None:
        entry = shipped_curves().get(_key(log))
        if entry is not None:
            title, lineage = _shipped_title(entry), entry.get("lineage")
    fig = draw_training_log(log, title=title, lineage=lineage)
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


def _key(path: str | Path) -> str:
    """A log's path relative to the repository (or as given when outside it), for matching ``curve``."""
    p = Path(path).resolve()
    try:
        return p.relative_to(ROOT).as_posix()
    except ValueError:
        return p.as_posix()


def _shipped_title(entry: dict[str, Any]) -> str:
    if entry.get("part_of"):  # a run of a shipped checkpoint's chain that is not itself shipped
        last = entry["lineage"][-1]
        return f"{last['run']}: a run in the chain of the shipped {entry['part_of']}, {last.get('steps')} steps"
    last = (entry.get("lineage") or [{}])[-1]
    steps = last.get("steps") or entry.get("training", {}).get("steps")
    which = "the last run of its chain" if len(entry.get("lineage") or []) > 1 else "its run"
    return f"{entry['name']} (shipped): learning curve of {which}, {steps} steps"


def shipped_curves(manifest: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The zoo manifest's entries by their ``curve`` (the learning-curve CSV, relative to the repository).

    A run of an entry's ``lineage`` that is not shipped itself but records a ``curve`` is listed too, as
    ``{"part_of": entry name, "lineage": the chain up to that run}``."""
    from semcom.zoo.store import read_manifest

    out: dict[str, dict[str, Any]] = {}
    for e in read_manifest(manifest):
        for k, run in enumerate(e.get("lineage") or []):
            if run.get("curve") and run["run"] != e["name"]:
                out.setdefault(_key(ROOT / run["curve"]), {"part_of": e["name"], "lineage": e["lineage"][:k + 1]})
    for e in read_manifest(manifest):
        if e.get("curve"):
            out[_key(ROOT / e["curve"])] = e
    return out


def _curve_logs(folder: Path) -> Iterable[Path]:
    """CSV files under ``folder`` that are training logs with a drawn curve (a PNG of the same stem) beside."""
    for csv_path in sorted(folder.rglob("*.csv")):
        if not csv_path.with_suffix(".png").is_file():
            continue
        with open(csv_path, newline="", encoding="utf-8") as f:
            header = f.readline().strip().split(",")
        if "step" in header and "loss" in header:
            yield csv_path


def redraw_curves(folder: str | Path, *, manifest: str | Path | None = None) -> list[Path]:
    """Redraw every learning curve under ``folder`` (a PNG beside a training-log CSV) from its CSV;
    shipped checkpoints' curves get their manifest entry's name and lineage.  Returns the PNGs."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SemcomError(f"not a folder: {folder}")
    shipped = shipped_curves(manifest)
    out = []
    for log in _curve_logs(folder):
        entry = shipped.get(_key(log))
        title = _shipped_title(entry) if entry else None
        out.append(plot_training_log(log, log.with_suffix(".png"), title=title,
                                     lineage=entry.get("lineage") if entry else None))
    return out
