"""Curves of PSNR / SSIM / DISTS against SNR from sweep CSV files."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from semcom.errors import SemcomError

#: (column, axis label, higher is better) for each panel
PANELS = (("psnr", "PSNR (dB)", True), ("ssim", "SSIM", True), ("dists", "DISTS", False))


def load_results(paths: Sequence[str | Path]) -> pd.DataFrame:
    frames = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise SemcomError(f"no such results file: {p}")
        try:
            df = pd.read_csv(p)
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise SemcomError(f"{p}: not a results CSV ({str(exc).splitlines()[0]})") from None
        except OSError as exc:
            raise SemcomError(f"cannot read {p}: {exc.strerror or exc}") from None
        missing = {"link", "snr_db", "cbr"} - set(df.columns)
        if missing:
            raise SemcomError(f"{p}: not a sweep CSV (missing columns {sorted(missing)})")
        frames.append(df.assign(_file=p.name))
    if not frames:
        raise SemcomError("no CSV files given")
    return pd.concat(frames, ignore_index=True)


#: the range each metric lives in; confidence bands are clipped to it
RANGES = {"psnr": (0.0, float("inf")), "ssim": (0.0, 1.0), "dists": (0.0, 1.0)}
#: label of the reference line drawn from a sidecar's ``reference`` entry
INPUT_REFERENCE = "blurry input"


def _sidecar(path: Path) -> dict:
    """The JSON sidecar of a sweep CSV (its ``_configs.csv`` table shares the run's; empty when missing)."""
    from semcom.bench.results import read_json

    for candidate in (path.with_suffix(".json"), path.with_name(path.name.replace("_configs.csv", ".json"))):
        data = read_json(candidate)
        if data:
            return data
    return {}


def _dataset_name(side: dict) -> str:
    resolved = side.get("resolved") or {}
    ds = resolved.get("dataset") if isinstance(resolved, dict) else None
    if isinstance(ds, dict):
        return str(ds.get("dataset") or ds.get("name") or "")
    return str(ds or (side.get("config") or {}).get("dataset") or "")


def is_configs_table(df: pd.DataFrame) -> bool:
    """Whether a CSV is an ``--all-configs`` table: several configurations per SNR point."""
    return "config" in df and bool(df["snr_db"].duplicated().any())


def _runs(paths: Sequence[str | Path], notice) -> list[dict]:
    """One entry per CSV file: its rows, sidecar, dataset and whether it is a configurations table."""
    df = load_results(paths)
    runs = []
    for name, g in df.groupby("_file", sort=False):
        path = next(Path(p) for p in paths if Path(p).name == name)
        side = _sidecar(path)
        runs.append({"path": path, "rows": g.drop(columns="_file"), "sidecar": side, "dataset": _dataset_name(side),
                     "configs": is_configs_table(g)})
    if len(runs) > 1 and any(r["configs"] for r in runs) and not all(r["configs"] for r in runs):
        for r in runs:
            if r["configs"]:
                notice(f"left out {r['path'].name}: an --all-configs table (plot it on its own)")
        runs = [r for r in runs if not r["configs"]]
    return runs


def _labels(runs: list[dict]) -> list[str]:
    """Legend labels that tell the runs apart: link and CBR, plus channel and dataset where they
    vary, plus the file name where two runs would still share a label."""
    from semcom.conventions import format_cbr

    first = [r["rows"].iloc[0] for r in runs]
    vary_channel = len({str(f.get("channel", "")) for f in first}) > 1
    vary_data = len({r["dataset"] for r in runs}) > 1
    labels = []
    for r, f in zip(runs, first):
        label = f"{f['link']}, CBR {format_cbr(float(f['cbr']))}"
        if vary_channel:
            label += f", {f.get('channel', '')}"
        if vary_data and r["dataset"]:
            label += f", {r['dataset']}"
        labels.append(label)
    return [f"{lab} ({r['path'].stem})" if labels.count(lab) > 1 else lab for lab, r in zip(labels, runs)]


def default_title(runs: list[dict]) -> str:
    """Link(s), channel(s), CBR(s) and dataset(s) of the runs, for a figure without a given title."""
    from semcom.conventions import format_cbr

    def join(values: list[str], what: str) -> str:
        uniq = list(dict.fromkeys(v for v in values if v))
        return ", ".join(uniq) if len(uniq) <= 3 else f"{len(uniq)} {what}"

    rows = [r["rows"].iloc[0] for r in runs]
    parts = [join([str(f["link"]) for f in rows], "links"),
             join([str(f.get("channel", "")) for f in rows], "channels"),
             "CBR " + join([format_cbr(float(f["cbr"])) for f in rows], "CBRs"),
             join([r["dataset"] for r in runs], "datasets")]
    return " | ".join(p for p in parts if p and p != "CBR ")


def _references(runs: list[dict]) -> dict[str, float]:
    """The input's metric values against the target, from the sidecars (when all runs agree)."""
    refs: dict[str, set[float]] = {}
    for r in runs:
        for metric, value in ((r["sidecar"].get("reference") or {}).get(INPUT_REFERENCE) or {}).items():
            if isinstance(value, (int, float)):
                refs.setdefault(metric, set()).add(round(float(value), 4))
    return {m: next(iter(v)) for m, v in refs.items() if len(v) == 1}


def _band(ax, x, y, ci, col: str, color) -> None:
    lo, hi = RANGES.get(col, (-float("inf"), float("inf")))
    ax.fill_between(x, (y - ci).clip(lo, hi), (y + ci).clip(lo, hi), color=color, alpha=0.18, linewidth=0)


def plot_curves(paths: Sequence[str | Path], out: str | Path, *, title: str | None = None,
                styles: dict[str, dict] | None = None, notice=None) -> Path:
    """Draw :func:`draw_curves` into the PNG ``out`` (written whole or not at all)."""
    return _save(draw_curves(paths, title=title, styles=styles, notice=notice), out)


def draw_curves(paths: Sequence[str | Path], *, title: str | None = None, styles: dict[str, dict] | None = None,
                notice=None):
    """A matplotlib figure with a panel per metric (PSNR, SSIM, DISTS) against SNR.

    One line per CSV file with its 95 % confidence band (clipped to the metric's range); a metric
    without values gets no panel.  Dashed grey lines mark the blurry input's value (from the
    sweeps' sidecars) where it is known.  An ``--all-configs`` table is drawn on its own as one
    thin curve per configuration plus their envelope; given with plain runs it is left out
    (with a notice).  The title names link, channel, CBR and dataset unless ``title`` is given.

    Args:
        paths: sweep CSV files.
        styles: optional matplotlib keyword arguments per link name (e.g. dashed bounds).
        notice: called with one line for each file left out (default: stderr).
    """
    import sys

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notice = notice or (lambda msg: print(msg, file=sys.stderr))
    runs = _runs(list(paths), notice)
    panels = [p for p in PANELS if any(p[0] in r["rows"] and r["rows"][p[0]].notna().any() for r in runs)]
    if not panels:
        raise SemcomError(f"nothing to draw: no {'/'.join(p[0].upper() for p in PANELS)} values in the given CSVs")
    refs = _references(runs)
    labels = _labels(runs)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels) + 0.4, 4.2), squeeze=False,
                             layout="constrained")
    handles: dict[str, object] = {}
    banded = False
    for ax, panel in zip(axes[0], panels):
        banded |= _draw_metric(ax, runs, labels, refs, panel, styles, handles)
    _legend(fig, handles, banded)
    fig.suptitle(title or default_title(runs), fontsize=10)
    return fig


