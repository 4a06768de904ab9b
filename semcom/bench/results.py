"""Results files: tidy CSV rows written one at a time, and a JSON sidecar describing the run."""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import math
import os
import socket
import subprocess
import time
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
    may omit columns (left empty) but may not add new ones.  Each call appends its lines with one
    ``write`` on a file opened for appending, so a writer killed mid-way leaves at most one partial
    last line (no newline at its end), which :func:`drop_partial_line` removes before a resume.
    """

    def __init__(self, path: Path, columns: Iterable[str] | None = None) -> None:
        self.path = Path(path)
        self.columns: list[str] | None = list(columns) if columns else None
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, newline="", encoding="utf-8", errors="replace") as f:
                header = next(csv.reader(f), None)
            self.columns = header

    def write(self, row: Mapping[str, Any]) -> None:
        self.write_many([row])

    def write_many(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append ``rows`` (with the header first in a new file) in one write, then sync."""
        rows = list(rows)
        if not rows:
            return
        new_file = self.columns is None or not self.path.exists() or self.path.stat().st_size == 0
        if self.columns is None:
            extra = [k for k in rows[0] if k not in BASE_COLUMNS]
            self.columns = [c for c in BASE_COLUMNS] + extra
        buf = io.StringIO()
        w = csv.writer(buf)
        if new_file:
            w.writerow(self.columns)
        for row in rows:
            unknown = [k for k in row if k not in self.columns]
            if unknown:
                raise SemcomError(f"{self.path}: row has columns {unknown} that the file's header lacks; "
                                  "remove the file or write to another --out")
            w.writerow([fmt(row.get(c)) for c in self.columns])
        data = memoryview(buf.getvalue().encode("utf-8"))
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        finally:
            os.close(fd)


