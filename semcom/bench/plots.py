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


def _label(row: pd.Series, vary_channel: bool) -> str:
    from semcom.conventions import format_cbr

    label = f"{row['link']} (CBR {format_cbr(float(row['cbr']))})"
    if vary_channel and "channel" in row:
        label += f", {row['channel']}"
    return label


def plot_curves(paths: Sequence[str | Path], out: str | Path, *, title: str | None = None,
                styles: dict[str, dict] | None = None) -> Path:
    """Draw one PNG with a PSNR, an SSIM and a DISTS panel against SNR.

    One line per (link, CBR, channel) with its 95 % confidence band.  A panel whose metric has
    no values says so instead of drawing an empty axis.

    Args:
        paths: sweep CSV files.
        out: PNG path.
        styles: optional matplotlib keyword arguments per link name (e.g. dashed bounds).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = load_results(paths)
    vary_channel = "channel" in df and df["channel"].nunique() > 1
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.6 * len(PANELS), 3.8), constrained_layout=True)
    groups = list(df.groupby(["link", "cbr"] + (["channel"] if "channel" in df else []), sort=False))
    for ax, (col, label, higher) in zip(axes, PANELS):
        drawn = False
        for _, g in groups:
            if col not in g or g[col].isna().all():
                continue
            g = g.sort_values("snr_db")
            x, y = g["snr_db"].to_numpy(float), g[col].to_numpy(float)
            style = dict((styles or {}).get(str(g["link"].iloc[0]), {}))
            line, = ax.plot(x, y, marker="o", markersize=3, label=_label(g.iloc[0], vary_channel), **style)
            ci = g.get(f"{col}_ci95")
            if ci is not None and not ci.isna().all():
                c = ci.to_numpy(float)
                ax.fill_between(x, y - c, y + c, color=line.get_color(), alpha=0.18, linewidth=0)
            drawn = True
        ax.set_xlabel("SNR (dB)")
        ax.set_ylabel(label + ("" if higher else " (lower is better)"))
        ax.grid(True, alpha=0.3)
        if not drawn:
            ax.text(0.5, 0.5, f"{col.upper()} unavailable\n(see the run's notice)", ha="center", va="center",
                    transform=ax.transAxes, color="0.4")
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        axes[0].legend(handles, labels, fontsize=8, loc="best")
    if title:
        fig.suptitle(title)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
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


__all__ = ["plot_curves", "load_results", "summarize", "PANELS"]