def _draw_metric(ax, runs: list[dict], labels: list[str], refs: dict[str, float], panel: tuple[str, str, bool],
                 styles: dict[str, dict] | None, handles: dict[str, object]) -> bool:
    """One metric's curves into ``ax`` (legend entries added to ``handles``); whether a band was drawn."""
    from matplotlib.lines import Line2D

    col, axis_label, higher = panel
    banded = False
    for run, label in zip(runs, labels):
        g = run["rows"]
        if col not in g or g[col].isna().all():
            continue
        style = dict((styles or {}).get(str(g["link"].iloc[0]), {}))
        if run["configs"]:
            table = g.pivot_table(index="snr_db", columns="config", values=col, aggfunc="mean")
            for cfg in table.columns:
                line, = ax.plot(table.index, table[cfg], linewidth=0.8, alpha=0.55)
                handles.setdefault(str(cfg), line)
            env = table.max(axis=1) if higher else table.min(axis=1)
            line, = ax.plot(env.index, env.to_numpy(float), color="black", linewidth=2.0)
            handles.setdefault("envelope (best configuration per SNR)", line)
            continue
        g = g.sort_values("snr_db")
        x, y = g["snr_db"].to_numpy(float), g[col].to_numpy(float)
        line, = ax.plot(x, y, marker="o", markersize=3, **style)
        handles.setdefault(label, line)
        ci = g.get(f"{col}_ci95")
        if ci is not None and not ci.isna().all():
            _band(ax, x, y, ci.to_numpy(float), col, line.get_color())
            banded = True
    if col in refs:
        ax.axhline(refs[col], color="0.45", linestyle="--", linewidth=1.0)
        handles.setdefault(f"{INPUT_REFERENCE} (no transmission)",
                           Line2D([], [], color="0.45", linestyle="--", linewidth=1.0))
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel(axis_label + ("" if higher else " (lower is better)"))
    ax.grid(True, alpha=0.3)
    return banded