def read_rows(path: Path) -> list[dict[str, str]]:
    if not Path(path).exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def drop_partial_line(path: Path | str) -> bool:
    """Cut a results file after its last complete line (a writer killed mid-row leaves a partial
    last line without its newline); whether anything was cut."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    if size == 0:
        return False
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return False
        keep, block = size, 1 << 16
        while keep > 0:       # find the last newline, reading backwards a block at a time
            start = max(0, keep - block)
            f.seek(start)
            chunk = f.read(keep - start)
            at = chunk.rfind(b"\n")
            if at >= 0:
                keep = start + at + 1
                break
            keep = start
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return True


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_table(path: Path | str, *, first: Iterable[str] = (), keys: Iterable[str] = (),
                numbers: Iterable[str] = (), optional_numbers: Iterable[str] = ()) -> list[dict[str, str]]:
    """The rows of a results CSV, or a one-line :class:`SemcomError` naming where it is damaged.

    Args:
        first: columns the header must start with, in this order.
        keys: columns whose values identify a row (no two rows may share them).
        numbers: columns that must hold a number in every row.
        optional_numbers: columns that hold a number or nothing.
    """
    path = Path(path)
    if not path.exists():
        return []

    def damaged(line: int | None, what: str) -> SemcomError:
        where = f"line {line}: " if line else ""
        return SemcomError(f"{path} is damaged ({where}{what}); move it away or rerun with --overwrite")

    first, keys = list(first), list(keys)
    rows: list[dict[str, str]] = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                return []
            lacking = [c for c in first if c not in header]
            if header[:len(first)] != first:
                what = (f"the header lacks {', '.join(lacking[:4])}" if lacking else
                        f"the header's columns are not in the order {','.join(first[:6])},...")
                raise damaged(1, f"{what}; it reads {_clip(','.join(header))!r}")
            if len(set(header)) != len(header) or any(not c for c in header):
                raise damaged(1, f"the header names a column twice or not at all: {_clip(','.join(header))!r}")
            checked = [c for c in [*numbers, *optional_numbers] if c in header]
            required = set(numbers)
            seen: dict[tuple, int] = {}
            line = 1
            for fields in reader:
                line = reader.line_num
                if not fields:
                    continue
                if fields == header:
                    raise damaged(line, "a second header: two runs wrote to this file at once")
                if len(fields) != len(header):
                    raise damaged(line, f"{len(fields)} fields where the header has {len(header)}")
                row = dict(zip(header, fields))
                for c in checked:
                    if (row[c] or c in required) and not _number(row[c]):
                        raise damaged(line, f"{c} is {_clip(row[c])!r}, not a number")
                if keys:
                    key = tuple(round(float(row[k]), 6) if k in required else row[k] for k in keys if k in row)
                    if key in seen:
                        said = ", ".join(f"{k} {row[k]}" for k in keys if k in row)
                        raise damaged(line, f"the row of {said} again (first on line {seen[key]})")
                    seen[key] = line
                rows.append(row)
    except UnicodeDecodeError as exc:
        raise damaged(None, f"not text: byte {exc.start} cannot be read as UTF-8") from None
    except csv.Error as exc:
        raise damaged(None, str(exc)) from None
    return rows


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


class OutputBusy(SemcomError):
    """Another process holds the lock on an output (one line naming it)."""


class OutputLock:
    """An exclusive lock on one output: an OS file lock (``flock``) on a file beside it, which says
    who holds it (pid, host, start time).

    The lock is the open file's, so the OS releases it when its process ends in any way; a lock
    file left by a killed process is taken over (its contents ignored).  :meth:`release` removes
    the file while still holding the lock, and a process that locked a file removed meanwhile
    opens the new one, so two processes never both hold one output.  Where ``fcntl`` is missing
    (Windows) outputs are not locked.

    Example:
        >>> lock = OutputLock(Path("results/runs/x.lock"), "results/runs/x.csv").acquire()  # doctest: +SKIP
        >>> lock.release()                                                                # doctest: +SKIP
    """

    def __init__(self, path: Path | str, what: Path | str | None = None) -> None:
        self.path = Path(path)
        self.what = str(what if what is not None else path)
        self.fd: int | None = None

    def acquire(self) -> "OutputLock":
        """Take the lock at once, or raise :class:`OutputBusy` naming its holder."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return self
        if self.fd is not None:
            return self
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise SemcomError(f"cannot create the lock file {self.path}: {exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise OutputBusy(f"{self.what} is being written by another run ({holder}); wait for it to "
                                 f"end or write to another --out (the lock is {self.path.name})") from None
            except OSError as exc:  # a file system without locks (some network mounts): unlocked, as before
                empty = os.fstat(fd).st_size == 0
                os.close(fd)
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                    if empty:  # the file this call created: not left behind
                        self.path.unlink(missing_ok=True)
                    return self
                raise SemcomError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
            try:  # still the file at this path (not one a releasing holder has just removed)?
                here = os.stat(self.path)
                mine = os.fstat(fd)
                same = (here.st_ino, here.st_dev) == (mine.st_ino, mine.st_dev)
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        """Remove the lock file and let go of the lock (nothing when not held)."""
        fd, self.fd = self.fd, None
        if fd is None:
            return
        try:
            here, mine = os.stat(self.path), os.fstat(fd)
            if (here.st_ino, here.st_dev) == (mine.st_ino, mine.st_dev):
                os.unlink(self.path)
        except OSError:
            pass
        os.close(fd)

    @property
    def held(self) -> bool:
        return self.fd is not None

    def __del__(self) -> None:  # a lock dropped without release (a job never closed) is let go of
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _holder(fd: int, wait_s: float = 1.0) -> str:
    """Who holds a lock file, from what it wrote into it (it writes just after locking: wait a little)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            info = json.loads(os.pread(fd, 4096, 0).decode() or "null")
        except (OSError, ValueError):
            info = None
        if isinstance(info, dict) and "pid" in info:
            return f"pid {info.get('pid')} on {info.get('host', '?')}, started {info.get('started', '?')}"
        if time.monotonic() > deadline:
            return "a process that has not said who it is"
        time.sleep(0.05)


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
