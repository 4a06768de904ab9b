"""The configuration of a sweep: :class:`SweepConfig`, everything that determines its rows.

It lives apart from the runner (:mod:`semcom.bench.sweep`) and from what names a sweep's files
(:mod:`semcom.bench.identity`) so that both can read it without reading each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from semcom.errors import SemcomError

#: the metrics a sweep scores unless told otherwise (a sweep with others carries them in its file name)
DEFAULT_METRICS = ("psnr", "ssim", "dists")


@dataclass(frozen=True)
class SweepConfig:
    """Everything that determines a sweep's rows.

    Args:
        link: link name (``semcom/links/NAME.toml``) or path to a link file.
        cbr: requested channel bandwidth ratio.
        snr_db: SNR points in dB.
        channel: channel name overriding the link's default (``None``: the link's).
        channel_params: keyword arguments of the channel.
        dataset: source name overriding the link's default evaluation data.
        dataset_params: keyword arguments of the source (``size``, ``data_root``, ...).
        limit: evaluate at most this many samples.
        repeats: channel realizations per image and SNR point.
        seed: seed of every channel draw.
        batch_size: frames per forward pass.
        metrics: metric names; unavailable ones (DISTS without weights) give empty columns.
        all_configs: for adaptive codecs, also write each configuration's own curve.
        checkpoint: codec checkpoint path (learned codecs), ``None`` for the shipped one.
        skip_hopeless: in an envelope, skip a configuration whose best case (every block decoded) cannot
            beat the best one so far (:func:`semcom.bench.sweep.best_case_score`); the numbers are the
            same either way (``False``: send every candidate, for checking that), so it is not recorded.

    Example:
        >>> SweepConfig(link="softcast", cbr=1/48, snr_db=(0.0, 10.0)).metrics
        ('psnr', 'ssim', 'dists')
    """

    link: str
    cbr: float
    snr_db: tuple[float, ...]
    channel: str | None = None
    channel_params: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    dataset_params: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    repeats: int = 1
    seed: int = 0
    batch_size: int = 8
    metrics: tuple[str, ...] = DEFAULT_METRICS
    all_configs: bool = False
    checkpoint: str | None = None
    skip_hopeless: bool = True

    def __post_init__(self) -> None:
        if not self.snr_db:
            raise SemcomError("no SNR points to run")
        if self.repeats < 1:
            raise SemcomError(f"--repeats must be at least 1, got {self.repeats}")
        if self.limit is not None and self.limit < 1:
            raise SemcomError(f"--limit must be at least 1, got {self.limit}")
        if self.batch_size < 1:
            raise SemcomError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not self.metrics:
            raise SemcomError("--metrics names no metric (give e.g. psnr,ssim)")
