"""SNR, CBR and power conventions shared by every component (see docs/conventions.md).

* Complex baseband.  Every transmitted block is normalized to average power 1 per complex
  symbol (``Es = 1``).
* ``snr_db = 10 log10(Es / N0)`` where ``N0`` is the *complex* noise variance: each real
  dimension receives noise of variance ``N0 / 2``.
* CBR (channel bandwidth ratio) = complex channel uses / (3 * H * W) of the RGB frame.  Every
  stream a link sends (image, events, shared, headers) counts against it.
"""

from __future__ import annotations

import math
import re
import sys
from fractions import Fraction
from typing import TYPE_CHECKING

from semcom.errors import SemcomError

if TYPE_CHECKING:  # torch is imported where a tensor is handled: parsing SNRs and CBRs needs none
    import torch

__all__ = [
    "snr_db_to_noise_var",
    "noise_var_to_snr_db",
    "normalize_power",
    "channel_uses_budget",
    "cbr_of",
    "parse_cbr",
    "parse_snr",
    "format_cbr",
]


def _is_tensor(x: object) -> bool:
    """Whether ``x`` is a torch tensor (without importing torch: if it is not loaded, ``x`` is none)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def snr_db_to_noise_var(snr_db: float | torch.Tensor) -> float | torch.Tensor:
    """Complex noise variance ``N0`` for ``Es = 1``: ``N0 = 10 ** (-snr_db / 10)``."""
    if _is_tensor(snr_db):
        import torch

        return torch.pow(10.0, -snr_db / 10.0)
    return 10.0 ** (-float(snr_db) / 10.0)


def noise_var_to_snr_db(noise_var: float | torch.Tensor) -> float | torch.Tensor:
    """Inverse of :func:`snr_db_to_noise_var` (``N0 = 0`` gives ``inf`` dB)."""
    if _is_tensor(noise_var):
        import torch

        return -10.0 * torch.log10(noise_var)
    value = float(noise_var)
    if value < 0 or math.isnan(value):
        raise ValueError(f"noise variance must be >= 0, got {noise_var!r}")
    return math.inf if value == 0 else -10.0 * math.log10(value)


def normalize_power(symbols: torch.Tensor, *, dim: int | tuple[int, ...] = -1, eps: float = 1e-12) -> torch.Tensor:
    """Scale each block so its average power per complex symbol is 1.

    Args:
        symbols: complex tensor ``[..., n]`` (one block per leading index).
        dim: the dimension(s) that form one block (default: the last).

    Shape:
        symbols: ``[..., n]`` complex64 -> same shape, ``mean(|x|^2, dim) == 1``.
    """
    import torch

    if not torch.is_complex(symbols):
        raise ValueError("normalize_power expects complex symbols")
    power = symbols.abs().square().mean(dim=dim, keepdim=True)
    return symbols / torch.sqrt(power + eps)


def channel_uses_budget(cbr: float, height: int, width: int, channels: int = 3) -> int:
    """Number of complex channel uses a link may spend on one frame: ``floor(cbr * C * H * W)``.

    A tiny tolerance absorbs floating-point error so that ``1/48 * 3 * 256 * 256`` gives 4096.
    """
    return int(math.floor(cbr * channels * height * width + 1e-9))


def cbr_of(channel_uses: int, height: int, width: int, channels: int = 3) -> float:
    """The CBR actually used by ``channel_uses`` complex symbols for one ``channels x H x W`` frame."""
    return channel_uses / float(channels * height * width)


def parse_cbr(text: str | float) -> float:
    """Parse ``"1/48"``, ``"0.0208"`` or a float into a CBR in (0, 1].

    >>> round(parse_cbr("1/48"), 6)
    0.020833
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        s = str(text).strip()
        try:
            if s.count("/") > 1:
                raise ValueError(s)
            if "/" in s:
                num, den = s.split("/", 1)
                value = float(Fraction(num.strip()) / Fraction(den.strip()))
            else:
                value = float(s)
        except (ValueError, ZeroDivisionError):
            raise SemcomError(f"malformed CBR {text!r}: expected a fraction like 1/48 or a number like 0.0208") from None
    if not math.isfinite(value) or not 0.0 < value <= 1.0:
        raise SemcomError(f"CBR must lie in (0, 1], got {text!r}")
    return value


