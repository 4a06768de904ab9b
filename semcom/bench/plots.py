"""Curves of PSNR / SSIM / DISTS against SNR from sweep CSV files.

Figures of many runs stay readable: runs of several links in several settings are grouped (one
colour per link, one line style and marker per channel / CBR / dataset), each curve has at most one
95 % interval (shaded, or error bars over fewer than :data:`FEW_FRAMES` frames) and none beyond
:data:`MAX_BANDS` curves a panel, the title names what the runs share and lists what varies, and
the legend and title are fitted inside the figure.
"""

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


def _frames(rows: pd.DataFrame) -> int | None:
    """How many frames each mean of a run averages (``n_images``, else ``n``; None when not recorded)."""
    for col in ("n_images", "n"):
        if col in rows and rows[col].notna().any():
            return int(rows[col].min())
    return None


def _runs(paths: Sequence[str | Path], notice) -> list[dict]:
    """One entry per CSV file: its rows, sidecar, dataset, frame count and whether it is a configurations table."""
    df = load_results(paths)
    runs = []
    for name, g in df.groupby("_file", sort=False):
        path = next(Path(p) for p in paths if Path(p).name == name)
        side = _sidecar(path)
        rows = g.drop(columns="_file")
        runs.append({"path": path, "rows": rows, "sidecar": side, "dataset": _dataset_name(side),
                     "configs": is_configs_table(g), "frames": _frames(rows), "link": str(rows["link"].iloc[0])})
    if len(runs) > 1 and any(r["configs"] for r in runs) and not all(r["configs"] for r in runs):
        for r in runs:
            if r["configs"]:
                notice(f"left out {r['path'].name}: an --all-configs table (plot it on its own)")
        runs = [r for r in runs if not r["configs"]]
    return runs


#: beyond this many curves in a panel no interval is drawn (they would cover each other)
MAX_BANDS = 5
#: a run whose means average fewer frames gets error bars instead of a shaded band (its intervals are wide)
FEW_FRAMES = 8
#: line styles and markers that tell settings (channel, CBR, ...) apart when colours tell links apart
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2, 2, 2)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: legend entries per row at most
LEGEND_COLUMNS = 5


