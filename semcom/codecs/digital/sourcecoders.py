"""Image source coders for the separation baseline, with rate control to a bit budget.

Each coder turns an RGB frame into a byte string at an integer quality setting and back.
Rate control (:meth:`SourceCoder.fit`) searches the quality ladder for the largest setting
whose payload fits the budget, as BPG-based baselines do with the quantizer.  Encodings are
cached per (image content hash, coder settings, quality), so a sweep over many SNR points
and (modulation, code rate) configurations encodes each image at most once per quality.

Decoding never raises and never hangs the run: a stream that does not decode (a corrupted or
truncated payload) gives ``None``, and each decode runs on a worker thread with a timeout.

Registered coders (``SOURCE_CODERS``): ``bpg`` (HEVC intra, :mod:`.hevc`), ``jpeg2000``,
``jpeg``, ``jpegxl`` and ``avif`` (through ``imagecodecs``).  These four are charged their
whole file (container and header included), since their decoders need it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from semcom.profiling import phase
from semcom.registry import Registry

__all__ = ["SOURCE_CODERS", "SourceCoder", "SourceCode", "EncodingCache", "DiskTier", "ENCODING_CACHE",
           "encodings_root", "image_digest", "to_uint8", "build_source_coder"]

SOURCE_CODERS = Registry("source coder")

#: cached encodings kept across coder instances (bytes of payload in total)
CACHE_BYTES = 512 * 2**20


def to_uint8(image: "np.ndarray | Any") -> np.ndarray:
    """A ``(3, H, W)`` float tensor/array in [0, 1] -> ``(H, W, 3)`` uint8 (rounded)."""
    arr = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    if arr.ndim != 3 or arr.shape[0] != 3:
        raise ValueError(f"expected an RGB frame (3, H, W), got shape {tuple(arr.shape)}")
    return np.ascontiguousarray((np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).transpose(1, 2, 0))


def image_digest(image: np.ndarray) -> str:
    """Content hash of an ``(H, W, 3)`` uint8 frame (shape included)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(image.shape).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


class EncodingCache:
    """Source encodings by key ``(image digest, coder name, coder settings, quality, library version)``.

    Two tiers: an in-memory LRU map bounded in total payload bytes, and an optional ``shared`` tier
    with the same ``get`` / ``put`` (by default the on-disk :class:`DiskTier` of
    :func:`encodings_root`, shared by every process of the machine and kept across runs), asked on a
    miss here and given every new encoding.  ``hits``, ``misses`` and ``shared_hits`` count lookups.

    A coder uses the cache it is handed (``SourceCoder(cache=...)`` or its ``cache`` attribute), by
    default the process's :data:`ENCODING_CACHE`.

    Args:
        max_bytes: bound of the in-memory tier.
        shared: the second tier, or ``None``.
    """

    def __init__(self, max_bytes: int = 0, shared: Any = None) -> None:
        self.max_bytes = int(max_bytes or CACHE_BYTES)
        self.shared: Any = shared
        self.shared_hits = 0
        self._data: OrderedDict[tuple, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            val = self._data.get(key)
            if val is not None:
                self._data.move_to_end(key)
                self.hits += 1
                return val
            self.misses += 1
        val = None if self.shared is None else self.shared.get(key)
        if val is not None:
            self.shared_hits += 1
            self._keep(key, val)
        return val

    def put(self, key: tuple, val: bytes) -> None:
        """Keep a new encoding here and hand it to the shared tier."""
        self._keep(key, val)
        if self.shared is not None:
            self.shared.put(key, val)

    def _keep(self, key: tuple, val: bytes) -> None:
        with self._lock:
            if key in self._data:
                return
            self._data[key] = val
            self._size += len(val)
            while self._size > self.max_bytes and self._data:
                _, old = self._data.popitem(last=False)
                self._size -= len(old)

    def clear(self) -> None:
        """Forget the in-memory tier and the counters (the shared tier is left as it is)."""
        with self._lock:
            self._data.clear()
            self._size = 0
            self.hits = self.misses = self.shared_hits = 0


#: kept for callers of the former name
_EncodingCache = EncodingCache


class DiskTier:
    """Encodings in a folder, one file per key (named by a hash of the key), shared by every process that
    opens the folder and kept across runs.  Safe under concurrent writers: a file is written under a
    name of its own and renamed into place (whole or not at all; the first writer's file stays).  A
    full or read-only disk only loses the disk copy."""

    def __init__(self, root: "str | os.PathLike[str]") -> None:
        self.root = Path(root)

    def _path(self, key: tuple):
        h = hashlib.blake2b(repr(key).encode(), digest_size=16).hexdigest()
        return self.root / h[:2] / h

    def get(self, key: tuple) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except OSError:
            return None

    def put(self, key: tuple, value: bytes) -> None:
        path = self._path(key)
        if path.exists():
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(value)
            os.replace(tmp, path)
        except OSError:
            try:
                tmp.unlink()
            except OSError:
                pass

    def __repr__(self) -> str:
        return f"DiskTier({str(self.root)!r})"


#: values of ``$SEMCOM_ENCODINGS`` that turn the on-disk tier off
_OFF = ("", "0", "off", "none", "false")


def encodings_root() -> Path | None:
    """The machine's on-disk encodings folder: ``$SEMCOM_ENCODINGS`` (``off``: none), else
    ``$SEMCOM_CACHE/encodings`` (default ``~/.cache/semcom/encodings``, outside the repository)."""
    env = os.environ.get("SEMCOM_ENCODINGS")
    if env is not None:
        return None if env.strip().lower() in _OFF else Path(env).expanduser()
    base = os.environ.get("SEMCOM_CACHE")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "semcom") / "encodings"


