"""The on-disk sample cache: one reproducible ``.npz`` per sample in a folder named by a hash of
the configuration, events packed losslessly."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np


#: bump when the simulation changes so old cache folders are not reused
CACHE_VERSION = 3

def cache_root() -> Path:
    """``$SEMCOM_CACHE`` or ``~/.cache/semcom``."""
    env = os.environ.get("SEMCOM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "semcom"


def config_hash(config: dict[str, Any]) -> str:
    """A short stable hash of a JSON-serializable configuration."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an ``.npz`` whose bytes depend only on the arrays (fixed zip dates).

    ``numpy.savez`` stamps each member with the current time; this writer does not, so the same
    seed gives byte-identical files.  The file is written to a temporary name and renamed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            zf.writestr(info, buf.getvalue())
    os.replace(tmp, path)


def encode_events(events: np.ndarray) -> np.ndarray:
    """Compress a sorted event array: time deltas and fields stored column-wise, then zstd.

    Returns a uint8 array; :func:`decode_events` inverts it exactly.
    """
    import imagecodecs

    t = events["t"].astype(np.int64)
    dt = np.diff(t, prepend=np.int64(0))
    if len(dt) and dt.min() < 0:
        raise ValueError("events must be sorted by t")
    wide = bool(len(dt) and dt.max() >= 1 << 16)
    head = np.array([len(events), 4 if wide else 2], np.int64).tobytes()
    cols = [dt.astype(np.uint32 if wide else np.uint16), events["x"].astype(np.int16),
            events["y"].astype(np.int16), events["p"].astype(np.int8)]
    payload = head + b"".join(c.tobytes() for c in cols)
    return np.frombuffer(imagecodecs.zstd_encode(payload, level=3), np.uint8)


def decode_events(blob: np.ndarray) -> np.ndarray:
    """The event array that :func:`encode_events` compressed."""
    import imagecodecs

    from semcom.sources.base import EVENT_DTYPE

    data = imagecodecs.zstd_decode(blob.tobytes())
    n, width = (int(v) for v in np.frombuffer(data[:16], np.int64))
    off = 16
    dt = np.frombuffer(data, np.uint32 if width == 4 else np.uint16, count=n, offset=off)
    off += n * width
    out = np.empty(n, EVENT_DTYPE)
    out["t"] = np.cumsum(dt, dtype=np.int64)
    out["x"] = np.frombuffer(data, np.int16, count=n, offset=off)
    out["y"] = np.frombuffer(data, np.int16, count=n, offset=off + 2 * n)
    out["p"] = np.frombuffer(data, np.int8, count=n, offset=off + 4 * n)
    return out


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