def distinct_looks(n: int) -> list[dict]:
    """``n`` (colour, line style) pairs that stay apart: tab10 up to 10 curves; beyond, tab20, whose
    dark and light shade of one hue are split by a solid and a dashed line, then dotted and
    dash-dotted lines for the next 20, then markers."""
    import matplotlib

    if n <= 10:
        cmap = matplotlib.colormaps["tab10"]
        return [{"color": cmap(i), "linestyle": "-"} for i in range(n)]
    cmap = matplotlib.colormaps["tab20"]
    looks = []
    for i in range(n):
        cycle = i // 20
        look = {"color": cmap(i % 20), "linestyle": (("-", "--"), (":", "-."))[cycle % 2][i % 2]}
        if cycle >= 2:
            look["marker"] = MARKERS[(cycle // 2 - 1) % len(MARKERS)]
        looks.append(look)
    return looks


def _dims(runs: list[dict]) -> list[tuple[str, str, object, list[str]]]:
    """What can differ between runs besides the link: ``(name, plural, one value's label, per-run
    values)``; a value not recorded is ``""``."""
    from semcom.conventions import format_cbr

    first = [r["rows"].iloc[0] for r in runs]
    return [("channel", "channels", str, [str(f.get("channel", "") or "") for f in first]),
            ("CBR", "CBRs", lambda v: f"CBR {v}", [format_cbr(float(f["cbr"])) for f in first]),
            ("dataset", "datasets", str, [r["dataset"] for r in runs]),
            ("frames", "frame counts", lambda v: f"{v} frames",
             [str(r["frames"]) if r["frames"] else "" for r in runs]),
            ("repeats", "repeat counts", lambda v: f"{v} repeats",
             [str(int(f["repeats"])) if pd.notna(f.get("repeats")) else "" for f in first])]


def _setting_order(run: dict) -> tuple:
    """Settings in a reading order: channel by name, CBR from the largest, dataset, frame count."""
    f = run["rows"].iloc[0]
    return (str(f.get("channel", "") or ""), -float(f["cbr"]), run["dataset"], run["frames"] or 0)


def _listing(values: list[str], plural: str, most: int = 6) -> str:
    shown = values if len(values) <= most else values[:most - 1] + ["…", values[-1]]
    return f"{len(values)} {plural}: {', '.join(shown)}"


#: how :func:`default_title` orders the values it lists (others: as the runs come)
ORDERS = {"channels": str, "CBRs": lambda v: -1 / float(v[2:]) if v.startswith("1/") else -float(v),
          "frame counts": int, "repeat counts": int}


def default_title(runs: list[dict]) -> str:
    """What the runs share (link, channel, CBR, dataset, frames), then what varies between them,
    listed: ``awgn | synth-blur | 32 frames — 4 links: ...; 2 CBRs: 1/48, 1/96``."""
    common, varying = [], []
    for name, plural, one, values in [("link", "links", str, [r["link"] for r in runs]), *_dims(runs)]:
        uniq = list(dict.fromkeys(v for v in values if v))
        if plural in ORDERS:
            uniq.sort(key=ORDERS[plural])
        if len(uniq) == 1:
            if not (name == "repeats" and uniq == ["1"]):  # one draw per frame goes without saying
                common.append(one(uniq[0]))
        elif uniq:
            varying.append(_listing(uniq, plural))
    return " — ".join(p for p in (" | ".join(common), "; ".join(varying)) if p)


def _looks(runs: list[dict], styles: dict[str, dict] | None) -> tuple[list[dict], list[tuple[str, object]], str | None]:
    """How each run is drawn, the legend entries of a grouped figure and the legend's title.

    Runs of several links in several settings (channel, CBR, dataset, frames: whatever varies) are
    grouped: one colour per link, one line style and marker per setting, and the legend lists
    links and settings apart.  Otherwise each curve has its own colour (a link's from ``styles``
    where given) and its own legend entry: the link, plus the setting where settings vary.
    """
    from matplotlib.lines import Line2D

    styles = styles or {}
    varying = [(name, one, values) for name, _, one, values in _dims(runs) if len(set(values)) > 1]
    settings = [", ".join(one(values[i]) for _, one, values in varying if values[i]) for i in range(len(runs))]
    keys = [(r["link"], s) for r, s in zip(runs, settings)]
    settings = [f"{s} ({r['path'].stem})".lstrip() if keys.count(k) > 1 else s for r, s, k in zip(runs, settings, keys)]
    links = list(dict.fromkeys(r["link"] for r in runs))
    kinds = list(dict.fromkeys(settings[i] for i in sorted(range(len(runs)), key=lambda i: _setting_order(runs[i]))))
    if len(links) > 1 and len(kinds) > 1:
        given = [styles.get(link, {}).get("color") for link in links]
        colours = given if all(given) and len(set(given)) == len(given) else \
            [look["color"] for look in distinct_looks(len(links))]
        colour = dict(zip(links, colours))
        line = {s: (LINESTYLES[j % len(LINESTYLES)], MARKERS[j % len(MARKERS)]) for j, s in enumerate(kinds)}
        looks = [{"color": colour[r["link"]], "linestyle": line[s][0], "marker": line[s][1], "label": None}
                 for r, s in zip(runs, settings)]
        entries = [(link, Line2D([], [], color=colour[link], marker="o", markersize=4)) for link in links]
        entries += [(s, Line2D([], [], color="0.3", linestyle=line[s][0], marker=line[s][1], markersize=4))
                    for s in kinds]
        what = ", ".join(name for name, _, _ in varying) or "file"
        return looks, entries, f"colour: link; line and marker: {what}"
    palette = distinct_looks(len(runs) if len(links) == 1 else len(links))
    looks = []
    for i, (r, s) in enumerate(zip(runs, settings)):
        look = dict(palette[i if len(links) == 1 else links.index(r["link"])])
        if len(links) > 1 or len(runs) == 1:
            look.update(styles.get(r["link"], {}))
        look.setdefault("marker", "o")
        look["label"] = f"{r['link']}, {s}" if s else r["link"]
        looks.append(look)
    return looks, [], None


def _references(runs: list[dict]) -> dict[str, float]:
    """The input's metric values against the target, from the sidecars (when all runs agree)."""
    refs: dict[str, set[float]] = {}
    for r in runs:
        for metric, value in ((r["sidecar"].get("reference") or {}).get(INPUT_REFERENCE) or {}).items():
            if isinstance(value, (int, float)):
                refs.setdefault(metric, set()).add(round(float(value), 4))
    return {m: next(iter(v)) for m, v in refs.items() if len(v) == 1}


def _interval(g: pd.DataFrame, col: str) -> "numpy.ndarray | None":
    ci = g.get(f"{col}_ci95")
    if ci is None or ci.isna().all():
        return None
    return ci.to_numpy(float)


def _draw_metric(ax, runs: list[dict], looks: list[dict], refs: dict[str, float], panel: tuple[str, str, bool],
                 handles: dict[str, object], *, max_bands: int | None) -> dict[str, list]:
    """One metric's curves into ``ax`` (per-curve legend entries added to ``handles``).

    Each curve gets at most one interval: a shaded band when its means average at least
    :data:`FEW_FRAMES` frames, else error bars, both clipped to the metric's range (error bars
    leave the axes' limits to the means: a 2-frame interval can span 100 dB); none beyond
    ``max_bands`` curves.  Returns the frame counts of the runs drawn with a band, with error bars,
    and without an interval (``{"band": [...], "bars": [...], "off": [...]}``).
    """
    from matplotlib.lines import Line2D

    col, axis_label, higher = panel
    drawn: dict[str, list] = {"band": [], "bars": [], "off": []}
    lo, hi = RANGES.get(col, (-float("inf"), float("inf")))
    curves = [(r, lk) for r, lk in zip(runs, looks) if col in r["rows"] and r["rows"][col].notna().any()]
    plain = [(r, lk) for r, lk in curves if not r["configs"]]
    intervals = max_bands is None or len(plain) <= max_bands
    bars = []
    for run, look in curves:
        g = run["rows"]
        if run["configs"]:
            table = g.pivot_table(index="snr_db", columns="config", values=col, aggfunc="mean")
            for cfg, cfg_look in zip(table.columns, distinct_looks(len(table.columns))):
                line, = ax.plot(table.index, table[cfg], linewidth=1.0, alpha=0.85, **cfg_look)
                handles.setdefault(str(cfg), line)
            env = table.max(axis=1) if higher else table.min(axis=1)
            line, = ax.plot(env.index, env.to_numpy(float), color="black", linewidth=2.0)
            handles.setdefault("envelope (best configuration per SNR)", line)
            continue
        g = g.sort_values("snr_db")
        x, y = g["snr_db"].to_numpy(float), g[col].to_numpy(float)
        kw = {k: v for k, v in look.items() if k != "label"}
        line, = ax.plot(x, y, markersize=3, **kw)
        if look["label"]:
            handles.setdefault(look["label"], line)
        ci = _interval(g, col)
        if ci is None:
            continue
        if not intervals:
            drawn["off"].append(run["frames"])
        elif run["frames"] is not None and run["frames"] < FEW_FRAMES:
            bars.append((x, y, ci, line.get_color()))
            drawn["bars"].append(run["frames"])
        else:
            ax.fill_between(x, (y - ci).clip(lo, hi), (y + ci).clip(lo, hi), color=line.get_color(), alpha=0.18,
                            linewidth=0)
            drawn["band"].append(run["frames"])
    if col in refs:
        ax.axhline(refs[col], color="0.45", linestyle="--", linewidth=1.0)
        handles.setdefault(f"{INPUT_REFERENCE} (no transmission)",
                           Line2D([], [], color="0.45", linestyle="--", linewidth=1.0))
    if bars:
        _limits_without_bars(ax)  # the means set the limits; wider error bars leave the axes
        span = max(float(x.max() - x.min()) for x, *_ in bars) or 1.0
        for k, (x, y, ci, colour) in enumerate(bars):
            dodge = (k - (len(bars) - 1) / 2) * 0.012 * span  # side by side, not on top of each other
            ax.errorbar(x + dodge, y, yerr=[y - (y - ci).clip(lo, hi), (y + ci).clip(lo, hi) - y], fmt="none",
                        ecolor=colour, elinewidth=0.8, capsize=2.5, alpha=0.45)
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel(axis_label + ("" if higher else " (lower is better)"))
    ax.grid(True, alpha=0.3)
    return drawn


def _limits_without_bars(ax) -> None:
    """Fix the y-limits of ``ax`` to what it holds so far (curves, bands, reference lines) with a
    5 % margin, so error bars drawn next do not stretch them."""
    import numpy as np

    values = [np.asarray(line.get_ydata(), float) for line in ax.lines]
    values += [np.asarray(c.get_paths()[0].vertices[:, 1], float) for c in ax.collections if c.get_paths()]
    values = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    if values.size:
        lo, hi = float(values.min()), float(values.max())
        pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 0.05)
        ax.set_ylim(lo - pad, hi + pad)


def plot_curves(paths: Sequence[str | Path], out: str | Path, *, title: str | None = None,
                styles: dict[str, dict] | None = None, notice=None, max_bands: int | None = MAX_BANDS) -> Path:
    """Draw :func:`draw_curves` into the PNG ``out`` (written whole or not at all)."""
    return _save(draw_curves(paths, title=title, styles=styles, notice=notice, max_bands=max_bands), out)


def draw_curves(paths: Sequence[str | Path], *, title: str | None = None, styles: dict[str, dict] | None = None,
                notice=None, max_bands: int | None = MAX_BANDS):
    """A matplotlib figure with a panel per metric (PSNR, SSIM, DISTS) against SNR.

    One line per CSV file; runs of several links in several settings are grouped (one colour per
    link, one line style and marker per channel / CBR / dataset, whichever vary).  Each curve has at
    most one 95 % interval, clipped to the metric's range: a shaded band, or error bars where its
    means average fewer than :data:`FEW_FRAMES` frames (the frame count is in the legend); none in a
    panel of more than ``max_bands`` curves.  A metric without values gets no panel.  Dashed grey
    lines mark the blurry input's value (from the sweeps' sidecars) where it is known.  An
    ``--all-configs`` table is drawn on its own as one thin curve per configuration (colours and
    line styles that keep 19+ apart) plus their envelope; given with plain runs it is left out (with
    a notice).  The title names what the runs share and lists what varies, unless ``title`` is
    given; the legend and title are fitted inside the figure.

    Args:
        paths: sweep CSV files.
        styles: optional matplotlib keyword arguments per link name (e.g. dashed bounds).
        notice: called with one line for each file left out (default: stderr).
        max_bands: most curves a panel draws intervals for (None: no limit).
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
    looks, entries, legend_title = _looks(runs, styles)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels) + 0.4, 4.2), squeeze=False,
                             layout="constrained")
    handles: dict[str, object] = dict(entries)
    drawn: dict[str, list] = {"band": [], "bars": [], "off": []}
    for ax, panel in zip(axes[0], panels):
        for kind, frames in _draw_metric(ax, runs, looks, refs, panel, handles, max_bands=max_bands).items():
            drawn[kind] += frames
    _finish(fig, handles, drawn, title=title or default_title(runs), legend_title=legend_title, max_bands=max_bands,
            height=3.7)
    return fig


#: what the shaded bands are: each curve's own interval, which holds the spread between pictures;
#: a margin between two links is judged by their paired interval (``semcom compare``)
BAND_LABEL = "shaded: 95 % interval of each mean over frames (margins: semcom compare)"


def _frame_text(frames: list) -> str:
    known = sorted({f for f in frames if f})
    if not known:
        return "frames"
    return f"{known[0]} frames" if len(known) == 1 else f"{known[0]}-{known[-1]} frames"


def interval_notes(drawn: dict[str, list], max_bands: int | None) -> list[tuple[str, object]]:
    """Legend entries that say what the intervals are: the shaded bands (:data:`BAND_LABEL`), error
    bars with their frame count, or why a panel has none."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    notes: list[tuple[str, object]] = []
    if drawn["band"]:
        notes.append((BAND_LABEL, Patch(color="0.5", alpha=0.25, linewidth=0)))
    if drawn["bars"]:
        notes.append((f"bars: 95 % interval of each mean over only {_frame_text(drawn['bars'])} (fewer than "
                      f"{FEW_FRAMES}: wide, cut at the axes)",
                      Line2D([], [], color="0.4", marker="|", markersize=9, linestyle="none")))
    if drawn["off"]:
        few = [f for f in drawn["off"] if f and f < FEW_FRAMES]
        notes.append((f"95 % intervals not drawn: more than {max_bands} curves in a panel "
                       "(see the CSVs' *_ci95 columns)" + (f"; means over only {_frame_text(few)}" if few else ""),
                       Line2D([], [], linestyle="none")))
    return notes


def _finish(fig, handles: dict[str, object], drawn: dict[str, list], *, title: str, legend_title: str | None,
            max_bands: int | None, height: float) -> None:
    """The title and the legend (below the panels), each fitted inside the figure: the legend takes
    as many columns as fit the figure's width (its labels wrapped if one alone does not fit), and
    the figure grows by the legend's height so the panels keep theirs."""
    import textwrap

    entries = list(handles.items()) + interval_notes(drawn, max_bands)
    width = fig.bbox.width * 0.97
    sup = fig.suptitle(title, fontsize=10)
    legend_height = 0.0
    if entries:
        labels = [label for label, _ in entries]
        chars = max(len(label) for label in labels)
        ncols = min(LEGEND_COLUMNS, len(entries))
        while True:
            legend = fig.legend([h for _, h in entries], labels, loc="outside lower center", fontsize=8,
                                ncols=ncols, frameon=False, title=legend_title, title_fontsize=8)
            fig.draw_without_rendering()
            box = legend.get_window_extent()
            if box.width <= width or chars <= 16:
                break
            legend.remove()
            if ncols > 1:
                ncols -= 1
            else:  # one label alone is wider than the figure: wrap the labels
                chars = max(16, int(chars * min(0.9, width / box.width)))
                labels = [textwrap.fill(label, chars) for label, _ in entries]
        legend_height = box.height / fig.dpi
    fig.draw_without_rendering()
    box = sup.get_window_extent()
    if box.width > width:
        sup.set_text(textwrap.fill(title, max(20, int(len(title) * width / box.width))))
    fig.set_figheight(height + legend_height + 0.18 * sup.get_text().count("\n"))


def _draw_against_cbr(ax, runs: list[dict], looks: dict[str, dict], panel: tuple[str, str, bool],
                      handles: dict[str, object]) -> None:
    """One metric against CBR into ``ax``: a line per link through its runs' means (each run is one CBR
    at the row's SNR; a link with one CBR is a lone marker), the CBR axis logarithmic and labelled 1/N."""
    from semcom.conventions import format_cbr

    col, axis_label, higher = panel
    points: dict[str, dict[float, float]] = {}
    for run in runs:
        g = run["rows"]
        if col not in g or not g[col].notna().any():
            continue
        points.setdefault(run["link"], {})[float(g["cbr"].iloc[0])] = float(g[col].mean())
    ticks: set[float] = set()
    for link, by_cbr in points.items():
        x = sorted(by_cbr)
        ticks.update(x)
        kw = {k: v for k, v in looks[link].items() if k != "label"}
        line, = ax.plot(x, [by_cbr[c] for c in x], markersize=4, **kw)
        handles.setdefault(link, line)
    ax.set_xscale("log")
    ax.set_xticks(sorted(ticks), [format_cbr(c) for c in sorted(ticks)], fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel("CBR (complex channel uses per source value)")
    ax.set_ylabel(axis_label + ("" if higher else " (lower is better)"))
    ax.grid(True, alpha=0.3)


def plot_grid(rows: Sequence[tuple[str, Sequence[str | Path]]], out: str | Path, *, title: str,
              metrics: Sequence[str] = ("psnr", "ssim"), styles: dict[str, dict] | None = None,
              notice=None, max_bands: int | None = MAX_BANDS,
              cbr_row: tuple[str, Sequence[str | Path]] | None = None) -> Path:
    """Several sweeps' settings in one PNG: a row of panels (one per metric) for each ``(row title,
    CSV files)`` of ``rows``, one legend for all (legend labels carry the link's name only, the
    row title says the rest; intervals as in :func:`draw_curves`).  A row without CSV files is left out.

    ``cbr_row``: ``(row title, CSV files)`` of sweeps at one SNR and several CBRs, drawn as a last row of
    each metric against CBR (one line per link)."""
    import sys

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notice = notice or (lambda msg: print(msg, file=sys.stderr))
    rows = [(t, list(ps)) for t, ps in rows if ps]
    axis_paths = list(cbr_row[1]) if cbr_row else []
    if not rows and not axis_paths:
        raise SemcomError(f"nothing to draw for {title!r}: no sweep results")
    panels = [p for p in PANELS if p[0] in metrics]
    n_rows = len(rows) + bool(axis_paths)
    fig, axes = plt.subplots(n_rows, len(panels), figsize=(4.4 * len(panels) + 0.4, 3.3 * n_rows + 0.8),
                             squeeze=False, layout="constrained")
    handles: dict[str, object] = {}
    drawn: dict[str, list] = {"band": [], "bars": [], "off": []}
    axis_runs = _runs(axis_paths, notice) if axis_paths else []
    links = list(dict.fromkeys([r["link"] for _, paths in rows for r in _runs(paths, notice)]
                               + [r["link"] for r in axis_runs]))
    palette = dict(zip(links, distinct_looks(len(links))))
    if axis_runs:
        looks = {lk: {"marker": "o", **palette[lk], **(styles or {}).get(lk, {})} for lk in links}
        for ax, panel in zip(axes[-1], panels):
            _draw_against_cbr(ax, axis_runs, looks, panel, handles)
            ax.set_title(cbr_row[0], fontsize=9)
    for ax_row, (row_title, paths) in zip(axes, rows):
        runs = _runs(paths, notice)
        looks = [{"marker": "o", **palette[r["link"]], **(styles or {}).get(r["link"], {}), "label": r["link"]}
                 for r in runs]
        refs = _references(runs)
        for ax, panel in zip(ax_row, panels):
            for kind, frames in _draw_metric(ax, runs, looks, refs, panel, handles, max_bands=max_bands).items():
                drawn[kind] += frames
            ax.set_title(row_title, fontsize=9)
    _finish(fig, handles, drawn, title=title, legend_title=None, max_bands=max_bands, height=3.3 * n_rows + 0.5)
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


__all__ = ["plot_curves", "plot_grid", "draw_curves", "load_results", "summarize", "default_title", "is_configs_table",
           "distinct_looks", "PANELS", "BAND_LABEL", "MAX_BANDS", "FEW_FRAMES"]