class _DefaultTier:
    """The shared tier of :data:`ENCODING_CACHE`: the disk folder :func:`encodings_root` names when it is
    first used in a process (so an environment set after import still counts)."""

    def __init__(self) -> None:
        self._tier: DiskTier | None = None
        self._root: Path | None = None

    def _resolve(self) -> DiskTier | None:
        root = encodings_root()
        if root != self._root:
            self._root, self._tier = root, None if root is None else DiskTier(root)
        return self._tier

    @property
    def root(self) -> Path | None:
        return self._root if self._tier is not None else encodings_root()

    def get(self, key: tuple) -> bytes | None:
        tier = self._resolve()
        return None if tier is None else tier.get(key)

    def put(self, key: tuple, value: bytes) -> None:
        tier = self._resolve()
        if tier is not None:
            tier.put(key, value)


#: the process's default cache (what a coder uses unless it is handed another)
ENCODING_CACHE = EncodingCache(CACHE_BYTES, shared=_DefaultTier())


class _DecodeGuard:
    """Runs a decode on a daemon thread; a call that outlives ``timeout_s`` is abandoned.

    A hung native decoder cannot be killed from Python, so its thread is left behind (a
    daemon thread, which does not keep the process alive at exit) and the run continues
    with a failed decode.
    """

    def run(self, fn: Callable[..., Any], *args: Any, timeout_s: float) -> Any:
        result: list[Any] = [None]

        def work() -> None:
            try:
                result[0] = fn(*args)
            except Exception:  # noqa: BLE001 - any decoder error is a failed decode
                result[0] = None

        thread = threading.Thread(target=work, name="semcom-decode", daemon=True)
        thread.start()
        thread.join(timeout_s)
        if thread.is_alive():
            warnings.warn(f"a source decode took longer than {timeout_s} s; counted as a failed decode",
                          RuntimeWarning, stacklevel=3)
            return None
        return result[0]


_GUARD = _DecodeGuard()


@dataclass(frozen=True)
class SourceCode:
    """One frame coded to fit a budget.

    Args:
        payload: the bytes that are transmitted (after the link's header).
        quality: the quality setting that produced them.
    """

    payload: bytes
    quality: int

    @property
    def bits(self) -> int:
        return 8 * len(self.payload)