#: what the shaded bands are: each curve's own interval, which holds the spread between pictures;
#: a margin between two links is judged by their paired interval (``semcom compare``)
BAND_LABEL = "shaded: 95 % interval of each mean over frames (margins: semcom compare)"


def _legend(fig, handles: dict[str, object], banded: bool) -> None:
    from matplotlib.patches import Patch

    if banded:
        handles[BAND_LABEL] = Patch(color="0.5", alpha=0.25, linewidth=0)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", fontsize=8,
               ncols=min(4, max(1, len(handles))), frameon=False)


def plot_grid(rows: Sequence[tuple[str, Sequence[str | Path]]], out: str | Path, *, title: str,
              metrics: Sequence[str] = ("psnr", "ssim"), styles: dict[str, dict] | None = None,
              notice=None) -> Path:
    """Several sweeps' settings in one PNG: a row of panels (one per metric) for each ``(row title,
    CSV files)`` of ``rows``, one legend for all (legend labels carry the link's name only, the
    row title says the rest).  A row without CSV files is left out."""
    import sys

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notice = notice or (lambda msg: print(msg, file=sys.stderr))
    rows = [(t, list(ps)) for t, ps in rows if ps]
    if not rows:
        raise SemcomError(f"nothing to draw for {title!r}: no sweep results")
    panels = [p for p in PANELS if p[0] in metrics]
    fig, axes = plt.subplots(len(rows), len(panels), figsize=(4.4 * len(panels) + 0.4, 3.3 * len(rows) + 0.8),
                             squeeze=False, layout="constrained")
    handles: dict[str, object] = {}
    banded = False
    for ax_row, (row_title, paths) in zip(axes, rows):
        runs = _runs(paths, notice)
        labels = [str(r["rows"]["link"].iloc[0]) for r in runs]
        refs = _references(runs)
        for ax, panel in zip(ax_row, panels):
            banded |= _draw_metric(ax, runs, labels, refs, panel, styles, handles)
            ax.set_title(row_title, fontsize=9)
    _legend(fig, handles, banded)
    fig.suptitle(title, fontsize=10)
    return _save(fig, out)


def _save(fig, out: str | Path) -> Path:
    """Write ``fig`` to ``out`` whole or not at all, and close it."""
    import matplotlib.pyplot as plt

    out = Path(out)
    tmp = out.with_name(f".{out.name}.partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(tmp, dpi=120, format=out.suffix.lstrip(".") or "png")
        tmp.replace(out)  # never a half-written figure under the final name
    except (OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise SemcomError(f"cannot write {out}: {getattr(exc, 'strerror', None) or exc}") from None
    finally:
        plt.close(fig)
    return out


def summarize(paths: Sequence[str | Path]) -> str:
    """A plain-text table of the main columns (for the terminal)."""
    df = load_results(paths)
    cols = [c for c in ("link", "channel", "cbr", "snr_db", "psnr", "psnr_ci95", "ssim", "dists", "config")
            if c in df]
    out = df[cols].copy()
    for c in ("psnr", "psnr_ci95"):
        if c in out:
            out[c] = out[c].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    for c in ("ssim", "dists"):
        if c in out:
            out[c] = out[c].map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
    out["cbr"] = out["cbr"].map(lambda v: f"{v:.4g}")
    return out.to_string(index=False)


__all__ = ["plot_curves", "plot_grid", "draw_curves", "load_results", "summarize", "default_title", "is_configs_table", "PANELS"]
