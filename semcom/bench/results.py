"""Results files: tidy CSV rows written one at a time, and a JSON sidecar describing the run."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from semcom.errors import SemcomError

#: columns every sweep CSV starts with, in this order
BASE_COLUMNS = ("link", "channel", "cbr", "cbr_used", "snr_db", "n", "n_images", "repeats",
                "psnr", "psnr_ci95", "ssim", "ssim_ci95", "dists", "dists_ci95")


def mean_ci95(values: np.ndarray) -> tuple[float, float]:
    """Mean of per-image values and the half-width of its 95 % confidence interval.

    ``values`` is ``[n_images, repeats]``: channel realizations of one image are averaged first,
    and the interval is Student's t over the images (images, not noise draws, dominate the
    spread).  Returns NaN for the half-width with fewer than two images.
    """
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    per_image = v.mean(axis=1)
    finite = per_image[np.isfinite(per_image)]
    mean = float(per_image.mean()) if len(per_image) else math.nan
    if len(finite) < 2:
        return mean, math.nan
    half = stats.t.ppf(0.975, len(finite) - 1) * finite.std(ddof=1) / math.sqrt(len(finite))
    return mean, float(half)


def fmt(value: Any) -> str:
    """CSV text for a value: empty for None/NaN, 6 significant digits for floats."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{float(value):.6g}"
    return str(value)


def write_table(path: Path | str, rows: list[Mapping[str, Any]]) -> Path:
    """Write ``rows`` (dictionaries with the same keys) as a new CSV file, replacing ``path``."""
    path = Path(path)
    path.unlink(missing_ok=True)
    writer = CsvWriter(path, columns=list(rows[0]))
    for row in rows:
        writer.write(row)
    return path


class CsvWriter:
    """Append rows to a CSV file, flushing each one to disk as it is written.

    The header is fixed by the first row (or by the existing file, when resuming); later rows
    may omit columns (left empty) but may not add new ones.
    """

    def __init__(self, path: Path, columns: Iterable[str] | None = None) -> None:
        self.path = Path(path)
        self.columns: list[str] | None = list(columns) if columns else None
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, newline="") as f:
                header = next(csv.reader(f), None)
            self.columns = header

    def write(self, row: Mapping[str, Any]) -> None:
        new_file = self.columns is None or not self.path.exists() or self.path.stat().st_size == 0
        if self.columns is None:
            extra = [k for k in row if k not in BASE_COLUMNS]
            self.columns = [c for c in BASE_COLUMNS] + extra
        unknown = [k for k in row if k not in self.columns]
        if unknown:
            raise SemcomError(f"{self.path}: row has columns {unknown} that the file's header lacks; "
                              "remove the file or write to another --out")
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f)
            if new_file:
                w.writerow(self.columns)
            w.writerow([fmt(row.get(c)) for c in self.columns])
            f.flush()
            os.fsync(f.fileno())


def read_rows(path: Path) -> list[dict[str, str]]:
    if not Path(path).exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def config_key(config: Mapping[str, Any]) -> str:
    """A short hash of the parts of a run's configuration that determine each row's numbers."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def git_commit() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        commit = out.stdout.strip()
        if not commit:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    out = {}
    for name in ("semcom", "torch", "numpy", "scipy", "pandas", "sionna-no-rt", "pillow-heif",
                 "imagecodecs", "scikit-image", "dists-pytorch"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; ``{}`` when the file is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)