class SourceCoder:
    """Base class of registered image source coders.

    Subclasses define ``qualities`` (ascending: larger is better and, as a rule, bigger),
    :meth:`_encode` and :meth:`_decode`, and :meth:`settings` (what changes the bitstream).

    Args:
        decode_timeout_s: longest a single decode may take before it counts as failed.
    """

    name = "source-coder"
    qualities: Sequence[int] = tuple(range(0, 101))

    def __init__(self, *, decode_timeout_s: float = 10.0, cache: EncodingCache | None = None) -> None:
        if not decode_timeout_s > 0:
            raise ValueError(f"decode_timeout_s must be positive, got {decode_timeout_s}")
        self.decode_timeout_s = float(decode_timeout_s)
        self._cache = cache

    @property
    def cache(self) -> EncodingCache:
        """Where this coder keeps its encodings (the process's :data:`ENCODING_CACHE` unless handed one)."""
        return ENCODING_CACHE if self._cache is None else self._cache

    @cache.setter
    def cache(self, value: EncodingCache | None) -> None:
        self._cache = value

    def __getstate__(self) -> dict:
        """Picklable (sent to other processes): a handed-in cache stays here; the copy uses its process's."""
        state = dict(self.__dict__)
        state["_cache"] = None
        return state

    def library_version(self) -> str:
        """Version of the library behind the bitstream (part of the cache key: an upgrade re-encodes)."""
        return _library_version(self.name)

    # -- to implement ------------------------------------------------------------------
    def settings(self) -> tuple:
        """Coder parameters that change the bitstream (part of the cache key)."""
        return ()

    def _encode(self, image: np.ndarray, quality: int) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def _decode(self, payload: bytes, height: int, width: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    # -- public ------------------------------------------------------------------------
    def encode_at(self, image: np.ndarray, quality: int, *, digest: str | None = None) -> bytes:
        """The payload of ``image`` (``(H, W, 3)`` uint8) at one quality (cached)."""
        digest = digest or image_digest(image)
        key = (digest, self.name, self.settings(), int(quality), self.library_version())
        cache = self.cache
        val = cache.get(key)
        if val is None:
            with phase("hevc_encode"):
                val = bytes(self._encode(np.ascontiguousarray(image), int(quality)))
            cache.put(key, val)
        return val

    def fit(self, image: np.ndarray, budget_bits: int) -> SourceCode | None:
        """Largest-quality payload of at most ``budget_bits`` bits, or ``None`` if none fits.

        Binary search over ``qualities`` assuming sizes grow with quality; the result is
        always checked to fit.
        """
        budget_bytes = int(budget_bits) // 8
        if budget_bytes <= 0:
            return None
        digest = image_digest(image)
        qs = list(self.qualities)
        size = lambda i: len(self.encode_at(image, qs[i], digest=digest))  # noqa: E731
        if size(0) > budget_bytes:
            return None
        lo, hi = 0, len(qs) - 1           # invariant: qs[lo] fits
        if size(hi) <= budget_bytes:
            lo = hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if size(mid) <= budget_bytes:
                lo = mid
            else:
                hi = mid
        return SourceCode(self.encode_at(image, qs[lo], digest=digest), int(qs[lo]))

    def decode(self, payload: bytes, *, height: int, width: int) -> np.ndarray | None:
        """``(H, W, 3)`` uint8, or ``None`` when the payload does not decode to that size."""
        with phase("hevc_decode"):
            out = _GUARD.run(self._decode, bytes(payload), int(height), int(width), timeout_s=self.decode_timeout_s)
        if out is None:
            return None
        out = np.asarray(out)
        if out.ndim == 2:
            out = np.repeat(out[..., None], 3, axis=-1)
        if out.shape[:2] != (height, width) or out.ndim != 3 or out.shape[2] < 3:
            return None
        out = out[..., :3]
        if out.dtype != np.uint8:
            if out.dtype == np.uint16:
                out = (out.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
            else:
                return None
        return np.array(out, dtype=np.uint8, order="C", copy=True)


_VERSIONS: dict[str, str] = {}


def _library_version(coder: str) -> str:
    """``pillow_heif`` + libheif for ``bpg``, ``imagecodecs`` for the others (cached per process)."""
    ver = _VERSIONS.get(coder)
    if ver is None:
        try:
            if coder == "bpg":
                import pillow_heif

                info = pillow_heif.libheif_info()
                ver = f"pillow_heif {pillow_heif.__version__}; libheif {info.get('libheif', '?')}; " \
                      f"{sorted((info.get('encoders') or {}).items())}"
            else:
                import imagecodecs

                ver = f"imagecodecs {imagecodecs.__version__}"
        except Exception:  # noqa: BLE001 - a coder outside these libraries: its name alone
            ver = "?"
        _VERSIONS[coder] = ver
    return ver


def build_source_coder(name: str, options: dict[str, Any] | None = None) -> SourceCoder:
    """Build a registered source coder by name with keyword ``options``."""
    try:
        return SOURCE_CODERS.build(name, **(options or {}))
    except TypeError as exc:
        raise ValueError(f"cannot build source coder {name!r}: {exc}") from None


# -- coders through imagecodecs -------------------------------------------------------------

def _imagecodecs_available(fmt: str) -> bool:
    try:
        import imagecodecs

        return bool(getattr(imagecodecs, fmt.upper()).available)
    except Exception:  # noqa: BLE001
        return False


@SOURCE_CODERS.register("jpeg", help="baseline JPEG (libjpeg), quality 1..100, whole file charged")
class JpegCoder(SourceCoder):
    """Baseline JPEG through ``imagecodecs.jpeg8_encode`` (quality 1..100, 4:2:0)."""

    name = "jpeg"
    qualities = tuple(range(1, 101))

    def _encode(self, image: np.ndarray, quality: int) -> bytes:
        import imagecodecs

        return imagecodecs.jpeg8_encode(image, level=quality)

    def _decode(self, payload: bytes, height: int, width: int) -> np.ndarray:
        import imagecodecs

        return imagecodecs.jpeg8_decode(payload)


@SOURCE_CODERS.register("jpeg2000", help="JPEG 2000 codestream (OpenJPEG), PSNR-targeted layers")
class Jpeg2000Coder(SourceCoder):
    """JPEG 2000 (J2K codestream, OpenJPEG) through ``imagecodecs.jpeg2k_encode``.

    The quality setting is OpenJPEG's target PSNR in dB (15..60); the J2K codestream (no JP2
    box wrapper) is charged whole.
    """

    name = "jpeg2000"
    qualities = tuple(range(15, 61))

    def _encode(self, image: np.ndarray, quality: int) -> bytes:
        import imagecodecs

        return imagecodecs.jpeg2k_encode(image, level=quality, codecformat="J2K")

    def _decode(self, payload: bytes, height: int, width: int) -> np.ndarray:
        import imagecodecs

        return imagecodecs.jpeg2k_decode(payload)


@SOURCE_CODERS.register("jpegxl", help="JPEG XL (libjxl), quality 0..99, whole file charged")
class JpegXlCoder(SourceCoder):
    """JPEG XL through ``imagecodecs.jpegxl_encode`` (quality 0..99, lossy)."""

    name = "jpegxl"
    qualities = tuple(range(0, 100))

    def __init__(self, *, effort: int = 7, decode_timeout_s: float = 10.0) -> None:
        super().__init__(decode_timeout_s=decode_timeout_s)
        if not _imagecodecs_available("jpegxl"):
            raise ValueError("imagecodecs was built without JPEG XL")
        if int(effort) != effort or not 1 <= effort <= 9:
            raise ValueError(f"effort must be an integer in 1..9, got {effort}")
        self.effort = int(effort)

    def settings(self) -> tuple:
        return (self.effort,)

    def _encode(self, image: np.ndarray, quality: int) -> bytes:
        import imagecodecs

        return imagecodecs.jpegxl_encode(image, level=quality, effort=self.effort)

    def _decode(self, payload: bytes, height: int, width: int) -> np.ndarray:
        import imagecodecs

        return imagecodecs.jpegxl_decode(payload)


@SOURCE_CODERS.register("avif", help="AVIF (AV1 intra, libavif), quality 0..100, whole file charged")
class AvifCoder(SourceCoder):
    """AVIF through ``imagecodecs.avif_encode`` (quality 0..100, 4:2:0 by default; slow)."""

    name = "avif"
    qualities = tuple(range(0, 101))

    def __init__(self, *, speed: int = 6, decode_timeout_s: float = 10.0) -> None:
        super().__init__(decode_timeout_s=decode_timeout_s)
        if not _imagecodecs_available("avif"):
            raise ValueError("imagecodecs was built without AVIF")
        if int(speed) != speed or not 0 <= speed <= 10:
            raise ValueError(f"speed must be an integer in 0..10, got {speed}")
        self.speed = int(speed)

    def settings(self) -> tuple:
        return (self.speed,)

    def _encode(self, image: np.ndarray, quality: int) -> bytes:
        import imagecodecs

        return imagecodecs.avif_encode(image, level=quality, speed=self.speed)

    def _decode(self, payload: bytes, height: int, width: int) -> np.ndarray:
        import imagecodecs

        return imagecodecs.avif_decode(payload)