def format_cbr(cbr: float) -> str:
    """Short label: ``1/48`` when the CBR is the inverse of an integer, else 4 significant digits."""
    inv = 1.0 / cbr
    if abs(inv - round(inv)) < 1e-4 * inv:  # tolerate CBRs read back from 6-digit CSV text
        return f"1/{round(inv)}"
    return f"{cbr:.4g}"


_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"


def parse_snr(text: str | float) -> list[float]:
    """Parse an SNR specification in dB into a list of points.

    Accepted: ``"7"``; ``"0,5,10"``; ``"0:20"`` (inclusive, 1 dB step); ``"0:20:2"`` (step 2 dB);
    ``"20:0:-5"`` (descending).  Ranges include the end point when the step lands on it.

    >>> parse_snr("0:4:2")
    [0.0, 2.0, 4.0]
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return [float(text)]
    s = str(text).strip()
    if not s:
        raise SemcomError("empty SNR specification")
    if ":" in s:
        parts = s.split(":")
        if len(parts) not in (2, 3) or not all(re.fullmatch(_NUM, p.strip()) for p in parts):
            raise SemcomError(f"malformed SNR range {text!r}: expected A:B or A:B:STEP in dB")
        start, stop = float(parts[0]), float(parts[1])
        step = float(parts[2]) if len(parts) == 3 else 1.0
        if step == 0:
            raise SemcomError(f"SNR step must not be 0 in {text!r}")
        if (stop - start) * step < 0:
            if len(parts) == 2:  # no step given: the default step of +1 dB goes up
                raise SemcomError(f"empty SNR range {text!r}: the end point {stop:g} dB lies below the start "
                                  f"{start:g} dB; give the lower end first ({stop:g}:{start:g}) "
                                  f"or a negative step ({start:g}:{stop:g}:-1)")
            raise SemcomError(f"empty SNR range {text!r}: a step of {step:g} dB never reaches the end point "
                              f"{stop:g} dB from {start:g} dB (the step's sign goes the other way)")
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        if count > MAX_SNR_POINTS:
            raise SemcomError(f"SNR range {text!r} has {count} points; at most {MAX_SNR_POINTS} are run at once")
        return _checked_points([round(start + i * step, 10) for i in range(count)], text)
    points = []
    for p in s.split(","):
        p = p.strip()
        if not re.fullmatch(_NUM, p):
            raise SemcomError(f"malformed SNR {text!r}: expected numbers in dB like 7, 0,5,10 or 0:20")
        points.append(float(p))
    return _checked_points(points, text)


#: the most SNR points one specification may give
MAX_SNR_POINTS = 1000
#: SNRs outside this range (dB) are refused: no channel of interest lies there, and the numbers break down
SNR_LIMITS_DB = (-50.0, 100.0)


def _checked_points(points: list[float], text: object) -> list[float]:
    """Refuse points outside :data:`SNR_LIMITS_DB`, repeated points, and more than :data:`MAX_SNR_POINTS`."""
    lo, hi = SNR_LIMITS_DB
    bad = [p for p in points if not lo <= p <= hi]
    if bad:
        raise SemcomError(f"SNR {bad[0]:g} dB in {text!r} lies outside [{lo:g}, {hi:g}] dB")
    if len(set(points)) != len(points):
        raise SemcomError(f"SNR {text!r} repeats a point; give each SNR once")
    if len(points) > MAX_SNR_POINTS:
        raise SemcomError(f"{len(points)} SNR points in {text!r}; at most {MAX_SNR_POINTS} are run at once")
    return points
