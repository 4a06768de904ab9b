"""Paired margins between two sweeps: the mean per-frame difference and its 95 % interval.

Two sweeps over the same evaluation set and seed score the same frames under channel draws
seeded alike (per SNR point, repeat and batch), so the fair way to say "A beats B by x dB" is
the mean over frames of ``A - B`` with a Student-t interval over those paired differences, not
the gap between two means whose own intervals (which hold the spread between pictures) overlap.

Reads the per-frame files the sweep runner writes beside each CSV (``<stem>_frames.csv``).

Example:
    >>> rows = paired_margins("results/reproduce/evjscc-fig4/ev-jscc_awgn_cbr1-48.csv",
    ...                       "results/reproduce/evjscc-fig4/deepjscc-deblur_awgn_cbr1-48.csv")  # doctest: +SKIP
    >>> rows[0]["diff"], rows[0]["ci95"]                                                       # doctest: +SKIP
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from semcom.bench.results import mean_ci95, read_json, read_rows
from semcom.errors import SemcomError

__all__ = ["paired_margins", "frame_values", "format_margins"]


def _frames_of(csv_path: Path) -> Path:
    from semcom.bench.sweep import frames_path

    return frames_path(csv_path)


def frame_values(csv_path: str | Path, metric: str) -> dict[float, dict[tuple[int, str], list[float]]]:
    """Per SNR point, ``(image, name) -> [value per repeat]`` of one metric from a sweep's per-frame file."""
    csv_path = Path(csv_path)
    if not csv_path.exists():
        raise SemcomError(f"{csv_path}: no such sweep CSV")
    frames = _frames_of(csv_path)
    if not frames.exists():
        raise SemcomError(f"{csv_path} has no per-frame file ({frames.name}); sweeps written before per-frame "
                          "files existed need a rerun with --overwrite")
    out: dict[float, dict[tuple[int, str], list[float]]] = {}
    for row in read_rows(frames):
        value = row.get(metric, "")
        if value == "":
            continue
        point = out.setdefault(round(float(row["snr_db"]), 6), {})
        point.setdefault((int(row["image"]), row["name"]), []).append(float(value))
    if not out:
        raise SemcomError(f"{frames} has no {metric} values")
    return out


def _dataset_identity(csv_path: Path) -> Any:
    sidecar = read_json(csv_path.with_suffix(".json"))
    resolved = sidecar.get("resolved") or {}
    return resolved.get("dataset"), (sidecar.get("config") or {}).get("seed")


def paired_margins(a: str | Path, b: str | Path, *, metric: str = "psnr") -> list[dict[str, Any]]:
    """One row per SNR point both sweeps hold: the means, the mean paired difference ``a - b``,
    its 95 % half-width, and how many frames favour ``a``.

    The repeats of one frame are averaged first (as :func:`~semcom.bench.results.mean_ci95` does),
    so the interval is over frames.  Refused: sweeps over other evaluation sets or seeds, or
    points whose frames differ.
    """
    a, b = Path(a), Path(b)
    va, vb = frame_values(a, metric), frame_values(b, metric)
    ida, idb = _dataset_identity(a), _dataset_identity(b)
    if ida[0] is not None and idb[0] is not None and ida != idb:
        raise SemcomError(f"{a.name} and {b.name} were run on other evaluation data or seeds: no frame pairs")
    rows = []
    for snr in sorted(set(va) & set(vb)):
        fa, fb = va[snr], vb[snr]
        if set(fa) != set(fb):
            raise SemcomError(f"{a.name} and {b.name} scored other frames at {snr:g} dB")
        keys = sorted(fa)
        xa = np.array([np.mean(fa[k]) for k in keys])
        xb = np.array([np.mean(fb[k]) for k in keys])
        diff, half = mean_ci95(xa - xb)
        better = 1.0 if metric != "dists" else -1.0  # DISTS: lower is better
        rows.append({"snr_db": snr, "n_images": len(keys), "a": float(xa.mean()), "b": float(xb.mean()),
                     "diff": diff, "ci95": half, "a_better": int(np.sum(better * (xa - xb) > 0))})
    if not rows:
        raise SemcomError(f"{a.name} and {b.name} share no SNR point")
    return rows


def significance(diff: float, half: float) -> str:
    """``"a"``/``"b"`` when the interval excludes 0 on that side, ``"tie"`` otherwise."""
    if math.isnan(half):
        return "tie"
    if diff - half > 0:
        return "a"
    if diff + half < 0:
        return "b"
    return "tie"


def format_margins(rows: Sequence[dict[str, Any]], *, a: str, b: str, metric: str) -> str:
    """A plain-text table of :func:`paired_margins`."""
    unit = " dB" if metric == "psnr" else ""
    digits = 2 if metric == "psnr" else 4
    lines = [f"{metric}: {a} - {b}, mean paired difference over frames with its 95 % interval",
             f"{'snr':>6} {'frames':>6} {a[:16]:>16} {b[:16]:>16} {'difference':>20} {'a better':>9}"]
    for r in rows:
        d = f"{r['diff']:+.{digits}f} ± {r['ci95']:.{digits}f}{unit}"
        lines.append(f"{r['snr_db']:6g} {r['n_images']:6d} {r['a']:16.{digits}f} {r['b']:16.{digits}f} {d:>20} "
                     f"{r['a_better']:>4d}/{r['n_images']:<4d}")
    return "\n".join(lines)
